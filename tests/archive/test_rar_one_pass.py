"""A RAR archive is decoded by ONE backend process, whatever its member count (one per
member made a 1,000-file archive start 1,000 processes, and a solid one decode its
start 1,000 times). The backend is a wrapper around the shipped 7zz that logs every
start; the 1,000-member archive is built with the standard library from a compressed
member of the corpus's rar5-crc.rar, renamed (same length) with its header CRC
recomputed, and checked with `7zz t` before use."""

from __future__ import annotations

import os
import subprocess
import zlib
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.tools import bundled_7zz
from tests.archive.conftest import TESTDATA, corpus, needs_testdata

pytestmark = needs_testdata

RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def rar5_blocks(data: bytes) -> list[tuple[int, bytes]]:
    """(header type, whole block with its data) for each block after the signature."""
    assert data.startswith(RAR5_SIGNATURE)
    pos = len(RAR5_SIGNATURE)
    blocks = []
    while pos < len(data):
        size, start = _vint(data, pos + 4)
        kind, after = _vint(data, start)
        flags, after = _vint(data, after)
        if flags & 0x01:
            after = _vint(data, after)[1]
        data_size = _vint(data, after)[0] if flags & 0x02 else 0
        end = start + size + data_size
        blocks.append((kind, data[pos:end]))
        pos = end
    return blocks


def renamed(block: bytes, old: bytes, new: bytes) -> bytes:
    """A file block with its name replaced (same length) and its header CRC redone."""
    assert len(old) == len(new) and block.count(old) == 1
    size, start = _vint(block, 4)
    header = block[4 : start + size].replace(old, new)
    return zlib.crc32(header).to_bytes(4, "little") + header + block[start + size :]


def many_member_rar(tmp_path: Path, count: int) -> Path:
    source = (TESTDATA or Path()) / "rarfile" / "rar5-crc.rar"
    blocks = rar5_blocks(source.read_bytes())
    main = next(block for kind, block in blocks if kind == 1)
    member = next(block for kind, block in blocks if kind == 2 and b"stest1.txt" in block)
    end = next(block for kind, block in blocks if kind == 5)
    members = b"".join(renamed(member, b"stest1.txt", b"%06d.txt" % i) for i in range(count))
    archive = tmp_path / "in" / "many.rar"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(RAR5_SIGNATURE + main + members + end)
    tester = subprocess.run([str(bundled_7zz()), "t", str(archive)], capture_output=True)
    assert tester.returncode == 0, tester.stdout.decode()
    return archive


def logging_backend(folder: Path) -> tuple[Path, Path]:
    """(a 7zz wrapper that logs each decoding start, its log)."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "starts.log"
    wrapper = folder / "7zz"
    wrapper.write_text(
        f'#!/bin/sh\n[ "$1" = i ] || echo "$1" >> "{log}"\nexec "{bundled_7zz()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


def test_a_thousand_member_rar_starts_one_decoder(tmp_path: Path) -> None:
    archive = many_member_rar(tmp_path, 1000)
    reference = tmp_path / "reference"
    subprocess.run(
        [str(bundled_7zz()), "x", "-y", f"-o{reference}", str(archive)],
        check=True,
        capture_output=True,
    )
    wrapper, log = logging_backend(tmp_path / "tool")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    result = extract_archive(archive, dest=tmp_path / "out", env=env)
    assert result.files == 1000
    assert log.read_text().split() == ["e"]
    expected = (reference / "000000.txt").read_bytes()
    out = Path(result.path)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    assert all((out / f"{i:06d}.txt").read_bytes() == expected for i in range(1000))


@pytest.mark.parametrize(
    ("name", "password", "siblings"),
    [
        ("libarchive/test_read_format_rar5_multiarchive_solid.part01.rar", None, 4),
        ("rarfile/rar3-solid.rar", None, 0),
        ("rarfile/rar5-psw.rar", "password", 0),
        ("rarfile/rar5-hpsw.rar", "password", 0),
        ("rarfile/rar5-hlink.rar", None, 0),
        ("libarchive/test_read_format_rar5_extra_field_version.rar", None, 0),
        ("rarfile/rar5-dups.rar", None, 0),
    ],
)
def test_every_rar_with_compressed_data_starts_one_decoder(
    tmp_path: Path, name: str, password: str | None, siblings: int
) -> None:
    stem = name.rsplit(".part01", 1)[0]
    parts = [f"{Path(stem).name}.part{i:02d}.rar" for i in range(2, siblings + 1)]
    archive = corpus(tmp_path, name, *parts)
    wrapper, log = logging_backend(tmp_path / "tool")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    result = extract_archive(
        archive, dest=tmp_path / "out", options=ExtractOptions(password=password), env=env
    )
    assert result.files >= 1
    assert log.read_text().split() == ["e"]


def test_an_old_file_version_in_the_stream_is_read_past(tmp_path: Path) -> None:
    """7zz writes old versions too ([VER]/1/...); devkit extracts the latest only."""
    archive = corpus(tmp_path, "libarchive/test_read_format_rar5_extra_field_version.rar")
    reference = tmp_path / "reference"
    subprocess.run(
        [str(bundled_7zz()), "x", "-y", f"-o{reference}", str(archive)],
        check=True,
        capture_output=True,
    )
    result = extract_archive(archive, dest=tmp_path / "out")
    got = {str(p.relative_to(result.path)) for p in Path(result.path).rglob("*") if p.is_file()}
    assert got == {"2to3"} or got == {"bin/2to3"}
    latest = next(Path(result.path).rglob("2to3")).read_bytes()
    assert latest == (reference / "bin" / "2to3").read_bytes()
