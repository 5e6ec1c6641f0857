"""Interrupted real processes: 128 + signal reaches the exit status and the envelope,
and a terminal that is gone (EIO after SIGHUP) does not change that.

Each test waits for a marker file that a step or a stand-in decoder writes once the
work is under way, then sends the signal; every command line carries a unique marker
so that leftovers are found through /proc.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archive.conftest import TESTDATA, corpus, snapshot
from tests.proctools import processes_with, wait_gone, wait_until

needs_corpus = pytest.mark.skipif(
    TESTDATA is None, reason="shared test corpus (../shared/testdata) is absent"
)


@pytest.fixture
def marker() -> Iterator[str]:
    """A string unique to this test, put in every command line it starts."""
    tag = f"devkit-interrupt-{uuid.uuid4().hex[:12]}"
    yield tag
    for pid, _ in processes_with(tag):
        os.kill(pid, signal.SIGKILL)


def start(
    args: list[str], *, cwd: Path, env: dict[str, str] | None = None, terminal: int | None = None
) -> subprocess.Popen[str]:
    """devkit in its own session; stdout and stderr on `terminal` (a pty) or pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "devkit", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if terminal is None else terminal,
        stderr=subprocess.PIPE if terminal is None else terminal,
        text=True,
        start_new_session=True,
    )


def wait_for(path: Path, process: subprocess.Popen[str], *, drain: int | None = None) -> None:
    """Until `path` exists; reading the pty meanwhile so that devkit never blocks on it."""
    deadline = time.monotonic() + 30
    while not path.exists():
        assert process.poll() is None, "devkit ended before the marker appeared"
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        if drain is not None and select.select([drain], [], [], 0.02)[0]:
            with contextlib.suppress(OSError):
                os.read(drain, 65536)
        else:
            time.sleep(0.02)


def slow_decoder(tmp_path: Path, started: Path, marker: str) -> Path:
    """A RAR backend that answers the capability check like 7-Zip, then writes
    `started` and hangs, as a decoder stuck on a slow disk would."""
    from devkit.archive.tools import bundled_7zz

    fake = tmp_path / "bin" / "7zz-slow"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = i ]; then exec "{bundled_7zz()}" i; fi\n'
        f"touch {started}\nexec sleep 60 # {marker}\n"
    )
    fake.chmod(0o755)
    return fake


def assert_interrupted_envelope(stdout: str, signame: str, exit_code: int) -> dict[str, object]:
    doc = json.loads(stdout)
    assert doc["ok"] is False and doc["exit_code"] == exit_code
    error = doc["errors"][0]
    assert set(error) == {"code", "message", "hint", "details"}
    assert error["code"] == "interrupted"
    assert error["details"]["signal"] == signame
    return doc


@needs_corpus
@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_extract_json_interrupted_mid_way(
    tmp_path: Path, marker: str, signum: signal.Signals, exit_code: int
) -> None:
    started = tmp_path / "decoding"
    fake = slow_decoder(tmp_path, started, marker)
    archive = corpus(tmp_path, "rarfile/rar5-solid.rar")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("keep")
    before = snapshot(dest)
    process = start(
        ["extract", "--json", str(archive), "-C", str(dest)],
        cwd=tmp_path,
        env={"DEVKIT_RAR_TOOLS": str(fake)},
    )
    wait_for(started, process)
    os.kill(process.pid, signum)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == exit_code, stderr
    assert_interrupted_envelope(stdout, signum.name, exit_code)
    assert "Traceback" not in stderr
    assert snapshot(dest) == before
    assert wait_gone(marker) == []


STEP = "touch started; while :; do echo tick; sleep 0.05; done # {marker}\n"


def write_recipe(folder: Path, marker: str) -> None:
    (folder / "devkit.yaml").write_text(
        "grace: 500ms\ntasks:\n  t:\n    steps:\n      - name: forever\n"
        f"        run: {STEP.format(marker=marker)}"
        "    finally:\n      - touch finally.txt\n"
    )


def test_run_json_sigterm_exits_143_with_the_signal(tmp_path: Path, marker: str) -> None:
    write_recipe(tmp_path, marker)
    process = start(["run", "--json"], cwd=tmp_path)
    wait_for(tmp_path / "started", process)
    os.kill(process.pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert wait_gone(marker) == []
    assert process.returncode == 143, stderr
    doc = assert_interrupted_envelope(stdout, "SIGTERM", 143)
    assert doc["errors"][0]["details"]["step"] == "forever"  # type: ignore[index]


def test_run_json_sighup_exits_129_with_the_signal(tmp_path: Path, marker: str) -> None:
    """SIGHUP (a dropped ssh session) never reads as a complete run."""
    write_recipe(tmp_path, marker)
    process = start(["run", "--json"], cwd=tmp_path)
    wait_for(tmp_path / "started", process)
    os.kill(process.pid, signal.SIGHUP)
    stdout, stderr = process.communicate(timeout=30)
    assert wait_gone(marker) == []
    assert process.returncode == 129, stderr
    assert_interrupted_envelope(stdout, "SIGHUP", 129)
    assert (tmp_path / "finally.txt").exists()


def _hang_up(process: subprocess.Popen[str], master: int) -> None:
    """What a closed terminal does: later writes to it fail with EIO, then SIGHUP."""
    os.close(master)
    os.kill(process.pid, signal.SIGHUP)


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    master, follower = pty.openpty()
    yield master, follower
    for fd in (master, follower):
        with contextlib.suppress(OSError):  # closed by the test already
            os.close(fd)


def test_run_on_a_terminal_that_hangs_up_exits_129(
    tmp_path: Path, marker: str, terminal: tuple[int, int]
) -> None:
    """The live status line and the step lines go through rich on a terminal; once the
    terminal is gone none of those writes may raise or change the exit code."""
    master, follower = terminal
    write_recipe(tmp_path, marker)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "run"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    wait_for(tmp_path / "started", process, drain=master)
    _hang_up(process, master)
    assert process.wait(timeout=30) == 129
    assert wait_gone(marker) == []
    assert (tmp_path / "finally.txt").exists()


@needs_corpus
def test_extract_with_a_progress_bar_on_a_terminal_that_hangs_up_exits_129(
    tmp_path: Path, marker: str, terminal: tuple[int, int]
) -> None:
    master, follower = terminal
    started = tmp_path / "decoding"
    fake = slow_decoder(tmp_path, started, marker)
    archive = corpus(tmp_path, "rarfile/rar5-solid.rar")
    dest = tmp_path / "dest"
    dest.mkdir()
    before = snapshot(dest)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", DEVKIT_RAR_TOOLS=str(fake))
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "extract", str(archive), "-C", str(dest)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    wait_for(started, process, drain=master)
    # The bar is drawn by rich's refresh thread: it keeps writing after the hang-up.
    _hang_up(process, master)
    assert process.wait(timeout=30) == 129
    assert snapshot(dest) == before
    assert wait_until(lambda: not processes_with(marker), timeout=10)
