"""`-C PATH` on every git command: devkit acts as if started in PATH (like `git -C`),
run as a real process from an unrelated folder; and usage errors point at the right help."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clirun import run_devkit
from tests.gitrepos import git, head, make_remote, push_from, write


def test_every_git_command_takes_dash_c(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    remote = make_remote(tmp_path / "r")
    repo = remote.clone("work")

    created = run_devkit(["init", "-C", str(tmp_path), "fresh", "--no-commit"], cwd=elsewhere)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "fresh" / ".git").is_dir()
    assert not (elsewhere / "fresh").exists()

    write(repo, "sub/new.txt", "new\n")
    staged = run_devkit(["stage", "-C", str(repo / "sub"), "new.txt"], cwd=elsewhere)
    assert staged.returncode == 0, staged.stderr
    assert git(repo, "diff", "--cached", "--name-only").strip() == "sub/new.txt"

    committed = run_devkit(["commit", "-C", str(repo), "-m", "add new"], cwd=elsewhere)
    assert committed.returncode == 0, committed.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "add new"

    theirs = push_from(remote, "colleague", "theirs", {"other.txt": "x\n"})
    predicted = run_devkit(["conflicts", "-C", str(repo), "--json"], cwd=elsewhere)
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)["data"]["incoming"]["sha"].startswith(theirs[:7])

    synced = run_devkit(
        ["sync", "-C", str(tmp_path / "r"), "work", "--mode", "rebase"], cwd=elsewhere
    )
    assert synced.returncode == 0, synced.stdout + synced.stderr
    git(repo, "merge-base", "--is-ancestor", theirs, "HEAD")  # raises if not synced
    assert head(repo) == remote.remote_head()

    undone = run_devkit(["undo", "-C", str(repo)], cwd=elsewhere)
    assert undone.returncode == 0, undone.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "add new"


def test_a_usage_error_points_at_the_commands_own_help(tmp_path: Path) -> None:
    result = run_devkit(["sync", "--no-such-option"], cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("(hint: see 'devkit sync --help')"), lines
    unknown = run_devkit(["frobnicate"], cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip().endswith("(hint: see 'devkit --help')")


def test_yes_has_a_short_form(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text(
        "tasks:\n  t:\n    confirm: Really?\n    steps: [touch done.txt]\n"
    )
    result = run_devkit(["run", "-y"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "done.txt").exists()
