"""sync and undo say what really is going on and leave nothing behind: an operation in
progress wins over "detached", undo never discards later edits and restores index flags
and bytes exactly, snapshots stay small and are pruned. Real repositories, asserted
with the git binary."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
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


# -- undo and rollback restore index flags and bytes exactly ----------------------------------


def _flags(clone: Path) -> str:
    """Every index entry with its status letter (S: skip-worktree) and stage."""
    return git(clone, "ls-files", "-t", "-s", "-z")


def _sparse_clone(remote: Remote) -> Path:
    push_from(remote, "colleague", "layout", {"in/a.txt": "a\n", "out/b.txt": "b\n"})
    clone = remote.clone("me")
    git(clone, "sparse-checkout", "set", "in")
    assert not (clone / "out").exists()
    push_from(remote, "colleague", "theirs", {"in/a.txt": "a2\n", "out/b.txt": "b2\n"})
    return clone


def test_undo_keeps_sparse_checkout_bits_and_writes_no_out_of_cone_file(remote: Remote) -> None:
    clone = _sparse_clone(remote)
    write(clone, "in/local.txt", "untracked in the cone\n")
    before, flags = fingerprint(clone), _flags(clone)
    result = sync_one(clone, mode="ff-only")
    assert result.result == "fast_forwarded", result
    assert not (clone / "out").exists()
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, undo.stdout
    assert _flags(clone) == flags
    assert not (clone / "out").exists()
    assert_unchanged(before, clone)


def test_the_rollback_of_a_failed_sync_keeps_sparse_checkout_bits(remote: Remote) -> None:
    clone = _sparse_clone(remote)
    commit(clone, "mine", {"in/mine.txt": "m\n"})
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    before, flags = fingerprint(clone), _flags(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "push_rejected", result
    assert _flags(clone) == flags
    assert not (clone / "out").exists()
    assert_unchanged(before, clone)


def test_undo_with_autocrlf_keeps_lf_files_lf(remote: Remote) -> None:
    clone = remote.clone("me")
    # LF files committed and checked out; autocrlf switched on afterwards (git still
    # sees them as clean).
    git(clone, "config", "core.autocrlf", "true")
    write(clone, "README.md", "hello, edited\n")  # a local edit, LF
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    before = fingerprint(clone)
    result = sync_one(clone, mode="ff-only")
    assert result.result == "fast_forwarded", result
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, undo.stdout
    assert (clone / "app.txt").read_bytes() == b"1\n2\n3\n4\n5\n"
    assert (clone / "README.md").read_bytes() == b"hello, edited\n"
    assert_unchanged(before, clone)


def test_undo_keeps_untracked_files_made_after_the_sync(remote: Remote) -> None:
    clone, before = _synced_with_local_work(remote)
    write(clone, "notes/new.txt", "written after the sync\n")
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, undo.stdout
    assert (clone / "notes" / "new.txt").read_text() == "written after the sync\n"
    (clone / "notes" / "new.txt").unlink()
    (clone / "notes").rmdir()
    assert_unchanged(before, clone)


# -- snapshots stay small ------------------------------------------------------------------------


def _git_dir_kib(clone: Path) -> int:
    counts = dict(
        line.split(": ") for line in git(clone, "count-objects", "-v").splitlines() if ": " in line
    )
    return int(counts["size"]) + int(counts["size-pack"])


def test_a_big_untracked_file_the_sync_cannot_touch_stays_out_of_the_snapshot(
    remote: Remote,
) -> None:
    clone = remote.clone("me")
    commit(clone, "mine", {"mine.txt": "m\n"})
    write(clone, "README.md", "edited\n")  # a local change: a full snapshot is taken
    # 4 MiB that zlib cannot shrink, untracked.
    noise = b"".join(hashlib.sha256(n.to_bytes(4, "big")).digest() for n in range(131072))
    write(clone, "download.iso", noise)
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    before = _git_dir_kib(clone)
    result = sync_one(clone, mode="rebase", push=False)
    assert result.result == "rebased", result
    assert _git_dir_kib(clone) - before < 512  # KiB: the 4 MiB file was not copied
    assert "download.iso" not in git(clone, "ls-tree", "-r", "--name-only", str(result.snapshot))
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, undo.stdout
    assert (clone / "download.iso").stat().st_size == 4 * 1024 * 1024


def _stamp(days_ago: float, n: int) -> str:
    when = datetime.now(timezone.utc) - timedelta(days=days_ago)
    return when.strftime("%Y%m%dT%H%M%S") + f".{n:06d}Z"


@pytest.mark.parametrize(
    ("keep", "days", "old_kept"), [(None, None, 6), ("3", None, 0), ("3", "60", 12)]
)
def test_old_snapshots_are_pruned_after_a_sync(
    remote: Remote, keep: str | None, days: str | None, old_kept: int
) -> None:
    """The newest `devkit.undoKeep` (10) and every one younger than
    `devkit.undoKeepDays` (14) stay."""
    clone = remote.clone("me")
    sha = git(clone, "rev-parse", "HEAD").strip()
    old = [f"refs/devkit/snapshots/main/{_stamp(30, n)}" for n in range(12)]
    young = [f"refs/devkit/snapshots/main/{_stamp(2, n)}" for n in range(3)]
    backups = [f"refs/devkit/undo-backups/main/{_stamp(30, n)}" for n in range(12)]
    other = f"refs/devkit/snapshots/feature/{_stamp(30, 0)}"
    oldest_left = f"refs/devkit/left/main/{old[0].rpartition('/')[2]}"
    for ref in [*old, *young, *backups, other, oldest_left]:
        git(clone, "update-ref", ref, sha)
    if keep:
        git(clone, "config", "devkit.undoKeep", keep)
    if days:
        git(clone, "config", "devkit.undoKeepDays", days)
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    result = sync_one(clone, mode="ff-only")
    assert result.result == "fast_forwarded", result
    refs = set(git(clone, "for-each-ref", "--format=%(refname)", "refs/devkit").split())
    # By name, newest first: the sync's own snapshot, the young ones, then the old ones.
    assert {str(result.snapshot), *young} <= refs
    assert sorted(refs & set(old)) == sorted(old)[len(old) - old_kept :]
    assert len(refs & set(backups)) == (12 if days else int(keep or 10))
    assert other in refs  # another branch's snapshots are its own business
    assert (oldest_left in refs) == (old[0] in refs)  # a pruned snapshot's record goes too
