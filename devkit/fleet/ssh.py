"""Connections to fleet hosts through the system's OpenSSH client.

One master connection per host (`ssh -M -N`), started as devkit's own child in its
own process group, so that the process layer stops it at the end, on a signal, and
(through the guard) when devkit is killed; every later command to the host rides on
it through a short ControlPath in a private folder (long socket paths are a known
failure of other tools). Every ssh runs with BatchMode (never a prompt), a connect
timeout and keep-alives; host keys are always checked: StrictHostKeyChecking is
`yes`, or `accept-new` when the user asks for it, never `no`.

The connect phase tells an unreachable host (no answer, refused, unknown name) from
one whose host key is wrong or unknown and from one that refused the login.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devkit import process
from devkit.fleet.inventory import Host

DEFAULT_CONNECT_TIMEOUT = 10
_HOST_KEY_SIGNS = (
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "host key is known",
    "Host key for",
)
_AUTH_SIGNS = ("Permission denied", "Too many authentication failures")


@dataclass(frozen=True)
class SshSettings:
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    accept_new_host_keys: bool = False
    program: str = "ssh"


@dataclass(frozen=True)
class Reach:
    """How the connect phase ended for one host."""

    host: Host
    ok: bool
    problem: str | None = None  # unreachable | host_key | auth
    message: str = ""


def ssh_options(host: Host, settings: SshSettings, control_path: Path) -> list[str]:
    """The options every ssh to `host` runs with (master and commands alike)."""
    checking = "accept-new" if settings.accept_new_host_keys else "yes"
    options = [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={settings.connect_timeout}",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=3",
        "-o", f"StrictHostKeyChecking={checking}",
        "-o", f"ControlPath={control_path}",
    ]  # fmt: skip
    if host.user:
        options += ["-l", host.user]
    if host.port:
        options += ["-p", str(host.port)]
    for name, value in host.ssh_options:
        options += ["-o", f"{name}={value}"]
    return options


class Master:
    """The master connection to one host, a child of devkit for as long as it runs."""

    def __init__(
        self, host: Host, settings: SshSettings, folder: Path, index: int, env: Mapping[str, str]
    ) -> None:
        self.host = host
        self.settings = settings
        self.socket = folder / f"{index}"
        self.log = folder / f"{index}.log"
        self.env = env
        self.child: process.Child | None = None

    def command(self, remote: Sequence[str]) -> list[str]:
        """An ssh command line that runs `remote` on the host over this connection.
        ssh hands the remote shell one string, so each word is quoted for it here:
        every word arrives as it is, never as shell code."""
        options = ssh_options(self.host, self.settings, self.socket)
        return [self.settings.program, *options, "-o", "ControlMaster=no", "--",
                self.host.destination, shlex.join(remote)]  # fmt: skip

    def start(self, *, ignore_interrupt: bool = False) -> None:
        """`ignore_interrupt`: devkit's first signal leaves the master up, so that the
        sessions riding on it can report how the host cleaned up (a second signal, or
        `close()`, still stops it)."""
        options = ssh_options(self.host, self.settings, self.socket)
        argv = [self.settings.program, *options, "-M", "-N", "-o", "ControlPersist=no",
                "--", self.host.destination]  # fmt: skip
        keep = _keep_running if ignore_interrupt else None
        with self.log.open("wb") as log:
            self.child = process.Child(
                argv, env=self.env, stdout=log, stderr=log, on_interrupt=keep
            )

    def wait_ready(self, deadline: float) -> Reach:
        """Wait until the master listens on its socket (logged in), or failed."""
        assert self.child is not None
        while True:
            if self.socket.exists():
                return Reach(self.host, True)
            if self.child.proc.poll() is not None or time.monotonic() >= deadline:
                self.close()
                return self._failure()
            process.raise_if_interrupted(self.child.since)
            time.sleep(0.02)

    def _failure(self) -> Reach:
        text = self.log.read_text(errors="replace").strip()
        lines = [line for line in text.splitlines() if line.strip()]
        message = lines[-1] if lines else "no answer within the connect timeout"
        if any(sign in text for sign in _HOST_KEY_SIGNS):
            return Reach(self.host, False, "host_key", message)
        if any(sign in text for sign in _AUTH_SIGNS):
            return Reach(self.host, False, "auth", message)
        return Reach(self.host, False, "unreachable", message)

    def close(self) -> None:
        if self.child is not None:
            self.child.escalate(to=2)  # SIGTERM now, even after an ignored interruption
            self.child.stop()
            self.child = None


def _keep_running() -> None:
    """The master's answer to devkit's first signal: none."""


class Connections:
    """The masters of one fleet run, in a private folder removed at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.masters: dict[str, Master] = {}

    def connect(
        self,
        hosts: Sequence[Host],
        settings: SshSettings,
        *,
        env: Mapping[str, str] | None = None,
        forks: int = 10,
    ) -> list[Reach]:
        """The connect phase: every host at most `forks` at a time; the reached ones
        keep their master for the commands that follow."""
        environment = dict(os.environ if env is None else env)
        environment.setdefault("LC_ALL", "C")  # ssh's messages, to tell failures apart

        def reach(item: tuple[int, Host]) -> Reach:
            index, host = item
            master = Master(host, settings, self.folder, index, environment)
            master.start()
            result = master.wait_ready(time.monotonic() + settings.connect_timeout + 5)
            if result.ok:
                self.masters[host.name] = master
            return result

        with ThreadPoolExecutor(max_workers=max(1, forks)) as pool:
            return list(pool.map(reach, enumerate(hosts)))

    def close(self) -> None:
        for master in self.masters.values():
            master.close()
        self.masters.clear()


@contextmanager
def connections() -> Iterator[Connections]:
    """A private (0700) folder for the control sockets, short enough for the 108-byte
    limit of a socket path, and the connections made in it, all gone at the end."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base) or len(base) > 40:
        base = tempfile.gettempdir() if len(tempfile.gettempdir()) <= 40 else "/tmp"
    folder = Path(tempfile.mkdtemp(prefix="dk-", dir=base))
    pool = Connections(folder)
    try:
        yield pool
    finally:
        pool.close()
        shutil.rmtree(folder, ignore_errors=True)
