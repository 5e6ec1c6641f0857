"""Member checks that the short paths must keep."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from devkit.archive import ExtractOptions, extract_archive


def test_a_member_below_a_skipped_member_is_skipped_too(tmp_path: Path) -> None:
    """A refused member's path is remembered without its folders: a member below it
    is refused as well (it was let through, and its write then failed)."""
    archive = tmp_path / "below.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("a/b")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc"
        tar.addfile(link)
        below = tarfile.TarInfo("a/b/c")
        below.size = 5
        tar.addfile(below, io.BytesIO(b"hello"))
        fine = tarfile.TarInfo("a/d")
        fine.size = 4
        tar.addfile(fine, io.BytesIO(b"fine"))
    result = extract_archive(
        archive, dest=tmp_path / "dest", options=ExtractOptions(skip_unsafe=True)
    )
    skipped = {item.name: item.reason for item in result.skipped}
    assert skipped["a/b/c"] == "unsafe: path goes through the unsafe member 'a/b'"
    assert "a/b" in skipped
    assert (Path(result.path) / "d").read_bytes() == b"fine"
    assert not (Path(result.path) / "b").exists()
