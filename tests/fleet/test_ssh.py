"""The connect phase against real sshd servers: reached, unreachable, wrong host key,
refused login; masters are devkit's children and are gone at the end."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import process
from devkit.fleet.inventory import Host
from devkit.fleet.ssh import SshSettings, connections
from tests.fleet.sshd import Fleet, keygen, sshd_available, start_fleet
from tests.proctools import processes_with

pytestmark = pytest.mark.skipif(not sshd_available(), reason="needs OpenSSH's sshd")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    started = start_fleet(tmp_path / "fleet", 3)
    try:
        yield started
    finally:
        started.stop()


def env_for(fleet: Fleet) -> dict[str, str]:
    return {**os.environ, **fleet.env()}


def test_every_reachable_host_gets_a_master_that_runs_commands(fleet: Fleet) -> None:
    hosts = [Host(server.name) for server in fleet.servers]
    with connections() as pool:
        reached = pool.connect(hosts, SshSettings(), env=env_for(fleet))
        assert [(r.host.name, r.ok) for r in reached] == [(h.name, True) for h in hosts]
        master = pool.masters["host2"]
        done = process.run_captured(
            master.command(["echo", "over-the-master"]), env=env_for(fleet), timeout=30
        )
        assert done.status == 0 and done.stdout.strip() == b"over-the-master"
        folder = pool.folder
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        assert len(str(folder / "999")) < 100
        assert processes_with(str(folder))  # the masters, while the run lasts
    assert not processes_with(str(folder))
    assert not folder.exists()


def test_unreachable_wrong_key_and_refused_login_are_told_apart(fleet: Fleet) -> None:
    _, host2, host3 = fleet.servers
    # host2 presents a key that is not the one known for it (an impostor).
    keygen(fleet.root / "impostor", "impostor")
    other = Path(f"{fleet.root / 'impostor'}.pub").read_text().split()[:2]
    lines = fleet.known_hosts.read_text().splitlines()
    lines[1] = f"[{host2.address}]:{host2.port} {other[0]} {other[1]}"
    fleet.known_hosts.write_text("\n".join(lines) + "\n")
    # host3 does not know the client's key.
    host3.stop()
    empty = fleet.root / "nobody_keys"
    empty.write_text("")
    host3.start(empty)
    hosts = [Host("host1"), Host("host2"), Host("host3"), Host("nowhere", port=1)]
    with connections() as pool:
        reached = pool.connect(hosts, SshSettings(connect_timeout=3), env=env_for(fleet))
    outcome = {r.host.name: (r.ok, r.problem) for r in reached}
    assert outcome == {
        "host1": (True, None),
        "host2": (False, "host_key"),
        "host3": (False, "auth"),
        "nowhere": (False, "unreachable"),
    }, [r.message for r in reached]


def test_unknown_host_keys_only_with_accept_new(fleet: Fleet) -> None:
    fleet.known_hosts.write_text("")
    with connections() as pool:
        refused = pool.connect([Host("host1")], SshSettings(), env=env_for(fleet))
    assert refused[0].problem == "host_key"
    with connections() as pool:
        accepted = pool.connect(
            [Host("host1")], SshSettings(accept_new_host_keys=True), env=env_for(fleet)
        )
    assert accepted[0].ok
    assert fleet.servers[0].address in fleet.known_hosts.read_text()


def test_user_port_and_options_from_the_inventory_reach_ssh(fleet: Fleet) -> None:
    server = fleet.servers[0]
    host = Host(
        "direct",
        ssh_alias=server.address,
        port=server.port,
        user=pwd.getpwuid(os.geteuid()).pw_name,
        ssh_options=(("HostKeyAlias", f"[{server.address}]:{server.port}"),),
    )
    with connections() as pool:
        (reach,) = pool.connect([host], SshSettings(), env=env_for(fleet))
    assert reach.ok, reach.message
