"""sync and undo say what really is going on and leave nothing behind: an operation in
progress wins over "detached", undo never discards later edits and restores index flags
and bytes exactly, snapshots stay small and are pruned. Real repositories, asserted
with the git binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.gitflow import sync_repositories
from devkit.gitflow.results import RepoSyncResult
from tests.gitrepos import Remote, assert_unchanged, commit, fingerprint, git, push_from


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
