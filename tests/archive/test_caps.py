"""Caps stop bombs but let ordinary compressible archives through with default flags:
the ratio cap (2000) waits until 4 GiB were written (--ratio-after); --max-bytes (16G)
stays the hard limit. Tests use small thresholds; the real defaults run in the slow suite."""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.errors import CapExceeded
from tests.archive.conftest import corpus, needs_testdata
from tests.clirun import run_devkit


def zero_image_tar_xz(path: Path, size: int) -> Path:
    """A tar.xz holding one zero-filled disk image, streamed (never all in memory)."""

    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            count = min(len(buffer), self.left)
            buffer[:count] = bytes(count)
            self.left -= count
            return count

    with (
        lzma.open(path, "wb", preset=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w|") as tar,
    ):
        info = tarfile.TarInfo("image/disk.img")
        info.size = size
        tar.addfile(info, Zeros())
    return path


def log_tar_xz(path: Path, lines: int) -> Path:
    """A tar.xz of a repetitive log (compresses far better than 200:1)."""
    log = "".join(
        f"2026-11-30T06:{n // 60 % 60:02d}:{n % 60:02d}Z INFO request ok path=/api/v1/items\n"
        for n in range(lines)
    ).encode()
    with tarfile.open(path, "w:xz") as tar:
        info = tarfile.TarInfo("logs/app.log")
        info.size = len(log)
        tar.addfile(info, io.BytesIO(log))
    return path


def test_compressible_archives_pass_with_default_flags(tmp_path: Path) -> None:
    image = zero_image_tar_xz(tmp_path / "image.tar.xz", 16 * 1024**2)
    log = log_tar_xz(tmp_path / "log.tar.xz", 50_000)
    for archive, inside in ((image, "disk.img"), (log, "app.log")):
        size = archive.stat().st_size
        result = extract_archive(archive, dest=tmp_path / "out")
        written = (Path(result.path) / inside).stat().st_size
        assert written / size > 200, (archive.name, written / size)  # the old cap refused it


@needs_testdata
@pytest.mark.parametrize(
    ("name", "siblings"),
    [
        ("libarchive/test_read_format_rar_multi_lzss_blocks.rar", ()),
        (
            "libarchive/test_read_format_rar_multivolume.part0001.rar",
            tuple(f"test_read_format_rar_multivolume.part000{n}.rar" for n in (2, 3, 4)),
        ),
        ("libarchive/test_read_format_gtar_sparse_1_17_posix10.tar", ()),
    ],
)
def test_corpus_archives_refused_by_the_old_ratio_cap_pass(
    tmp_path: Path, name: str, siblings: tuple[str, ...]
) -> None:
    archive = corpus(tmp_path, name, *siblings)
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.bytes > 0


def test_ratio_after_and_max_ratio_come_from_the_command_line(tmp_path: Path) -> None:
    archive = tmp_path / "zeros.xz"
    archive.write_bytes(lzma.compress(bytes(20_000_000)))
    refused = run_devkit(
        ["extract", "zeros.xz", "-C", "a", "--ratio-after", "1M", "--json"], cwd=tmp_path
    )
    assert refused.returncode == 1 and '"max_ratio"' in refused.stdout
    assert not (tmp_path / "a").exists()
    passed = run_devkit(
        ["extract", "zeros.xz", "-C", "b", "--ratio-after", "1M", "--max-ratio", "10000"],
        cwd=tmp_path,
    )
    assert passed.returncode == 0, passed.stderr
    assert (tmp_path / "b" / "zeros").stat().st_size == 20_000_000


def test_no_gzip_trips_the_default_ratio_past_ratio_after(tmp_path: Path) -> None:
    """Deflate cannot beat ~1,032:1, even on zeros: under the 2000 ratio cap."""
    import gzip

    archive = tmp_path / "zeros.gz"
    archive.write_bytes(gzip.compress(bytes(20_000_000), compresslevel=9))
    assert 20_000_000 / archive.stat().st_size > 1000
    result = extract_archive(
        archive, dest=tmp_path / "out", options=ExtractOptions(ratio_after=1024**2)
    )
    assert result.bytes == 20_000_000


def test_help_states_the_caps_and_their_reasons(tmp_path: Path) -> None:
    text = " ".join(run_devkit(["extract", "--help"], cwd=tmp_path).stdout.split())
    assert "--ratio-after" in text and "default 4G" in text and "default 2000" in text
    assert "default 16G" in text


PIECE = 64 * 1024**2


def repeated_zero_streams(compress: Callable[[bytes], bytes], head: bytes, size: int) -> bytes:
    """`head` then `size` zero bytes, as concatenated compressed streams (members, frames)
    of which all but the first are one 64 MiB stream repeated: seconds, not minutes."""
    assert size % PIECE == 0
    zeros = compress(bytes(PIECE))
    return compress(head) + zeros * (size // PIECE)


@pytest.mark.slow
def test_real_defaults_a_1_gib_zero_image_passes_and_a_zero_bomb_stops_at_4_gib(
    tmp_path: Path,
) -> None:
    header = tarfile.TarInfo("image/disk.img")
    header.size = 1024**3
    end = bytes(1024)  # the tar's two end blocks, after the 512-aligned data
    image = tmp_path / "image.tar.xz"
    image.write_bytes(
        repeated_zero_streams(lzma.compress, header.tobuf(tarfile.GNU_FORMAT), 1024**3)
        + lzma.compress(end)
    )
    assert image.stat().st_size * 2000 < 1024**3  # past the cap but below --ratio-after
    result = extract_archive(image, dest=tmp_path / "image")
    assert (Path(result.path) / "disk.img").stat().st_size == 1024**3
    subprocess.run(["rm", "-rf", str(tmp_path / "image")], check=True)
    import zstandard

    bomb = tmp_path / "bomb.zst"
    bomb.write_bytes(repeated_zero_streams(zstandard.compress, b"", 6 * 1024**3))
    written: list[int] = []
    with pytest.raises(CapExceeded) as hit:
        extract_archive(bomb, dest=tmp_path / "bomb", on_progress=written.append)
    assert hit.value.code == "max_ratio"
    # Stopped within a piece (1 MiB) of 4 GiB: the first piece past it is refused.
    assert 4 * 1024**3 - 1024**2 <= sum(written) <= 4 * 1024**3
    assert not os.path.exists(tmp_path / "bomb")
