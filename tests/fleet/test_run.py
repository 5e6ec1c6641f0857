"""`devkit run RECIPE --hosts/--inventory` against real sshd servers on loopback
addresses: every host's devkit runs the recipe; the controller shows, sums up and exits
as documented. Each "host" is this machine behind its own sshd, with its own data,
cache and state folders (tests/fleet/sshd.py), so what a host did is checked on disk."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.fleet.sshd import Fleet, controller_cache, keygen, sshd_available, start_fleet
from tests.proctools import processes_with, wait_gone, wait_until

pytestmark = pytest.mark.skipif(not sshd_available(), reason="needs OpenSSH's sshd")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three hosts with this devkit installed (once for the module)."""
    started = start_fleet(
        tmp_path_factory.mktemp("fleet") / "f", 3, controller_cache(tmp_path_factory)
    )
    try:
        installed = run_devkit(["fleet", "install", "--hosts", "host[1:3]"], env=started.env())
        assert installed.returncode == 0, installed.stdout + installed.stderr
        yield started
    finally:
        started.stop()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def fleet_run(fleet: Fleet, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_devkit(["run", *args], cwd=cwd, env=fleet.env())


def start_fleet_run(fleet: Fleet, args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    """A fleet run in the background, in a session of its own (signals go to it alone)."""
    return subprocess.Popen(
        [sys.executable, "-m", "devkit", "run", *args],
        cwd=cwd, env={**os.environ, **fleet.env(), **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def test_every_host_runs_the_recipe_with_its_own_variables(fleet: Fleet, tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", """\
        defaults:
          vars: {greeting: hello}
        groups:
          web:
            hosts: [host1, host2]
            vars: {role: web}
        hosts:
          host3:
            vars: {role: db}
        """)  # fmt: skip
    write(tmp_path, "hello.yaml", """\
        tasks:
          hello:
            steps:
              - echo "{{ vars.greeting }} from {{ host.name }} as {{ vars.role }}"
              - echo "$XDG_DATA_HOME" > where
        """)  # fmt: skip
    done = fleet_run(fleet, ["hello.yaml", "--inventory", "hosts.yaml"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "host1 |   hello from host1 as web" in lines
    assert "host3 |   hello from host3 as db" in lines
    assert "hello.yaml on 3 host(s): 3 ok" in done.stdout
    assert "bashrc" not in done.stdout  # steps are not interactive shells there either
    for server in fleet.servers:  # each ran in a per-run folder under its own cache
        (where,) = (server.cache / "devkit" / "runs").glob("*/where")
        assert where.read_text().strip() == str(server.data)


def test_failed_and_unreachable_hosts_are_told_apart(fleet: Fleet, tmp_path: Path) -> None:
    write(tmp_path, "check.yaml", """\
        tasks:
          check:
            steps:
              - echo "checking {{ host.name }}"
              - test "{{ host.name }}" != host2
        """)  # fmt: skip
    done = fleet_run(
        fleet,
        ["check.yaml", "--hosts", "host[1:3],nowhere.invalid", "--connect-timeout", "3", "--json"],
        tmp_path,
    )
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    hosts = {h["host"]: h for h in document["data"]["hosts"]}
    assert [h["host"] for h in document["data"]["hosts"]] == [
        "host1", "host2", "host3", "nowhere.invalid"
    ]  # fmt: skip
    assert hosts["host1"]["status"] == hosts["host3"]["status"] == "ok"
    assert hosts["host2"]["status"] == "failed" and hosts["host2"]["exit_code"] == 1
    assert hosts["host2"]["failed_step"]
    assert hosts["nowhere.invalid"]["status"] == "unreachable"
    # Live lines beside --json, on stderr, the host names aligned.
    assert re.search(r"^host2 {11}\|   checking host2$", done.stderr, re.M), done.stderr
    args = ["check.yaml", "--hosts", "host1,nowhere.invalid", "--connect-timeout", "3"]
    only_unreachable = fleet_run(fleet, args, tmp_path)
    assert only_unreachable.returncode == 5, only_unreachable.stdout


def test_the_recap_sorts_hosts_naturally_and_uses_ssh_config_aliases(
    fleet: Fleet, tmp_path: Path
) -> None:
    write(tmp_path, "hosts.yaml", """\
        hosts:
          web10: {ssh_alias: host1}
          web2: {ssh_alias: host2}
          web1: {ssh_alias: host3}
        """)  # fmt: skip
    write(tmp_path, "name.yaml", 'tasks:\n  name: ["echo {{ host.name }}"]\n')
    done = fleet_run(fleet, ["name.yaml", "-i", "hosts.yaml"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    recap = done.stdout[done.stdout.index("recap") :].splitlines()
    assert [line.split()[0] for line in recap[2:5]] == ["web1", "web2", "web10"]
    assert "web10 |   web10" in done.stdout


def test_a_failure_threshold_stops_the_next_batches(fleet: Fleet, tmp_path: Path) -> None:
    mark = f"ran-{uuid.uuid4().hex[:8]}"
    write(tmp_path, "roll.yaml", f"""\
        tasks:
          roll:
            steps:
              - touch "$XDG_DATA_HOME/{mark}"
              - test "{{{{ host.name }}}}" != host1
        """)  # fmt: skip
    done = fleet_run(
        fleet,
        ["roll.yaml", "--hosts", "host[1:3]", "--serial", "1", "--max-fail-percentage", "0",
         "--timestamps", "--log", "roll.log"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 6, done.stdout + done.stderr
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d host1 \| ▶ roll$", done.stdout, re.M)
    log = (tmp_path / "roll.log").read_text()
    assert re.search(r"^\S+ \S+ host1 \| ✗ ", log, re.M), log
    assert "roll.yaml on 3 host(s): 1 failed, 2 not run" in log
    assert "too many hosts failed" in done.stderr
    ran = [s.name for s in fleet.servers if (s.data / mark).exists()]
    assert ran == ["host1"]
    assert "1 failed, 2 not run" in done.stdout


def test_secrets_travel_on_stdin_and_are_masked(fleet: Fleet, tmp_path: Path) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    gate = tmp_path / "gate"
    write(tmp_path, "secret.yaml", f"""\
        secrets: [API_TOKEN]
        tasks:
          use:
            steps:
              - echo "token is $API_TOKEN"
              - touch {tmp_path}/waiting-{{{{ host.name }}}}
              - while [ ! -e {gate} ]; do sleep 0.05; done
        """)  # fmt: skip
    proc = start_fleet_run(
        fleet, ["secret.yaml", "--hosts", "host1,host2"], tmp_path, API_TOKEN=secret
    )
    try:
        assert wait_until(lambda: all((tmp_path / f"waiting-host{n}").exists() for n in (1, 2)), 60)
        seen = [pid for pid, line in processes_with("") if secret in line]
        assert not seen, "a secret is on a command line"
        gate.touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert secret not in out + err
    assert out.count("|   token is ***") == 2


def test_ctrl_c_stops_every_host_and_their_finally_runs(fleet: Fleet, tmp_path: Path) -> None:
    marker = f"devkit-fleet-{uuid.uuid4().hex[:8]}"
    write(tmp_path, "long.yaml", f"""\
        tasks:
          long:
            steps:
              - touch {tmp_path}/started-{{{{ host.name }}}}
              - sleep 300 && echo {marker}
            finally:
              - touch {tmp_path}/cleaned-{{{{ host.name }}}}
        """)  # fmt: skip
    proc = start_fleet_run(fleet, ["long.yaml", "--hosts", "host1,host2"], tmp_path)
    try:
        assert wait_until(lambda: all((tmp_path / f"started-host{n}").exists() for n in (1, 2)), 60)
        assert wait_until(lambda: len(processes_with(marker)) >= 2, 10)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert all((tmp_path / f"cleaned-host{n}").exists() for n in (1, 2)), out + err
    assert not wait_gone(marker, 10)
    assert "2 interrupted" in out


def test_a_dropped_connection_stops_the_hosts_steps(fleet: Fleet, tmp_path: Path) -> None:
    marker = f"devkit-drop-{uuid.uuid4().hex[:8]}"
    write(tmp_path, "long.yaml", f"""\
        tasks:
          long:
            steps:
              - touch {tmp_path}/started
              - sleep 300 && echo {marker}
            finally:
              - touch {tmp_path}/cleaned
        """)  # fmt: skip
    proc = start_fleet_run(fleet, ["long.yaml", "--hosts", "host1"], tmp_path)
    assert wait_until(lambda: (tmp_path / "started").exists(), 60)
    assert wait_until(lambda: bool(processes_with(marker)), 10)
    os.kill(proc.pid, signal.SIGKILL)  # no goodbye: the guard drops the ssh connections
    proc.wait()
    assert wait_until(lambda: (tmp_path / "cleaned").exists(), 30)
    assert not wait_gone(marker, 10)


def test_a_changed_host_key_is_refused_and_nothing_runs(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fleet = start_fleet(tmp_path / "fleet", 1, controller_cache(tmp_path_factory))
    try:
        server = fleet.servers[0]
        server.stop()
        keygen(tmp_path / "impostor", "impostor")  # the same address, another key
        server.host_key = tmp_path / "impostor"
        server.start(tmp_path / "fleet" / "client" / "authorized_keys")
        write(tmp_path, "r.yaml", f"tasks:\n  t: [touch {tmp_path}/ran]\n")
        done = fleet_run(fleet, ["r.yaml", "--hosts", "host1"], tmp_path)
        assert done.returncode == 5, done.stdout + done.stderr
        assert "host key" in (done.stdout + done.stderr).lower()
        assert not (tmp_path / "ran").exists()
        accepting = fleet_run(
            fleet, ["r.yaml", "--hosts", "host1", "--accept-new-host-keys"], tmp_path
        )
        assert accepting.returncode == 5  # accept-new never accepts a changed key
    finally:
        fleet.stop()


def test_the_demo_recipe_runs_unchanged_on_the_fleet(fleet: Fleet, tmp_path: Path) -> None:
    demo = ROOT / "recipes" / "demo.yaml"
    done = fleet_run(fleet, [str(demo), "--hosts", "host[1:2]"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo.yaml on 2 host(s): 2 ok" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hosts", "a", "--inventory", "x.yaml"], "not both"),
        (["--hosts", "web[3:1]"], "ends before it starts"),
        (["--hosts", "a,b", "--limit", "c"], "host selection is empty"),
        (["--hosts", "a", "--serial", "0"], "invalid --serial"),
        (["--hosts", "a", "--serial", "120%"], "invalid --serial"),
    ],
)
def test_bad_fleet_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    write(tmp_path, "r.yaml", "tasks:\n  t: [echo hi]\n")
    done = run_devkit(["run", "r.yaml", *args], cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr


def test_check_with_hosts_validates_every_host_without_connecting(tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", """\
        groups:
          web:
            hosts: ["web[1:2].invalid"]
            vars: {app_dir: /srv/app}
        hosts:
          db.invalid: {}
        """)  # fmt: skip
    write(tmp_path, "app.yaml", 'tasks:\n  show: ["ls {{ vars.app_dir }}"]\n')
    valid = run_devkit(["run", "app.yaml", "-i", "hosts.yaml", "--limit", "web", "--check"],
                       cwd=tmp_path)  # fmt: skip
    assert valid.returncode == 0, valid.stderr
    assert "valid for 2 host(s)" in valid.stdout
    invalid = run_devkit(["run", "app.yaml", "-i", "hosts.yaml", "--check"], cwd=tmp_path)
    assert invalid.returncode == 2
    assert "vars has no key 'app_dir'" in invalid.stderr
    assert "for host db.invalid" in invalid.stderr


def test_a_host_without_devkit_gets_it_during_the_run(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fleet = start_fleet(tmp_path / "fleet", 1, controller_cache(tmp_path_factory))
    try:
        write(tmp_path, "r.yaml", "tasks:\n  t: [echo fresh]\n")
        done = fleet_run(fleet, ["r.yaml", "--hosts", "host1"], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "installed devkit first" in done.stdout
        assert list((fleet.servers[0].data / "devkit" / "packs").glob("*/ready"))
    finally:
        fleet.stop()


def test_a_second_ctrl_c_cuts_the_connections_at_once(fleet: Fleet, tmp_path: Path) -> None:
    write(tmp_path, "slow.yaml", f"""\
        tasks:
          slow:
            steps:
              - touch {tmp_path}/started
              - sleep 300
            finally:
              - touch {tmp_path}/cleaning
              - sleep 8
              - touch {tmp_path}/cleaned
        """)  # fmt: skip
    proc = start_fleet_run(fleet, ["slow.yaml", "--hosts", "host1"], tmp_path)
    try:
        assert wait_until(lambda: (tmp_path / "started").exists(), 60)
        os.kill(proc.pid, signal.SIGTERM)
        assert wait_until(lambda: (tmp_path / "cleaning").exists(), 30)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=6)  # well before the host's cleanup ends
    finally:
        proc.kill()
    assert proc.returncode == 143, out + err  # the first signal decides the exit code
    assert not (tmp_path / "cleaned").exists()
    # The host's devkit still finishes its cleanup on its own.
    assert wait_until(lambda: (tmp_path / "cleaned").exists(), 30)


@pytest.fixture
def account(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An unprivileged account to log in as (root is the only one who can make it):
    its home in a folder it can enter, unlocked for key logins (`UsePAM no` refuses a
    locked one)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to make an account")
    name = f"dkf{uuid.uuid4().hex[:8]}"
    home = Path(tempfile.mkdtemp(prefix="devkit-fleet-home-"))
    home.chmod(0o755)
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    try:
        subprocess.run(["usermod", "-p", "*", name], check=True)
        user = pwd.getpwnam(name)
        os.chown(home, user.pw_uid, user.pw_gid)
        yield name, home
    finally:
        subprocess.run(["userdel", name], check=False)
        shutil.rmtree(home, ignore_errors=True)


def test_a_host_account_without_privileges(
    account: tuple[str, Path], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Root hides permission bugs: here the host's side (the pack, the run folder, the
    steps) runs as an ordinary user in its own home."""
    name, home = account
    user = pwd.getpwnam(name)
    fleet = start_fleet(tmp_path / "fleet", 1, controller_cache(tmp_path_factory))
    try:
        server = fleet.servers[0]
        server.stop()
        server.home = home
        keys = home / ".ssh" / "authorized_keys"
        keys.parent.mkdir()
        shutil.copy(fleet.root / "client" / "authorized_keys", keys)
        for path in (keys.parent, keys):
            os.chown(path, user.pw_uid, user.pw_gid)
        server.start(keys)
        write(tmp_path, "hosts.yaml", f"hosts:\n  host1: {{user: {name}}}\n")
        write(tmp_path, "who.yaml", """\
            tasks:
              who:
                steps:
                  - echo "uid=$(id -u) in $PWD"
                  - echo data > made-here
            """)  # fmt: skip
        done = fleet_run(fleet, ["who.yaml", "-i", "hosts.yaml"], tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"uid={user.pw_uid} in {server.cache}/devkit/runs/" in done.stdout
        (made,) = (server.cache / "devkit" / "runs").glob("*/made-here")
        assert made.stat().st_uid == user.pw_uid
        assert made.parent.stat().st_mode & 0o077 == 0  # the run folder is private
        (pack,) = (server.data / "devkit" / "packs").glob("*/ready")
        assert pack.stat().st_uid == user.pw_uid
    finally:
        fleet.stop()
