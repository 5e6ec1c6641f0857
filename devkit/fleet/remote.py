"""The remote half of a fleet run: the request a controller sends on stdin, and the
per-run folder its files are written to.

`devkit run --fleet-stdin` (devkit/cli/remote.py) reads ONE line of JSON, version 1
of the protocol (see `parse_request`), then keeps stdin open as the controller's
heartbeat. The recipe, the files it includes and its dotenv files are written into
`${XDG_CACHE_HOME:-~/.cache}/devkit/runs/<sha256>/`, named by the hash of the files
(so the same recipe reuses its folder and its `.devkit/` state run after run): built
in a temporary sibling and renamed into place, never written outside it. Folders not
used for 30 days are removed.

Core code: no printing; problems are InvalidInput (exit 2) or OperationFailed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from devkit.errors import InvalidInput, OperationFailed
from devkit.recipe.model import FleetHost, Recipe

PROTOCOL = 1
# A run folder nobody used for this long is removed (its mtime is touched on use).
UNUSED_FOR = 30 * 24 * 3600
# A temporary folder left by a run that died while writing its files.
ABANDONED_AFTER = 3600
_TEMPORARY_PREFIX = ".new-"


@dataclass(frozen=True)
class RunRequest:
    """What the controller asks a host to run."""

    recipe: str  # the recipe's path among `files`
    files: Mapping[str, str]  # relative path -> base64 content, as sent
    host: FleetHost
    cli_vars: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The SHA-256 of the canonical JSON of `files`: the run folder's name."""
        canonical = json.dumps(dict(self.files), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def request_line(
    recipe: Recipe,
    *,
    host: FleetHost,
    cli_vars: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    files: tuple[str, dict[str, str]] | None = None,
) -> bytes:
    """For the controller: the request line (JSON and its newline) that runs `recipe`
    (loaded with load_recipe(..., host=host)) on `host`. `secrets`: the values of the
    recipe's declared secrets, read on the controller. `files`: request_files(recipe),
    when the caller read them once for many hosts."""
    name, encoded = files if files is not None else request_files(recipe)
    document = {
        "protocol": PROTOCOL,
        "recipe": name,
        "files": encoded,
        "host": {"name": host.name, "groups": list(host.groups)},
        "vars": dict(host.vars),
        "cli_vars": dict(cli_vars or {}),
        "secrets": dict(secrets or {}),
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii") + b"\n"


def request_files(recipe: Recipe) -> tuple[str, dict[str, str]]:
    """Every file the recipe was read from (itself, its includes, its dotenv files),
    base64-encoded, by its path relative to the folder that holds them all (an include
    in `../shared/` keeps its place beside the recipe's folder on the host), and the
    recipe's own path in that folder."""
    paths = [path.resolve() for path in (recipe.path, *recipe.files)]
    base = Path(os.path.commonpath([str(path.parent) for path in paths]))
    files: dict[str, str] = {}
    for path in paths:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise InvalidInput(
                f"cannot read {path}: {error.strerror or error}", code="usage"
            ) from None
        files[path.relative_to(base).as_posix()] = base64.b64encode(content).decode("ascii")
    return recipe.path.resolve().relative_to(base).as_posix(), files


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(
        f"invalid fleet request: {message}",
        code="invalid_input",
        hint="this input comes from a devkit controller of the same version",
    )


def parse_request(line: bytes) -> RunRequest:
    """The request line; InvalidInput (never a traceback) for anything else. Messages
    never quote the line: it holds the secrets."""
    try:
        document = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("the first line of stdin is not JSON") from None
    if not isinstance(document, dict):
        raise _invalid("the first line of stdin is not a JSON object")
    if document.get("protocol") != PROTOCOL:
        raise _invalid(f"protocol {document.get('protocol')!r} (this devkit speaks {PROTOCOL})")
    files = _mapping(document, "files", str)
    for path in files:
        check_relative_path(path)
    recipe = document.get("recipe")
    if not isinstance(recipe, str) or recipe not in files:
        raise _invalid("'recipe' must name one of 'files'")
    host = _mapping(document, "host", object)
    name, groups = host.get("name"), host.get("groups", [])
    if not isinstance(name, str) or not name:
        raise _invalid("'host.name' must be a non-empty string")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise _invalid("'host.groups' must be a list of strings")
    return RunRequest(
        recipe=recipe,
        files=files,
        host=FleetHost(name, tuple(groups), _mapping(document, "vars", object)),
        cli_vars=_mapping(document, "cli_vars", str),
        secrets=_mapping(document, "secrets", str),
    )


def _mapping(document: Mapping[str, Any], key: str, kind: type) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, kind) for v in value.values()):
        what = "strings" if kind is str else "values"
        raise _invalid(f"'{key}' must be a mapping of names to {what}")
    return value


def check_relative_path(path: str) -> PurePosixPath:
    """A path inside the run folder: relative, no `..`, no NUL, nothing empty."""
    pure = PurePosixPath(path)
    if (
        not path
        or "\0" in path
        or "\\" in path
        or pure.is_absolute()
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise _invalid(f"file path {path!r} is not a relative path inside the run folder")
    return pure


def decoded_files(request: RunRequest) -> dict[PurePosixPath, bytes]:
    files = {}
    for path, content in request.files.items():
        try:
            files[check_relative_path(path)] = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"the content of {path!r} is not base64") from None
    return files


def runs_root(environ: Mapping[str, str]) -> Path:
    """`${XDG_CACHE_HOME:-~/.cache}/devkit/runs` (a relative XDG_CACHE_HOME is ignored,
    as the XDG spec says)."""
    cache = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        cache = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(cache) / "devkit" / "runs"


def prepare_run_folder(request: RunRequest, root: Path) -> Path:
    """The run's folder under `root`, written if it is not there yet (atomically: a
    temporary sibling renamed into place), its mtime touched as it is used."""
    files = decoded_files(request)  # every problem before anything is written
    folder = root / request.digest
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.is_dir():
            os.utime(folder)
            return folder
        temporary = Path(tempfile.mkdtemp(prefix=_TEMPORARY_PREFIX, dir=root))
        try:
            _write_files(temporary, files)
            os.rename(temporary, folder)
        except OSError:
            shutil.rmtree(temporary, ignore_errors=True)
            if not folder.is_dir():  # not another run that renamed the same files first
                raise
            os.utime(folder)
    except OSError as error:
        raise OperationFailed(
            f"cannot write the run folder {folder}: {error.strerror or error}",
            code="write_failed",
            hint="the host's cache folder ($XDG_CACHE_HOME or ~/.cache) must be writable",
        ) from None
    return folder


def _write_files(folder: Path, files: Mapping[PurePosixPath, bytes]) -> None:
    for path, content in files.items():
        target = folder.joinpath(*path.parts)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)


def prune_run_folders(root: Path, *, keep: Path, now: float | None = None) -> list[Path]:
    """Remove run folders unused for UNUSED_FOR seconds (and temporary ones a dead run
    left); never `keep`. Best effort: a folder that cannot be removed stays."""
    now = time.time() if now is None else now
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            path = Path(entry.path)
            if path == keep or not entry.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                age = now - entry.stat(follow_symlinks=False).st_mtime
                limit = ABANDONED_AFTER if entry.name.startswith(_TEMPORARY_PREFIX) else UNUSED_FOR
                if age > limit:
                    shutil.rmtree(path)
                    removed.append(path)
    return removed


__all__ = [
    "PROTOCOL",
    "RunRequest",
    "check_relative_path",
    "parse_request",
    "prepare_run_folder",
    "prune_run_folders",
    "request_files",
    "request_line",
    "runs_root",
]
