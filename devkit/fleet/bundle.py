"""The files a recipe run needs on a host: the recipe, the recipes it includes (and
theirs), and the dotenv files they name, keyed by their paths relative to the folder
that holds them all, so the layout the includes rely on is kept on the host.

The recipe has passed validation before this runs, so every file named here exists
(an optional dotenv file that does not is simply left out).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Bundle:
    recipe: str  # the recipe's key in `files`
    files: dict[str, bytes]

    def to_json(self) -> dict[str, Any]:
        encoded = {name: base64.b64encode(data).decode() for name, data in self.files.items()}
        return {"recipe": self.recipe, "files": encoded}

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()


def recipe_bundle(path: Path) -> Bundle:
    """The recipe at `path` and every file it reads, relative to their common folder."""
    found: dict[Path, bytes] = {}
    _collect(path.resolve(), found)
    root = Path(os.path.commonpath([str(p.parent) for p in found]))
    files = {p.relative_to(root).as_posix(): data for p, data in sorted(found.items())}
    return Bundle(path.resolve().relative_to(root).as_posix(), files)


def _collect(path: Path, found: dict[Path, bytes]) -> None:
    import yaml

    if path in found:
        return
    found[path] = data = path.read_bytes()
    try:
        tree = yaml.safe_load(data)
    except yaml.YAMLError:
        return
    if not isinstance(tree, dict):
        return
    dotenv_files = tree.get("dotenv") or ()
    for written in [dotenv_files] if isinstance(dotenv_files, str) else dotenv_files:
        name = str(written)
        dotenv = (path.parent / name.removesuffix("?")).resolve()
        if dotenv.is_file():
            found.setdefault(dotenv, dotenv.read_bytes())
    includes = tree.get("includes") or {}
    if isinstance(includes, dict):
        for written in includes.values():
            if isinstance(written, str):
                _collect((path.parent / written).resolve(), found)
