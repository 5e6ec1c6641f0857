"""Sparse members of GNU and PAX tars (GNU sparse formats 0.0, 0.1, 1.0 and the old
GNU 'S' type) are written sparse: the same bytes as GNU tar extracts, and no more
blocks on disk than GNU tar's copy. Archives are made by GNU tar from a sparse file
made with the standard library."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devkit.archive import extract_archive

pytestmark = pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is not installed")

SIZE = 16 * 1024 * 1024
FORMATS = {
    "gnu": ["--format=gnu"],
    "pax-0.0": ["--format=pax", "--sparse-version=0.0"],
    "pax-0.1": ["--format=pax", "--sparse-version=0.1"],
    "pax-1.0": ["--format=pax", "--sparse-version=1.0"],
}


def sparse_source(folder: Path) -> Path:
    """16 MiB with three stretches of data (one at the very end) and holes between."""
    folder.mkdir(parents=True)
    path = folder / "disk.img"
    with path.open("wb") as out:
        out.truncate(SIZE)
        out.seek(1024 * 1024)
        out.write(b"a" * 5000)
        out.seek(7 * 1024 * 1024)
        out.write(os.urandom(70_000))
        out.seek(SIZE - 4096)
        out.write(b"z" * 4096)
    return path


@pytest.mark.parametrize("variant", sorted(FORMATS))
def test_sparse_members_are_written_sparse_like_gnu_tar(tmp_path: Path, variant: str) -> None:
    source = sparse_source(tmp_path / "src")
    archive = tmp_path / f"{variant}.tar"
    create = ["tar", "-C", str(source.parent), "--sparse", "-cf", str(archive)]
    subprocess.run([*create, *FORMATS[variant], "disk.img"], check=True)
    by_tar = tmp_path / "by-tar"
    by_tar.mkdir()
    subprocess.run(["tar", "-C", str(by_tar), "-xf", str(archive)], check=True)
    reference = by_tar / "disk.img"
    if reference.stat().st_blocks * 512 >= SIZE:
        pytest.skip("this file system does not keep holes")

    result = extract_archive(archive, dest=tmp_path / "out")
    written = Path(result.path) / "disk.img" if result.wrapped else tmp_path / "out" / "disk.img"
    assert written.stat().st_size == SIZE
    assert written.read_bytes() == reference.read_bytes()
    assert written.stat().st_blocks <= reference.stat().st_blocks
