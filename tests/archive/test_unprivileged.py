"""Permissions as a user other than root sees them (CI runs as root, which may write
into read-only folders and so hides these failures): modes that would block devkit's
own work (renaming the top folder into DEST, replacing it, extracting a nested archive
into it, removing a failed attempt) are applied only at the very end."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.archive.conftest import snapshot

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
pytestmark = pytest.mark.skipif(
    os.geteuid() == 0 and SETPRIV is None, reason="needs setpriv to drop root"
)


def as_nobody(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    drop = []
    if os.geteuid() == 0:
        assert SETPRIV is not None
        drop = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    return subprocess.run(
        [*drop, sys.executable, "-m", "devkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(cwd)},
    )


def add(tar: tarfile.TarFile, name: str, *, mode: int, data: bytes | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.mode = mode
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def read_only_tree(path: Path, *, extra: bytes | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        add(tar, "top", mode=0o555)
        add(tar, "top/a.txt", mode=0o444, data=b"a\n")
        add(tar, "top/sub", mode=0o500)
        add(tar, "top/sub/b.txt", mode=0o400, data=b"b\n")
        if extra is not None:
            add(tar, "top/inner.tar.gz", mode=0o444, data=extra)
    path.chmod(0o644)
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_read_only_top_folder_extracts_and_replaces_as_another_user(shared: Path) -> None:
    read_only_tree(shared / "ro.tar.gz")
    first = as_nobody(["extract", "ro.tar.gz", "-C", "dest"], shared)
    assert first.returncode == 0, first.stderr
    top = shared / "dest" / "top"
    assert (top / "sub" / "b.txt").read_bytes() == b"b\n"
    assert (mode(top), mode(top / "sub"), mode(top / "a.txt")) == (0o555, 0o500, 0o444)
    again = as_nobody(["extract", "ro.tar.gz", "-C", "dest"], shared)
    assert again.returncode == 0, again.stderr
    assert mode(shared / "dest" / "top-1") == 0o555
    replaced = as_nobody(["extract", "ro.tar.gz", "-C", "dest", "--overwrite"], shared)
    assert replaced.returncode == 0, replaced.stderr
    assert mode(top) == 0o555 and sorted(os.listdir(shared / "dest")) == ["top", "top-1"]


def test_nested_archive_lands_in_a_read_only_folder_as_another_user(shared: Path) -> None:
    inner = read_only_tree(shared / "inner.tar.gz").read_bytes()
    read_only_tree(shared / "outer.tar.gz", extra=inner)
    done = as_nobody(["extract", "outer.tar.gz", "-C", "dest", "--recursive"], shared)
    assert done.returncode == 0, done.stderr
    nested = shared / "dest" / "top" / "top"
    assert (nested / "sub" / "b.txt").read_bytes() == b"b\n"
    assert mode(shared / "dest" / "top") == 0o555 and mode(nested) == 0o555


def test_a_failure_after_read_only_folders_leaves_dest_as_it_was(shared: Path) -> None:
    archive = read_only_tree(shared / "bad.tar.gz", extra=b"not really an archive")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 20])  # truncated: fails at the end
    (shared / "dest").mkdir(mode=0o777)
    (shared / "dest").chmod(0o777)
    before = snapshot(shared / "dest")
    done = as_nobody(["extract", "bad.tar.gz", "-C", "dest"], shared)
    assert done.returncode == 1 and "damaged or truncated" in done.stderr
    assert snapshot(shared / "dest") == before
