"""devkit's BLAKE2sp (RAR5 `-htb` checksums) gives rarfile's digest for any data fed
in any pieces: rarfile's block-at-a-time Blake2SP is the reference."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rarfile import Blake2SP as Reference

from devkit.archive import extract_archive
from devkit.archive.errors import ArchiveCorrupt
from devkit.archive.formats.blake2sp import Blake2SP
from tests.archive.conftest import corpus, needs_testdata
from tests.archive.test_read_ahead import wrapped_backend

# Across the 64-byte block, the 512-byte row and the 64 KiB stretch, and odd sizes.
SIZES = [0, 1, 63, 64, 65, 511, 512, 513, 65535, 65536, 65537, 3 * 65536 + 4097, 1 << 20]


@pytest.mark.parametrize("size", SIZES)
def test_one_piece_matches_rarfile(size: int) -> None:
    data = random.Random(size).randbytes(size)
    ours = Blake2SP()
    ours.update(data)
    reference = Reference()
    reference.update(data)
    assert ours.digest() == reference.digest()


@pytest.mark.parametrize("seed", range(6))
def test_any_split_into_pieces_matches_rarfile(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(200_000, 600_000))
    ours = Blake2SP()
    at = 0
    while at < len(data):
        step = rng.choice([1, 7, 64, 100, 511, 4096, 65536, 70_001, 200_000])
        ours.update(memoryview(data)[at : at + step])
        at += step
    reference = Reference()
    reference.update(data)
    assert ours.digest() == reference.digest()
    assert ours.digest() == reference.digest()  # the digest can be asked for again


def test_a_changed_byte_changes_the_digest() -> None:
    data = bytearray(random.Random(1).randbytes(300_000))
    before = Blake2SP()
    before.update(data)
    data[123_457] ^= 1
    after = Blake2SP()
    after.update(data)
    assert before.digest() != after.digest()


@needs_testdata
def test_a_flipped_byte_in_a_blake2sp_member_is_a_checksum_mismatch(tmp_path: Path) -> None:
    """The backend's output damaged, its exit status kept: only the BLAKE2sp check sees it."""
    archive = corpus(tmp_path, "rarfile/rar5-blake.rar")
    assert extract_archive(archive, dest=tmp_path / "intact").files
    with pytest.raises(ArchiveCorrupt) as damaged:
        extract_archive(archive, dest=tmp_path / "out", env=wrapped_backend(tmp_path, "flip", 10))
    assert "checksum mismatch" in damaged.value.message
