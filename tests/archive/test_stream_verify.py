"""Compressed streams, zip directories and --recursive reports are verified: exit 0
means the whole stream decoded to its end, and every reported folder exists."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard

from devkit.archive import ExtractOptions, extract_archive
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


def _two_file_zip(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "a")
        archive.writestr("b.txt", "b")
    return path.read_bytes()


@pytest.mark.parametrize("field", [10, 12])
def test_a_damaged_zip_directory_is_an_error(tmp_path: Path, field: int) -> None:
    archive = tmp_path / "two.zip"
    data = bytearray(_two_file_zip(archive))
    end = data.rfind(b"PK\x05\x06")
    if field == 12:
        struct.pack_into("<L", data, end + field, 0)  # directory size: 0 bytes
    else:
        struct.pack_into("<H", data, end + field, 1)  # entry count: 1
    archive.write_bytes(bytes(data))
    assert subprocess.run(["unzip", "-tq", str(archive)], capture_output=True).returncode != 0
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "dest")


def test_recursive_report_names_folders_that_exist(tmp_path: Path) -> None:
    inner = tmp_path / "inner.zip"
    _two_file_zip(inner)
    archive = tmp_path / "in" / "inner.zip.gz"
    archive.parent.mkdir()
    archive.write_bytes(gzip.compress(inner.read_bytes()))
    result = extract_archive(archive, dest=tmp_path / "o2", options=ExtractOptions(recursive=True))
    assert os.path.lexists(result.path)
    assert len(result.nested) == 1
    nested = result.nested[0]
    assert os.path.isdir(nested.path), nested.path
    assert sorted(os.listdir(nested.path)) == ["a.txt", "b.txt"]
    assert os.path.isfile(nested.archive)


def _tar_with(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytearray:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return bytearray(buffer.getvalue())


def test_a_tar_header_with_a_bad_checksum_is_an_error_not_the_end(tmp_path: Path) -> None:
    data = _tar_with([(tarfile.TarInfo(f"f{i}"), b"x" * 100) for i in range(3)])
    data[1024 + 100] ^= 1  # the second header's mode: its checksum no longer matches
    archive = tmp_path / "a.tar"
    archive.write_bytes(bytes(data))
    assert subprocess.run(["tar", "xf", str(archive), "-C", str(tmp_path)]).returncode != 0
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "dest")


def test_a_tar_cut_inside_a_header_is_an_error(tmp_path: Path) -> None:
    data = _tar_with([(tarfile.TarInfo(f"f{i}"), b"x" * 100) for i in range(3)])
    archive = tmp_path / "a.tar"
    archive.write_bytes(bytes(data[: 1024 + 300]))
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "dest")


def test_malformed_pax_records_are_an_error(tmp_path: Path) -> None:
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type = tarfile.XHDTYPE
    data = _tar_with([(pax, b"alpha\n" * 10), (tarfile.TarInfo("f"), b"data")])
    archive = tmp_path / "a.tar"
    archive.write_bytes(bytes(data))
    assert subprocess.run(["tar", "xf", str(archive), "-C", str(tmp_path)]).returncode != 0
    with pytest.raises(ArchiveCorrupt, match="pax"):
        extract_archive(archive, dest=tmp_path / "dest")


def test_zip_local_and_central_names_must_agree(tmp_path: Path) -> None:
    archive = tmp_path / "two.zip"
    data = bytearray(_two_file_zip(archive))
    data[30] ^= 0x0F  # the first local header's name: "a.txt" -> "n.txt"
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(archive) as opened:
        assert opened.testzip() is not None
    with pytest.raises(ArchiveCorrupt, match="names differ"):
        extract_archive(archive, dest=tmp_path / "dest")


def test_zip_fields_zipfile_refuses_are_a_clean_error(tmp_path: Path) -> None:
    archive = tmp_path / "two.zip"
    data = bytearray(_two_file_zip(archive))
    record = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, record + 6, 148)  # "version needed": 14.8
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorrupt, match="version"):
        extract_archive(archive, dest=tmp_path / "dest")


def test_zip_local_and_central_methods_must_agree(tmp_path: Path) -> None:
    archive = tmp_path / "two.zip"
    data = bytearray(_two_file_zip(archive))
    struct.pack_into("<H", data, 8, 0x41)  # the first local header's method
    archive.write_bytes(bytes(data))
    assert subprocess.run(["unzip", "-tq", str(archive)], capture_output=True).returncode != 0
    with pytest.raises(ArchiveCorrupt, match="methods differ"):
        extract_archive(archive, dest=tmp_path / "dest")


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_a_tar_name_whose_content_is_no_tar_is_a_damaged_tar(tmp_path: Path, suffix: str) -> None:
    # Not written out as a.tar: tar x fails on it, so devkit does too.
    archive = tmp_path / f"a.tar.{suffix}"
    archive.write_bytes(COMPRESS[suffix](b"not a tar header " * 100))
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_zip_end_record_of_another_disk_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "two.zip"
    data = bytearray(_two_file_zip(archive))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<H", data, end + 4, 1)  # "number of this disk"
    archive.write_bytes(bytes(data))
    assert subprocess.run(["unzip", "-tq", str(archive)], capture_output=True).returncode != 0
    with pytest.raises(ArchiveCorrupt, match="disk"):
        extract_archive(archive, dest=tmp_path / "dest")
