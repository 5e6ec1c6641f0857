"""Real OpenSSH servers on loopback addresses, for fleet tests (no mocks).

Each server listens on its own 127.0.0.x address with its own host key, accepts only
the test's client key, and logs in as the user running the tests. The client side is
the system `ssh`, reached through a wrapper on PATH that adds `-F` with a config
holding the test's known_hosts and identity (ssh reads ~ from the password database,
not from $HOME, so the isolated HOME of the tests would not be enough).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh") is not None


def keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
    )


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    address: str
    port: int
    host_key: Path
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    # Where sessions keep their files, when they log in as an account that cannot
    # enter `folder` (the test's private temporary folder).
    home: Path | None = None

    @property
    def data(self) -> Path:
        """XDG_DATA_HOME of sessions on this host."""
        return (self.home or self.folder) / "data"

    @property
    def cache(self) -> Path:
        """XDG_CACHE_HOME of sessions on this host (fleet runs keep their folders there)."""
        return (self.home or self.folder) / "cache"

    @property
    def state(self) -> Path:
        return (self.home or self.folder) / "state"

    @property
    def known_hosts_line(self) -> str:
        key_type, key = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[{self.address}]:{self.port} {key_type} {key}"

    def start(self, authorized_keys: Path, *, keep_config: bool = False) -> None:
        """Start sshd; `keep_config` reuses sshd_config as a test changed it."""
        config = self.folder / "sshd_config"
        if not keep_config:
            config.write_text(
                f"ListenAddress {self.address}:{self.port}\n"
                f"HostKey {self.host_key}\n"
                f"PidFile {self.folder / 'sshd.pid'}\n"
                f"AuthorizedKeysFile {authorized_keys}\n"
                "PasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\n"
                "PubkeyAuthentication yes\n"
                "UsePAM no\n"
                "StrictModes no\n"
                "PermitRootLogin prohibit-password\n"
                "LogLevel ERROR\n"
                "MaxStartups 100\n"
                "MaxSessions 100\n"
                # Each "host" keeps what devkit installs, caches and remembers in
                # folders of its own, never in the real home of the user running tests.
                f"SetEnv XDG_DATA_HOME={self.data} XDG_CACHE_HOME={self.cache}"
                f" XDG_STATE_HOME={self.state}\n"
            )
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = (self.folder / "sshd.log").open("ab")
        self.process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.folder / "sshd.log").read_text())
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sshd on {self.address}:{self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class Fleet:
    """Servers, the client's ssh config and a PATH whose `ssh` uses that config."""

    root: Path
    servers: list[Server] = field(default_factory=list)
    # The controller's cache (the built pack): shared by the fleets of one test session
    # so the pack is built once, and never the real ~/.cache.
    controller_cache: Path | None = None

    @property
    def ssh_config(self) -> Path:
        return self.root / "client" / "config"

    @property
    def known_hosts(self) -> Path:
        return self.root / "client" / "known_hosts"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self) -> dict[str, str]:
        cache = self.controller_cache or self.root / "controller-cache"
        return {"PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "XDG_CACHE_HOME": str(cache)}

    def write_client_config(self, extra: str = "") -> None:
        hosts = "".join(
            f"Host {s.name}\n  HostName {s.address}\n  Port {s.port}\n" for s in self.servers
        )
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.ssh_config.write_text(
            f"{extra}{hosts}"
            "Host *\n"
            f"  User {user}\n"
            f"  IdentityFile {self.root / 'client' / 'id_ed25519'}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
        )
        self.known_hosts.write_text("".join(s.known_hosts_line + "\n" for s in self.servers))

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def controller_cache(tmp_path_factory: Any) -> Path:
    """One controller cache for a pytest session (its base temporary folder)."""
    return Path(tmp_path_factory.getbasetemp()) / "controller-cache"


def start_fleet(root: Path, count: int, controller_cache: Path | None = None) -> Fleet:
    """`count` servers named host1..hostN on 127.0.0.2.. (ssh config aliases)."""
    fleet = Fleet(root, controller_cache=controller_cache)
    (root / "client").mkdir(parents=True)
    fleet.bin.mkdir()
    keygen(root / "client" / "id_ed25519", "devkit-tests")
    authorized = root / "client" / "authorized_keys"
    authorized.write_text(Path(f"{root / 'client' / 'id_ed25519'}.pub").read_text())
    ssh = shutil.which("ssh")
    wrapper = fleet.bin / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {ssh} -F {fleet.ssh_config} "$@"\n')
    wrapper.chmod(0o755)
    try:
        for index in range(count):
            address = f"127.0.0.{index + 2}"
            folder = root / f"host{index + 1}"
            folder.mkdir()
            host_key = folder / "ssh_host_ed25519_key"
            keygen(host_key, f"host{index + 1}")
            server = Server(f"host{index + 1}", address, _free_port(address), host_key, folder)
            fleet.servers.append(server)
            server.start(authorized)
        fleet.write_client_config()
    except BaseException:
        fleet.stop()
        raise
    return fleet
