"""Up-to-date checks: content hashes of a task's sources and outputs, kept under
`.devkit/` in the recipe's folder (task locks are in locks.py)."""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

STATE_DIR = ".devkit"


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


class StateStore:
    """`<recipe folder>/.devkit/recipe-<name>.json`: task name -> hashes of the last success."""

    def __init__(self, recipe_path: Path) -> None:
        self.base = recipe_path.parent
        self.path = self.base / STATE_DIR / f"recipe-{recipe_path.stem}.json"

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def fingerprint(self, sources: Sequence[str], outputs: Sequence[str]) -> dict[str, str] | None:
        """Hashes of the current sources and outputs; None when some are missing."""
        source_files = expand_globs(sources, self.base)
        output_files = expand_globs(outputs, self.base) if outputs else []
        if source_files is None or output_files is None:
            return None
        return {
            "sources": content_hash(source_files, self.base),
            "outputs": content_hash(output_files, self.base),
        }

    def is_up_to_date(self, task: str, sources: Sequence[str], outputs: Sequence[str]) -> bool:
        current = self.fingerprint(sources, outputs)
        return current is not None and self._read().get(task) == current

    def record(self, task: str, sources: Sequence[str], outputs: Sequence[str]) -> None:
        current = self.fingerprint(sources, outputs)
        data = self._read()
        if current is None:
            data.pop(task, None)
        else:
            data[task] = current
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.path)
