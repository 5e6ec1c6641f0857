"""The tar reader's short path for plain small files (fasttar `_write_plain`, the
writer's `add_plain_file`) must decide and write exactly what the general path does.

A seeded generator builds tars (ustar, GNU and pax) from awkward member lists: names
with "./", "//", a leading "/", duplicates, a file where a folder was, files below a
file or a refused member, long names, odd modes and times. Each is extracted twice,
with the short path and with it switched off, and the outcomes must be identical: the
error or the result, and the tree (names, kinds, bytes, modes, times). Whenever devkit
succeeds, GNU tar must extract the same tree.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import stat
import struct
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from devkit.archive import extract_archive
from devkit.archive.writer import TreeWriter
from devkit.errors import DevkitError

DEFAULT_CASES = 60
SLOW_CASES = 1500
COMPONENTS = ["a", "b", "c", "d.txt", "é", "x" * 60]


def _name(rng: random.Random) -> str:
    parts = [rng.choice(COMPONENTS) for _ in range(rng.randint(1, 4))]
    name = "/".join(parts)
    roll = rng.random()
    if roll < 0.08:
        name = "./" + name
    elif roll < 0.14:
        name = "/" + name
    elif roll < 0.2:
        name = name.replace("/", "//", 1)
    elif roll < 0.24:
        name = name.replace("/", "/./", 1)
    elif roll < 0.27:
        name = "../" + name
    return name


def _member(rng: random.Random, name: str) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.mode = rng.choice([0o644, 0o600, 0o444, 0o755, 0o4755, 0o777, 0o000, 0o640])
    info.mtime = rng.choice([0, 1, 1_600_000_000, 2**33 - 1, rng.randint(1, 2**31)])
    roll = rng.random()
    if roll < 0.15:
        info.type = tarfile.DIRTYPE
        return info, None
    if roll < 0.2:
        info.type = tarfile.SYMTYPE
        info.linkname = rng.choice(["a", "../a", "/etc/passwd", "b/c"])
        return info, None
    size = rng.choice([0, 1, 511, 512, 513, rng.randint(0, 70_000)])
    info.size = size
    return info, rng.randbytes(size)


def build_tar(rng: random.Random) -> bytes:
    fmt = rng.choice([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
    names = [_name(rng) for _ in range(rng.randint(1, 12))]
    if rng.random() < 0.3:
        names.append(rng.choice(names))  # a duplicate
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for name in names:
            info, data = _member(rng, name)
            try:
                archive.addfile(info, io.BytesIO(data) if data is not None else None)
            except ValueError:
                continue  # a name too long for ustar
    return out.getvalue()


def tree(root: Path) -> dict[str, tuple[str, int, str, int]]:
    """path -> (kind, permission bits, content or link target, mtime) of every entry."""
    found: dict[str, tuple[str, int, str, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            key = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[key] = ("link", 0, os.readlink(path), 0)
            elif stat.S_ISDIR(info.st_mode):
                found[key] = ("dir", stat.S_IMODE(info.st_mode), "", int(info.st_mtime))
            else:
                content = path.read_bytes().hex()
                found[key] = ("file", stat.S_IMODE(info.st_mode), content, int(info.st_mtime))
    return found


def devkit_outcome(archive: Path, dest: Path) -> tuple[object, ...]:
    try:
        result = extract_archive(archive, dest=dest)
    except DevkitError as error:
        return ("error", type(error).__name__, error.code, str(error))
    summary = (result.files, result.dirs, result.links, result.bytes, result.wrapped)
    skipped = sorted((item.name, item.reason) for item in result.skipped)
    return ("ok", summary, skipped, list(result.notes), _timeless_new_folders(tree(dest)))


def _timeless_new_folders(
    entries: dict[str, tuple[str, int, str, int]],
) -> dict[str, tuple[str, int, str, int]]:
    """Folders that the archive does not list get the time they were made: two runs
    a second apart differ there, which says nothing about the short path."""
    recent = time.time() - 60
    return {
        key: (kind, mode, content, -1 if kind == "dir" and mtime >= recent else mtime)
        for key, (kind, mode, content, mtime) in entries.items()
    }


def _without_short_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TreeWriter, "add_plain_file", lambda *_args: False)


def run_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cases: int, seed: int) -> int:
    rng = random.Random(seed)
    agreed_with_tar = 0
    for case in range(cases):
        folder = tmp_path / f"case{case}"
        folder.mkdir()
        archive = folder / "sample.tar"
        archive.write_bytes(build_tar(rng))
        short = devkit_outcome(archive, folder / "short")
        with monkeypatch.context() as patch:
            _without_short_path(patch)
            general = devkit_outcome(archive, folder / "general")
        assert short == general, f"case {case}: the short path decided differently"
        if short[0] == "ok" and shutil.which("tar"):
            reference = folder / "tar"
            reference.mkdir()
            subprocess.run(
                ["tar", "--no-same-permissions", "-xf", str(archive), "-C", str(reference)],
                check=True,
                capture_output=True,
            )
            # Modes as GNU tar gives them to a user (the umask applies); devkit never
            # restores set-id or sticky bits. Folder times are left out: GNU tar
            # sometimes leaves a folder that later members fill with the time of now.
            assert _comparable(_unwrapped(folder / "short")) == _comparable(tree(reference)), (
                f"case {case}: GNU tar"
            )
            agreed_with_tar += 1
        shutil.rmtree(folder)
    return agreed_with_tar


def _comparable(
    entries: dict[str, tuple[str, int, str, int]],
) -> dict[str, tuple[str, int, str, int]]:
    return {
        key: (kind, mode & 0o777, content, 0 if kind == "dir" else mtime)
        for key, (kind, mode, content, mtime) in entries.items()
    }


def _unwrapped(dest: Path) -> dict[str, tuple[str, int, str, int]]:
    """devkit puts the tree in one folder of DEST (the archive's own top folder, or one
    named after the archive): the tree as GNU tar lays it out in DEST."""
    (top,) = dest.iterdir()
    if top.name == "sample":
        return tree(top)
    return {"/".join([top.name, key]): value for key, value in tree(top).items()} | {
        top.name: tree(dest)[top.name]
    }


def test_short_path_decides_as_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agreed = run_cases(tmp_path, monkeypatch, DEFAULT_CASES, seed=11)
    assert agreed >= DEFAULT_CASES // 4  # the generator makes extractable archives too


@pytest.mark.slow
def test_short_path_decides_as_the_general_path_thousands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agreed = run_cases(tmp_path, monkeypatch, SLOW_CASES, seed=12)
    assert agreed >= SLOW_CASES // 4


def tar_of_modes(path: Path, modes: dict[str, int]) -> Path:
    """A tar of small files (three bytes each) with these modes."""
    with tarfile.open(path, "w") as out:
        for name, mode in modes.items():
            info = tarfile.TarInfo(name)
            info.mode, info.size = mode, 3
            out.addfile(info, io.BytesIO(b"abc"))
    return path


def _default_acl(others: int) -> bytes:
    """A POSIX default ACL (the kernel's xattr format): owner rwx, group rwx, others."""
    undefined = 0xFFFFFFFF
    entries = [(0x01, 7, undefined), (0x04, 7, undefined), (0x20, others, undefined)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


def test_modes_are_the_archives_under_a_default_acl(tmp_path: Path) -> None:
    """Small files are created with their final mode when the umask alone decides it;
    a default ACL on DEST would decide instead, so there devkit still sets each mode."""
    dest = tmp_path / "dest"
    dest.mkdir()
    try:
        os.setxattr(dest, "system.posix_acl_default", _default_acl(others=0))
    except OSError as error:
        pytest.skip(f"no POSIX ACLs here: {error}")
    archive = tar_of_modes(
        tmp_path / "modes.tar", {"top/open.txt": 0o644, "top/x.sh": 0o755, "top/ro": 0o444}
    )
    umask = os.umask(0o022)
    try:
        extract_archive(archive, dest=dest)
    finally:
        os.umask(umask)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (dest / "top").iterdir()}
    assert modes == {"open.txt": 0o644, "x.sh": 0o755, "ro": 0o444}


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o027])
def test_small_file_modes_follow_the_umask(tmp_path: Path, umask: int) -> None:
    modes = {"top/a": 0o666, "top/b": 0o755, "top/c": 0o4755}
    archive = tar_of_modes(tmp_path / "modes.tar", modes)
    previous = os.umask(umask)
    try:
        extract_archive(archive, dest=tmp_path / "dest")
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "dest/top").iterdir()}
    assert modes == {
        "a": 0o666 & ~umask,
        "b": 0o755 & ~umask,
        "c": 0o755 & ~umask,  # set-id bits are never restored
    }


def test_the_clean_name_pattern_is_what_normalize_name_keeps() -> None:
    """The short path's name check is a regular expression: it must accept exactly the
    names that normalize_name returns unchanged (a name it accepted wrongly would be
    written where the general path would not write it)."""
    from devkit.archive.safety import normalize_name
    from devkit.archive.writer import _CLEAN_NAME

    rng = random.Random(5)
    pieces = ["a", "b", ".", "..", "/", "//", "\x00", "C:", "z:", ":", "\\", "...", ".a",
              "a.", "é", " ", "\n", "\t"]  # fmt: skip
    kept = 0
    for _ in range(50_000):
        name = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 7)))
        path, _reason = normalize_name(name, backslash_is_separator=False)
        unchanged = bool(name) and path == name
        assert bool(_CLEAN_NAME.fullmatch(name)) == unchanged, repr(name)
        kept += unchanged
    assert kept > 10_000
