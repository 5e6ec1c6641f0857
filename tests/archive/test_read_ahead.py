"""Big members are read ahead in a thread (decoders.ReadAhead) while devkit checksums
and writes: every check still holds there, and the thread never outlives the
extraction. The archive is the corpus's multi-volume RAR (4 members of ~58 MiB); the
backend is the shipped 7zz behind a Python wrapper that can damage its output (one
byte flipped, exit status kept) or go silent part-way, so the damage is one only
devkit's own checks can see."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from devkit import process
from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.decoders import Decoders
from devkit.archive.errors import ArchiveCorrupt, CapExceeded, DecoderStalled
from devkit.archive.tools import bundled_7zz
from tests.archive.conftest import (
    bytes_in_temp_folders,
    corpus,
    needs_testdata,
    snapshot,
    temp_folders,
)
from tests.clirun import start_devkit
from tests.proctools import processes_with, wait_gone, wait_until

pytestmark = needs_testdata

VOLUMES = "libarchive/test_read_format_rar_multivolume.part{:04d}.rar"
# Inside the first member, well past the first megabyte (so read ahead).
DAMAGE_AT = 5 * 1024 * 1024

WRAPPER = """
import os, subprocess, sys, time
real, mode, at = {real!r}, {mode!r}, {at}
if sys.argv[1:2] != ["e"]:
    os.execv(real, [real, *sys.argv[1:]])
decoder = subprocess.Popen([real, *sys.argv[1:]], stdout=subprocess.PIPE)
out = sys.stdout.buffer
seen = 0
while chunk := decoder.stdout.read(65536):
    if mode == "flip" and seen <= at < seen + len(chunk):
        index = at - seen
        chunk = chunk[:index] + bytes([chunk[index] ^ 0xFF]) + chunk[index + 1 :]
    if mode in ("stall", "slow") and seen >= at:
        out.flush()
        time.sleep(120 if mode == "stall" else 0.02)
    out.write(chunk)
    seen += len(chunk)
out.flush()
sys.exit(decoder.wait())
"""


def big_rar(tmp_path: Path) -> Path:
    siblings = [Path(VOLUMES.format(i)).name for i in (2, 3, 4)]
    return corpus(tmp_path, VOLUMES.format(1), *siblings)


def wrapped_backend(folder: Path, mode: str, at: int = DAMAGE_AT) -> dict[str, str]:
    """The env that makes a wrapped 7zz in `folder` the RAR backend (damage at `at`)."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "7zz"
    body = WRAPPER.format(real=str(bundled_7zz()), mode=mode, at=at)
    wrapper.write_text(f"#!{sys.executable}\n{body}")
    wrapper.chmod(0o755)
    return {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}


def read_ahead_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("read-ahead")]


def test_a_big_member_is_extracted_intact_and_no_thread_is_left(tmp_path: Path) -> None:
    archive = big_rar(tmp_path)
    reference = tmp_path / "reference"
    subprocess.run(
        [str(bundled_7zz()), "x", "-y", f"-o{reference}", str(archive)],
        check=True,
        capture_output=True,
    )
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.files == 4
    for expected in reference.rglob("*"):
        if expected.is_file():
            got = Path(result.path) / expected.relative_to(reference)
            assert got.read_bytes() == expected.read_bytes()
    assert read_ahead_threads() == []


def test_a_flipped_byte_in_a_big_member_is_a_checksum_mismatch(tmp_path: Path) -> None:
    """The wrapper keeps 7zz's exit status 0: only devkit's CRC check sees the damage."""
    archive = big_rar(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    before = snapshot(dest)
    env = wrapped_backend(tmp_path / "tool", "flip")
    with pytest.raises(ArchiveCorrupt) as damaged:
        extract_archive(archive, dest=dest, env=env)
    assert "checksum mismatch" in damaged.value.message
    assert snapshot(dest) == before and temp_folders(dest) == []
    assert read_ahead_threads() == []


def test_a_decoder_that_goes_silent_mid_member_is_stopped(tmp_path: Path) -> None:
    # In the paths of the archive and the wrapper: on the command line of every process.
    marker = f"dk-read-ahead-{uuid.uuid4().hex[:12]}"
    archive = big_rar(tmp_path / marker)
    dest = tmp_path / "dest"
    dest.mkdir()
    env = {**wrapped_backend(tmp_path / marker, "stall"), "DEVKIT_TOOL_TIMEOUT": "0.5"}
    with pytest.raises(DecoderStalled):
        extract_archive(archive, dest=dest, env=env)
    assert temp_folders(dest) == []
    assert read_ahead_threads() == []
    assert processes_with(marker) == []


def test_a_cap_hit_mid_member_stops_the_decoder_and_the_thread(tmp_path: Path) -> None:
    """devkit stops reading while 7zz still writes: nothing may wait on the other."""
    archive = big_rar(tmp_path)
    dest = tmp_path / "dest"
    with pytest.raises(CapExceeded):
        extract_archive(archive, dest=dest, options=ExtractOptions(max_bytes=20 * 1024 * 1024))
    assert read_ahead_threads() == []
    assert not dest.exists() or temp_folders(dest) == []


def test_a_signal_while_a_big_member_is_read_ahead_leaves_nothing(tmp_path: Path) -> None:
    """A slowed backend keeps the extraction inside a big member; SIGTERM there stops
    devkit, its thread and the backend, and the destination is as it was."""
    # In the paths of the archive and the wrapper: on the command line of every process.
    marker = f"dk-read-ahead-{uuid.uuid4().hex[:12]}"
    archive = big_rar(tmp_path / marker)
    dest = tmp_path / "dest"
    dest.mkdir()
    before = snapshot(dest)
    env = wrapped_backend(tmp_path / marker, "slow")
    proc = start_devkit(["extract", str(archive), "-C", str(dest)], env=env)
    started = wait_until(
        lambda: bytes_in_temp_folders(dest) >= DAMAGE_AT or proc.poll() is not None,
        timeout=60,
        interval=0.005,
    )
    assert started and proc.poll() is None, "the extraction ended before it could be stopped"
    os.kill(proc.pid, signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert snapshot(dest) == before
    assert wait_gone(marker) == []


def test_a_7z_with_big_and_small_members_extracts_intact(tmp_path: Path) -> None:
    """The 7z reader streams big members through the same MemberSlice: read ahead, then
    small members after them from the same thread's pieces."""
    source = tmp_path / "src" / "data"
    source.mkdir(parents=True)
    rng = random.Random(7)
    expected = {}
    for index, size in enumerate([3 * 1024 * 1024 + 5, 10, 2 * 1024 * 1024, 0, 4000]):
        name = f"m{index}.bin"
        expected[name] = rng.randbytes(size)
        (source / name).write_bytes(expected[name])
    archive = tmp_path / "in" / "mixed.7z"
    subprocess.run(
        [str(bundled_7zz()), "a", "-mx=1", "-bd", str(archive), str(source)],
        check=True,
        capture_output=True,
    )
    result = extract_archive(archive, dest=tmp_path / "out")
    got = {p.name: p.read_bytes() for p in Path(result.path).rglob("*") if p.is_file()}
    assert got == expected
    assert read_ahead_threads() == []


@pytest.mark.parametrize("take_first", [0, 1, 3 * 1024 * 1024, 9 * 1024 * 1024])
def test_reading_ahead_and_ending_it_loses_and_reorders_nothing(
    tmp_path: Path, take_first: int
) -> None:
    """A decoder's output read partly through the thread, the thread ended, the rest
    read directly: the bytes arrive whole and in order, and the thread is gone."""
    data = random.Random(take_first).randbytes(9 * 1024 * 1024 + 17)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    decoders = Decoders(os.environ, signals_at_start=process.signal_count())
    with decoders.start(["cat", str(source)], name="cat") as decoder:
        decoder.start_read_ahead()
        first = decoder.read(take_first)
        decoder.end_read_ahead()
        assert read_ahead_threads() == []
        rest = decoder.read()
        assert decoder.finish() == 0
    assert first + rest == data


def test_views_of_the_buffer_hold_their_bytes_across_pieces(tmp_path: Path) -> None:
    """read_view hands out slices of the piece in the buffer: taken in sizes that
    cross the pieces' ends (and some longer than a piece), mixed with plain reads,
    they give the output whole and in order, and keep their bytes after later reads."""
    rng = random.Random(5)
    data = rng.randbytes(5 * 1024 * 1024 + 3)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    decoders = Decoders(os.environ, signals_at_start=process.signal_count())
    taken: list[bytes | memoryview] = []
    with decoders.start(["cat", str(source)], name="cat") as decoder:
        while True:
            size = rng.choice([0, 1, rng.randrange(9000), rng.randrange(3 * 1024 * 1024)])
            piece = decoder.read_view(size) if rng.random() < 0.8 else decoder.read(size)
            taken.append(piece)
            if len(piece) < size:
                break
        assert decoder.finish() == 0
    assert b"".join(bytes(piece) for piece in taken) == data
