"""Signals sent to a real `devkit extract` mid-way, decoders as real processes.

Each test puts a unique marker in the archive's path, so that the devkit process and
every decoder it starts carry it on their command line (tests.proctools finds
leftovers in /proc). Tests wait for a chosen moment (bytes in the temp folder, a file
a fake decoder writes), never for a fixed time."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.archive.conftest import (
    SLOW_STOP_AT,
    bytes_in_temp_folders,
    snapshot,
    temp_folders,
)
from tests.clirun import run_devkit, start_devkit
from tests.proctools import path_without, processes_with, wait_gone, wait_until

INTERRUPTS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
KINDS = ["tar.xz", "7z"]


def new_marker() -> str:
    return f"dk-extract-{uuid.uuid4().hex[:12]}"


def marked(archive: Path, folder: Path, marker: str) -> Path:
    """The session's archive under a name that carries the marker (a hard link)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{marker}{''.join(archive.suffixes)}"
    os.link(archive, target)
    return target


def prepared_dest(tmp_path: Path) -> Path:
    dest = tmp_path / "dest"
    (dest / "old").mkdir(parents=True)
    (dest / "old" / "keep.txt").write_text("keep me\n")
    return dest


def wait_for_bytes(dest: Path, proc: subprocess.Popen[str]) -> None:
    reached = wait_until(
        lambda: bytes_in_temp_folders(dest) >= SLOW_STOP_AT or proc.poll() is not None,
        timeout=60,
        interval=0.005,
    )
    assert reached and proc.poll() is None, "the extraction ended before it could be stopped"


def small_tgz(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("small/a.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"a\n"))
    return path


def small_7z(path: Path) -> Path:
    import py7zr

    path.parent.mkdir(parents=True, exist_ok=True)
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"x" * 1000, "small/x.txt")
    return path


def blocking_decoder(path: Path, marker: str, started: Path) -> Path:
    """A stand-in for 7zz that prints nothing, says it started, and waits (a Python
    process, so that the marker stays on its command line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"#!/bin/sh\n: > '{started}'\n"
        f"exec '{sys.executable}' -c 'import time; time.sleep(120)' {marker}\n"
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("signum", INTERRUPTS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_mid_extraction_leaves_dest_as_it_was(
    slow_archives: dict[str, Path], tmp_path: Path, kind: str, signum: int
) -> None:
    marker = new_marker()
    archive = marked(slow_archives[kind], tmp_path / "in", marker)
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    proc = start_devkit(["extract", str(archive), "-C", str(dest)])
    wait_for_bytes(dest, proc)
    os.kill(proc.pid, signum)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err and "nothing was extracted" in err
    if signum != signal.SIGINT:
        assert signal.Signals(signum).name in err
    assert snapshot(dest) == before
    assert wait_gone(marker) == []


@pytest.mark.parametrize("kind", KINDS)
def test_after_sigkill_the_next_extract_removes_the_leftover(
    slow_archives: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    marker = new_marker()
    archive = marked(slow_archives[kind], tmp_path / "in", marker)
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    proc = start_devkit(["extract", str(archive), "-C", str(dest)])
    wait_for_bytes(dest, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    # devkit ran no code, but its guard stops the decoder (7zz) it left running.
    assert wait_gone(marker) == []
    assert_the_next_extract_sweeps(tmp_path, dest, before)


def assert_the_next_extract_sweeps(tmp_path: Path, dest: Path, before: object) -> None:
    """A SIGKILLed extraction left its one temp folder in `dest`; the next extraction
    into `dest` removes it, and `dest` is `before` plus what that one added."""
    assert len(temp_folders(dest)) == 1
    small = small_tgz(tmp_path / "small.tgz")
    done = run_devkit(["extract", str(small), "-C", str(dest)])
    assert done.returncode == 0, done.stderr
    after = snapshot(dest)
    assert after.pop("small") and after.pop("small/a.txt")
    assert after == before


def test_the_sweep_never_removes_the_folder_of_a_running_extraction(tmp_path: Path) -> None:
    marker = new_marker()
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    stale = dest / ".devkit-extract-stale0"  # what SIGKILL leaves: nobody holds its lock
    (stale / "payload").mkdir(parents=True)
    (stale / "payload" / "partial.bin").write_bytes(b"\0" * 4096)
    started = tmp_path / "decoder-started"
    decoder = blocking_decoder(tmp_path / "bin" / "7zz", marker, started)
    archive = small_7z(tmp_path / "in" / f"{marker}.7z")
    running = start_devkit(
        ["extract", str(archive), "-C", str(dest)],
        env={"DEVKIT_7ZZ": str(decoder), "DEVKIT_TOOL_TIMEOUT": "120"},
    )
    try:
        assert wait_until(lambda: started.exists() or running.poll() is not None, timeout=30)

        # 7zz starts before the temp folder exists (it decodes while devkit checks the
        # members); the folder's payload is made once the folder is locked.
        def locked_folder() -> bool:
            fresh = set(temp_folders(dest)) - {stale}
            return len(fresh) == 1 and (next(iter(fresh)) / "payload").exists()

        assert wait_until(lambda: locked_folder() or running.poll() is not None, timeout=30)
        assert running.poll() is None, running.communicate()
        (in_use,) = set(temp_folders(dest)) - {stale}
        done = run_devkit(["extract", str(small_tgz(tmp_path / "small.tgz")), "-C", str(dest)])
        assert done.returncode == 0, done.stderr
        assert temp_folders(dest) == [in_use]  # the stale one went, the running one stayed
        assert running.poll() is None
    finally:
        os.kill(running.pid, signal.SIGTERM)
        _out, err = running.communicate(timeout=60)
    assert running.returncode == 143, err
    assert temp_folders(dest) == []
    after = snapshot(dest)
    assert after.pop("small") and after.pop("small/a.txt")
    assert after == before
    assert wait_gone(marker) == []


def test_a_stalled_decoder_is_stopped_with_a_clear_error(tmp_path: Path) -> None:
    """DEVKIT_TOOL_TIMEOUT seconds without output: the decoder's group is stopped, the
    error says so, nothing is left; and devkit needs neither ps nor pgrep for it."""
    marker = new_marker()
    decoder = blocking_decoder(tmp_path / "bin" / "7zz", marker, tmp_path / "started")
    archive = small_7z(tmp_path / "in" / f"{marker}.7z")
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    env = {
        "PATH": path_without(tmp_path, "ps", "pgrep"),
        "DEVKIT_7ZZ": str(decoder),
        "DEVKIT_TOOL_TIMEOUT": "0.5",
    }
    done = run_devkit(["extract", str(archive), "-C", str(dest), "--json"], env=env)
    assert done.returncode == 1, done.stderr
    (error,) = json.loads(done.stdout)["errors"]
    assert error["code"] == "tool_timeout"
    assert "no output for 0.5 s" in error["message"] and "DEVKIT_TOOL_TIMEOUT" in error["message"]
    assert snapshot(dest) == before
    assert processes_with(marker) == []


WORKER_SCRIPT = """
import sys, threading
from pathlib import Path
from devkit import process
from devkit.archive import extract_archive

outcome = {}

def work():
    try:
        extract_archive(Path(sys.argv[1]), dest=Path(sys.argv[2]))
        outcome["error"] = None
    except BaseException as error:
        outcome["error"] = error

# As the recipe runner: the main thread polls, the extraction runs in a worker thread
# (where the signal handler cannot raise).
with process.signal_policy(), process.cooperative():
    worker = threading.Thread(target=work)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
error = outcome["error"]
print(type(error).__name__, getattr(error, "exit_code", 0), getattr(error, "code", ""))
sys.exit(int(getattr(error, "exit_code", 0)))
"""


@pytest.mark.parametrize("kind", KINDS)
def test_an_extraction_in_a_worker_thread_stops_too(
    slow_archives: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    marker = new_marker()
    archive = marked(slow_archives[kind], tmp_path / "in", marker)
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, str(archive), str(dest)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_for_bytes(dest, proc)
    os.kill(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert out.split() == ["Interrupted", "143", "interrupted"], err
    assert proc.returncode == 143
    assert snapshot(dest) == before
    assert wait_gone(marker) == []
