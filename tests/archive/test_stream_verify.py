"""Compressed streams, zip directories and --recursive reports are verified: exit 0
means the whole stream decoded to its end, and every reported folder exists."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from devkit.archive import extract_archive
from devkit.archive.errors import ArchiveCorrupt
from devkit.errors import DevkitError

COMPRESS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


def _tar(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for index in range(count):
            data = os.urandom(300)
            info = tarfile.TarInfo(f"d/f{index:03}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_a_single_file_cut_anywhere_is_an_error(tmp_path: Path, suffix: str) -> None:
    compressed = COMPRESS[suffix](os.urandom(20000) + b"x" * 50000)
    archive = tmp_path / f"data.{suffix}"
    for length in range(1, len(compressed), max(1, len(compressed) // 40)):
        archive.write_bytes(compressed[:length])
        dest = tmp_path / f"o{length}"
        with pytest.raises(DevkitError):
            extract_archive(archive, dest=dest)
        assert not dest.exists()


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_a_tar_cut_early_or_late_is_an_error(tmp_path: Path, suffix: str) -> None:
    compressed = COMPRESS[suffix](_tar(200))
    archive = tmp_path / f"data.tar.{suffix}"
    for fraction in (0.1, 0.5, 0.9, 0.99):
        archive.write_bytes(compressed[: int(len(compressed) * fraction)])
        dest = tmp_path / f"o{fraction}"
        with pytest.raises(DevkitError):
            extract_archive(archive, dest=dest)
        assert not dest.exists()


@pytest.mark.parametrize("suffix", ["gz", "bz2", "xz", "zst"])
def test_garbage_after_the_stream_is_an_error_zero_padding_is_not(
    tmp_path: Path, suffix: str
) -> None:
    compressed = COMPRESS[suffix](b"hello\n" * 100)
    archive = tmp_path / f"data.{suffix}"
    archive.write_bytes(compressed + b"garbage")
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "bad")
    archive.write_bytes(compressed + bytes(64))
    result = extract_archive(archive, dest=tmp_path / "padded")
    assert Path(result.path).read_bytes() == b"hello\n" * 100
    archive.write_bytes(compressed + compressed)
    result = extract_archive(archive, dest=tmp_path / "twice")
    assert Path(result.path).read_bytes() == b"hello\n" * 200


@pytest.mark.parametrize("suffix", ["", ".gz", ".bz2", ".xz", ".zst"])
def test_an_empty_tar_extracts_to_nothing(tmp_path: Path, suffix: str) -> None:
    empty = tmp_path / "empty.tar"
    subprocess.run(["tar", "cf", str(empty), "-T", "/dev/null"], check=True)
    data = empty.read_bytes()
    archive = tmp_path / f"in/empty.tar{suffix}"
    archive.parent.mkdir()
    archive.write_bytes(COMPRESS[suffix[1:]](data) if suffix else data)
    result = extract_archive(archive, dest=tmp_path / "dest")
    assert result.format == f"tar{suffix}"
    assert result.files == 0
    assert not [name for _root, _dirs, files in os.walk(tmp_path / "dest") for name in files]
