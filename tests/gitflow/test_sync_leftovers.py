"""What a killed devkit leaves behind (scratch worktrees, temporary index copies, git's
index.lock) is tidied by the next run that holds the repository lock, and never while
another devkit works there. Real processes and signals, asserted with git and the
standard library."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.gitflow.holdgit import HeldRun, start_held, state
from tests.gitflow.scenarios import build_templates, copy_scenario
from tests.gitrepos import assert_unchanged, fingerprint, git


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_templates(tmp_path_factory)


def _killed_at(
    runs: list[HeldRun], clone: Path, tmp_path: Path, hold: str, arg: str | None, *args: str
) -> None:
    run = start_held(
        ["sync", "--json", "--mode", "rebase", *args, str(clone)],
        root=tmp_path,
        hold=hold,
        hold_arg=arg,
    )
    runs.append(run)
    run.wait_held()
    time.sleep(0.2)  # see test_sync_signals: the guard learns of the child just after it
    run.signal(signal.SIGKILL)
    run.finish(timeout=30)
    assert run.leftovers() == []


def _worktrees(clone: Path) -> list[str]:
    listing = git(clone, "worktree", "list", "--porcelain")
    return [line for line in listing.splitlines() if line.startswith("worktree ")]


@pytest.mark.parametrize(
    ("hold", "arg", "leftover"),
    # A merge runs in a scratch worktree (a rebase is replayed from objects alone).
    [("merge", None, "scratch worktree"), ("add", "-u", "index copy")],
    ids=["scratch-worktree", "index-copy"],
)
def test_the_next_sync_removes_what_a_killed_sync_left(
    templates: dict[str, Path],
    tmp_path: Path,
    runs: list[HeldRun],
    hold: str,
    arg: str | None,
    leftover: str,
) -> None:
    clone, _ = copy_scenario(templates["plain"], tmp_path)
    _killed_at(runs, clone, tmp_path, hold, arg, "--mode", "merge")
    git_dir = clone / ".git"
    if leftover == "scratch worktree":
        assert len(_worktrees(clone)) == 2 and list((git_dir / "devkit").glob("sync-*"))
    else:
        assert list(git_dir.glob("devkit-index-*"))
    again = run_devkit(["sync", "--json", "--mode", "rebase", str(clone)])
    assert again.returncode == 0, again.stdout
    assert "interrupted devkit left" in again.stdout
    assert _worktrees(clone) == [f"worktree {clone}"]
    assert not list((git_dir / "devkit").glob("sync-*"))
    assert not (git_dir / "worktrees").exists()
    assert not list(git_dir.glob("devkit-index-*"))


def test_a_stale_index_lock_is_named_with_its_age_and_nothing_changes(
    templates: dict[str, Path], tmp_path: Path
) -> None:
    clone, _ = copy_scenario(templates["plain"], tmp_path)
    lock = clone / ".git" / "index.lock"
    lock.write_bytes(b"")
    an_hour_ago = time.time() - 3600
    os.utime(lock, (an_hour_ago, an_hour_ago))
    before = fingerprint(clone)
    result = run_devkit(["sync", "--json", "--mode", "rebase", str(clone)])
    assert result.returncode == 1
    error = json.loads(result.stdout)["errors"][0]
    assert error["code"] == "index_locked"
    assert ".git/index.lock" in error["message"] and "60 min ago" in error["message"]
    assert "rm .git/index.lock" in error["hint"] and "stash" not in error["hint"]
    assert_unchanged(before, clone)
    assert lock.exists()  # maybe a git at work: devkit cannot know, and leaves it


def test_a_running_sync_keeps_its_scratch_worktree_while_another_is_refused(
    templates: dict[str, Path], tmp_path: Path, runs: list[HeldRun]
) -> None:
    clone, _ = copy_scenario(templates["plain"], tmp_path)
    first = start_held(
        ["sync", "--json", "--mode", "merge", str(clone)], root=tmp_path, hold="merge"
    )
    runs.append(first)
    first.wait_held()
    second = run_devkit(
        ["sync", "--json", "--mode", "rebase", str(clone)], env={"DEVKIT_LOCK_WAIT": "0.2"}
    )
    assert second.returncode == 1
    assert json.loads(second.stdout)["errors"][0]["code"] == "locked"
    assert len(_worktrees(clone)) == 2  # the first sync's scratch worktree is untouched
    first.release()
    out, err = first.finish(timeout=60)
    assert first.process.returncode == 0, (out, err)
    assert _worktrees(clone) == [f"worktree {clone}"]


def test_undo_removes_the_index_lock_a_killed_move_left(
    templates: dict[str, Path], tmp_path: Path, runs: list[HeldRun]
) -> None:
    clone, _ = copy_scenario(templates["overlap"], tmp_path)
    keys = ("head", "branches", "index", "files")
    before = {key: value for key, value in state(clone).items() if key in keys}
    _killed_at(runs, clone, tmp_path, "read-tree", "-m", "--autostash")
    # What a git SIGKILLed while writing the index leaves (the guard's SIGTERM usually
    # lets git remove it; its SIGKILL a second later does not).
    (clone / ".git" / "index.lock").write_bytes(b"")
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, undo.stdout
    assert not (clone / ".git" / "index.lock").exists()
    assert {key: value for key, value in state(clone).items() if key in keys} == before
