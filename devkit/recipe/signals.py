"""Signals during a run, on devkit.process's one policy: SIGINT, SIGTERM and SIGHUP
all mean "interrupt".

- The first signal is forwarded once, by the handler, to every running step's process
  group; devkit.process escalates to SIGTERM and then SIGKILL, one grace period apart
  (the step's `grace:`), and waits until the group is gone.
- The runner never gets an exception for it (the whole run is cooperative): it sees
  `interrupted()` between steps, starts no further regular step, runs `on_failure:` and
  `finally:`, releases each task's lock once that task's processes are gone, removes
  its run folder and reports 128 + the signal (130, 143, 129).
- Each further signal SIGKILLs the children running at that moment (a cleanup step
  that hangs); the exit code stays the first signal's and devkit's own cleanup still
  happens. Cleanup steps that had not started yet still run, each of them stoppable by
  one more signal.
- An in-process built-in step in the main thread runs inside `process.interruptible()`,
  so that the first signal interrupts it like Ctrl-C interrupts Python code.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator

from devkit import process


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """The run's scope: signals handled (a no-op when the CLI already installed the
    policy), never raised into the runner, orphaned descendants adopted (subreaper).
    A run starts with no signal recorded (signal_policy's outermost scope)."""
    process.become_subreaper()
    with process.signal_policy(), process.cooperative():
        yield


def interrupted() -> bool:
    """A signal arrived: start no further regular step or task."""
    return process.interruption() is not None


def exit_code() -> int:
    """128 + the first signal's number (130 for SIGINT, 143 SIGTERM, 129 SIGHUP)."""
    return process.exit_status()


def description() -> str:
    signum = process.interruption()
    if signum is None or signum == signal.SIGINT:
        return "interrupted"
    return f"interrupted ({signal.Signals(signum).name})"


def pause(seconds: float) -> bool:
    """Sleep (between retries); True when a signal arrived meanwhile."""
    deadline = time.monotonic() + seconds
    while not interrupted():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))
    return True


@contextlib.contextmanager
def run_directory() -> Iterator[str]:
    """The run's temporary folder (`run_dir`), removed at the end whatever happened."""
    path = tempfile.mkdtemp(prefix="devkit-run-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


__all__ = ["description", "exit_code", "handling", "interrupted", "pause", "run_directory"]
