"""The pack: this devkit and everything it imports, as one zip to put on a host.

Targets need no internet, no pip and no venv module: the pack holds the installed
files of devkit and of every distribution it depends on (markers evaluated for this
interpreter), plus a small launcher. It is built from what runs here, so it fits a
host with the same Python version, machine and platform (a fleet built from one
image); `compatibility()` says why a host does not fit. The zip is reproducible
(sorted, fixed timestamps), so its SHA-256 names it: a host that has that pack already
is not sent it again.

Building it reads and compresses every file (seconds); `current_pack()` keeps the
built zip in the user's cache, named by a fingerprint of what it would contain (file
names, sizes and times of devkit's package, the installed distributions' metadata
folders and this interpreter), so a fleet run of an unchanged installation starts at
once and never compresses anything.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import platform
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devkit import __version__
from devkit.atomic import replace_file
from devkit.errors import DevkitError

LAUNCHER = "devkit-remote.py"
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Run as `python3 -I -S <pack>/devkit-remote.py ARGS`: no user site, no environment
# variables of Python's, no site-packages of the host; only the pack.
_LAUNCHER_TEXT = """\
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "site"))
from devkit.__main__ import run
run()
"""


@dataclass(frozen=True)
class Pack:
    """A built pack: in memory (`content`) or kept in the cache (`path`), so that a run
    that only needs its name never reads its bytes."""

    sha256: str
    distributions: tuple[str, ...]
    content: bytes | None = None
    path: Path | None = None

    @property
    def name(self) -> str:
        return f"{__version__}-{self.sha256[:16]}"

    @property
    def data(self) -> bytes:
        if self.content is not None:
            return self.content
        assert self.path is not None
        return self.path.read_bytes()

    @property
    def size(self) -> int:
        return len(self.content) if self.content is not None else os.path.getsize(str(self.path))


class PackFailed(DevkitError):
    default_code = "pack_failed"


def runtime() -> dict[str, str]:
    """This interpreter, described as the probe of a host describes the host's."""
    return {
        "implementation": sys.implementation.name,
        "python": "{}.{}".format(*sys.version_info[:2]),
        "machine": platform.machine(),
        "platform": sys.platform,
        "libc": " ".join(platform.libc_ver()),
    }


def compatibility(host: dict[str, Any]) -> str | None:
    """Why a host (what its probe answered) cannot run the pack, or None when it can."""
    here = runtime()
    for key in ("implementation", "python", "machine", "platform"):
        if host.get(key) != here[key]:
            return (
                f"it has {host.get(key) or 'no'} {key}, the pack is built for {here[key]} "
                f"(install devkit there with pipx or uv instead)"
            )
    return None


def _requirement_names(dist: importlib.metadata.Distribution) -> Iterator[str]:
    from packaging.requirements import InvalidRequirement, Requirement

    for text in dist.requires or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None or marker.evaluate({"extra": ""}):
            yield requirement.name


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure() -> list[importlib.metadata.Distribution]:
    """devkit's installed distribution and, recursively, what it requires here."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    queue = ["devkit"]
    while queue:
        name = _canonical(queue.pop())
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise PackFailed(
                f"{name} is required by devkit but not installed here",
                hint="reinstall devkit (pipx reinstall devkit, or pip install -e .)",
            ) from None
        seen[name] = dist
        queue.extend(_requirement_names(dist))
    return [seen[key] for key in sorted(seen)]


def _files(dist: importlib.metadata.Distribution) -> Iterator[tuple[str, Path]]:
    """(name in the pack, path here) of a distribution's files inside site-packages."""
    for entry in dist.files or ():
        if entry.parts[0] == ".." or "__pycache__" in entry.parts or entry.suffix == ".pyc":
            continue
        path = Path(str(dist.locate_file(entry)))
        if path.is_file():
            yield f"site/{entry.as_posix()}", path


def _devkit_files() -> Iterator[tuple[str, Path]]:
    """devkit's own package, also when it is installed in development mode (a .pth
    pointing at a checkout instead of files in site-packages)."""
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package.parent)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
            yield f"site/{relative.as_posix()}", path


def build_pack() -> Pack:
    """The reproducible zip of devkit and its dependencies as installed here."""
    distributions = dependency_closure()
    members: dict[str, Path] = dict(_devkit_files())
    for dist in distributions:
        if _canonical(dist.metadata["Name"]) == "devkit":
            continue
        members.update(_files(dist))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        _add(archive, LAUNCHER, _LAUNCHER_TEXT.encode(), 0o644)
        for name in sorted(members):
            path = members[name]
            mode = path.stat().st_mode & 0o777
            _add(archive, name, path.read_bytes(), mode)
    data = buffer.getvalue()
    names = tuple(f"{d.metadata['Name']}=={d.version}" for d in distributions)
    return Pack(hashlib.sha256(data).hexdigest(), names, content=data)


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _fingerprint() -> str:
    """A digest that changes whenever the pack would: devkit's files, the set (and
    versions) of installed distributions, this interpreter. It only stats files."""
    digest = hashlib.sha256()
    digest.update(repr((__version__, sys.version, sys.executable, _LAUNCHER_TEXT)).encode())
    for name, path in _devkit_files():
        info = path.stat()
        digest.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_mode}\n".encode())
    for folder in sorted({p for p in sys.path if p and os.path.isdir(p)}):
        try:
            entries = sorted(e for e in os.listdir(folder) if e.endswith(".dist-info"))
        except OSError:
            continue
        for entry in entries:
            try:
                mtime = os.stat(os.path.join(folder, entry, "RECORD")).st_mtime_ns
            except OSError:
                mtime = 0
            digest.update(f"{folder}\0{entry}\0{mtime}\n".encode())
    return digest.hexdigest()[:32]


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "devkit" / "packs"


def current_pack() -> Pack:
    """The pack of this installation, built once and then read from the cache. A cache
    that cannot be written (a read-only home) only costs the build on every run."""
    folder = _cache_folder()
    key = _fingerprint()
    zip_path, meta_path = folder / f"{key}.zip", folder / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text())
        if zip_path.stat().st_size == meta["bytes"]:
            return Pack(meta["sha256"], tuple(meta["distributions"]), path=zip_path)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    pack = build_pack()
    meta = {"sha256": pack.sha256, "bytes": len(pack.data), "distributions": pack.distributions}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():  # one installation, one pack: drop the stale ones
            if not old.name.startswith(key):
                old.unlink(missing_ok=True)
        replace_file(zip_path, pack.data)
        replace_file(meta_path, json.dumps(meta).encode())
    except OSError:
        return pack
    return Pack(pack.sha256, pack.distributions, path=zip_path)
