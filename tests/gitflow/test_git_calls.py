"""How many git processes `devkit stage` and `devkit commit` start, counted by a
logging `git` wrapper first on PATH: each one costs a fork and exec, and on Windows
or a loaded machine much more. The counts are what the README's speed claim rests on.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.gitrepos import commit, git, write


@pytest.fixture
def logged(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A repository and an environment whose `git` logs its arguments to a file."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    commit(repo, "base", {"a.txt": "a\n"})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "git.log"
    real = shutil.which("git")
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GITLOG": str(log)}
    return repo, env


def calls(env: dict[str, str]) -> list[str]:
    log = Path(env["GITLOG"])
    found = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return found


def test_stage_and_commit_start_few_git_processes(logged: tuple[Path, dict[str, str]]) -> None:
    repo, env = logged
    write(repo, "a.txt", "changed\n")
    write(repo, "new.txt", "new\n")
    assert run_devkit(["stage", "--all"], cwd=repo, env=env).returncode == 0
    staged = calls(env)
    assert staged.count("version") == 1
    assert staged == ["version", "rev-parse", "diff", "add", "diff"]
    done = run_devkit(["commit", "-m", "both"], cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    # Conflicts and "anything staged?" come from one index diff; the branch from HEAD.
    assert calls(env) == ["version", "rev-parse", "diff", "config", "commit", "log"]
    assert git(repo, "log", "-1", "--format=%s").strip() == "both"


def test_commit_on_an_unborn_branch_and_nothing_staged(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "trunk", str(repo))
    write(repo, "a.txt", "a\n")
    nothing = run_devkit(["commit", "-m", "first"], cwd=repo)
    assert nothing.returncode == 1 and "nothing is staged" in nothing.stderr
    git(repo, "add", "a.txt")
    done = run_devkit(["commit", "-m", "first", "--json"], cwd=repo)
    assert done.returncode == 0, done.stderr
    assert '"branch": "trunk"' in done.stdout
    assert git(repo, "log", "--format=%s").strip() == "first"


def test_the_process_trace_names_every_git_child(logged: tuple[Path, dict[str, str]]) -> None:
    """DEVKIT_TRACE_PROCESSES (what bench/gitflow.py --trace reads): a line per child."""
    repo, env = logged
    write(repo, "a.txt", "traced\n")
    trace = repo.parent / "trace.tsv"
    done = run_devkit(
        ["stage", "--all"], cwd=repo, env={**env, "DEVKIT_TRACE_PROCESSES": str(trace)}
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in trace.read_text().splitlines()]
    assert [row[4].split()[1] for row in rows] == calls(env)
    assert all(row[0] == rows[0][0] and float(row[3]) >= 0 for row in rows)
