"""Up-to-date state: for each task with `sources:`, the fingerprint of its last success
(content hashes of its sources and outputs, and a digest of what it runs), kept in
`.devkit/recipe-<file name>.json` next to the recipe (task locks are in locks.py).

State is a cache: a problem with it never fails a run. Writes are atomic and safe
under concurrency: each writer takes an flock on `<state>.lock`, reads the file,
changes only its own task and renames a fresh temporary file (unique name, fsynced)
over it, so parallel tasks and concurrent devkit processes never lose each other's
entries. Where the recipe's folder cannot hold state (read-only, `.devkit` is a file),
it is kept in `$XDG_STATE_HOME/devkit/<hash of the recipe's path>/` instead
(`~/.local/state/devkit/...` without XDG_STATE_HOME); when neither can be written the
caller gets a warning and the task simply is not remembered as up to date.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from devkit.atomic import replace_file

STATE_DIR = ".devkit"
# Compared to decide "up to date"; `recorded` only picks the newer of two copies.
_COMPARED = ("sources", "outputs", "definition")


def expand_globs(patterns: Sequence[str], base: Path) -> list[Path] | None:
    """Files matched by the patterns (folders count with their files), or None when a
    pattern matches nothing."""
    files: set[Path] = set()
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        matches = glob.glob(full, recursive=True)
        if not matches:
            return None
        for match in matches:
            path = Path(match)
            if path.is_dir():
                files.update(p for p in path.rglob("*") if p.is_file())
            elif path.is_file():
                files.add(path)
    return sorted(files)


def content_hash(files: Sequence[Path], base: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        try:
            name = str(path.relative_to(base))
        except ValueError:
            name = str(path)
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def definition_digest(texts: Iterable[str], env: Mapping[str, str]) -> str:
    """A digest of what a task runs: its texts after rendering (variables filled in)
    and the environment it uses. Only the digest is stored: no value, no secret."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(b"\1")
    for key in sorted(env):
        digest.update(f"{key}={env[key]}".encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def fallback_state_dir(recipe_path: Path, environ: Mapping[str, str]) -> Path:
    """`$XDG_STATE_HOME/devkit/<hash>` (or `~/.local/state/devkit/<hash>`): one folder per
    recipe file, named by a hash of its absolute path."""
    base = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        base = os.path.join(environ.get("HOME") or _user_home(), ".local", "state")
    key = hashlib.sha256(str(recipe_path.absolute()).encode("utf-8", "surrogateescape"))
    return Path(base) / "devkit" / key.hexdigest()[:16]


def _user_home() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return os.path.expanduser("~")


class StateStore:
    """Task name -> fingerprint of its last success, for one recipe file (`deploy.yaml`
    and `deploy.yml` in one folder keep separate state)."""

    def __init__(self, recipe_path: Path, *, environ: Mapping[str, str] | None = None) -> None:
        self.base = recipe_path.parent
        name = f"recipe-{recipe_path.name}.json"
        self.path = self.base / STATE_DIR / name
        environ = os.environ if environ is None else environ
        self.fallback = fallback_state_dir(recipe_path, environ) / name
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def fingerprint(
        self, sources: Sequence[str], outputs: Sequence[str], definition: str = ""
    ) -> dict[str, str] | None:
        """The task's current fingerprint; None when a source or output is missing or
        unreadable (the task is then never up to date)."""
        try:
            source_files = expand_globs(sources, self.base)
            output_files = expand_globs(outputs, self.base) if outputs else []
            if source_files is None or output_files is None:
                return None
            return {
                "sources": content_hash(source_files, self.base),
                "outputs": content_hash(output_files, self.base),
                "definition": definition,
            }
        except OSError:
            return None

    def last_success(self, task: str) -> dict[str, Any] | None:
        """The newest entry for the task in the recipe's folder or the fallback."""
        entries = [
            entry
            for path in (self.path, self.fallback)
            if isinstance(entry := _read(path).get(task), dict)
        ]
        if not entries:
            return None
        return max(entries, key=lambda entry: _number(entry.get("recorded")))

    def is_up_to_date(
        self, task: str, sources: Sequence[str], outputs: Sequence[str], definition: str = ""
    ) -> bool:
        current = self.fingerprint(sources, outputs, definition)
        last = self.last_success(task)
        return (
            current is not None
            and last is not None
            and all(last.get(key) == current[key] for key in _COMPARED)
        )

    def record(
        self, task: str, sources: Sequence[str], outputs: Sequence[str], definition: str = ""
    ) -> str | None:
        """Remember the task's success (or forget it when its fingerprint cannot be
        taken); a warning to show, at most once per distinct problem, or None."""
        current = self.fingerprint(sources, outputs, definition)
        entry = None if current is None else {**current, "recorded": time.time()}
        try:
            _update(self.path, task, entry)
            return None
        except OSError as error:
            problem = f"cannot keep up-to-date state in {self.path.parent}: {_reason(error)}"
        try:
            _update(self.fallback, task, entry)
            return self._once(f"{problem}; kept in {self.fallback.parent}")
        except OSError as error:
            return self._once(
                f"{problem}, nor in {self.fallback.parent}: {_reason(error)};"
                " the task will run again next time"
            )

    def _once(self, warning: str) -> str | None:
        with self._lock:
            if warning in self._warned:
                return None
            self._warned.add(warning)
            return warning


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _update(path: Path, task: str, entry: dict[str, Any] | None) -> None:
    """Change one task's entry: read, modify and replace the file under an flock, so
    that concurrent writers (threads or processes) each keep their own task's entry."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)
        data = _read(path)
        if entry is None:
            data.pop(task, None)
        else:
            data[task] = entry
        replace_file(path, json.dumps(data, indent=2, sort_keys=True).encode())
    finally:
        os.close(lock)  # releases the flock
