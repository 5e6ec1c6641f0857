"""sync and undo say what really is going on and leave nothing behind: an operation in
progress wins over "detached", undo never discards later edits and restores index flags
and bytes exactly, snapshots stay small and are pruned. Real repositories, asserted
with the git binary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.gitflow import sync_repositories
from devkit.gitflow.results import RepoSyncResult
from tests.clirun import run_devkit
from tests.gitrepos import Remote, assert_unchanged, commit, fingerprint, git, push_from, write


def sync_one(repo: Path, **kwargs: object) -> RepoSyncResult:
    report = sync_repositories([repo], **kwargs)  # type: ignore[arg-type]
    return report.repos[0]


# -- an operation in progress is the real cause ---------------------------------------------


def _stopped_rebase(clone: Path) -> None:
    """A rebase stopped on a conflict: HEAD is detached while it waits."""
    git(clone, "switch", "-q", "-c", "side")
    commit(clone, "side", {"app.txt": "side\n"})
    git(clone, "switch", "-q", "main")
    commit(clone, "main", {"app.txt": "main\n"})
    git(clone, "rebase", "side", check=False)


def _stopped_cherry_pick(clone: Path) -> None:
    git(clone, "switch", "-q", "-c", "side")
    pick = commit(clone, "side", {"app.txt": "side\n"})
    git(clone, "switch", "-q", "main")
    commit(clone, "main", {"app.txt": "main\n"})
    git(clone, "cherry-pick", pick, check=False)


def _bisect(clone: Path) -> None:
    first = git(clone, "rev-parse", "HEAD").strip()
    commit(clone, "second", {"second.txt": "2\n"})
    commit(clone, "third", {"third.txt": "3\n"})
    git(clone, "bisect", "start", "HEAD", first)


@pytest.mark.parametrize(
    ("make", "operation", "how"),
    [
        (_stopped_rebase, "rebase", "git rebase --continue"),
        (_stopped_cherry_pick, "cherry-pick", "git cherry-pick --abort"),
        (_bisect, "bisect", "git bisect reset"),
    ],
    ids=["rebase", "cherry-pick", "bisect"],
)
def test_an_operation_in_progress_is_reported_even_with_head_detached(
    remote: Remote, make: object, operation: str, how: str
) -> None:
    clone = remote.clone("me")
    make(clone)  # type: ignore[operator]
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.exit_code == 1 and result.result == "failed"
    assert result.error and result.error["code"] == "operation_in_progress"
    assert operation in result.error["message"]
    assert how in str(result.error["hint"])
    assert_unchanged(before, clone)


# -- undo never discards what was done after the sync -----------------------------------------


def _synced_with_local_work(remote: Remote) -> tuple[Path, dict[str, object]]:
    """A clone synced with --autostash (its edit overlapped the incoming change), plus
    its fingerprint from before the sync."""
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    write(clone, "app.txt", "1\n2\n3\n4\nMINE\n")
    write(clone, "staged.txt", "staged\n")
    git(clone, "add", "staged.txt")
    write(clone, "wip.txt", "untracked\n")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase", autostash=True, push=False)
    assert result.result == "rebased", result
    return clone, before


@pytest.mark.parametrize(
    "later",
    ["edit a file the sync changed", "edit another file", "stage a change"],
)
def test_undo_refuses_to_discard_changes_made_after_the_sync(remote: Remote, later: str) -> None:
    clone, _ = _synced_with_local_work(remote)
    if later == "edit a file the sync changed":
        write(clone, "app.txt", "edited after the sync\n")
    elif later == "edit another file":
        write(clone, "README.md", "edited after the sync\n")
    else:
        write(clone, "mine.txt", "staged after the sync\n")
        git(clone, "add", "mine.txt")
    after_edit = fingerprint(clone)
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 1
    error = json.loads(undo.stdout)["errors"][0]
    assert error["code"] == "changed_since_sync"
    assert "stash" in error["hint"]
    assert_unchanged(after_edit, clone)


def test_undo_of_an_autostash_sync_restores_the_edits_exactly(remote: Remote) -> None:
    clone, before = _synced_with_local_work(remote)
    assert (clone / "app.txt").read_text() == "1\nTHEIRS\n3\n4\nMINE\n"
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, undo.stdout
    assert_unchanged(before, clone)
