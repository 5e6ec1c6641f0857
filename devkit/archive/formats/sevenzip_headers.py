"""devkit's own reader of 7z container headers (7-Zip's DOC/7zFormat.txt).

Importing py7zr and letting it parse the headers was a quarter to a third of
`devkit extract` on a 7z of 8,000 small files (issue 11). This reader covers what
7-Zip and p7zip write: a plain or LZMA/LZMA2-packed header, folders of coders,
substreams, and the file properties devkit uses. It is strict: anything it does not
handle raises NeedsPy7zr, anything inconsistent raises HeaderDamage, and the caller
then asks py7zr, so that every verdict on an unusual or damaged archive stays py7zr's.
Where py7zr deviates from the format (it reads every CRC of a partly defined digest
list, fills folders without substreams), the reader declines instead of differing.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

SIGNATURE = b"7z\xbc\xaf\x27\x1c"
SIGNATURE_HEADER_SIZE = 32
AES_METHOD = b"\x06\xf1\x07\x01"

# Property ids (7zFormat.txt).
_END = 0x00
_HEADER = 0x01
_ARCHIVE_PROPERTIES = 0x02
_ADDITIONAL_STREAMS_INFO = 0x03
_MAIN_STREAMS_INFO = 0x04
_FILES_INFO = 0x05
_PACK_INFO = 0x06
_UNPACK_INFO = 0x07
_SUBSTREAMS_INFO = 0x08
_SIZE = 0x09
_CRC = 0x0A
_FOLDER = 0x0B
_CODERS_UNPACK_SIZE = 0x0C
_NUM_UNPACK_STREAM = 0x0D
_EMPTY_STREAM = 0x0E
_EMPTY_FILE = 0x0F
_NAME = 0x11
_CTIME = 0x12
_ATIME = 0x13
_MTIME = 0x14
_ATTRIBUTES = 0x15
_ENCODED_HEADER = 0x17
_DUMMY = 0x19

# py7zr's caps (archiveinfo.py): past them py7zr refuses the archive, so this reader
# leaves such archives to py7zr rather than accept what py7zr would refuse.
_MAX_PACK_STREAMS = 65536
_MAX_FILES = 1 << 23
_MAX_FOLDERS = 1 << 20
_MAX_SUBSTREAMS = 1 << 23
_MAX_CODERS = 64
_MAX_CODER_STREAMS = 64
_MAX_CODER_PROPERTIES = 1 << 20
_MAX_DECODED_HEADER = 1 << 28
# py7zr reads at most this many UTF-16 units while looking for a name's terminator.
_MAX_NAME_UNITS = 65536
# FILETIME counts 100 ns steps from 1601-01-01; py7zr's ArchiveTimestamp arithmetic.
_FILETIME_TICKS = 10000000.0
_FILETIME_EPOCH = -11644473600
_LZMA_DICT_MIN = 4096


class NeedsPy7zr(Exception):
    """The archive uses something this reader leaves to py7zr (encrypted header,
    a header method other than LZMA/LZMA2/BCJ/Delta, data stored elsewhere, a
    property py7zr rejects)."""


class HeaderDamage(ValueError):
    """The headers are inconsistent, truncated or fail a CRC; the message says why."""


class SevenZipMember(NamedTuple):
    """One file's header facts, as py7zr's `_file_info` holds them."""

    filename: str
    attributes: int | None
    emptystream: bool
    uncompressed: int
    lastwritetime: float | None  # POSIX seconds, as py7zr's totimestamp() computes them


@dataclass(frozen=True)
class SevenZipHeaders:
    """The members' facts as columns, one list per field in file order (what the
    header stores, and what devkit's entries are built from in one pass)."""

    names: list[str]
    attributes: list[int | None]
    emptystream: list[bool]
    uncompressed: list[int]
    lastwritetime: list[float | None]
    folder_methods: list[tuple[bytes, ...]]  # the coder ids of each folder, in order

    @classmethod
    def without_members(cls, folder_methods: list[tuple[bytes, ...]]) -> SevenZipHeaders:
        return cls([], [], [], [], [], folder_methods)

    @property
    def members(self) -> list[SevenZipMember]:
        """The members one by one, as py7zr's `_file_info` holds them."""
        columns = (self.attributes, self.emptystream, self.uncompressed, self.lastwritetime)
        return list(map(SevenZipMember, self.names, *columns))

    @property
    def encrypted(self) -> bool:
        """Whether any folder is 7zAES-encrypted."""
        return any(AES_METHOD in methods for methods in self.folder_methods)


def read_headers(source: Path | BinaryIO) -> SevenZipHeaders:
    """The headers of the 7z archive that starts at position 0 of `source` (a path, or
    a seekable binary file at any position: a volume set, a self-extractor's part)."""
    if isinstance(source, Path):
        with source.open("rb") as file:
            return _read(file)
    return _read(source)


# -- reading -----------------------------------------------------------------------------


class _Cursor:
    """Reads 7z's numbers, bit vectors and byte runs from data[pos:end]."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def byte(self) -> int:
        if self.pos >= self.end:
            raise HeaderDamage("header ends early")
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, size: int) -> bytes:
        if size > self.end - self.pos:
            raise HeaderDamage("header ends early")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def skip(self, size: int) -> None:
        if size > self.end - self.pos:
            raise HeaderDamage("header ends early")
        self.pos += size

    def number(self) -> int:
        """7z's UINT64: the leading one bits of the first byte count the extra bytes."""
        data, pos = self.data, self.pos
        if pos >= self.end:
            raise HeaderDamage("header ends early")
        first = data[pos]
        if first < 0x80:
            self.pos = pos + 1
            return first
        extra, mask = 1, 0x40
        while extra < 8 and first & mask:
            extra += 1
            mask >>= 1
        stop = pos + 1 + extra
        if stop > self.end:
            raise HeaderDamage("header ends early")
        value = int.from_bytes(data[pos + 1 : stop], "little")
        if extra < 8:
            value |= (first & (mask - 1)) << (8 * extra)
        self.pos = stop
        return value

    def numbers(self, count: int) -> list[int]:
        """`count` numbers. The one- and two-byte forms (below 16 Ki: the sizes of
        small files) are decoded inline, a quarter of the cost of a call to `number`
        each; a read past `end` is found once, after the loop."""
        self.count(count)
        data, pos = self.data, self.pos
        values: list[int] = []
        append = values.append
        try:
            for _ in range(count):
                first = data[pos]
                if first < 0x80:
                    append(first)
                    pos += 1
                elif first < 0xC0:
                    append((first & 0x3F) << 8 | data[pos + 1])
                    pos += 2
                else:
                    self.pos = pos
                    append(self.number())
                    pos = self.pos
        except IndexError:
            raise HeaderDamage("header ends early") from None
        if pos > self.end:
            raise HeaderDamage("header ends early")
        self.pos = pos
        return values

    def count(self, value: int, *, bits_per_entry: int = 8) -> int:
        """A count of entries that must fit in the bytes left, so that a forged count
        cannot make the reader allocate more than the header's size allows."""
        if value * bits_per_entry > self.remaining() * 8:
            raise HeaderDamage(f"a count of {value} does not fit in the header")
        return value

    def bits(self, count: int) -> str:
        """A bit vector (most significant bit first) as a string of '0' and '1'."""
        if count == 0:
            return ""
        size = (count + 7) // 8
        raw = self.take(size)
        return format(int.from_bytes(raw, "big"), f"0{size * 8}b")[:count]

    def defined(self, count: int) -> str:
        """A vector preceded by its "all defined" byte."""
        if self.byte():
            return "1" * count
        return self.bits(count)


def _read(file: BinaryIO) -> SevenZipHeaders:
    size = file.seek(0, 2)
    file.seek(0)
    start = file.read(SIGNATURE_HEADER_SIZE)
    if len(start) < SIGNATURE_HEADER_SIZE or start[:6] != SIGNATURE:
        raise HeaderDamage("no 7z signature header")
    if start[6] != 0:
        raise NeedsPy7zr(f"7z format version {start[6]}.{start[7]}")
    start_crc, offset, length, crc = struct.unpack_from("<IQQI", start, 8)
    if zlib.crc32(start[12:]) != start_crc:
        raise HeaderDamage("start header CRC mismatch")
    raw = _read_span(file, SIGNATURE_HEADER_SIZE + offset, length, size, "next header")
    if zlib.crc32(raw) != crc:
        raise HeaderDamage("next header CRC mismatch")
    if not raw:
        return SevenZipHeaders.without_members([])
    if raw[0] == _ENCODED_HEADER:
        raw = _decode_header(file, raw, size)
    if raw[0] != _HEADER:
        raise HeaderDamage(f"unknown header type {raw[0]:#x}")
    return _header(_Cursor(raw, 1), size)


@dataclass(frozen=True)
class _Folder:
    """A folder's coders and how they connect: one object for all the folders that
    repeat its bytes (every folder of a non-solid archive)."""

    methods: tuple[bytes, ...]
    properties: tuple[bytes | None, ...]
    # Coders in the order they decode (the packed stream's first), for simple chains.
    chain: list[int] | None
    main_output: int  # the output no other coder consumes: the folder's data
    packed_streams: int


@dataclass
class _Folders:
    """The unpack info, one item per folder in each list."""

    coders: list[_Folder]
    distinct: list[_Folder]  # each object of `coders` once
    sizes: list[int]  # the size of the folder's data (its main output)
    last_output_is_main: bool  # in every folder (py7zr takes the last size as the data's)
    crcs: list[int | None]


@dataclass
class _Streams:
    pack_pos: int
    pack_sizes: list[int] | None
    folders: _Folders | None
    substream_sizes: list[int] | None  # one per substream, folders in order


def _read_span(file: BinaryIO, at: int, length: int, size: int, what: str) -> bytes:
    """`length` bytes at offset `at` of an archive of `size` bytes, all of them there."""
    if at > size or length > size - at:
        raise HeaderDamage(f"{what} lies past the end of the archive")
    file.seek(at)
    data = file.read(length)
    if len(data) != length:
        raise HeaderDamage(f"{what} is truncated")
    return data


def _streams(cursor: _Cursor) -> _Streams:
    kind = cursor.byte()
    streams = _Streams(pack_pos=0, pack_sizes=None, folders=None, substream_sizes=None)
    if kind == _PACK_INFO:
        streams.pack_pos, streams.pack_sizes = _pack_info(cursor)
        kind = cursor.byte()
    if kind == _UNPACK_INFO:
        streams.folders = _unpack_info(cursor)
        kind = cursor.byte()
    if kind == _SUBSTREAMS_INFO:
        if streams.folders is None:
            raise HeaderDamage("substreams without folders")
        streams.substream_sizes = _substreams(cursor, streams.folders)
        kind = cursor.byte()
    if kind != _END:
        raise HeaderDamage(f"unexpected property {kind:#x} in streams info")
    return streams


def _pack_info(cursor: _Cursor) -> tuple[int, list[int]]:
    position = cursor.number()
    count = cursor.number()
    if count > _MAX_PACK_STREAMS:
        raise NeedsPy7zr(f"{count} packed streams")
    cursor.count(count)
    kind = cursor.byte()
    sizes: list[int] = []
    if kind == _SIZE:
        sizes = cursor.numbers(count)
        kind = cursor.byte()
        if kind == _CRC:
            defined = cursor.defined(count)
            cursor.skip(4 * defined.count("1"))
            kind = cursor.byte()
    if kind != _END:
        raise HeaderDamage(f"unexpected property {kind:#x} in pack info")
    if len(sizes) != count:
        raise HeaderDamage("packed streams without sizes")
    return position, sizes


def _unpack_info(cursor: _Cursor) -> _Folders:
    if cursor.byte() != _FOLDER:
        raise HeaderDamage("unpack info without folders")
    count = cursor.number()
    if cursor.byte() != 0:
        raise NeedsPy7zr("folders stored outside the header")
    if count > _MAX_FOLDERS:
        raise NeedsPy7zr(f"{count} folders")
    cursor.count(count)
    coders, distinct = _folders(cursor, count)
    if cursor.byte() != _CODERS_UNPACK_SIZE:
        raise HeaderDamage("folders without unpack sizes")
    if all(len(folder.methods) == 1 for folder in distinct):  # a size each, the data's
        sizes = cursor.numbers(count)
    else:
        outputs = cursor.numbers(sum(len(folder.methods) for folder in coders))
        sizes, at = [], 0
        for folder in coders:
            sizes.append(outputs[at + folder.main_output])
            at += len(folder.methods)
    last_output_is_main = all(folder.main_output == len(folder.methods) - 1 for folder in distinct)
    crcs: list[int | None] = [None] * count
    kind = cursor.byte()
    if kind == _CRC:
        if "0" in cursor.defined(count):
            raise NeedsPy7zr("folder CRCs partly defined")  # py7zr misreads those
        crcs = list(struct.unpack(f"<{count}I", cursor.take(4 * count)))
        kind = cursor.byte()
    if kind != _END:
        raise HeaderDamage(f"unexpected property {kind:#x} in unpack info")
    return _Folders(coders, distinct, sizes, last_output_is_main, crcs)


def _folders(cursor: _Cursor, count: int) -> tuple[list[_Folder], list[_Folder]]:
    """`count` folders, and each distinct one. A non-solid archive repeats one folder's
    bytes for every file: the same bytes parse the same, so a repeat is not parsed
    again but shares the folder it repeats."""
    folders: list[_Folder] = []
    distinct: list[_Folder] = []
    encoded = b""
    data, end = cursor.data, cursor.end
    for _ in range(count):
        if encoded and data.startswith(encoded, cursor.pos, end):
            cursor.pos += len(encoded)
            folders.append(distinct[-1])
        else:
            start = cursor.pos
            distinct.append(_folder(cursor))
            folders.append(distinct[-1])
            encoded = data[start : cursor.pos]
    return folders, distinct


def _folder(cursor: _Cursor) -> _Folder:
    count = cursor.number()
    if count == 0:
        raise HeaderDamage("folder without coders")
    if count > _MAX_CODERS:
        raise NeedsPy7zr(f"folder of {count} coders")
    coders = [_coder(cursor) for _ in range(count)]
    inputs = [coder[1] for coder in coders]
    total_in = sum(inputs)
    if total_in > _MAX_CODER_STREAMS:
        raise NeedsPy7zr("folder with too many streams")
    bonds = [(cursor.number(), cursor.number()) for _ in range(count - 1)]
    bound_in = {bond[0] for bond in bonds}
    bound_out = {bond[1] for bond in bonds}
    if (
        len(bound_in) != len(bonds)
        or len(bound_out) != len(bonds)
        or any(index >= total_in for index in bound_in)
        or any(index >= count for index in bound_out)
    ):
        raise HeaderDamage("folder with inconsistent bind pairs")
    packed = _packed_streams(cursor, total_in, bound_in)
    (main_output,) = set(range(count)) - bound_out
    return _Folder(
        methods=tuple(coder[0] for coder in coders),
        properties=tuple(coder[2] for coder in coders),
        chain=_chain(inputs, bonds, packed),
        main_output=main_output,
        packed_streams=len(packed),
    )


def _coder(cursor: _Cursor) -> tuple[bytes, int, bytes | None]:
    """(method id, number of inputs, properties) of one coder."""
    flags = cursor.byte()
    if flags & 0xC0:
        raise NeedsPy7zr("coder with alternative methods")
    id_size = flags & 0x0F
    if id_size > 8:
        raise NeedsPy7zr("coder id longer than 8 bytes")
    method = cursor.take(id_size) if id_size else b"\x00"
    streams_in, streams_out = (cursor.number(), cursor.number()) if flags & 0x10 else (1, 1)
    if streams_out != 1 or streams_in > _MAX_CODER_STREAMS:
        raise NeedsPy7zr("coder with several outputs or too many inputs")
    properties = None
    if flags & 0x20:
        size = cursor.number()
        if size > _MAX_CODER_PROPERTIES:
            raise NeedsPy7zr("coder properties too long")
        properties = cursor.take(size)
    return method, streams_in, properties


def _packed_streams(cursor: _Cursor, total_in: int, bound_in: set[int]) -> list[int]:
    """The folder's inputs that read packed streams."""
    count = total_in - len(bound_in)
    if count < 1:
        raise HeaderDamage("folder without packed streams")
    if count == 1:
        packed = [index for index in range(total_in) if index not in bound_in]
    else:
        packed = cursor.numbers(count)
    if len(set(packed)) != count or any(index >= total_in or index in bound_in for index in packed):
        raise HeaderDamage("folder with inconsistent packed streams")
    return packed


def _chain(inputs: list[int], bonds: list[tuple[int, int]], packed: list[int]) -> list[int] | None:
    """The decoding order of a folder whose coders each take one input, or None."""
    if any(count != 1 for count in inputs) or len(packed) != 1:
        return None
    consumer = dict((out, into) for into, out in bonds)  # simple coders: stream = coder
    order = [packed[0]]
    while order[-1] in consumer and len(order) <= len(inputs):
        order.append(consumer[order[-1]])
    return order if len(order) == len(inputs) else None


def _substreams(cursor: _Cursor, folders: _Folders) -> list[int]:
    kind = cursor.byte()
    counts = [1] * len(folders.sizes)
    if kind == _NUM_UNPACK_STREAM:
        counts = _substream_counts(cursor, len(folders.sizes))
        kind = cursor.byte()
    if 0 in counts:
        raise NeedsPy7zr("folder without substreams")  # py7zr gives it a file anyway
    if kind == _SIZE:
        sizes = _substream_sizes(cursor, folders, counts)
        kind = cursor.byte()
    elif counts.count(1) != len(counts):
        raise HeaderDamage("substreams without sizes")
    elif not folders.last_output_is_main:
        raise NeedsPy7zr("folder output not last")  # py7zr takes the last size then
    else:
        sizes = folders.sizes
    if kind == _CRC:
        # Folders of one substream whose CRC is in the unpack info have no digest here.
        pairs = zip(folders.crcs, counts, strict=True)
        digests = sum(count for crc, count in pairs if count != 1 or crc is None)
        cursor.count(digests, bits_per_entry=1)
        if "0" in cursor.defined(digests):
            raise NeedsPy7zr("substream CRCs partly defined")  # py7zr misreads those
        cursor.skip(4 * digests)
        kind = cursor.byte()
    if kind != _END:
        raise HeaderDamage(f"unexpected property {kind:#x} in substreams info")
    return sizes


def _substream_counts(cursor: _Cursor, folders: int) -> list[int]:
    counts = cursor.numbers(folders)
    total = sum(counts)
    if total > _MAX_SUBSTREAMS:
        raise NeedsPy7zr(f"{total} substreams")
    cursor.count(total)  # a forged count is refused before anything is allocated for it
    return counts


def _substream_sizes(cursor: _Cursor, folders: _Folders, counts: list[int]) -> list[int]:
    """Every substream's size: all but each folder's last are stored."""
    stored = cursor.numbers(sum(counts) - len(counts))
    sizes: list[int] = []
    at = 0
    for folder_size, count in zip(folders.sizes, counts, strict=True):
        if count == 1:
            sizes.append(folder_size)
            continue
        part = stored[at : at + count - 1]
        at += count - 1
        rest = folder_size - sum(part)
        if rest < 0:
            raise HeaderDamage("substreams larger than their folder")
        sizes += part
        sizes.append(rest)
    return sizes


# -- the packed header ---------------------------------------------------------------------


def _decode_header(file: BinaryIO, raw: bytes, size: int) -> bytes:
    streams = _streams(_Cursor(raw, 1))
    folders = streams.folders
    if not streams.pack_sizes or folders is None or not folders.coders:
        raise HeaderDamage("packed header without a packed stream")
    if len(folders.coders) != 1 or len(streams.pack_sizes) != 1 or streams.substream_sizes:
        raise NeedsPy7zr("packed header of several streams")
    folder = folders.coders[0]
    if AES_METHOD in folder.methods:
        raise NeedsPy7zr("encrypted header")
    if not folders.last_output_is_main:
        raise NeedsPy7zr("header folder output not last")
    unpacked = folders.sizes[0]
    if unpacked > _MAX_DECODED_HEADER:
        raise HeaderDamage(f"packed header claims {unpacked} bytes")
    filters = _lzma_filters(folder, unpacked)
    packed_at = SIGNATURE_HEADER_SIZE + streams.pack_pos
    packed = _read_span(file, packed_at, streams.pack_sizes[0], size, "packed header")
    try:
        data = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters).decompress(
            packed, max_length=unpacked
        )
    except lzma.LZMAError as error:
        raise HeaderDamage(f"packed header does not decode: {error}") from error
    if len(data) != unpacked:
        raise HeaderDamage("packed header decodes short")
    if folders.crcs[0] is not None and zlib.crc32(data) != folders.crcs[0]:
        raise HeaderDamage("packed header CRC mismatch")
    if not data:
        raise HeaderDamage("packed header is empty")
    return data


def _lzma_filters(folder: _Folder, unpacked: int) -> list[dict[str, int]]:
    """liblzma's raw filter chain for a folder of LZMA/LZMA2 and BCJ/Delta coders."""
    if folder.chain is None:
        raise NeedsPy7zr("header folder is not a simple chain")
    # liblzma lists filters in encoding order: the compressor, which decodes first, last.
    filters = [
        _filter(folder.methods[index], folder.properties[index], unpacked)
        for index in reversed(folder.chain)
    ]
    if filters[-1]["id"] not in (lzma.FILTER_LZMA1, lzma.FILTER_LZMA2) or any(
        spec["id"] in (lzma.FILTER_LZMA1, lzma.FILTER_LZMA2) for spec in filters[:-1]
    ):
        raise NeedsPy7zr("header folder does not end in LZMA")
    return filters


def _filter(method: bytes, properties: bytes | None, unpacked: int) -> dict[str, int]:
    # A dictionary larger than the output is never used: capping it keeps a forged
    # dictionary size from allocating gigabytes.
    dict_cap = max(unpacked, _LZMA_DICT_MIN)
    if method == b"\x03\x01\x01":
        if properties is None or len(properties) != 5 or properties[0] >= 9 * 5 * 5:
            raise HeaderDamage("bad LZMA properties")
        lc, rest = properties[0] % 9, properties[0] // 9
        dict_size = min(int.from_bytes(properties[1:], "little"), dict_cap)
        return {
            "id": lzma.FILTER_LZMA1,
            "lc": lc,
            "lp": rest % 5,
            "pb": rest // 5,
            "dict_size": max(dict_size, _LZMA_DICT_MIN),
        }
    if method == b"\x21":
        if properties is None or len(properties) != 1 or properties[0] > 40:
            raise HeaderDamage("bad LZMA2 properties")
        bits = properties[0]
        declared = 0xFFFFFFFF if bits == 40 else (2 | (bits & 1)) << (bits // 2 + 11)
        return {"id": lzma.FILTER_LZMA2, "dict_size": max(min(declared, dict_cap), _LZMA_DICT_MIN)}
    if method in (b"\x03\x03\x01\x03", b"\x04") and not properties:
        return {"id": lzma.FILTER_X86}
    if method == b"\x03" and properties is not None and len(properties) == 1:
        return {"id": lzma.FILTER_DELTA, "dist": properties[0] + 1}
    raise NeedsPy7zr(f"header method {method.hex()}")


# -- the header ------------------------------------------------------------------------------


def _header(cursor: _Cursor, size: int) -> SevenZipHeaders:
    kind = cursor.byte()
    if kind in (_ARCHIVE_PROPERTIES, _ADDITIONAL_STREAMS_INFO):
        raise NeedsPy7zr(f"header property {kind:#x}")
    streams = None
    if kind == _MAIN_STREAMS_INFO:
        streams = _streams(cursor)
        kind = cursor.byte()
    files = None
    if kind == _FILES_INFO:
        files = _files_info(cursor)
        kind = cursor.byte()
    if kind != _END:
        raise HeaderDamage(f"unexpected property {kind:#x} in header")
    folders = streams.folders.coders if streams and streams.folders else []
    folder_methods = [folder.methods for folder in folders]
    if files is None:
        if streams is not None:
            raise NeedsPy7zr("streams without files")
        return SevenZipHeaders.without_members(folder_methods)
    assert files.names is not None
    without_data = files.empty.count("1")
    with_data = len(files.names) - without_data
    sizes: list[int] = []
    if streams is not None:
        sizes = _check_streams(streams, size)
    if len(sizes) != with_data:
        raise HeaderDamage(f"{with_data} files with data, {len(sizes)} substreams")
    if without_data:
        stream_sizes = iter(sizes)
        uncompressed = [0 if bit == "1" else next(stream_sizes) for bit in files.empty]
        empty = [bit == "1" for bit in files.empty]
    else:
        uncompressed, empty = sizes, [False] * len(sizes)
    return SevenZipHeaders(
        files.names, files.attributes, empty, uncompressed, files.mtimes, folder_methods
    )


def _check_streams(streams: _Streams, size: int) -> list[int]:
    if streams.pack_sizes is None or streams.folders is None:
        raise HeaderDamage("streams info without pack or unpack info")
    coders = streams.folders.coders
    if sum(folder.packed_streams for folder in coders) != len(streams.pack_sizes):
        raise HeaderDamage("folders and packed streams disagree")
    end = SIGNATURE_HEADER_SIZE + streams.pack_pos + sum(streams.pack_sizes)
    if end > size:
        raise HeaderDamage("packed streams lie past the end of the archive")
    if streams.substream_sizes is None:
        if coders:
            raise HeaderDamage("folders without substreams info")
        return []
    return streams.substream_sizes


@dataclass
class _Files:
    names: list[str] | None
    empty: str  # "1" for each file without data (kEmptyStream)
    attributes: list[int | None]
    mtimes: list[float | None]


def _files_info(cursor: _Cursor) -> _Files:
    count = cursor.number()
    if count > _MAX_FILES:
        raise NeedsPy7zr(f"{count} files")
    cursor.count(count)
    files = _Files(names=None, empty="0" * count, attributes=[None] * count, mtimes=[None] * count)
    seen: set[int] = set()
    while (kind := cursor.byte()) != _END:
        length = cursor.number()
        if length > cursor.remaining():
            raise HeaderDamage("file property past the end of the header")
        body = _Cursor(cursor.data, cursor.pos, cursor.pos + length)
        cursor.pos += length
        if kind == _DUMMY:
            continue
        if kind in seen:
            raise NeedsPy7zr(f"file property {kind:#x} repeated")
        seen.add(kind)
        _file_property(kind, body, count, files)
    if files.names is None:
        raise NeedsPy7zr("files without names")
    return files


def _file_property(kind: int, body: _Cursor, count: int, files: _Files) -> None:
    if kind == _EMPTY_STREAM:
        files.empty = body.bits(count)
    elif kind == _EMPTY_FILE:
        body.bits(files.empty.count("1"))
    elif kind == _NAME:
        files.names = _names(body, count)
    elif kind in (_CTIME, _ATIME):
        _times(body, count)
    elif kind == _MTIME:
        files.mtimes = _times(body, count)
    elif kind == _ATTRIBUTES:
        files.attributes = _attributes(body, count)
    else:
        raise NeedsPy7zr(f"file property {kind:#x}")  # py7zr rejects these


def _names(body: _Cursor, count: int) -> list[str]:
    """`count` NUL-terminated UTF-16 names, from one decode of the whole property and
    one split (a search per name cost more than the rest of the member list). With
    "surrogatepass" every pair of bytes decodes, so the property's tail after the last
    name never matters; names beyond ASCII are then decoded again as py7zr decodes
    them, strictly, which refuses a lone surrogate."""
    if body.byte() != 0:
        raise NeedsPy7zr("names stored outside the header")
    body.count(count, bits_per_entry=16)
    data, start, end = body.data, body.pos, body.end
    text = data[start : end - (end - start) % 2].decode("utf-16-le", "surrogatepass")
    names = text.split("\x00", count)
    if len(names) <= count:
        raise HeaderDamage("a file name is not terminated")
    tail = names.pop()  # after the last terminator
    if max(map(len, names), default=0) * 2 >= _MAX_NAME_UNITS and any(
        len(name.encode("utf-16-le", "surrogatepass")) >= 2 * _MAX_NAME_UNITS for name in names
    ):
        raise NeedsPy7zr("a file name of 64 Ki units")
    if not text.isascii():
        raw = text[: len(text) - len(tail)].encode("utf-16-le", "surrogatepass")
        try:
            raw.decode("utf-16-le")  # the names' bytes, as py7zr decodes them
        except UnicodeDecodeError as error:
            raise HeaderDamage(f"a file name is not UTF-16: {error.reason}") from error
    if "\\" in text:
        return [name.replace("\\", "/") for name in names]
    return names


def _times(body: _Cursor, count: int) -> list[float | None]:
    defined = body.defined(count)
    if body.byte() != 0:
        raise NeedsPy7zr("times stored outside the header")
    present = defined.count("1")
    stamps = struct.unpack(f"<{present}Q", body.take(8 * present))
    seconds: list[float | None] = [stamp / _FILETIME_TICKS + _FILETIME_EPOCH for stamp in stamps]
    if present == count:
        return seconds
    values = iter(seconds)
    return [next(values) if bit == "1" else None for bit in defined]


def _attributes(body: _Cursor, count: int) -> list[int | None]:
    defined = body.defined(count)
    if body.byte() != 0:
        raise NeedsPy7zr("attributes stored outside the header")
    present = defined.count("1")
    values = struct.unpack(f"<{present}I", body.take(4 * present))
    if present == count:
        return list(values)
    found = iter(values)
    return [next(found) if bit == "1" else None for bit in defined]
