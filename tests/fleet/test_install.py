"""`devkit fleet install` against real sshd servers on loopback addresses."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit import __version__
from tests.clirun import run_devkit
from tests.fleet.sshd import Fleet, controller_cache, sshd_available, start_fleet

pytestmark = pytest.mark.skipif(not sshd_available(), reason="needs OpenSSH's sshd")


@pytest.fixture
def fleet(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    started = start_fleet(tmp_path / "fleet", 2, controller_cache(tmp_path_factory))
    try:
        yield started
    finally:
        started.stop()


def test_install_puts_this_devkit_on_every_host_once(fleet: Fleet) -> None:
    env = fleet.env()
    first = run_devkit(["fleet", "install", "--hosts", "host[1:2]", "--json"], env=env)
    assert first.returncode == 0, first.stderr
    document = json.loads(first.stdout)
    statuses = {h["host"]: h["status"] for h in document["data"]["hosts"]}
    assert statuses == {"host1": "installed", "host2": "installed"}
    pack = Path(document["data"]["hosts"][0]["pack"])
    host1, host2 = fleet.servers
    assert pack.parent == host1.data / "devkit" / "packs"
    assert (host2.data / "devkit" / "packs" / pack.name / "ready").is_file()
    # The installed devkit runs on its own: only the pack on its path.
    ran = subprocess.run(
        ["python3", "-I", "-S", str(pack / "devkit-remote.py"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == f"devkit {__version__}"
    again = run_devkit(["fleet", "install", "--hosts", "host1,host2", "--json"], env=env)
    assert {h["status"] for h in json.loads(again.stdout)["data"]["hosts"]} == {"present"}


def test_unreachable_hosts_fail_the_install_and_are_named(fleet: Fleet) -> None:
    fleet.servers[1].stop()
    result = run_devkit(
        ["fleet", "install", "--hosts", "host2,nowhere.invalid", "--connect-timeout", "3"],
        env=fleet.env(),
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("✗ host2") and "unreachable" in line for line in lines)
    assert "0 of 2 host(s) have devkit" in result.stdout
    assert "host2: unreachable" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the hosts with --hosts or --inventory"),
        (["--hosts", "a", "--inventory", "x.yaml"], "one of them"),
        (["--hosts", "web[3:1]"], "ends before it starts"),
        (["--hosts", "a,b", "--limit", "c"], "selects no host"),
    ],
)
def test_bad_host_selections_are_usage_errors(args: list[str], message: str) -> None:
    result = run_devkit(["fleet", "install", *args])
    assert result.returncode == 2
    assert message in result.stderr
    assert os.environ.get("DEVKIT_DEBUG") != "1"
