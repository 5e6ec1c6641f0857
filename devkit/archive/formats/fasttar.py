"""A lean tar reader for the common case (ustar, GNU long names, pax), used because
tarfile's per-member cost dominates archives of many small files (see bench/extract.py).

Decompression runs in a producer thread (zlib, lzma, bz2 and zstd release the GIL)
that hands bounded blocks to the parser, so decoding overlaps with parsing and
writing. Small members are sliced out of the block and written in one call. Anything
unusual (sparse files, volume headers, unknown types) raises `UseTarfile` before a
member is written, and the caller falls back to tarfile for the whole archive.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from zlib import adler32

from devkit.archive.formats.compressed import (
    CountingFile,
    corrupt,
    damage_errors,
    open_decompressed,
)
from devkit.archive.model import Entry, Kind
from devkit.archive.safety import member_path
from devkit.archive.writer import CHUNK, TreeWriter

BLOCK = 512
READ_SIZE = 1024 * 1024
QUEUE_DEPTH = 8  # at most ~8 MiB of decoded data waits for the parser
MAX_EXTENDED_HEADER = 1024 * 1024
_EXTENDED_TYPES = (b"L", b"K", b"x", b"g")
_PLAIN_FILE_TYPES = (b"0", b"\x00", b"7")
_ZERO_BLOCK = bytes(BLOCK)
_KINDS: dict[bytes, Kind] = {
    b"0": "file",
    b"\x00": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "special",
    b"4": "special",
    b"5": "dir",
    b"6": "special",
}


class UseTarfile(Exception):
    """This archive needs the full tarfile implementation."""


class BlockSource(Protocol):
    def get(self) -> bytes | None:
        """The next block of decoded data; None at the end."""


class _Producer:
    """Reads decoded blocks in a thread; the consumer gets them in order."""

    _END = object()

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devkit-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._stream.read(READ_SIZE)
                if not data:
                    break
                self._put(data)
            self._put(self._END)
        except BaseException as error:  # handed to the consumer
            self._put(error)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self) -> bytes | None:
        item = self._queue.get()
        if item is self._END:
            self._queue.put(item)  # stay at the end
            return None
        if isinstance(item, BaseException):
            raise item
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)


class _Buffer:
    def __init__(self, producer: BlockSource, path: Path) -> None:
        self._producer = producer
        self._path = path
        self._data = b""
        self._pos = 0

    def _get(self) -> bytes | None:
        """The next decoded block; a decoding failure is ArchiveCorrupt."""
        try:
            return self._producer.get()
        except damage_errors() as error:
            raise corrupt(self._path, error) from error

    def _next_block(self) -> bool:
        """Move on to the next decoded block, this one being used up; False at a clean
        end of stream."""
        more = self._get()
        if more is None:
            return False
        self._data, self._pos = more, 0
        return True

    def take(self, size: int) -> bytes | None:
        start = self._pos
        end = start + size
        if end <= len(self._data):
            self._pos = end
            return self._data[start:end]
        return self._take_across(size)

    def _take_across(self, size: int) -> bytes | None:
        """`size` bytes that begin in this block and end in a later one: only they are
        copied (joining the whole next block copied ~1 MiB per block boundary)."""
        pieces = [self._data[self._pos :]]
        have = len(pieces[0])
        while True:
            more = self._get()
            if more is None:
                self._data, self._pos = b"".join(pieces), 0  # for left()
                return None
            if have + len(more) >= size:
                pieces.append(more[: size - have])
                self._data, self._pos = more, size - have
                return b"".join(pieces)
            pieces.append(more)
            have += len(more)

    def take_some(self, limit: int) -> memoryview | None:
        """Up to `limit` bytes, without joining or copying blocks (large members)."""
        if self._pos >= len(self._data) and not self._next_block():
            return None
        start = self._pos
        self._pos = min(len(self._data), start + limit)
        return memoryview(self._data)[start : self._pos]

    def skip(self, size: int) -> None:
        while size:
            step = min(size, READ_SIZE)
            if self.take(step) is None:
                raise corrupt(self._path, EOFError("unexpected end of data"))
            size -= step

    def left(self) -> int:
        """Bytes buffered and not taken (at the end: a partial block)."""
        return len(self._data) - self._pos

    def drain(self) -> None:
        self._pos = len(self._data)
        while self._get() is not None:
            pass


class _Member:
    """A large member's data, streamed from the buffer."""

    def __init__(self, buffer: _Buffer, size: int, path: Path) -> None:
        self._buffer = buffer
        self.left = size
        self._path = path

    def read(self, size: int = -1, /) -> bytes | memoryview:
        if not self.left:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self._buffer.take_some(want)
        if data is None:
            raise corrupt(self._path, EOFError("unexpected end of data"))
        self.left -= len(data)
        return data


def _number(field: bytes) -> int:
    if field[:1] in (b"\x80", b"\xff"):  # base-256 (GNU)
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:
            value -= 1 << (8 * (len(field) - 1))
        return value
    text = field.split(b"\x00", 1)[0].strip()
    return int(text, 8) if text else 0


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


class MalformedPax(ValueError):
    """pax records that GNU tar rejects ("Malformed extended header")."""


def _pax(data: bytes) -> dict[str, str]:
    """Records "<length> <key>=<value>\\n", each exactly <length> bytes; only zero
    bytes may follow the last (tarfile reads malformed records as none at all)."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos:].strip(b"\0"):
        space = data.find(b" ", pos, pos + 21)
        digits = data[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise MalformedPax("missing length")
        length = int(digits)
        if length <= space - pos + 1 or pos + length > len(data):
            raise MalformedPax("bad record length")
        if data[pos + length - 1 : pos + length] != b"\n":
            raise MalformedPax("record does not end in a newline")
        record = data[space + 1 : pos + length - 1]
        key, equals, value = record.partition(b"=")
        if not equals or not key:
            raise MalformedPax("record without a key")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _padded(size: int) -> int:
    return (size + BLOCK - 1) // BLOCK * BLOCK


class FastTar:
    def __init__(self, path: Path, compression: str | None) -> None:
        self.path = path
        self.compression = compression

    def extract(self, writer: TreeWriter, on_progress: Callable[[int], None] | None) -> None:
        with self.path.open("rb") as raw_file:
            raw: Any = CountingFile(raw_file, on_progress)
            stream = open_decompressed(raw, self.compression) if self.compression else raw
            producer = _Producer(stream)
            try:
                with writer.making_files_in_parallel():
                    self._parse(_Buffer(producer, self.path), writer)
            finally:
                producer.close()

    def extract_from(self, source: BlockSource, writer: TreeWriter) -> None:
        """Parse decoded blocks that another process produces (formats.native)."""
        with writer.making_files_in_parallel():
            self._parse(_Buffer(source, self.path), writer)

    def _parse(self, buf: _Buffer, writer: TreeWriter) -> None:
        extended = _Extended()
        first = True
        take = buf.take
        while True:
            header = take(BLOCK)
            if header is None:
                if first:
                    raise corrupt(self.path, EOFError("empty tar archive"))
                if buf.left():
                    raise corrupt(self.path, EOFError("the last tar header is cut short"))
                return  # end without the zero blocks: tolerated like GNU tar
            if header == _ZERO_BLOCK:
                buf.drain()  # second zero block, padding, and the checksum of gz/xz/zst
                return
            first = False
            size = _checked_size(header)
            typeflag = header[156:157]
            if typeflag in _EXTENDED_TYPES:
                self._read_extended(buf, typeflag, size, extended)
            elif (
                typeflag in _PLAIN_FILE_TYPES
                and size <= CHUNK
                and not extended.pending()
                and self._write_plain(buf, header, typeflag, size, writer)
            ):
                continue
            else:
                self._write(buf, _entry(header, typeflag, size, extended), writer)

    def _write_plain(
        self, buf: _Buffer, header: bytes, typeflag: bytes, size: int, writer: TreeWriter
    ) -> bool:
        """A small regular file, the member most archives are mostly made of, without
        the general path's layers (an Entry, `admit`): True once it is handled; False,
        having read nothing, when its header needs the general path."""
        name = _header_name(header)
        if name.endswith("/"):
            return False  # a folder, as GNU tar reads it
        try:
            mode = _octal(header[100:108])
            mtime = float(_octal(header[136:148]))
        except ValueError:
            return False
        block = buf.take(_padded(size))
        if block is None:
            raise corrupt(self.path, EOFError("unexpected end of data"))
        data = memoryview(block)[:size]
        if not writer.add_plain_file(name, data, mode, mtime):
            # A name or place the writer looks at closer: the general path, same data.
            entry = _entry(header, typeflag, size, _Extended())
            if writer.admit(entry):
                writer.add_bytes(entry, data)
        return True

    def _read_extended(self, buf: _Buffer, typeflag: bytes, size: int, extended: _Extended) -> None:
        """A GNU long name or link, or pax records, for the next member (or all)."""
        if size > MAX_EXTENDED_HEADER:
            raise corrupt(self.path, ValueError("oversized extended header"))
        data = buf.take(_padded(size))
        if data is None:
            raise corrupt(self.path, EOFError("unexpected end of data"))
        data = data[:size]
        if typeflag == b"L":
            extended.long_name = _text(data)
        elif typeflag == b"K":
            extended.long_link = _text(data)
        else:
            try:
                records = _pax_records(data)
            except MalformedPax as error:
                raise corrupt(self.path, ValueError(f"malformed pax header: {error}")) from error
            (extended.pax if typeflag == b"x" else extended.global_pax).update(records)

    def _write(self, buf: _Buffer, entry: Entry, writer: TreeWriter) -> None:
        """Hand one member to the writer, or skip its data."""
        data_size = entry.size or 0  # as tarfile: only files carry data
        padded = _padded(data_size)
        if not writer.admit(entry):
            buf.skip(padded)
        elif entry.kind != "file":
            writer.add(entry)
            buf.skip(padded)
        elif data_size <= CHUNK:
            block = buf.take(padded)
            if block is None:
                raise corrupt(self.path, EOFError("unexpected end of data"))
            writer.add_bytes(entry, memoryview(block)[:data_size])
        else:
            writer.add(entry, _Member(buf, data_size, self.path))
            buf.skip(padded - data_size)


@dataclass
class _Extended:
    """GNU long names and pax records that apply to the next member (global pax: to
    every later one)."""

    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = field(default_factory=dict)
    global_pax: dict[str, str] = field(default_factory=dict)

    def pending(self) -> bool:
        """Whether anything applies to the next member."""
        return bool(
            self.long_name is not None or self.long_link is not None or self.pax or self.global_pax
        )

    def take(self) -> tuple[str | None, str | None, dict[str, str]]:
        """(long name, long link, pax records) for this member, forgotten for the next."""
        merged = {**self.global_pax, **self.pax} if self.global_pax else self.pax
        taken = (self.long_name, self.long_link, merged)
        self.long_name = self.long_link = None
        self.pax = {}
        return taken


def _octal(field: bytes) -> int:
    """`_number` for the usual field (octal digits, NUL or space padded) in one call:
    int() fails on anything else, which `_number` then reads."""
    try:
        return int(field.rstrip(b"\0 ") or b"0", 8)
    except ValueError:
        return _number(field)


def _byte_sum(header: bytes) -> int:
    """sum(header) for a 512-byte block, in C: Adler-32's first half is 1 + the byte sum
    modulo 65521, which never wraps for 256 bytes (at most 65,280). sum() iterating
    Python ints took as long as the rest of a member's parsing."""
    view = memoryview(header)
    return (adler32(view[:256]) & 0xFFFF) + (adler32(view[256:]) & 0xFFFF) - 2


def _checked_size(header: bytes) -> int:
    """The member's size once the header checksum matches. Anything odd (signed
    checksums, bad numbers) is left to tarfile to judge."""
    try:
        stored = _octal(header[148:156])
        size = _octal(header[124:136])
    except ValueError as error:
        raise UseTarfile("unusual numeric field") from error
    if stored != _byte_sum(header) - sum(header[148:156]) + 256 or size < 0:
        raise UseTarfile("unusual header")
    return size


def _pax_records(data: bytes) -> dict[str, str]:
    try:
        records = _pax(data)
    except MalformedPax:
        raise
    except ValueError as error:
        raise UseTarfile("unusual pax header") from error
    if any(key.startswith("GNU.sparse") for key in records):
        raise UseTarfile("pax sparse member")
    return records


def _header_name(header: bytes) -> str:
    if header[257:263] == b"ustar\x00" and header[345:346] != b"\x00":
        return _text(header[345:500]) + "/" + _text(header[0:100])
    return _text(header[0:100])


def _entry(header: bytes, typeflag: bytes, size: int, extended: _Extended) -> Entry:
    kind = _KINDS.get(typeflag)
    if kind is None:
        raise UseTarfile(f"tar member type {typeflag!r}")
    long_name, long_link, pax = extended.take()
    name = pax.get("path", long_name or _header_name(header))
    link = pax.get("linkpath", long_link or _text(header[157:257]))
    try:
        if "size" in pax:
            size = int(pax["size"])
        mtime = float(pax.get("mtime") or _number(header[136:148]))
        mode = _number(header[100:108])
    except ValueError as error:
        raise UseTarfile("unusual numeric field") from error
    if kind == "file" and typeflag != b"7" and name.endswith("/"):
        kind = "dir"
    entry_path, reason = member_path(name, kind, backslash_is_separator=False)
    return Entry(
        name=name.rstrip("/") if kind == "dir" else name,
        path=entry_path,
        kind=kind,
        size=size if kind == "file" else 0,
        mtime=mtime,
        mode=mode,
        link=link if kind in ("symlink", "hardlink") else None,
        unsafe=reason,
    )
