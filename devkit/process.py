"""Every child process devkit starts, and the one signal policy of the program.

Children. Each child runs as the leader of its own process group (its own session,
unless it is given the terminal), so that stopping it stops everything it started.
Stopping escalates SIGINT -> SIGTERM -> SIGKILL to the whole group, one grace period
apart, and waits until the group is gone. Nothing here needs `ps`, `pgrep` or psutil:
a group is addressed by its id (`killpg`) and probed with signal 0.

Signals. SIGINT, SIGTERM and SIGHUP all mean "interrupt". The first one is forwarded
once to every running child group (the same signal), and in the main thread raises
`InterruptSignal` (a KeyboardInterrupt), so that every `except KeyboardInterrupt` and
`finally:` cleans up as it did for Ctrl-C; worker threads see it through
`interruption()` and from the wait loops here. A second signal SIGKILLs the children
that are being interrupted and is otherwise recorded only: it never raises into the
rollback of devkit's own state. devkit exits with 128 + the first signal's number.

Sections: `cooperative()` marks main-thread code that polls `interruption()` itself
(the recipe runner), so the handler never raises into it; `critical()` marks code that
must finish (moving a repository's files, index and branch, or rolling them back):
children started inside are left to finish and the exception waits until the section
ends.

After SIGKILL. A SIGKILLed devkit runs no code, so a small guard process (started with
the first child, in its own session) holds the read end of a pipe from devkit; when the
pipe closes without the groups having been released, devkit is gone and the guard
stops every group still registered (SIGTERM, then SIGKILL a second later). What no
process can guarantee: a descendant that moved itself into a new session or process
group (a daemon) is out of reach; so is everything when the guard itself is SIGKILLed
in the same instant (`kill -9 -1`).

Tracing. With DEVKIT_TRACE_PROCESSES=<file> in devkit's own environment, every child
appends one line to that file when it ends: devkit's pid, the thread, the child's start
(monotonic seconds), its duration in milliseconds and its argv, tab-separated (for
measuring where a command's time goes; see bench/gitflow.py --trace).
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from devkit.errors import InterruptSignal

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ESCALATION = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
DEFAULT_GRACE = 5.0
POLL_SECONDS = 0.05
# How long a step's leftover processes may keep its output open after it exits.
LINGER_SECONDS = 0.2
# How long SIGKILL may take to empty a group before devkit stops waiting.
KILL_WAIT_SECONDS = 5.0
# A debugging aid, read once: where each finished child is logged (see the docstring).
_TRACE_FILE = os.environ.get("DEVKIT_TRACE_PROCESSES") or None


# -- the signal policy ---------------------------------------------------------------


class _Policy:
    """What the handler knows: signals received, live child groups, section depths.

    The handler runs in the main thread between two bytecodes, possibly while that
    thread holds a lock, so it takes no lock: it reads a snapshot of `children`
    (a dict copy is atomic under the GIL) and writes only plain attributes."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self.raised = False
        self.children: dict[int, Child] = {}
        self.cooperative = 0  # main thread only
        self.holding = 0  # main thread only: critical sections and spawns
        self.installed = False
        # Told of the first signal when devkit will not stop at once (children to stop,
        # a section to finish), so that a person knows a second Ctrl-C forces it.
        self.announce: Callable[[int], None] | None = None


_policy = _Policy()
_local = threading.local()


def interruption() -> int | None:
    """The first interrupting signal received (SIGINT, SIGTERM or SIGHUP), if any."""
    return _policy.signum


def signal_count() -> int:
    return _policy.count


def exit_status() -> int:
    """128 + the first signal's number (130 when there was none, as for Ctrl-C)."""
    return 128 + int(_policy.signum or signal.SIGINT)


def _reset() -> None:
    _policy.signum = None
    _policy.count = 0
    _policy.raised = False


def _handle(signum: int, frame: FrameType | None) -> None:
    first = _policy.count == 0
    if first:
        # Before the count: a worker thread that sees the count must find the signal.
        _policy.signum = signum
    _policy.count += 1
    for child in list(_policy.children.values()):
        if child.critical:
            continue
        if first:
            child.forward(signum)
        else:
            child.kill()
    waits = bool(_policy.children) or _policy.cooperative or _policy.holding
    if first and waits and _policy.announce is not None:
        _policy.announce(signum)
    if first and not _policy.cooperative and not _policy.holding and not _policy.raised:
        _policy.raised = True
        raise InterruptSignal(signum)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def signal_policy(announce: Callable[[int], None] | None = None) -> Iterator[None]:
    """Install the handlers for SIGINT, SIGTERM and SIGHUP (main thread only; nested
    use is a no-op) and restore the previous ones afterwards. The outermost scope
    starts with no signal recorded: one that an earlier run in the same process
    received (a library caller, an in-process test) is not this run's. `announce` is
    called, from the handler, on the first signal when stopping will take a while."""
    if _policy.installed:
        yield
        return
    _reset()
    if not _on_main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handle) for sig in INTERRUPT_SIGNALS}
    _policy.installed = True
    _policy.announce = announce
    try:
        yield
    finally:
        _policy.installed = False
        _policy.announce = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def raise_if_interrupted(since: int = 0) -> None:
    """Raise InterruptSignal when a signal arrived after `since` signals had been seen."""
    if _policy.count > since and _policy.signum is not None:
        raise InterruptSignal(_policy.signum)


@contextlib.contextmanager
def cooperative() -> Iterator[None]:
    """Main-thread code that polls `interruption()` itself: the handler never raises."""
    if not _on_main_thread():
        yield
        return
    _policy.cooperative += 1
    try:
        yield
    finally:
        _policy.cooperative -= 1


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Inside cooperative code, a block (an in-process built-in step) that a new
    signal may interrupt with InterruptSignal, as Ctrl-C interrupts Python code."""
    if not _on_main_thread():
        yield
        return
    saved = _policy.cooperative
    _policy.cooperative = 0
    try:
        yield
    finally:
        _policy.cooperative = saved


@contextlib.contextmanager
def _held() -> Iterator[None]:
    """No InterruptSignal raised into this block; one that arrived meanwhile is
    raised when the outermost held block ends (unless the code is cooperative)."""
    if not _on_main_thread():
        yield
        return
    _policy.holding += 1
    try:
        yield
    finally:
        _policy.holding -= 1
    if (
        _policy.holding == 0
        and not _policy.cooperative
        and _policy.signum is not None
        and not _policy.raised
    ):
        _policy.raised = True
        raise InterruptSignal(_policy.signum)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Code that must run to its end once started: children started here are not
    interrupted (their own timeouts still apply), and in the main thread the
    InterruptSignal waits until the block has finished."""
    depth = getattr(_local, "critical", 0)
    _local.critical = depth + 1
    try:
        with _held():
            yield
    finally:
        _local.critical = depth


def in_critical_section() -> bool:
    return getattr(_local, "critical", 0) > 0


# -- the guard: stops registered groups when devkit dies without cleaning up ------------

_GUARD_CODE = r"""
import os, signal, sys, time
for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(s, signal.SIG_IGN)
groups = set()
for raw in sys.stdin.buffer:
    op, _, num = raw.strip().partition(b" ")
    if op == b"+":
        groups.add(int(num))
    elif op == b"-":
        groups.discard(int(num))
def alive(g):
    try:
        os.killpg(g, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return runs_in(g)
def runs_in(g):
    # Zombies still count for killpg; the ones left to init are reaped when init gets
    # round to it. A group of zombies runs nothing: it is gone.
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if entry.isdigit():
            try:
                with open("/proc/" + entry + "/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 2 and int(fields[2]) == g and fields[0] != b"Z":
                return True
    return False
for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
    for g in groups:
        try:
            os.killpg(g, sig)
        except OSError:
            pass
    end = time.monotonic() + wait
    while time.monotonic() < end:
        groups = {g for g in groups if alive(g)}
        if not groups:
            sys.exit(0)
        time.sleep(0.02)
"""


class _Guard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: IO[bytes] | None = None
        self._pid: int | None = None
        self._failed = False

    def _start(self) -> IO[bytes] | None:
        if self._pipe is not None and self._pid == os.getpid():
            return self._pipe
        if self._failed:
            return None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _GUARD_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            self._failed = True
            return None
        self._pipe = proc.stdin
        self._pid = os.getpid()
        # The guard outlives devkit on purpose; Popen's bookkeeping must not warn.
        proc.returncode = 0
        return self._pipe

    def start(self) -> None:
        with self._lock:
            self._start()

    def send(self, op: str, pgid: int) -> None:
        with self._lock:
            pipe = self._start()
            if pipe is None:
                return
            with contextlib.suppress(OSError, ValueError):
                pipe.write(f"{op} {pgid}\n".encode())
                pipe.flush()


_guard = _Guard()


# -- subreaper ---------------------------------------------------------------------------

_subreaper_done = False


def become_subreaper() -> None:
    """Linux: adopt orphaned descendants (a step's background jobs after the step
    exits), so that they can be stopped with their group and their zombies reaped."""
    global _subreaper_done
    if _subreaper_done or not sys.platform.startswith("linux"):
        return
    _subreaper_done = True
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_child_subreaper = 36
        libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)


# -- process groups ------------------------------------------------------------------------


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _reap_group(pgid: int) -> None:
    """Collect zombies of the group that were re-parented to us (subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def group_alive(pgid: int) -> bool:
    """Whether anything of the group still runs. Zombies do not count: the ones that
    are our children are reaped here, the ones left to init once init gets round to
    it (seconds, in some containers), and waiting for that would only stall devkit."""
    _reap_group(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _runs_in_group(pgid)


def _runs_in_group(pgid: int) -> bool:
    """A member of the group that is not a zombie, found through /proc (True when
    /proc cannot tell)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields: state, ppid, pgrp, ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def _terminal_fd() -> int | None:
    try:
        return 0 if os.isatty(0) else None
    except OSError:
        return None


def _give_terminal(fd: int, pgid: int) -> None:
    """Make `pgid` the terminal's foreground group. SIGTTOU is blocked meanwhile (the
    kernel looks at the calling thread's mask), or handing the terminal back from the
    background would stop devkit."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Child:
    """A running child process that leads its own process group.

    Use it as a context manager: leaving the block stops whatever is left of the group
    (SIGTERM, then SIGKILL after the grace period) and reaps the leader, whatever
    happened inside."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
        terminal: bool = False,
        grace: float = DEFAULT_GRACE,
        pass_fds: Sequence[int] = (),
        on_interrupt: Callable[[], None] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.grace = grace
        # Instead of devkit's first signal, the child is asked to stop this way (an ssh
        # whose stdin is closed, so that the remote side cleans up and reports); the
        # escalation after the grace period is unchanged.
        self.on_interrupt = on_interrupt
        self.critical = in_critical_section()
        self.since = _policy.count  # signals already seen when it started
        self.stage = 0  # 0 running, 1..3: ESCALATION[stage - 1] was sent
        self.next_escalation = 0.0
        self.started = time.monotonic()
        self.exited_at: float | None = None  # when the leader was seen to exit
        self._forwarded = threading.Lock()  # taken by the one forward() that signals
        self.timed_out = False
        fd = _terminal_fd() if terminal else None
        self.terminal = fd
        group: dict[str, Any] = {"start_new_session": True}
        if fd is not None:
            own_group = sys.version_info >= (3, 11)
            group = {"process_group": 0} if own_group else {"preexec_fn": os.setpgrp}
        # The guard must be running before the fork: a SIGKILL between the fork and the
        # registration below then leaves only the time of one pipe write uncovered.
        _guard.start()
        # A signal that arrives between fork and registration must not orphan the child.
        try:
            with _held():
                self.proc: subprocess.Popen[bytes] = subprocess.Popen(
                    self.argv,
                    cwd=cwd,
                    env=dict(env) if env is not None else None,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    # Descriptors Python opens are non-inheritable (PEP 446), so only the
                    # standard streams and pass_fds reach the child; skip the close-all pass.
                    close_fds=bool(pass_fds),
                    pass_fds=tuple(pass_fds),
                    **group,
                )
                self.pid = self.pgid = self.proc.pid
                _policy.children[self.pgid] = self
                _guard.send("+", self.pgid)
                if self.interrupted:
                    # The handler ran while Popen was starting it, before it was
                    # registered: it gets the signal now.
                    self.forward(_policy.signum or signal.SIGINT)
        except KeyboardInterrupt:
            # The InterruptSignal held over the start: the caller never gets this
            # object, so the child is stopped here rather than left to the guard.
            if hasattr(self, "proc"):
                self.stop()
            raise
        if fd is not None:
            _give_terminal(fd, self.pgid)
            _signal_group(self.pgid, signal.SIGCONT)  # in case it read before it was foreground

    # -- signalling ---------------------------------------------------------------------

    @property
    def interrupted(self) -> bool:
        """A signal reached devkit after this child started (and it is not critical)."""
        return not self.critical and _policy.count > self.since

    def forward(self, signum: int) -> None:
        """Send devkit's first signal to the group, exactly once, whoever gets here first:
        the handler, or the thread that owns the child (which may have registered it
        too late for the handler's loop). A non-blocking acquire is atomic and never
        waits, so the handler may use it."""
        if self.stage == 0 and self._forwarded.acquire(blocking=False):
            self.stage = 1
            self.next_escalation = time.monotonic() + self.grace
            if self.on_interrupt is not None:
                self.on_interrupt()
            else:
                _signal_group(self.pgid, signum)

    def kill(self) -> None:
        self.stage = 3
        _signal_group(self.pgid, signal.SIGKILL)

    def escalate(self, now: float | None = None, *, to: int | None = None) -> None:
        """One step further along SIGINT -> SIGTERM -> SIGKILL (or straight to `to`).

        Only the thread that owns the child escalates; the signal handler (which may
        run between any two lines of it) only ever moves the stage from 0 to 1, and the
        first signal of either is taken through the same one-shot token, so a group
        never gets two first signals."""
        now = time.monotonic() if now is None else now
        if self.stage >= 3:
            return
        if self.stage == 0 and not self._forwarded.acquire(blocking=False):
            return  # the handler just sent the first signal; its grace period runs
        self.stage = min(to or self.stage + 1, 3)
        self.next_escalation = now + self.grace
        _signal_group(self.pgid, ESCALATION[self.stage - 1])

    def tick(self, now: float) -> None:
        """Escalate when the grace period of the last signal has run out."""
        if 0 < self.stage < 3 and now >= self.next_escalation:
            self.escalate(now)

    def until_escalation(self, now: float) -> float | None:
        if 0 < self.stage < 3:
            return max(self.next_escalation - now, 0.0)
        return None

    def supervise(self, now: float, deadline: float | None) -> float:
        """One look at the child for the loop that waits on it: forward an interruption
        (once), enforce the deadline, escalate when a grace period ran out, and stop
        leftovers that keep the output open LINGER_SECONDS after the leader exited.
        Returns how long the loop may wait before the next look."""
        if self.interrupted:
            self.forward(_policy.signum or signal.SIGINT)  # a no-op if the handler did
        if deadline is not None and now >= deadline and self.stage == 0 and not self.exited_at:
            self.timed_out = True
            self.escalate(now)
        self.tick(now)
        if self.exited_at is None and self.proc.poll() is not None:
            self.exited_at = now
        wait = POLL_SECONDS * 2
        if self.exited_at is not None and self.stage == 0:
            lingered = now - self.exited_at
            if lingered >= LINGER_SECONDS:
                self.escalate(now, to=2)  # done, but something it started holds the output
            else:
                wait = min(wait, LINGER_SECONDS - lingered)
        if deadline is not None and self.stage == 0:
            wait = min(wait, max(deadline - now, 0.0))
        escalation = self.until_escalation(now)
        if escalation is not None:
            wait = min(wait, escalation)
        return wait

    # -- waiting and stopping -------------------------------------------------------------

    def stop(self) -> None:
        """Make sure nothing of the group is left, then reap the leader. A group that
        already got a signal continues its escalation; otherwise it starts at SIGTERM
        (a leftover after its leader exited, or an exception in devkit)."""
        with _held():
            if self.stage == 0 and (self.proc.poll() is None or group_alive(self.pgid)):
                self.escalate(to=2)
            delay = 0.001
            killed_at: float | None = None
            while True:
                now = time.monotonic()
                if self.proc.poll() is not None and not group_alive(self.pgid):
                    break
                if self.stage >= 3:
                    killed_at = killed_at or now
                    if now - killed_at > KILL_WAIT_SECONDS:
                        break  # unkillable (uninterruptible sleep): do not hang devkit
                self.tick(now)
                time.sleep(delay)
                delay = min(delay * 2, POLL_SECONDS)
            if self.proc.returncode is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=KILL_WAIT_SECONDS)
            self._release()

    def _release(self) -> None:
        if self.terminal is not None:
            _give_terminal(self.terminal, os.getpgrp())
            self.terminal = None
        if _policy.children.pop(self.pgid, None) is not None:
            _guard.send("-", self.pgid)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.stop()
        if _TRACE_FILE is not None:
            _trace(self)


def _trace(child: Child) -> None:
    took = (time.monotonic() - child.started) * 1000
    where = f"{os.getpid()}\t{threading.current_thread().name}"
    argv = " ".join(child.argv).replace("\n", "\\n")
    line = f"{where}\t{child.started:.4f}\t{took:.1f}\t{argv}\n"
    with contextlib.suppress(OSError), open(_TRACE_FILE or os.devnull, "a") as log:
        log.write(line)


# -- running a child to completion ---------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    """A finished child: exit status (128 + signal when a signal ended it)."""

    status: int
    stdout: bytes
    stderr: bytes
    timed_out: bool
    duration: float

    @property
    def ok(self) -> bool:
        return self.status == 0


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


class _Pump:
    """Moves data between devkit and a child until its output is closed and its leader
    has exited, supervising it meanwhile (deadline, signals, leftovers).

    One poll() covers the output pipes, the input pipe and a pidfd (Linux >= 5.3) that
    wakes the loop the moment the leader exits, so a short command costs no polling
    delay (Popen.communicate with a timeout ends in a sleep loop)."""

    def __init__(
        self, child: Child, readers: Mapping[int, Callable[[bytes], None]], payload: bytes
    ) -> None:
        self.child = child
        self.poller = select.poll()
        self.readers = dict(readers)
        for fd in self.readers:
            self.poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.stdin = child.proc.stdin
        self.payload = payload if self.stdin is not None else b""
        if self.stdin is not None:
            if self.payload:
                os.set_blocking(self.stdin.fileno(), False)  # a full pipe must not block
                self.poller.register(self.stdin.fileno(), select.POLLOUT | select.POLLERR)
            else:
                self.stdin.close()
        self.pidfd = _open_pidfd(child.pid)
        if self.pidfd is not None:
            self.poller.register(self.pidfd, select.POLLIN)

    @property
    def done(self) -> bool:
        return not self.readers and self.child.exited_at is not None

    def close_pidfd(self) -> None:
        if self.pidfd is not None:
            with contextlib.suppress(KeyError):
                self.poller.unregister(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None

    def wait(self, seconds: float) -> list[tuple[int, int]]:
        if self.child.exited_at is not None:
            self.close_pidfd()
        if self.readers or self.payload or self.pidfd is not None:
            return self.poller.poll(seconds * 1000)
        # Output closed, leader still running, no pidfd: wait for the leader itself.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.child.proc.wait(timeout=seconds)
        return [(-1, 0)]

    def handle(self, fd: int) -> None:
        if fd in self.readers:
            data = os.read(fd, 65536)
            if data:
                self.readers[fd](data)
            else:
                self.poller.unregister(fd)
                del self.readers[fd]
        elif self.stdin is not None and self.payload and fd == self.stdin.fileno():
            self.payload = _write_some(self.stdin, self.payload)
            if not self.payload:
                self.poller.unregister(fd)
                self.stdin.close()


def _pump(
    child: Child,
    *,
    readers: Mapping[int, Callable[[bytes], None]],
    deadline: float | None,
    payload: bytes = b"",
    on_idle: Callable[[], None] | None = None,
    stop_when_interrupted: bool = False,
) -> None:
    """Run the child's I/O to its end (see _Pump). With `stop_when_interrupted`, an
    interruption stops the group and raises InterruptSignal in this thread."""
    pump = _Pump(child, readers, payload)
    try:
        while not pump.done:
            if stop_when_interrupted and child.interrupted:
                child.stop()
                raise_if_interrupted(child.since)
            events = pump.wait(child.supervise(time.monotonic(), deadline))
            if not events and on_idle is not None:
                on_idle()
            for fd, _ in events:
                pump.handle(fd)
    finally:
        pump.close_pidfd()


def _write_some(stream: IO[bytes], data: bytes) -> bytes:
    """Write what the pipe takes now; what is left (nothing if the child went away)."""
    try:
        written = os.write(stream.fileno(), data[:65536])
    except BlockingIOError:
        return data
    except BrokenPipeError:
        return b""
    return data[written:]


def run_captured(
    argv: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
    grace: float = DEFAULT_GRACE,
) -> Completed:
    """Run argv to completion with its output captured.

    On timeout the group is stopped (SIGINT, SIGTERM, SIGKILL) and the result says
    `timed_out`. When devkit is interrupted meanwhile, the group is stopped the same way
    and InterruptSignal is raised, in any thread (unless this is a critical section).
    Raises OSError when the program cannot be started."""
    deadline = None if timeout is None else time.monotonic() + timeout
    out: list[bytes] = []
    err: list[bytes] = []
    with Child(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        grace=grace,
    ) as child:
        assert child.proc.stdout is not None and child.proc.stderr is not None
        readers = {child.proc.stdout.fileno(): out.append, child.proc.stderr.fileno(): err.append}
        try:
            _pump(
                child,
                readers=readers,
                deadline=deadline,
                payload=input or b"",
                stop_when_interrupted=True,
            )
        except KeyboardInterrupt:
            # The handler's InterruptSignal (main thread): stop the group first.
            child.stop()
            raise
        child.proc.wait()
    return Completed(
        status=_status(child.proc.returncode),
        stdout=b"".join(out),
        stderr=b"".join(err),
        timed_out=child.timed_out,
        duration=time.monotonic() - child.started,
    )


@dataclass(frozen=True)
class StreamOutcome:
    exit_code: int  # 128 + signal when a signal ended the process
    timed_out: bool
    interrupted: bool
    signal: int | None
    duration: float


def run_streaming(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_output: Callable[[bytes], None],
    timeout: float | None = None,
    grace: float = DEFAULT_GRACE,
    stdin: bool = False,
    on_idle: Callable[[], None] | None = None,
    pass_fds: Sequence[int] = (),
    on_stderr: Callable[[bytes], None] | None = None,
) -> StreamOutcome:
    """Run argv, handing its output (stdout and stderr merged) to `on_output` as it
    comes; never raises for an interruption: the outcome says so. With `on_stderr`,
    stderr goes there instead and `on_output` gets stdout only.

    A child that may read the terminal (`stdin` and stdin is a terminal) becomes the
    terminal's foreground group, so it can read and Ctrl-C goes to it directly; every
    other child gets its own session with stdin closed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with Child(
        argv,
        cwd=cwd,
        env=env,
        stdin=None if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if on_stderr is None else subprocess.PIPE,
        terminal=stdin,
        grace=grace,
        pass_fds=pass_fds,
    ) as child:
        assert child.proc.stdout is not None
        readers = {child.proc.stdout.fileno(): on_output}
        if on_stderr is not None and child.proc.stderr is not None:
            readers[child.proc.stderr.fileno()] = on_stderr
        _pump(child, readers=readers, deadline=deadline, on_idle=on_idle)
        child.proc.wait()
    code = _status(child.proc.returncode)
    return StreamOutcome(
        exit_code=code,
        timed_out=child.timed_out,
        interrupted=child.interrupted,
        signal=-child.proc.returncode if child.proc.returncode < 0 else None,
        duration=time.monotonic() - child.started,
    )


def _open_pidfd(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


__all__ = [
    "DEFAULT_GRACE",
    "Child",
    "Completed",
    "StreamOutcome",
    "become_subreaper",
    "cooperative",
    "critical",
    "exit_status",
    "group_alive",
    "interruptible",
    "interruption",
    "raise_if_interrupted",
    "run_captured",
    "run_streaming",
    "signal_count",
    "signal_policy",
]
