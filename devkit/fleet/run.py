"""One recipe on many hosts: the controller's side of `devkit run --hosts`.

Per host, in a worker thread (at most `forks` at once, batch after batch):

1. connect: an ssh master (devkit/fleet/ssh.py); a host that cannot be reached is
   `unreachable` and nothing else happens to it;
2. run: one ssh over that master starts the host's devkit (`run --fleet-stdin`, see
   devkit/cli/remote.py) from the pack this controller would install; stdin carries one
   JSON line (the recipe's files, the host's variables, the secrets: never a command
   line) and then stays open; stdout brings one JSON event per line, the last one the
   run's result. When the pack is not there (exit 97 before anything ran) it is
   installed over the same master and the run starts again;
3. close the master.

Interruption. The first Ctrl-C (or SIGTERM/SIGHUP) does not kill ssh: it closes each
run's stdin, which the host's devkit takes as a dropped connection, so its steps stop
and its `finally:` steps run there, and their output and result still come back. The
masters are left alone until then. After the grace period (or at a second signal) the
ssh processes are stopped the usual way. Hosts not started yet are not started.

`serial` splits the hosts into batches; after each batch, `max_fail_percentage` of that
batch decides whether the next one runs (as Ansible does).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devkit import process
from devkit.errors import InterruptSignal
from devkit.fleet.inventory import Host
from devkit.fleet.pack import Pack
from devkit.fleet.ssh import Master, SshSettings

# How long a host's run may take to clean up after Ctrl-C before ssh is stopped.
FLEET_GRACE = 30.0
# The remote command's answer when this devkit's pack is not on the host.
MISSING_PACK = 97
TAIL_LINES = 20
_INTERRUPTED_CODES = (129, 130, 143)
# bash sources ~/.bashrc and Debian's /etc/bash.bashrc when it believes sshd started it
# (SSH_CLIENT set and a low SHLVL, which wrappers such as pyenv's shims reset): every
# step would run the user's interactive set-up, and `set -u` steps fail on its PS1.
# SSH_CONNECTION, which says the same, stays.
_REMOTE_SCRIPT = (
    "unset SSH_CLIENT SSH2_CLIENT; "
    'p="${{XDG_DATA_HOME:-$HOME/.local/share}}/devkit/packs/{name}"; '
    '[ -f "$p/ready" ] || exit {missing}; '
    'exec python3 -I -S "$p/devkit-remote.py" "$@"'
)


@dataclass(frozen=True)
class HostJob:
    host: Host
    message: bytes  # the first line of the run's stdin


@dataclass(frozen=True)
class FleetOptions:
    ssh: SshSettings
    remote_args: tuple[str, ...]  # what follows `devkit run` on the host
    forks: int = 10
    serial: Any = None  # int | "N%" | list of those (devkit/fleet/batches.py)
    max_fail_percentage: float | None = None
    grace: float = FLEET_GRACE


@dataclass
class HostResult:
    host: str
    status: str  # ok | failed | unreachable | interrupted | not_run
    exit_code: int | None = None
    duration: float = 0.0
    message: str = ""
    problem: str | None = None  # for unreachable: unreachable | host_key | auth
    task: str | None = None
    step: str | None = None
    tail: list[str] = field(default_factory=list)
    installed: bool = False
    document: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
            "message": self.message,
            "problem": self.problem,
            "failed_task": self.task,
            "failed_step": self.step,
            "output_tail": self.tail,
            "installed": self.installed,
            "run": self.document,
        }


@dataclass
class FleetReport:
    results: list[HostResult]
    batches: int = 0
    threshold_stop: bool = False
    interrupted: int | None = None  # the signal that stopped the run
    duration: float = 0.0


class FleetObserver(Protocol):
    def batch_started(self, number: int, total: int, hosts: Sequence[str]) -> None: ...
    def host_phase(self, host: str, phase: str) -> None: ...
    def host_event(self, host: str, event: Mapping[str, Any]) -> None: ...
    def host_stderr(self, host: str, line: str) -> None: ...
    def host_finished(self, result: HostResult) -> None: ...


class _StdinCloser:
    """Closes the run's stdin once, from the signal handler or the worker."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


@dataclass
class _Outcome:
    status: int
    result: dict[str, Any] | None
    stderr: list[str]


class FleetRun:
    """The run of one recipe on a list of hosts."""

    def __init__(
        self,
        jobs: Sequence[HostJob],
        options: FleetOptions,
        pack: Pack,
        observer: FleetObserver,
        env: Mapping[str, str],
        folder: Path,
    ) -> None:
        self.jobs = list(jobs)
        self.options = options
        self.pack = pack
        self.observer = observer
        self.env = dict(env)
        self.env.setdefault("LC_ALL", "C")  # ssh's messages, to tell failures apart
        self.folder = folder
        self.index = {job.host.name: number for number, job in enumerate(self.jobs)}
        self.pack_lock = threading.Lock()
        self.pack_data: bytes | None = None  # read when the first host needs the pack

    def run(self) -> FleetReport:
        from devkit.fleet.batches import batches, threshold_reached

        start = time.monotonic()
        report = FleetReport([])
        groups = batches(self.jobs, self.options.serial)
        with process.cooperative():
            for number, batch in enumerate(groups, 1):
                if process.interruption() is not None or report.threshold_stop:
                    report.results.extend(self._not_run(batch, report))
                    continue
                report.batches = number
                self.observer.batch_started(number, len(groups), [j.host.name for j in batch])
                with ThreadPoolExecutor(max_workers=max(1, self.options.forks)) as pool:
                    results = list(pool.map(self._host, batch))
                report.results.extend(results)
                failed = sum(not r.ok for r in results)
                limit = self.options.max_fail_percentage
                if limit is not None and threshold_reached(failed, len(results), limit):
                    report.threshold_stop = number < len(groups)
        report.interrupted = process.interruption()
        report.duration = time.monotonic() - start
        return report

    def _not_run(self, batch: Sequence[HostJob], report: FleetReport) -> list[HostResult]:
        why = "not run: the failure threshold stopped the run"
        if not report.threshold_stop:
            why = "not run: interrupted"
        results = [HostResult(job.host.name, "not_run", message=why) for job in batch]
        for result in results:
            self.observer.host_finished(result)
        return results

    # -- one host -----------------------------------------------------------------------

    def _host(self, job: HostJob) -> HostResult:
        name = job.host.name
        start = time.monotonic()
        if process.interruption() is not None:
            result = HostResult(name, "not_run", message="not run: interrupted")
        else:
            try:
                result = self._connected(job)
            except InterruptSignal:
                result = HostResult(name, "not_run", message="not run: interrupted")
        result.duration = time.monotonic() - start
        self.observer.host_finished(result)
        return result

    def _connected(self, job: HostJob) -> HostResult:
        name = job.host.name
        self.observer.host_phase(name, "connecting")
        master = Master(job.host, self.options.ssh, self.folder, self.index[name], self.env)
        try:
            master.start(ignore_interrupt=True)
            reach = master.wait_ready(time.monotonic() + self.options.ssh.connect_timeout + 5)
            if not reach.ok:
                return HostResult(name, "unreachable", problem=reach.problem, message=reach.message)
            self.observer.host_phase(name, "running")
            outcome = self._remote(master, job)
            installed = False
            if outcome.result is None and outcome.status == MISSING_PACK:
                failure = self._install(master)
                if failure is not None:
                    return failure
                installed = True
                self.observer.host_phase(name, "running")
                outcome = self._remote(master, job)
            result = _result(name, outcome)
            result.installed = installed
            return result
        finally:
            master.close()

    def _install(self, master: Master) -> HostResult | None:
        from devkit.fleet.install import install_on

        name = master.host.name
        self.observer.host_phase(name, "installing devkit")
        with self.pack_lock:  # read the pack's bytes once, whichever host needs them first
            if self.pack_data is None:
                self.pack_data = self.pack.data
            data = self.pack_data
        done = install_on(master, self.pack, self.env, lambda: data)
        if done.ok:
            return None
        return HostResult(
            name, "failed", message=f"devkit could not be installed: {done.status}: {done.message}"
        )

    def _remote(self, master: Master, job: HostJob) -> _Outcome:
        script = _REMOTE_SCRIPT.format(name=self.pack.name, missing=MISSING_PACK)
        argv = master.command(["sh", "-c", script, "devkit", *self.options.remote_args])
        read_end, write_end = os.pipe()
        closer = _StdinCloser(write_end)
        try:
            child = process.Child(
                argv,
                env=self.env,
                stdin=read_end,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                grace=self.options.grace,
                on_interrupt=closer.close,
            )
        finally:
            os.close(read_end)
        with child:
            _send(write_end, job.message)
            if process.interruption() is not None:
                closer.close()
            return self._collect(child, master.host.name)

    def _collect(self, child: process.Child, host: str) -> _Outcome:
        assert child.proc.stdout is not None and child.proc.stderr is not None
        result: dict[str, Any] | None = None
        stderr: list[str] = []

        def on_stdout(line: str) -> None:
            nonlocal result
            event = _event(line)
            if event is None:
                stderr.append(line)
                self.observer.host_stderr(host, line)
            elif event.get("event") == "result":
                result = event
            else:
                self.observer.host_event(host, event)

        def on_stderr(line: str) -> None:
            stderr.append(line)
            del stderr[:-TAIL_LINES]
            self.observer.host_stderr(host, line)

        _pump_lines(child, {child.proc.stdout.fileno(): on_stdout,
                            child.proc.stderr.fileno(): on_stderr})  # fmt: skip
        status = child.proc.wait()
        return _Outcome(status, result, stderr[-TAIL_LINES:])


def _send(fd: int, message: bytes) -> None:
    """Write the first line on a copy of the descriptor, in a thread: closing the
    original (an interruption) then never lands on a reused number, and a host that
    does not read (no pack there) cannot block the worker."""
    copy = os.dup(fd)

    def write() -> None:
        try:
            view = memoryview(message)
            while view:
                view = view[os.write(copy, view) :]
        except OSError:
            pass  # the remote side is gone; its exit status says why
        finally:
            os.close(copy)

    threading.Thread(target=write, name="fleet-stdin", daemon=True).start()


def _pump_lines(child: process.Child, handlers: dict[int, Callable[[str], None]]) -> None:
    """Read both pipes to their end, a line at a time, while supervising the child (the
    grace period after an interruption runs out here)."""
    pending = {fd: b"" for fd in handlers}
    while pending:
        wait = child.supervise(time.monotonic(), None)
        ready, _, _ = select.select(list(pending), [], [], max(wait, 0.01))
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                if pending[fd]:
                    handlers[fd](pending[fd].decode(errors="replace"))
                del pending[fd]
                continue
            *lines, pending[fd] = (pending[fd] + chunk).split(b"\n")
            for line in lines:
                handlers[fd](line.decode(errors="replace"))


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _result(host: str, outcome: _Outcome) -> HostResult:
    if outcome.result is None:
        return _without_result(host, outcome)
    code = int(outcome.result.get("exit_code", 3))
    document = outcome.result.get("document")
    document = document if isinstance(document, dict) else {}
    result = HostResult(host, "ok" if code == 0 else "failed", code, document=document)
    errors = document.get("errors") or []
    if errors and isinstance(errors[0], dict):
        error = errors[0]
        details = error.get("details") or {}
        result.message = str(error.get("message", ""))
        result.task = details.get("task")
        result.step = details.get("step")
        result.tail = [str(line) for line in details.get("output_tail") or []]
    if code in _INTERRUPTED_CODES and process.interruption() is not None:
        result.status = "interrupted"
    return result


def _without_result(host: str, outcome: _Outcome) -> HostResult:
    """The host's devkit never reported: it could not start, or the connection broke."""
    last = next((line.strip() for line in reversed(outcome.stderr) if line.strip()), "")
    if outcome.status == 255:
        message = f"the connection was lost: {last or 'ssh exited with 255'}"
    elif outcome.status == 127:
        message = "python3 is not installed there"
    else:
        message = f"devkit did not start there (exit {outcome.status}): {last or 'no output'}"
    status = "interrupted" if process.interruption() is not None else "failed"
    return HostResult(host, status, outcome.status, message=message, tail=outcome.stderr)
