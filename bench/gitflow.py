"""devkit's git flows against the raw git sequences they replace, in the same run.

1. A fixed-seed repository of ~20,000 files: `devkit stage --all` + `devkit commit`
   against `git add -A` + `git commit` (each round changes 100 files, adds 20).
2. The same repository, 50 commits behind its remote: `devkit sync --mode rebase`
   against `git pull --rebase && git push`.
3. 20 small repositories, each one commit ahead and one behind, whose remotes are
   reached over "ssh" through a GIT_SSH_COMMAND wrapper that sleeps 200 ms per
   connection before running the local git command: `devkit sync -j 8` against a
   sequential shell loop of `git pull --rebase && git push`.

Targets: single-repo commands add at most 150 ms over raw git; the parallel sync is at
least 4x faster than the loop. Prints medians (ms) and ratios; exits 1 if a target is
missed. Takes a few minutes. Usage: python bench/gitflow.py [--rounds N] [--baseline DIR]
[--trace FILE] (--baseline: another checkout, e.g. `git worktree add /tmp/main main`,
timed in the same run, taking turns with this one, so a before/after comparison shares
the machine's load; --trace: every git child of every timed devkit run, with its
duration, and each timed command's own line, to see where the time goes).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = 20_000
DIRS = 200
BEHIND = 50
REPOS = 20
LATENCY = 0.2

SSH_WRAPPER = f"""#!/bin/sh
# Pretend to be ssh across a network: wait, then run the remote command locally.
sleep {LATENCY}
for last; do :; done
exec sh -c "$last"
"""


def run(cmd: list[str] | str, cwd: Path, env: dict[str, str], shell: bool = False) -> None:
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        shell=shell,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark step failed: {cmd!r} in {cwd}\n{done.stdout}{done.stderr}")


def shell(script: str, *, cwd: Path, env: dict[str, str]) -> float:
    """Milliseconds to run a shell script."""
    start = time.perf_counter()
    run(script, cwd, env, shell=True)
    return (time.perf_counter() - start) * 1000


def sequence(*commands: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Milliseconds to run the commands one after the other."""
    start = time.perf_counter()
    for command in commands:
        began = time.monotonic()
        run(command, cwd, env)
        note_in_trace(env, began, command)
    return (time.perf_counter() - start) * 1000


def note_in_trace(env: dict[str, str], began: float, command: list[str]) -> None:
    """With --trace, the command's own line in the trace file next to the lines its
    children wrote (same clock, CLOCK_MONOTONIC), so time outside git shows."""
    trace = env.get("DEVKIT_TRACE_PROCESSES")
    if trace:
        took = (time.monotonic() - began) * 1000
        with open(trace, "a") as log:
            log.write(f"bench\t-\t{began:.4f}\t{took:.1f}\t{' '.join(command)}\n")


def git(cwd: Path, env: dict[str, str], *args: str) -> None:
    run(["git", *args], cwd, env)


def make_env(root: Path) -> dict[str, str]:
    config = root / "gitconfig"
    config.write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
        "[commit]\n\tgpgsign = false\n"
        "[advice]\n\tdetachedHead = false\n"
    )
    env = dict(os.environ)
    # Installed packages come with compiled bytecode; without it every run would
    # compile devkit (and Typer) afresh, which no user pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        HOME=str(root),
        GIT_CONFIG_GLOBAL=str(config),
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_SSH_COMMAND", "GIT_SSH"):
        env.pop(name, None)
    return env


def big_repository(root: Path, env: dict[str, str]) -> Path:
    """~20,000 files of seeded random text, committed once."""
    rng = random.Random(20_000)
    repo = root / "big"
    words = [f"w{n}" for n in range(500)]
    for index in range(FILES):
        target = repo / f"d{index % DIRS:03d}" / f"f{index:05d}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(" ".join(rng.choice(words) for _ in range(30)) + "\n")
    git(root, env, "init", "-q", "-b", "main", str(repo))
    git(repo, env, "add", "-A")
    git(repo, env, "commit", "-q", "-m", "initial")
    return repo


def change_files(repo: Path, round_no: int, tag: str) -> None:
    rng = random.Random(round_no)
    for index in rng.sample(range(FILES), 100):
        target = repo / f"d{index % DIRS:03d}" / f"f{index:05d}.txt"
        with target.open("a") as handle:
            handle.write(f"{tag} round {round_no}\n")
    for extra in range(20):
        (repo / f"new-{tag}-{round_no}-{extra}.txt").write_text(f"new {extra}\n")


Times = dict[str, list[float]]  # variant ("devkit", "baseline", "git") -> ms per round


CASES = ("stage", "commit", "both")


def bench_stage_commit(
    root: Path, env: dict[str, str], devkits: dict[str, list[str]], rounds: int
) -> dict[str, Times]:
    """Per case (stage, commit, both): milliseconds per round of each variant, the
    variants taking turns within a round so that load changes hit them alike."""
    repo = big_repository(root, env)
    git(repo, env, "status", "--porcelain")  # warm the index stat cache
    raw = {"git": (["git", "add", "-A"], ["git", "commit", "-q", "-m"])}
    tools = {
        **{
            name: ([*cmd, "stage", "--all"], [*cmd, "commit", "-m"])
            for name, cmd in devkits.items()
        },
        **raw,
    }
    times: dict[str, Times] = {case: {name: [] for name in tools} for case in CASES}
    for round_no in range(rounds):
        for offset, (name, (stage_cmd, commit_cmd)) in enumerate(tools.items()):
            change_files(repo, round_no + 1000 * offset, name)
            stage = sequence(stage_cmd, cwd=repo, env=env)
            done = sequence([*commit_cmd, f"{name} {round_no}"], cwd=repo, env=env)
            times["stage"][name].append(stage)
            times["commit"][name].append(done)
            times["both"][name].append(stage + done)
    return times


def bench_sync_behind(
    root: Path, env: dict[str, str], devkits: dict[str, list[str]], rounds: int
) -> Times:
    repo = root / "big"
    bare = root / "big.git"
    git(root, env, "clone", "-q", "--bare", str(repo), str(bare))
    clones = {}
    for name in ("colleague", "git", *devkits):
        clones[name] = root / f"behind-{name}"
        git(root, env, "clone", "-q", str(bare), str(clones[name]))
    times: Times = {name: [] for name in ("git", *devkits)}
    colleague = clones["colleague"]
    for round_no in range(rounds):
        for n in range(BEHIND):
            index = (round_no * BEHIND + n) * 37 % FILES
            target = colleague / f"d{index % DIRS:03d}" / f"f{index:05d}.txt"
            with target.open("a") as handle:
                handle.write(f"colleague {round_no}.{n}\n")
            git(colleague, env, "commit", "-q", "-am", f"colleague {round_no}.{n}")
        git(colleague, env, "push", "-q", "origin", "main")
        for name, cmd in devkits.items():
            times[name].append(
                sequence([*cmd, "sync", "--mode", "rebase"], cwd=clones[name], env=env)
            )
        script = "git pull -q --rebase && git push -q"
        times["git"].append(shell(script, cwd=clones["git"], env=env))
    return times


def bench_parallel(
    root: Path, env: dict[str, str], devkits: dict[str, list[str]], rounds: int
) -> Times:
    wrapper = root / "slow-ssh"
    wrapper.write_text(SSH_WRAPPER)
    wrapper.chmod(0o755)
    ssh_env = dict(env, GIT_SSH_COMMAND=str(wrapper), GIT_SSH_VARIANT="simple")
    sets: dict[str, list[tuple[Path, Path]]] = {}
    for kind in ("git", *devkits):
        sets[kind] = []
        for index in range(REPOS):
            base = root / f"parallel-{kind}" / f"r{index:02d}"
            seed = base / "seed"
            git(root, env, "init", "-q", "-b", "main", str(seed))
            (seed / "README.md").write_text(f"repo {index}\n")
            git(seed, env, "add", "-A")
            git(seed, env, "commit", "-q", "-m", "initial")
            bare = base / "remote.git"
            git(root, env, "clone", "-q", "--bare", str(seed), str(bare))
            git(seed, env, "remote", "add", "origin", str(bare))
            git(seed, env, "fetch", "-q", "origin")
            git(seed, env, "branch", "-q", "--set-upstream-to=origin/main")
            mine = base / "mine"
            git(root, env, "clone", "-q", str(bare), str(mine))
            git(mine, env, "remote", "set-url", "origin", f"ssh://benchhost{bare}")
            sets[kind].append((seed, mine))

    def diverge(kind: str, round_no: int) -> None:
        for seed, mine in sets[kind]:
            git(seed, env, "pull", "-q", "--rebase")
            (seed / f"theirs-{round_no}.txt").write_text("theirs\n")
            git(seed, env, "add", "-A")
            git(seed, env, "commit", "-q", "-m", f"theirs {round_no}")
            git(seed, env, "push", "-q", "origin", "main")
            (mine / f"mine-{round_no}.txt").write_text("mine\n")
            git(mine, env, "add", "-A")
            git(mine, env, "commit", "-q", "-m", f"mine {round_no}")

    loop = (
        "for r in "
        + " ".join(str(m) for _, m in sets["git"])
        + ('; do (cd "$r" && git pull -q --rebase && git push -q) || exit 1; done')
    )
    times: Times = {name: [] for name in ("git", *devkits)}
    for round_no in range(rounds):
        for name, cmd in devkits.items():
            diverge(name, round_no)
            repos = [str(m) for _, m in sets[name]]
            command = [*cmd, "sync", "--mode", "rebase", "-j", "8", *repos]
            times[name].append(sequence(command, cwd=root, env=ssh_env))
        diverge("git", round_no)
        times["git"].append(shell(loop, cwd=root, env=ssh_env))
    return times


def devkit_command(source: Path) -> list[str]:
    """`python -m devkit` running the devkit of the checkout at `source`."""
    return ["env", f"PYTHONPATH={source}", sys.executable, "-m", "devkit"]


def report(rows: list[tuple[str, Times, str, float]], baseline: bool) -> int:
    """Print the table; the number of missed targets (for this checkout's devkit)."""
    extra = f" {'baseline':>9}" if baseline else ""
    print(
        f"{'case':<38} {'devkit ms':>10}{extra} {'git ms':>8} {'delta ms':>9} {'ratio':>6}  target"
    )
    missed = 0
    for label, times, kind, target in rows:
        a, b = statistics.median(times["devkit"]), statistics.median(times["git"])
        if kind == "over":
            ok, goal, ratio = a - b <= target, f"<= +{target:.0f} ms", a / b
        else:
            ok, goal, ratio = b / a >= target, f">= {target:.0f}x faster", b / a
        missed += not ok
        base = f" {statistics.median(times['baseline']):>9.0f}" if baseline else ""
        flag = "" if ok else "  MISSED"
        print(f"{label:<38} {a:>10.0f}{base} {b:>8.0f} {a - b:>+9.0f} {ratio:>6.2f}  {goal}{flag}")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only", choices=["local", "parallel"], help="run only the 20k-file or the 20-repo part"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another devkit checkout (say, main's) to time in the same run, taking turns",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        help="append every git child devkit starts (argv, start, ms) and every timed "
        "command to this file (DEVKIT_TRACE_PROCESSES)",
    )
    args = parser.parse_args()
    devkits = {"devkit": devkit_command(Path(__file__).resolve().parent.parent)}
    if args.baseline:
        devkits["baseline"] = devkit_command(args.baseline.resolve())
    root = Path(tempfile.mkdtemp(prefix="devkit-bench-"))
    try:
        env = make_env(root)
        if args.trace:
            env["DEVKIT_TRACE_PROCESSES"] = str(args.trace.resolve())
        started = time.perf_counter()
        rows: list[tuple[str, Times, str, float]] = []
        if args.only != "parallel":
            local = bench_stage_commit(root, env, devkits, args.rounds)
            rows.append(("stage --all (20k files)", local["stage"], "over", 150.0))
            rows.append(("commit (20k files)", local["commit"], "over", 150.0))
            rows.append(("stage --all + commit (20k files)", local["both"], "over", 300.0))
            behind = bench_sync_behind(root, env, devkits, args.rounds)
            rows.append((f"sync, {BEHIND} commits behind (20k files)", behind, "over", 150.0))
        if args.only != "local":
            parallel = bench_parallel(root, env, devkits, max(3, args.rounds // 2))
            rows.append((f"sync -j 8, {REPOS} repos, 200 ms/conn", parallel, "speedup", 4.0))
        missed = report(rows, baseline=bool(args.baseline))
        print(
            f"(medians of {args.rounds}/{args.rounds}/{max(3, args.rounds // 2)} rounds; "
            f"ratio = devkit/git for single-repo rows, git/devkit for the parallel row; "
            f"total {time.perf_counter() - started:.0f} s)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
