"""Run one step's process in its own process group, stream its output, and stop the
whole group on timeout or Ctrl-C: SIGINT, then SIGTERM after a grace period, then
SIGKILL, and reap it, so that no grandchild outlives its step.

On Linux devkit makes itself a child subreaper, so that grandchildren orphaned by a
step are re-parented to devkit and can be reaped here rather than left to PID 1
(which, in a container, may never reap them).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# How long a step's leftover processes may keep its output open after it exits.
LINGER_SECONDS = 0.2
POLL_SECONDS = 0.1


class Interruption:
    """Counts Ctrl-C presses (and SIGTERMs) for every running step to see."""

    def __init__(self) -> None:
        self.count = 0
        self.signal: int | None = None
        self._groups: set[int] = set()
        self._lock = threading.Lock()

    def press(self, signum: int = signal.SIGINT) -> None:
        self.count += 1
        self.signal = signum
        with self._lock:
            groups = list(self._groups)
        # Forward at once; each step's loop takes care of the escalation.
        for pgid in groups:
            _signal_group(pgid, signal.SIGINT if self.count == 1 else signal.SIGKILL)

    def add(self, pgid: int) -> None:
        with self._lock:
            self._groups.add(pgid)

    def discard(self, pgid: int) -> None:
        with self._lock:
            self._groups.discard(pgid)


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int  # 128 + signal when a signal ended the process
    timed_out: bool
    interrupted: bool
    signal: int | None
    duration: float


_subreaper_done = False


def become_subreaper() -> None:
    """Linux only: adopt orphaned descendants so their zombies can be reaped here."""
    global _subreaper_done
    if _subreaper_done or not sys.platform.startswith("linux"):
        return
    _subreaper_done = True
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_child_subreaper = 36
        libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def _terminal_fd() -> int | None:
    try:
        return 0 if os.isatty(0) else None
    except OSError:
        return None


def _give_terminal(fd: int, pgid: int) -> None:
    """Make `pgid` the terminal's foreground group (SIGTTOU ignored meanwhile)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgid)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _open_pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _reap_group(pgid: int) -> None:
    """Collect zombies of the group that were re-parented to us."""
    while True:
        try:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def group_alive(pgid: int) -> bool:
    _reap_group(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_group_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    delay = 0.001
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def stop_group(pgid: int, *, grace: float, first: int = signal.SIGTERM) -> None:
    """Make sure nothing of the group is left: `first`, then SIGKILL after `grace`."""
    if not group_alive(pgid):
        return
    if first != signal.SIGKILL:
        _signal_group(pgid, first)
        if _wait_group_gone(pgid, grace):
            return
    _signal_group(pgid, signal.SIGKILL)
    _wait_group_gone(pgid, 5.0)


def run_in_group(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_output: Callable[[bytes], None],
    interruption: Interruption,
    timeout: float | None = None,
    grace: float = 5.0,
    stdin: bool = False,
    on_idle: Callable[[], None] | None = None,
) -> ProcessOutcome:
    """Run argv in a new session (its own process group); see the module docstring."""
    started = time.monotonic()
    base_presses = interruption.count
    # A step that may read the terminal becomes the terminal's foreground process
    # group (so it can read, and Ctrl-C goes to it); every other step gets its own
    # session, detached from the terminal, with stdin closed.
    terminal = stdin and _terminal_fd()
    group: dict[str, Any] = {"start_new_session": True}
    if terminal:
        group = {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=None if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Every descriptor Python opens is non-inheritable (PEP 446), so the child gets
        # only stdin/stdout/stderr either way; skipping the close-all pass saves time.
        close_fds=False,
        **group,
    )
    pgid = proc.pid
    if terminal:
        _give_terminal(terminal, pgid)
        _signal_group(pgid, signal.SIGCONT)  # in case it read before it was foreground
    interruption.add(pgid)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    # A pidfd wakes the loop the moment the leader exits (Linux >= 5.3), instead of
    # polling for it.
    pidfd = _open_pidfd(proc.pid)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    deadline = started + timeout if timeout is not None else None
    stage = 0  # 0 running, 1 SIGINT sent, 2 SIGTERM sent, 3 SIGKILL sent
    next_escalation = 0.0
    timed_out = interrupted = False
    eof = False
    exited_at: float | None = None
    escalation = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)

    def escalate(to_stage: int, now: float) -> None:
        nonlocal stage, next_escalation
        stage = to_stage
        _signal_group(pgid, escalation[to_stage - 1])
        next_escalation = now + grace

    try:
        while True:
            now = time.monotonic()
            presses = interruption.count - base_presses
            if presses >= 1 and not interrupted:
                interrupted = True
                if stage == 0:
                    escalate(1, now)
            if presses >= 2 and stage < 3:
                escalate(3, now)
            if deadline is not None and now >= deadline and stage == 0 and exited_at is None:
                timed_out = True
                escalate(1, now)
            if stage in (1, 2) and now >= next_escalation:
                escalate(stage + 1, now)
            if exited_at is None and proc.poll() is not None:
                exited_at = now
                if pidfd is not None:
                    poller.unregister(pidfd)
            if exited_at is not None:
                if eof:
                    break
                if stage == 0 and now - exited_at >= LINGER_SECONDS:
                    # The step is done but something it started still holds its output.
                    escalate(2, now)
            if eof and pidfd is None:
                # Output closed; wait for the leader without missing an escalation.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=POLL_SECONDS)
                continue
            wait = POLL_SECONDS
            if deadline is not None and stage == 0:
                wait = min(wait, max(deadline - now, 0.0))
            if stage in (1, 2):
                wait = min(wait, max(next_escalation - now, 0.0))
            if exited_at is not None:
                wait = min(wait, LINGER_SECONDS)
            events = poller.poll(wait * 1000)
            if not events and on_idle is not None:
                on_idle()
            for ready, _ in events:
                if ready != fd:
                    continue  # the pidfd: the leader exited, proc.poll() reaps it
                data = os.read(fd, 65536)
                if data:
                    on_output(data)
                else:
                    eof = True
                    poller.unregister(fd)
    finally:
        if terminal:
            _give_terminal(terminal, os.getpgrp())
        if pidfd is not None:
            os.close(pidfd)
        interruption.discard(pgid)
        if proc.returncode is None:
            _signal_group(pgid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        # Leftovers (daemonised children, background jobs) go with their step.
        if stage == 0:
            stop_group(pgid, grace=min(grace, 1.0))
        else:
            stop_group(pgid, grace=grace, first=signal.SIGTERM if stage == 1 else signal.SIGKILL)
    code = proc.returncode
    killed_by = -code if code < 0 else None
    return ProcessOutcome(
        exit_code=128 + killed_by if killed_by is not None else code,
        timed_out=timed_out,
        interrupted=interrupted,
        signal=killed_by,
        duration=time.monotonic() - started,
    )
