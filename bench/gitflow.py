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
missed. Takes a few minutes. Usage: python bench/gitflow.py [--rounds N]
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
        run(command, cwd, env)
    return (time.perf_counter() - start) * 1000


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
    # The devkit of this checkout, whichever is installed.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent), *filter(None, [env.get("PYTHONPATH")])]
    )
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


def bench_stage_commit(
    root: Path, env: dict[str, str], devkit: list[str], rounds: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Per round: (devkit, git) milliseconds of staging, of committing, of both."""
    repo = big_repository(root, env)
    git(repo, env, "status", "--porcelain")  # warm the index stat cache
    times: dict[str, tuple[list[float], list[float]]] = {
        "stage": ([], []),
        "commit": ([], []),
        "both": ([], []),
    }
    for round_no in range(rounds):
        for side, tag, offset in ((0, "devkit", 0), (1, "git", 1000)):
            change_files(repo, round_no + offset, tag)
            if side == 0:
                stage = sequence([*devkit, "stage", "--all"], cwd=repo, env=env)
                done = sequence([*devkit, "commit", "-m", f"{tag} {round_no}"], cwd=repo, env=env)
            else:
                stage = sequence(["git", "add", "-A"], cwd=repo, env=env)
                done = sequence(
                    ["git", "commit", "-q", "-m", f"{tag} {round_no}"], cwd=repo, env=env
                )
            times["stage"][side].append(stage)
            times["commit"][side].append(done)
            times["both"][side].append(stage + done)
    return times


def bench_sync_behind(
    root: Path, env: dict[str, str], devkit: list[str], rounds: int
) -> tuple[list[float], list[float]]:
    repo = root / "big"
    bare = root / "big.git"
    git(root, env, "clone", "-q", "--bare", str(repo), str(bare))
    clones = {}
    for name in ("colleague", "with-devkit", "with-git"):
        clones[name] = root / name
        git(root, env, "clone", "-q", str(bare), str(clones[name]))
    ours: list[float] = []
    raw: list[float] = []
    colleague = clones["colleague"]
    for round_no in range(rounds):
        for n in range(BEHIND):
            index = (round_no * BEHIND + n) * 37 % FILES
            target = colleague / f"d{index % DIRS:03d}" / f"f{index:05d}.txt"
            with target.open("a") as handle:
                handle.write(f"colleague {round_no}.{n}\n")
            git(colleague, env, "commit", "-q", "-am", f"colleague {round_no}.{n}")
        git(colleague, env, "push", "-q", "origin", "main")
        ours.append(
            sequence([*devkit, "sync", "--mode", "rebase"], cwd=clones["with-devkit"], env=env)
        )
        raw.append(shell("git pull -q --rebase && git push -q", cwd=clones["with-git"], env=env))
    return ours, raw


def bench_parallel(
    root: Path, env: dict[str, str], devkit: list[str], rounds: int
) -> tuple[list[float], list[float]]:
    wrapper = root / "slow-ssh"
    wrapper.write_text(SSH_WRAPPER)
    wrapper.chmod(0o755)
    ssh_env = dict(env, GIT_SSH_COMMAND=str(wrapper), GIT_SSH_VARIANT="simple")
    sets: dict[str, list[tuple[Path, Path]]] = {}
    for kind in ("devkit", "git"):
        sets[kind] = []
        for index in range(REPOS):
            base = root / kind / f"r{index:02d}"
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
    ours: list[float] = []
    raw: list[float] = []
    for round_no in range(rounds):
        diverge("devkit", round_no)
        repos = [str(m) for _, m in sets["devkit"]]
        command = [*devkit, "sync", "--mode", "rebase", "-j", "8", *repos]
        ours.append(sequence(command, cwd=root, env=ssh_env))
        diverge("git", round_no)
        raw.append(shell(loop, cwd=root, env=ssh_env))
    return ours, raw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only", choices=["local", "parallel"], help="run only the 20k-file or the 20-repo part"
    )
    args = parser.parse_args()
    devkit = [sys.executable, "-m", "devkit"]
    root = Path(tempfile.mkdtemp(prefix="devkit-bench-"))
    missed = 0
    try:
        env = make_env(root)
        started = time.perf_counter()
        rows = []
        if args.only != "parallel":
            local = bench_stage_commit(root, env, devkit, args.rounds)
            rows.append(("stage --all (20k files)", *local["stage"], "over", 150.0))
            rows.append(("commit (20k files)", *local["commit"], "over", 150.0))
            rows.append(("stage --all + commit (20k files)", *local["both"], "over", 300.0))
            ours, raw = bench_sync_behind(root, env, devkit, args.rounds)
            rows.append((f"sync, {BEHIND} commits behind (20k files)", ours, raw, "over", 150.0))
        if args.only != "local":
            ours, raw = bench_parallel(root, env, devkit, max(3, args.rounds // 2))
            rows.append((f"sync -j 8, {REPOS} repos, 200 ms/conn", ours, raw, "speedup", 4.0))
        print(f"{'case':<40} {'devkit ms':>10} {'git ms':>10} {'delta ms':>9} {'ratio':>6}  target")
        for label, ours, raw, kind, target in rows:
            a, b = statistics.median(ours), statistics.median(raw)
            if kind == "over":
                ok = a - b <= target
                goal = f"<= +{target:.0f} ms"
                ratio = a / b
            else:
                ok = b / a >= target
                goal = f">= {target:.0f}x faster"
                ratio = b / a
            missed += not ok
            flag = "" if ok else "  MISSED"
            print(f"{label:<40} {a:>10.0f} {b:>10.0f} {a - b:>+9.0f} {ratio:>6.2f}  {goal}{flag}")
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
