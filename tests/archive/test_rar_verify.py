"""RAR output is verified: the backend's messages never land in the data, its exit
status counts, every member's length and checksum (the keyed ones of encrypted RAR5
members too) is checked, and a truncated or header-damaged archive is an error."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.errors import ArchiveCorrupt, PasswordError
from devkit.errors import DevkitError
from tests.archive.conftest import corpus, needs_testdata

pytestmark = needs_testdata


def _files(root: Path) -> dict[str, bytes]:
    found = {}
    for current, _dirs, files in os.walk(root):
        for name in files:
            full = Path(current) / name
            found[str(full.relative_to(root))] = full.read_bytes()
    return found


@pytest.mark.parametrize("name", ["rar5-psw.rar", "rar3-comment-psw.rar", "rar202-comment-psw.rar"])
def test_wrong_password_is_an_error_and_no_message_is_data(tmp_path: Path, name: str) -> None:
    archive = corpus(tmp_path, f"rarfile/{name}")
    dest = tmp_path / "dest"
    with pytest.raises(PasswordError):
        extract_archive(archive, dest=dest, options=ExtractOptions(password="wrong"))
    assert not dest.exists()


@pytest.mark.parametrize("name", ["rar5-psw.rar", "rar5-psw-blake.rar"])
def test_flipped_bytes_in_an_encrypted_rar5_member_are_caught(tmp_path: Path, name: str) -> None:
    archive = corpus(tmp_path, f"rarfile/{name}")
    intact = archive.read_bytes()
    good = extract_archive(
        archive, dest=tmp_path / "good", options=ExtractOptions(password="password")
    )
    assert good.files == 2
    # Flip three bytes in each stretch of encrypted data in turn (past the headers).
    caught = 0
    for start in range(200, len(intact) - 100, 97):
        damaged = bytearray(intact)
        for offset in (start, start + 5, start + 11):
            damaged[offset] ^= 0x20
        archive.write_bytes(bytes(damaged))
        dest = tmp_path / f"out{start}"
        try:
            extract_archive(archive, dest=dest, options=ExtractOptions(password="password"))
        except DevkitError:
            caught += 1
            continue
        # Accepted only when the flips missed every member's data: then it is intact.
        assert _files(dest) == _files(tmp_path / "good")
    assert caught > 10


@pytest.mark.parametrize(
    "name", ["rar5-crc.rar", "rar3-subdirs.rar", "rar5-solid.rar", "seektest.rar"]
)
def test_every_truncation_is_an_error(tmp_path: Path, name: str) -> None:
    archive = corpus(tmp_path, f"rarfile/{name}")
    intact = archive.read_bytes()
    for length in range(1, len(intact), max(1, len(intact) // 60)):
        archive.write_bytes(intact[:length])
        dest = tmp_path / f"out{length}"
        with pytest.raises(DevkitError):
            extract_archive(archive, dest=dest)
        assert not dest.exists()


def test_rar_cut_at_a_header_boundary_is_truncated(tmp_path: Path) -> None:
    # Without its 7-byte end-of-archive block, rar3-subdirs.rar parses as a complete
    # (shorter) archive; 7-Zip says "Unexpected end of archive".
    archive = corpus(tmp_path, "rarfile/rar3-subdirs.rar")
    archive.write_bytes(archive.read_bytes()[:-7])
    with pytest.raises(ArchiveCorrupt, match="end-of-archive"):
        extract_archive(archive, dest=tmp_path / "dest", options=ExtractOptions())


def test_rar_without_a_main_header_is_corrupt(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar3-readonly-unix.rar")
    damaged = bytearray(archive.read_bytes())
    damaged[9] = 0x72  # the main header's type becomes a marker block's
    damaged[10] = 0x02
    archive.write_bytes(bytes(damaged))
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "dest")


def test_recovery_record_cut_short_is_truncated(tmp_path: Path) -> None:
    # RAR 2 writes no end-of-archive block; its last block (a recovery record) must
    # still fit in the file.
    archive = corpus(tmp_path, "rarfile/rar2-unix-owner.rar")
    archive.write_bytes(archive.read_bytes()[:-20])
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "dest")


def test_rar5_header_whose_fields_overrun_its_extra_area_is_corrupt(tmp_path: Path) -> None:
    # The second file header of rar5-blake.rar starts at byte 201; its extra-area size
    # (byte 208) is changed and the header CRC recomputed. rarfile still reads the
    # fields it knows; 7-Zip says "Headers Error".
    archive = corpus(tmp_path, "rarfile/rar5-blake.rar")
    data = bytearray(archive.read_bytes())
    at = 201
    size = data[at + 4]
    assert size < 0x80
    data[at + 7] = 0x30
    struct.pack_into("<L", data, at, zlib.crc32(bytes(data[at + 4 : at + 5 + size])))
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorrupt, match="RAR5 header"):
        extract_archive(archive, dest=tmp_path / "dest")


def test_unknown_rar3_block_type_is_corrupt(tmp_path: Path) -> None:
    # rar2-unix-owner.rar: the Unix owner sub-block (type 0x77) at byte 77 becomes
    # type 0x02, CRC recomputed: rarfile skips the unknown block, 7-Zip rejects it.
    archive = corpus(tmp_path, "rarfile/rar2-unix-owner.rar")
    data = bytearray(archive.read_bytes())
    at = 77
    assert data[at + 2] == 0x77
    data[at + 2] = 0x02
    size = struct.unpack_from("<H", data, at + 5)[0]
    struct.pack_into("<H", data, at, zlib.crc32(bytes(data[at + 2 : at + size])) & 0xFFFF)
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorrupt, match="unknown block"):
        extract_archive(archive, dest=tmp_path / "dest")


def test_rar5_main_header_fields_must_fit(tmp_path: Path) -> None:
    # rar5-crc.rar's main header starts at byte 8; its extra-area size (byte 15)
    # becomes larger than the header, CRC recomputed: 7-Zip cannot open it, rarfile
    # read on (a case the differential test found).
    archive = corpus(tmp_path, "rarfile/rar5-crc.rar")
    data = bytearray(archive.read_bytes())
    at = 8
    size = data[at + 4]
    data[15] = 0x7E
    struct.pack_into("<L", data, at, zlib.crc32(bytes(data[at + 4 : at + 5 + size])))
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorrupt, match="RAR5 header"):
        extract_archive(archive, dest=tmp_path / "dest")
