"""Each phase of a sync on its own: given the values the earlier phases return, it
returns its value (or stops), asserted with the git binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.gitflow.gitcmd import GitRepo, open_repo
from devkit.gitflow.snapshot import record_snapshot
from devkit.gitflow.sync.model import Position, SyncLog, SyncOptions, SyncStopped, Taken
from devkit.gitflow.sync.move import integrate, move, roll_back, snapshot, verify
from devkit.gitflow.sync.plan import predict
from devkit.gitflow.sync.state import check, classify, fetch
from tests.gitrepos import (
    Remote,
    assert_unchanged,
    commit,
    fingerprint,
    git,
    head,
    push_from,
    write,
)

REBASE = SyncOptions(mode="rebase", push=True, autostash=False, dry_run=False)


def diverged(remote: Remote) -> tuple[Path, GitRepo, str]:
    clone = remote.clone("me")
    theirs = push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    return clone, open_repo(clone), theirs


def position_of(g: GitRepo, options: SyncOptions = REBASE) -> Position:
    log = SyncLog(str(g.worktree), None)
    checked = check(g)
    assert checked is not None
    fetch(g, checked.remote, log)
    found = classify(g, checked, options, log)
    assert isinstance(found, Position)
    return found


def test_check_reads_the_branch_and_its_remote(remote: Remote) -> None:
    clone = remote.clone("me")
    g = open_repo(clone)
    checked = check(g)
    assert checked is not None
    assert (checked.branch, checked.remote, checked.merge_ref) == (
        "main",
        "origin",
        "refs/heads/main",
    )
    git(clone, "branch", "--unset-upstream")
    assert check(open_repo(clone)).merge_ref is None  # type: ignore[union-attr]
    git(clone, "switch", "-q", "--detach")
    assert check(open_repo(clone)) is None


def test_classify_after_fetch_says_where_the_branch_stands(remote: Remote) -> None:
    clone, g, theirs = diverged(remote)
    position = position_of(g)
    assert (position.state, position.ahead, position.behind) == ("diverged", 1, 1)
    assert (position.old, position.up_sha) == (head(clone), theirs)
    assert position.tracking_ref == "refs/remotes/origin/main"
    assert position.upstream == "origin/main"


def test_predict_stops_on_local_changes_in_the_way_unless_autostash(remote: Remote) -> None:
    clone, g, _ = diverged(remote)
    write(clone, "app.txt", "1\n2\n3\n4\nMINE\n")
    position = position_of(g)
    with pytest.raises(SyncStopped) as stopped:
        predict(g, position, REBASE)
    assert stopped.value.code == "dirty_overlap"
    assert stopped.value.overlapping == ("app.txt",)
    plan = predict(g, position, SyncOptions("rebase", True, True, False))
    assert (plan.action, plan.autostash, plan.fallback) == ("rebase", True, None)
    predicted = git(clone, "merge-tree", "--write-tree", position.old, position.up_sha)
    assert plan.expected_tree == predicted.strip()
    with pytest.raises(SyncStopped) as diverging:
        predict(g, position, SyncOptions("ff-only", True, True, False))
    assert diverging.value.code == "diverged"


def test_integrate_and_verify_touch_nothing_the_user_sees(remote: Remote) -> None:
    clone, g, theirs = diverged(remote)
    write(clone, "wip.txt", "untracked\n")
    before = fingerprint(clone)
    position = position_of(g)
    plan = predict(g, position, REBASE)
    new = integrate(g, position, plan, REBASE, SyncLog("me", None))
    assert git(clone, "rev-parse", f"{new}~1").strip() == theirs
    verify(g, position, plan, REBASE, new=new, stash=None)
    assert_unchanged(before, clone)
    assert not (clone / ".git" / "worktrees").exists()


def test_verify_refuses_local_changes_that_would_not_reapply(remote: Remote) -> None:
    clone, g, _ = diverged(remote)
    write(clone, "app.txt", "1\nMINE\n3\n4\n5\n")
    options = SyncOptions("rebase", True, True, False)
    position = position_of(g, options)
    plan = predict(g, position, options)
    log = SyncLog("me", None)
    _, stash = snapshot(g, position, plan, log)
    new = integrate(g, position, plan, options, log)
    with pytest.raises(SyncStopped) as stopped:
        verify(g, position, plan, options, new=new, stash=stash)
    assert stopped.value.code == "autostash_conflict"


def test_move_then_roll_back_restores_everything(remote: Remote) -> None:
    clone, g, _ = diverged(remote)
    write(clone, "README.md", "edited\n")
    write(clone, "wip.txt", "untracked\n")
    before = fingerprint(clone)
    position = position_of(g)
    plan = predict(g, position, REBASE)
    log = SyncLog("me", None)
    commit_sha, stash = snapshot(g, position, plan, log)
    taken = Taken(record_snapshot(g, branch="main", commit=commit_sha, reason="test"), stash)
    new = integrate(g, position, plan, REBASE, log)
    target = verify(g, position, plan, REBASE, new=new, stash=stash)
    move(g, position, plan, target=target, taken=taken, left=new)
    assert head(clone) == new
    assert (clone / "README.md").read_text() == "edited\n"
    roll_back(g, position, taken, moved=True, log=log)
    assert_unchanged(before, clone)
    assert git(clone, "for-each-ref", "refs/devkit") == ""
