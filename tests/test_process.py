"""devkit.process with real processes and real signals: process groups, escalation,
the signal policy, the guard after SIGKILL, and no `ps` anywhere."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from devkit import process
from tests.proctools import path_without, processes_with, wait_gone, wait_until

DRIVER = Path(__file__).with_name("process_driver.py")
ROOT = DRIVER.parent.parent


def _marker() -> str:
    return f"devkit-test-{uuid.uuid4().hex[:10]}"


def _start_driver(mode: str, tmp_path: Path, marker: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=path_without(tmp_path, "ps", "pgrep"))
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), mode, marker, str(tmp_path)],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert wait_until(lambda: (tmp_path / "started").exists(), 20), "the child never started"
    assert wait_until(lambda: len(processes_with(marker)) >= 2, 10)
    return proc


def _signals_seen(tmp_path: Path) -> list[str]:
    log = tmp_path / "signals"
    return log.read_text().split() if log.exists() else []


def test_captured_output_status_and_input() -> None:
    done = process.run_captured(["bash", "-c", "cat; echo err >&2; exit 3"], input=b"x" * 300_000)
    assert (done.status, len(done.stdout), done.stderr, done.timed_out) == (
        3,
        300_000,
        b"err\n",
        False,
    )


def test_a_program_that_cannot_start_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        process.run_captured([str(tmp_path / "missing")])


def test_timeout_escalates_int_term_kill_to_the_whole_group(tmp_path: Path) -> None:
    marker = _marker()
    log = tmp_path / "log"
    script = (
        f"trap 'echo INT >> {log}' INT; trap 'echo TERM >> {log}' TERM; "
        f"bash -c 'trap \"\" INT TERM; exec sleep 300' {marker} & "
        "while :; do sleep 0.02; done"
    )
    started = time.monotonic()
    done = process.run_captured(["bash", "-c", script], timeout=0.3, grace=0.3)
    assert done.timed_out
    assert done.status == 128 + signal.SIGKILL
    assert log.read_text().split() == ["INT", "TERM"]
    assert time.monotonic() - started < 5
    assert not processes_with(marker), "the grandchild outlived its group"


@pytest.mark.parametrize(
    ("mode", "signum"),
    [
        ("captured", signal.SIGINT),
        ("captured", signal.SIGTERM),
        ("captured", signal.SIGHUP),
        ("thread", signal.SIGTERM),
    ],
)
def test_a_signal_is_forwarded_once_and_exits_128_plus_its_number(
    tmp_path: Path, mode: str, signum: int
) -> None:
    marker = _marker()
    proc = _start_driver(mode, tmp_path, marker)
    os.kill(proc.pid, signum)
    assert proc.wait(20) == 128 + signum
    name = signal.Signals(signum).name.removeprefix("SIG")
    # The leader saw this signal exactly once, then SIGTERM (the grace ran out), then
    # SIGKILL took the group; the grandchild that ignores everything went with it.
    seen = _signals_seen(tmp_path)
    assert seen[0] == name and seen.count(name) == (2 if name == "TERM" else 1), seen
    assert (tmp_path / "raised").read_text() == str(int(signum))
    assert not wait_gone(marker, 5)


def test_second_signal_kills_the_children_but_not_the_cleanup(tmp_path: Path) -> None:
    marker = _marker()
    proc = _start_driver("cleanup", tmp_path, marker)
    os.kill(proc.pid, signal.SIGINT)
    assert wait_until(lambda: "INT" in _signals_seen(tmp_path), 5)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(20) == 130  # the first signal decides the exit status
    assert _signals_seen(tmp_path) == ["INT"]  # SIGKILL followed at once, no grace
    assert (tmp_path / "cleaned").exists(), "the cleanup after the interrupt was cut short"
    assert not wait_gone(marker, 5)


def test_a_critical_section_finishes_its_child_before_the_interrupt(tmp_path: Path) -> None:
    marker = _marker()
    proc = _start_driver("critical", tmp_path, marker)
    os.kill(proc.pid, signal.SIGTERM)
    time.sleep(0.3)  # give a wrongly forwarded signal the time to arrive
    assert proc.poll() is None
    assert _signals_seen(tmp_path) == []
    (tmp_path / "release").touch()
    assert proc.wait(20) == 143
    assert (tmp_path / "critical-done").exists()
    assert (tmp_path / "raised").read_text() == str(int(signal.SIGTERM))


def test_sigkill_of_devkit_leaves_no_child_behind(tmp_path: Path) -> None:
    marker = _marker()
    proc = _start_driver("captured", tmp_path, marker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    # The guard saw the pipe close: SIGTERM, then SIGKILL a second later.
    assert not wait_gone(marker, 10)


def test_streaming_stops_leftovers_that_hold_the_output(tmp_path: Path) -> None:
    marker = _marker()
    chunks: list[bytes] = []
    outcome = process.run_streaming(
        ["bash", "-c", f"echo one; bash -c 'exec sleep 300' {marker} & echo two"],
        cwd=tmp_path,
        env=os.environ,
        on_output=chunks.append,
        grace=0.5,
    )
    assert outcome.exit_code == 0 and not outcome.timed_out and not outcome.interrupted
    assert b"".join(chunks) == b"one\ntwo\n"
    assert not wait_gone(marker, 5)


def test_streaming_timeout_with_a_grandchild_ignoring_term(tmp_path: Path) -> None:
    marker = _marker()
    outcome = process.run_streaming(
        ["bash", "-c", f"bash -c 'trap \"\" INT TERM; exec sleep 300' {marker}; echo never"],
        cwd=tmp_path,
        env=os.environ,
        on_output=lambda data: None,
        timeout=0.3,
        grace=0.3,
    )
    assert outcome.timed_out
    assert outcome.exit_code > 128
    assert not wait_gone(marker, 5)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_signal_policy_as_an_unprivileged_user(tmp_path: Path) -> None:
    """CI runs as root, where every kill() is allowed; prove the same as 'nobody'."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    # devkit.process needs only the standard library: any Python 'nobody' may run will do
    # (the test venv's may live under root's private home).
    candidates = [sys.executable, "/usr/bin/python3"]
    python = next(
        (
            candidate
            for candidate in candidates
            if subprocess.run([*as_nobody, candidate, "-c", ""], capture_output=True).returncode
            == 0
        ),
        None,
    )
    if python is None:
        pytest.skip("no Python that an unprivileged user can run")
    folder = Path(tempfile.mkdtemp(prefix="devkit-nobody-"))
    folder.chmod(0o777)
    marker = _marker()
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(folder))
    proc = subprocess.Popen(
        [*as_nobody, python, str(DRIVER), "captured", marker, str(folder)],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert wait_until(lambda: (folder / "started").exists(), 20)
    assert wait_until(lambda: len(processes_with(marker)) >= 2, 10)
    os.kill(proc.pid, signal.SIGTERM)
    try:
        assert proc.wait(20) == 143
        assert not wait_gone(marker, 5)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
