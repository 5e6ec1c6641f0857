"""devkit's fleet runs against ssh and Ansible on the same loopback hosts, in the same run.

Starts real sshd servers on 127.0.0.2, 127.0.0.3, ... (tests/fleet/sshd.py: one host
key each, key-only login, a dedicated known_hosts and ssh config), puts this devkit on
every host once (`devkit fleet install`, not timed), then times, taking turns, round
after round, on `--hosts` hosts (10):

- devkit: `devkit run RECIPE TASK --hosts 'host[1:N]' --forks N`, warm (the pack is on
  the hosts already), each run opening and closing its own ssh masters;
- a sequential loop of `ssh HOST CMD`, plain ssh, no multiplexing;
- a bare multiplexed fan-out: one `ssh -M -N -f` master per host in parallel, the
  command over each master in parallel, the masters closed: what devkit does, with
  nothing else, timed from nothing to all done;
- for reference, that fan-out running `devkit run` on each host from the pack there,
  the recipe already on the host: what a Python devkit on every host costs here, where
  all hosts share this machine's cores (no target);
- Ansible, `ansible all -i INVENTORY -m shell -a CMD -f N`, installed with pip into a
  throwaway venv in the bench's temporary folder (skipped with a note when it cannot be
  installed, or with --no-ansible), with the same ssh config and known_hosts, host keys
  checked; once with its defaults and once with pipelining on. Its masters persist after
  a run (ControlPersist=60s, its default): they are closed after the timer stops, each
  run starting from none, like the others.

Every ssh runs with devkit's options: BatchMode, a connect timeout, keep-alives,
StrictHostKeyChecking=yes. Two workloads, each host working in its own folder (its
XDG_DATA_HOME, set per host by its sshd; `{{ host.name }}` in the recipe):
- trivial: `echo hi`;
- real: sync a checkout (each host's clone of a local bare repository, which the bench
  advances by one commit before every timed run: devkit's `git: sync` in ff-only mode,
  `git pull --ff-only` for the others), then unpack a ~5 MB release (devkit's
  `extract:`, `tar -xzf` into a fresh folder moved into place for the others).

Then the peak RSS of each controller (wait4's ru_maxrss: the process and the children it
waited for, so devkit's own ssh masters count) running the trivial workload on each of
`--rss-hosts` (1, 5, 10, 20) hosts, all at once (forks = hosts).

Targets: devkit's warm run within 2x of the multiplexed fan-out and faster than Ansible
(the faster of its two variants), on both workloads; devkit's peak RSS on the most hosts
at most 1.5x the figure on the fewest. Prints medians and ratios, and the load (`uptime`)
before and after; exits 1 when a target is missed or devkit's rows cannot run. The
machine may be shared: run it more than once.

Usage: python bench/fleet.py [--hosts 10] [--rounds 5] [--rss-hosts 1,5,10,20]
       [--no-ansible]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fleet.sshd import Fleet, sshd_available, start_fleet  # noqa: E402

FANOUT_TARGET = 2.0  # devkit / multiplexed fan-out
RSS_TARGET = 1.5  # devkit's peak RSS, most hosts / fewest hosts
RUN_TIMEOUT = 600.0
FANOUT_NAME = "multiplexed ssh fan-out (masters, then cmd)"
HOSTS_DEVKIT_NAME = "  the same, each host running its devkit"
RELEASE_TOP = "release-1.0"
SSH_OPTIONS = (
    "-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15"
    " -o ServerAliveCountMax=3 -o StrictHostKeyChecking=yes"
)

# Plain ssh, one host after the other, as a shell loop does it.
SEQUENTIAL = f"""#!/bin/sh
cmd=$1; shift
rc=0
for host in "$@"; do
    ssh {SSH_OPTIONS} -o ControlMaster=no -o ControlPath=none "$host" "$cmd" || rc=1
done
exit $rc
"""

# One master per host in parallel, the command over each in parallel, masters closed.
FANOUT = f"""#!/bin/sh
cmd=$1; shift
dir=$(mktemp -d /tmp/fo-XXXXXX)
options="{SSH_OPTIONS} -o ControlPath=$dir/%C"
for host in "$@"; do
    ssh $options -M -N -f -o ControlPersist=no "$host" &
done
wait
pids=
for host in "$@"; do
    ssh $options -o ControlMaster=no "$host" "$cmd" &
    pids="$pids $!"
done
rc=0
for pid in $pids; do
    wait "$pid" || rc=1
done
for host in "$@"; do
    ssh $options -O exit "$host" 2>/dev/null &
done
wait
rm -rf "$dir"
exit $rc
"""

# `folder`: the host's own folder, as the controller's recipe names it (the host's name)
# or as a recipe run on the host itself finds it (its XDG_DATA_HOME).
RECIPE = """\
version: 1
tasks:
  trivial:
    steps:
      - run: echo hi
  real:
    steps:
      - git: sync
        repo: "{folder}/checkout"
        mode: ff-only
        push: false
      - extract: {archive}
        to: "{folder}/release"
        overwrite: true
"""


def shell_workloads(archive: Path) -> dict[str, str]:
    """What the comparators run on each host, workload by workload."""
    real = (
        'set -e; D="$XDG_DATA_HOME"; cd "$D/checkout"; git pull -q --ff-only;'
        ' rm -rf "$D/release.new"; mkdir -p "$D/release.new" "$D/release";'
        f' tar -xzf {shlex.quote(str(archive))} -C "$D/release.new";'
        f' rm -rf "$D/release/{RELEASE_TOP}"; mv "$D/release.new/{RELEASE_TOP}" "$D/release/"'
    )
    return {"trivial": "echo hi", "real": real}


WORKLOAD_TITLES = {
    "trivial": "trivial step (echo hi)",
    "real": "sync a checkout + unpack a ~5 MB release",
}


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mb: float
    status: int
    output: str
    cpu: float  # the controller's, user + system, the children it waited for included
    host_cpu: float = 0.0  # the hosts' sessions, summed (see HostClock)


class HostClock:
    """CPU time spent on the hosts: every host's sessions are children of its sshd
    listener, which reaps them, so the growth of the listeners' cutime + cstime is what
    a run cost the hosts. All hosts share this machine's cores, which a real fleet
    would not: this tells how much of a run's wall time is the hosts' share."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, fleet: Fleet) -> None:
        self.pids = [s.process.pid for s in fleet.servers if s.process is not None]

    def read(self) -> float:
        self._wait_reaped()
        total = 0
        for pid in self.pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
        return total / self.TICK

    def _wait_reaped(self) -> None:
        """Until the listeners have reaped every session (a session's sshd may still be
        on its way out when the controller is done)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if not any(self._children(pid) for pid in self.pids):
                return
            time.sleep(0.01)

    @staticmethod
    def _children(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/task/{pid}/children").read_text().strip()
        except OSError:
            return ""


def measure(argv: list[str], *, env: dict[str, str], cwd: Path) -> Sample:
    """One timed run: wall seconds, peak RSS (wait4), exit status, output (both streams)."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        watchdog = threading.Timer(RUN_TIMEOUT, os.killpg, (child.pid, signal.SIGKILL))
        watchdog.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    return Sample(seconds, usage.ru_maxrss / 1024, child.returncode, text, cpu)


@dataclass
class Contender:
    """One way of running a workload on the first `count` hosts."""

    name: str
    command: Callable[[str, int], list[str]]  # (workload, count) -> argv
    env: Callable[[], dict[str, str]]  # fresh per run
    after: Callable[[dict[str, str]], None] = lambda env: None  # untimed clean-up

    def run(self, workload: str, count: int, cwd: Path, clock: HostClock) -> Sample:
        env = self.env()
        before = clock.read()
        try:
            sample = measure(self.command(workload, count), env=env, cwd=cwd)
        finally:
            self.after(env)
        sample = dataclasses.replace(sample, host_cpu=clock.read() - before)
        if sample.status != 0:
            tail = "\n".join(sample.output.strip().splitlines()[-15:])
            raise SystemExit(
                f"{self.name} failed on {workload} with {count} host(s), exit {sample.status}:"
                f"\n{tail}"
            )
        return sample


@dataclass
class Bench:
    work: Path
    fleet: Fleet
    env: dict[str, str]  # the controller's
    devkit: list[str]
    archive: Path
    recipe: Path
    author: Path
    clock: HostClock
    notes: list[str] = field(default_factory=list)

    def names(self, count: int) -> list[str]:
        return [server.name for server in self.fleet.servers[:count]]

    def git(self, cwd: Path, *args: str) -> None:
        done = subprocess.run(["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")

    def advance_origin(self) -> None:
        """One more commit on the bare repository every host's checkout follows."""
        changes = self.author / "CHANGES.txt"
        with changes.open("a") as handle:
            handle.write(f"change {time.time_ns()}\n")
        self.git(self.author, "commit", "-q", "-am", "one more change")
        self.git(self.author, "push", "-q", "origin", "HEAD")

    def check_real_work(self, contender: str, count: int) -> None:
        """Every host's checkout is at the origin's newest commit and has the release:
        a contender that skipped the work would not be timed as if it had done it."""
        head = self.output(self.author, "rev-parse", "HEAD")
        for server in self.fleet.servers[:count]:
            at = self.output(server.data / "checkout", "rev-parse", "HEAD")
            release = server.data / "release" / RELEASE_TOP / "lib0" / "blob000.bin"
            if at != head or not release.is_file():
                raise SystemExit(f"{contender} left {server.name} without the update")

    def output(self, cwd: Path, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=cwd, env=self.env, capture_output=True, text=True)
        return done.stdout.strip()


def controller_env(work: Path, fleet: Fleet) -> dict[str, str]:
    home = work / "home"
    home.mkdir()
    config = work / "gitconfig"
    config.write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        "[commit]\n\tgpgsign = false\n"
    )
    env = dict(os.environ)
    # Users have bytecode caches; without them every run would compile devkit afresh.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "SSH_AUTH_SOCK"):
        env.pop(name, None)
    env.update(
        fleet.env(),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        GIT_CONFIG_GLOBAL=str(config),
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    return env


def make_release(work: Path) -> Path:
    """A ~5 MB tar.gz: mostly incompressible data, some text, one top folder."""
    rng = random.Random(5)
    top = work / "release" / RELEASE_TOP
    for index in range(120):
        folder = top / f"lib{index % 6}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"blob{index:03d}.bin").write_bytes(rng.randbytes(40_000))
        (folder / f"notes{index:03d}.txt").write_text(f"release note {index}\n" * 200)
    archive = work / "release.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(top, arcname=RELEASE_TOP)
    shutil.rmtree(work / "release")
    return archive


def make_checkouts(bench: Bench) -> None:
    """A bare origin, an author clone that advances it, and one clone per host."""
    origin = bench.work / "origin.git"
    bench.git(bench.work, "init", "-q", "--bare", "-b", "main", str(origin))
    bench.git(bench.work, "clone", "-q", str(origin), str(bench.author))
    (bench.author / "CHANGES.txt").write_text("start\n")
    bench.git(bench.author, "add", "CHANGES.txt")
    bench.git(bench.author, "commit", "-q", "-m", "start")
    bench.git(bench.author, "push", "-q", "origin", "HEAD")
    for server in bench.fleet.servers:
        server.data.mkdir(parents=True, exist_ok=True)
        bench.git(bench.work, "clone", "-q", str(origin), str(server.data / "checkout"))


def install_devkit(bench: Bench) -> None:
    count = len(bench.fleet.servers)
    done = subprocess.run(
        [*bench.devkit, "fleet", "install", "--hosts", f"host[1:{count}]", "--forks", "10"],
        cwd=bench.work,
        env=bench.env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise SystemExit(f"devkit fleet install failed:\n{done.stdout}{done.stderr}")


def devkit_command() -> list[str]:
    script = Path(sys.executable).parent / "devkit"
    return [str(script)] if script.exists() else [shutil.which("devkit") or "devkit"]


def devkit_has_fleet_runs(bench: Bench) -> bool:
    """Whether this devkit's `run` takes --hosts (the fleet controller)."""
    shown = subprocess.run(
        [*bench.devkit, "run", "--help"],
        env={**bench.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return "--hosts" in shown.stdout


def devkit_contender(bench: Bench) -> Contender:
    def command(workload: str, count: int) -> list[str]:
        return [*bench.devkit, "run", str(bench.recipe), workload,
                "--hosts", f"host[1:{count}]", "--forks", str(count)]  # fmt: skip

    return Contender("devkit run --hosts (warm)", command, lambda: dict(bench.env))


def ssh_contenders(bench: Bench) -> list[Contender]:
    workloads = shell_workloads(bench.archive)
    scripts = {"sequential": SEQUENTIAL, "fanout": FANOUT}
    for name, text in scripts.items():
        (bench.work / f"{name}.sh").write_text(text)

    def script(name: str, commands: dict[str, str]) -> Callable[[str, int], list[str]]:
        def command(workload: str, count: int) -> list[str]:
            path = str(bench.work / f"{name}.sh")
            return ["sh", path, commands[workload], *bench.names(count)]

        return command

    return [
        Contender("ssh loop (sequential, no multiplexing)", script("sequential", workloads),
                  lambda: dict(bench.env)),
        Contender(FANOUT_NAME, script("fanout", workloads), lambda: dict(bench.env)),
        Contender(HOSTS_DEVKIT_NAME, script("fanout", hosts_devkit_workloads(bench)),
                  lambda: dict(bench.env)),
    ]  # fmt: skip


def hosts_devkit_workloads(bench: Bench) -> dict[str, str]:
    """The fan-out's commands when each host runs the recipe with its own devkit (the
    pack `devkit fleet install` left there, its whole CLI), the recipe already in the
    host's folder: the share of a devkit run that starting Python devkits on the hosts
    takes, with no controller at all."""
    packs = sorted((bench.fleet.servers[0].data / "devkit" / "packs").glob("*/devkit-remote.py"))
    if len(packs) != 1:
        raise SystemExit(f"expected one devkit pack on host1, found {len(packs)}")
    pack = packs[0].parent.name
    text = RECIPE.format(folder="{{ env.XDG_DATA_HOME }}", archive=bench.archive)
    for server in bench.fleet.servers:
        (server.data / "bench.yaml").write_text(text)
    launcher = f'"$XDG_DATA_HOME/devkit/packs/{pack}/devkit-remote.py"'
    return {
        workload: f'python3 -I -S {launcher} run "$XDG_DATA_HOME/bench.yaml" {workload}'
        for workload in WORKLOAD_TITLES
    }


def install_ansible(bench: Bench) -> Path | None:
    """ansible-core in a throwaway venv, or None (with a note) when pip cannot get it."""
    venv = bench.work / "ansible-venv"
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
         "ansible-core"],
    ]  # fmt: skip
    for step in steps:
        try:
            done = subprocess.run(
                step, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            bench.notes.append("Ansible skipped: installing ansible-core took over 10 minutes")
            return None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            bench.notes.append(f"Ansible skipped: `{' '.join(step[-2:])}` failed: {last}")
            return None
    return venv / "bin" / "ansible"


def write_inventories(bench: Bench, counts: set[int]) -> None:
    for count in counts:
        lines = ["[all]"]
        for server in bench.fleet.servers[:count]:
            # Its temporary files on the "host" stay in the host's folder, not in ~.
            lines.append(f"{server.name} ansible_remote_tmp={server.folder / 'ansible-tmp'}")
        (bench.work / f"inventory-{count}.ini").write_text("\n".join(lines) + "\n")


def ansible_contenders(bench: Bench, ansible: Path, counts: set[int]) -> list[Contender]:
    write_inventories(bench, counts)
    workloads = shell_workloads(bench.archive)
    home = bench.work / "ansible-home"
    home.mkdir()
    real_ssh = shutil.which("ssh") or "ssh"

    def command(workload: str, count: int) -> list[str]:
        inventory = str(bench.work / f"inventory-{count}.ini")
        return [str(ansible), "all", "-i", inventory, "-m", "shell",
                "-a", workloads[workload], "-f", str(count)]  # fmt: skip

    def environment(pipelining: bool) -> Callable[[], dict[str, str]]:
        def make() -> dict[str, str]:
            env = dict(bench.env)
            # The plain ssh: the config comes from ANSIBLE_SSH_ARGS, as a user sets it.
            env["PATH"] = os.pathsep.join(
                p for p in env["PATH"].split(os.pathsep) if p != str(bench.fleet.bin)
            )
            env.update(
                ANSIBLE_HOME=str(home),
                ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
                # Ansible's own default ssh_args, with our config and known_hosts first.
                ANSIBLE_SSH_ARGS=f"-F {bench.fleet.ssh_config} -C -o ControlMaster=auto"
                " -o ControlPersist=60s",
                ANSIBLE_SSH_CONTROL_PATH_DIR=tempfile.mkdtemp(prefix="an-", dir="/tmp"),
                ANSIBLE_HOST_KEY_CHECKING="True",
                ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
                ANSIBLE_PIPELINING=str(pipelining),
                ANSIBLE_NOCOLOR="1",
                ANSIBLE_DEPRECATION_WARNINGS="False",
                LC_ALL="C.UTF-8",
            )
            return env

        return make

    def close_masters(env: dict[str, str]) -> None:
        folder = Path(env["ANSIBLE_SSH_CONTROL_PATH_DIR"])
        for socket in folder.iterdir():
            subprocess.run(
                [real_ssh, "-F", str(bench.fleet.ssh_config), "-o", f"ControlPath={socket}",
                 "-O", "exit", "unused"],
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)

    return [
        Contender("ansible -m shell (defaults)", command, environment(False), close_masters),
        Contender("ansible -m shell (pipelining on)", command, environment(True), close_masters),
    ]


Times = dict[str, dict[str, list[Sample]]]  # workload -> contender -> timed runs
Peaks = dict[str, dict[int, float]]  # contender -> hosts -> MB


def time_workloads(bench: Bench, contenders: list[Contender], count: int, rounds: int) -> Times:
    """Rounds in which the contenders take turns (the order rotating), after one
    untimed warm-up run each; the origin advances before every run of the real work."""
    times: Times = {w: {c.name: [] for c in contenders} for w in WORKLOAD_TITLES}
    for round_no in range(rounds + 1):
        shift = round_no % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            for workload in WORKLOAD_TITLES:
                if workload == "real":
                    bench.advance_origin()
                sample = contender.run(workload, count, bench.work, bench.clock)
                if workload == "real":
                    bench.check_real_work(contender.name, count)
                if round_no > 0:
                    times[workload][contender.name].append(sample)
    return times


def measure_rss(bench: Bench, contenders: list[Contender], counts: list[int]) -> Peaks:
    """Largest peak RSS (MB) of two runs of the trivial workload, per host count."""
    peaks: Peaks = {c.name: {} for c in contenders}
    for count in counts:
        for contender in contenders:
            runs = [contender.run("trivial", count, bench.work, bench.clock) for _ in range(2)]
            peaks[contender.name][count] = max(sample.rss_mb for sample in runs)
    return peaks


def uptime() -> str:
    done = subprocess.run(["uptime"], capture_output=True, text=True)
    return done.stdout.strip()


def report_times(times: Times, count: int, rounds: int, devkit: str | None) -> bool:
    legend = (
        "wall: seconds from start to all done. CPU here: the controller's user + system"
        " time, with the children it waited for (not the masters that `ssh -f` and Ansible"
        " leave behind). On hosts: CPU of the hosts' sessions, summed; all hosts share"
        f" this machine's {os.cpu_count()} cores, which a real fleet would not."
    )
    print("\n" + textwrap.fill(legend, width=92))
    ok = True
    fanout = FANOUT_NAME
    for workload, title in WORKLOAD_TITLES.items():
        medians = {
            n: statistics.median(s.seconds for s in runs) for n, runs in times[workload].items()
        }
        print(f"\n{title}, {count} hosts (medians of {rounds} rounds)")
        print(f"  {'':<46} {'wall':>8} {'/ fan-out':>10} {'CPU here':>9} {'on hosts':>9}")
        for name, seconds in medians.items():
            runs = times[workload][name]
            cpu = statistics.median(s.cpu for s in runs)
            host_cpu = statistics.median(s.host_cpu for s in runs)
            print(
                f"  {name:<46} {seconds:>7.2f}s {seconds / medians[fanout]:>9.2f}x"
                f" {cpu:>8.2f}s {host_cpu:>8.2f}s"
            )
        if devkit is None:
            continue
        ok = check_devkit(medians, devkit, fanout) and ok
    return ok


def check_devkit(medians: dict[str, float], devkit: str, fanout: str) -> bool:
    ratio = medians[devkit] / medians[fanout]
    slow = ratio > FANOUT_TARGET
    print(
        f"  {'devkit / fan-out':<46} {ratio:>7.2f}x {'<= ' + str(FANOUT_TARGET) + 'x':>10}"
        f"{'  MISSED' if slow else ''}"
    )
    ansibles = [seconds for name, seconds in medians.items() if name.startswith("ansible")]
    if not ansibles:
        return not slow
    versus = medians[devkit] / min(ansibles)
    behind = versus >= 1.0
    print(
        f"  {'devkit / fastest Ansible':<46} {versus:>7.2f}x {'< 1x':>10}"
        f"{'  MISSED' if behind else ''}"
    )
    return not slow and not behind


def report_rss(peaks: Peaks, counts: list[int], devkit: str | None) -> bool:
    print("\npeak RSS of the controller, MB (trivial step, forks = hosts; largest of 2 runs)")
    print(f"  {'hosts':<46}" + "".join(f"{count:>8}" for count in counts))
    for name, by_count in peaks.items():
        print(f"  {name:<46}" + "".join(f"{by_count[count]:>8.1f}" for count in counts))
    if devkit is None:
        return True
    ratio = peaks[devkit][counts[-1]] / peaks[devkit][counts[0]]
    big = ratio > RSS_TARGET
    print(
        f"  {f'devkit, {counts[-1]} hosts / {counts[0]} host(s)':<46} {ratio:>7.2f}x"
        f" {'<= ' + str(RSS_TARGET) + 'x':>10}{'  MISSED' if big else ''}"
    )
    return not big


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=10, help="hosts for the timed runs (10)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (5)")
    parser.add_argument(
        "--rss-hosts", default="1,5,10,20", help="host counts for peak RSS (1,5,10,20)"
    )
    parser.add_argument("--no-ansible", action="store_true", help="leave Ansible out")
    args = parser.parse_args(argv)
    try:
        args.rss_counts = sorted({int(n) for n in args.rss_hosts.split(",")})
    except ValueError:
        parser.error(f"--rss-hosts: comma-separated numbers, not {args.rss_hosts!r}")
    if args.hosts < 1 or args.rounds < 1 or args.rss_counts[0] < 1:
        parser.error("--hosts, --rounds and --rss-hosts need numbers of at least 1")
    if max(args.hosts, args.rss_counts[-1]) > 200:
        parser.error("at most 200 hosts (one loopback address each)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not sshd_available():
        print("bench/fleet.py needs OpenSSH's sshd and ssh (apt-get install openssh-server)")
        return 1
    work = Path(tempfile.mkdtemp(prefix="devkit-bench-fleet-"))
    fleet = None
    try:
        fleet = start_fleet(work / "fleet", max(args.hosts, args.rss_counts[-1]))
        return run(work, fleet, args)
    finally:
        if fleet is not None:
            fleet.stop()
        shutil.rmtree(work, ignore_errors=True)


def prepare(work: Path, fleet: Fleet) -> Bench:
    env = controller_env(work, fleet)
    archive = make_release(work)
    recipe = work / "fleet.yaml"
    hosts = fleet.root
    recipe.write_text(RECIPE.format(folder=f"{hosts}/{{{{ host.name }}}}/data", archive=archive))
    author = work / "author"
    bench = Bench(work, fleet, env, devkit_command(), archive, recipe, author, HostClock(fleet))
    make_checkouts(bench)
    install_devkit(bench)
    return bench


def run(work: Path, fleet: Fleet, args: argparse.Namespace) -> int:
    print(f"load before: {uptime()}")
    bench = prepare(work, fleet)
    contenders = ssh_contenders(bench)
    devkit: str | None = None
    if devkit_has_fleet_runs(bench):
        contenders.insert(0, devkit_contender(bench))
        devkit = contenders[0].name
    else:
        bench.notes.append(
            "devkit rows skipped: this devkit's `run` has no --hosts option (the fleet"
            " controller is not there yet)"
        )
    ansible = None if args.no_ansible else install_ansible(bench)
    if ansible is not None:
        contenders += ansible_contenders(bench, ansible, {args.hosts, *args.rss_counts})
    times = time_workloads(bench, contenders, args.hosts, args.rounds)
    # The hosts' devkit row runs the fan-out's script: no other controller to measure.
    controllers = [c for c in contenders if c.name != HOSTS_DEVKIT_NAME]
    peaks = measure_rss(bench, controllers, args.rss_counts)
    ok = report_times(times, args.hosts, args.rounds, devkit)
    ok = report_rss(peaks, args.rss_counts, devkit) and ok
    for note in bench.notes:
        print(f"note: {note}")
    print(f"load after: {uptime()}")
    return 0 if ok and devkit is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
