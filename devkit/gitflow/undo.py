"""`devkit undo`: put back the state from before the last sync of the current branch.

Two cases. A sync that completed left a snapshot and a record of what it left
(refs/devkit/snapshots/..., refs/devkit/left/...): undo restores the snapshot when the
branch, index and tracked files are still as the sync left them, and refuses rather
than discard later work. A sync that was stopped while it moved files, index and branch
(SIGKILL, a power cut, a failed rollback) left its journal: undo restores the snapshot
the journal names, whatever the move had done.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devkit import process
from devkit.errors import OperationFailed
from devkit.gitflow.gitcmd import GitRepo, open_repo
from devkit.gitflow.journal import (
    Journal,
    journal_location,
    journal_path,
    new_journal,
    read_journal,
    remove_journal,
    write_journal,
)
from devkit.gitflow.leftovers import refuse_index_lock, remove_index_lock_left_by, tidy_leftovers
from devkit.gitflow.locking import lock_wait_seconds, repository_lock
from devkit.gitflow.restore import RestorePlan, apply_restore, plan_restore
from devkit.gitflow.results import UndoResult
from devkit.gitflow.snapshot import (
    BACKUP_PREFIX,
    Snapshot,
    latest_snapshot,
    left_ref,
    read_snapshot,
    take_snapshot,
    tracked_state,
)


def undo_last_sync(
    repo: Path, *, dry_run: bool = False, env: Mapping[str, str] | None = None
) -> UndoResult:
    """Restore the last sync snapshot of the current branch, if the branch, index and
    tracked files are still as that sync left them, or finish an incomplete sync or
    undo. The state just before the undo is kept as a backup.

    `env`: the environment of every git child (os.environ when None). `dry_run`: every
    check, then what would be restored; nothing is changed (no leftovers tidied)."""
    g = open_repo(repo, env=env)
    with repository_lock(g.common_dir, wait=lock_wait_seconds(g.env)):
        if not dry_run:
            tidy_leftovers(g)
        journal = read_journal(g)
        if journal is not None:
            return _undo_incomplete(g, journal, dry_run=dry_run)
        refuse_index_lock(g)
        return _undo_completed_sync(g, dry_run=dry_run)


def _undo_completed_sync(g: GitRepo, *, dry_run: bool) -> UndoResult:
    status = g.status()
    if status.head is None or status.oid is None:
        raise OperationFailed(
            "HEAD is detached: undo works on a branch",
            code="detached_head",
            hint="check out the branch that was synced",
        )
    operation = g.operation_in_progress()
    if operation:
        raise OperationFailed(
            f"a {operation} is in progress",
            code="operation_in_progress",
            hint=f"finish or abort it first (git {operation} --continue / --abort)",
        )
    branch = status.head
    snap = latest_snapshot(g, branch)
    if snap is None:
        raise OperationFailed(
            f"no devkit sync snapshot for branch '{branch}'",
            code="no_snapshot",
            hint="undo only reverts a sync that devkit made on this branch",
        )
    if snap.left is None:
        raise OperationFailed(
            f"the last sync of '{branch}' did not complete; {snap.ref} holds the state "
            "from before it",
            code="incomplete_sync",
            hint=f"inspect it with `git show {snap.ref}`",
        )
    if status.oid != snap.left:
        raise OperationFailed(
            f"'{branch}' has moved since devkit synced it "
            f"(now {status.oid[:7]}, devkit left it at {snap.left[:7]})",
            code="branch_moved",
            hint=f"the pre-sync state is still in {snap.ref}",
        )
    _refuse_changes_since_sync(g, snap)
    plan = plan_restore(g, snap)
    if plan.overwrites_untracked:
        raise _changed_since_sync(list(plan.overwrites_untracked))
    if dry_run:
        return _planned(g, snap, plan, now=status.oid)
    return _restore(g, snap, plan, now=status.oid, reason="before undo")


def _undo_incomplete(g: GitRepo, journal: Journal, *, dry_run: bool) -> UndoResult:
    """Put back the state from before a sync (or undo) that was stopped while it moved
    files, index and branch (SIGKILL, a power cut, a failed rollback): whatever it had
    done, the snapshot named in the journal is restored exactly. The half-moved state
    is kept as a backup."""
    branch, what = journal.branch, journal.operation
    on = g.run(["symbolic-ref", "--quiet", "HEAD"], check=False).text.strip()
    if on != f"refs/heads/{branch}":
        raise OperationFailed(
            f"a {what} of '{branch}' did not complete, but HEAD is not on '{branch}'",
            code="sync_incomplete",
            hint=f"check out '{branch}' (git switch {branch}), then run devkit undo",
        )
    now = g.rev(f"refs/heads/{branch}")
    if now is None or now not in (journal.before_head, journal.target_head):
        raise OperationFailed(
            f"a {what} of '{branch}' did not complete and the branch has moved since "
            f"(now {str(now)[:7]})",
            code="branch_moved",
            hint=f"the state from before that sync is {journal.snapshot_commit} "
            f"({journal.snapshot_ref}); restore a file with "
            f"`git checkout {journal.snapshot_commit} -- PATH`, then delete "
            f"{journal_location(g)}",
        )
    snap = read_snapshot(g, journal.snapshot_ref, commit=journal.snapshot_commit)
    if dry_run:
        return _planned(g, snap, plan_restore(g, snap), now=now)
    remove_index_lock_left_by(g, journal_path(g))
    refuse_index_lock(g)
    plan = plan_restore(g, snap)
    return _restore(g, snap, plan, now=now, reason=f"before undo of an incomplete {what}")


def _planned(g: GitRepo, snap: Snapshot, plan: RestorePlan, *, now: str) -> UndoResult:
    """A dry run's answer: what the restore would write and delete."""
    changes = sorted({*plan.delete, *(path for path, _, _ in plan.write)})
    return UndoResult(
        repo=str(g.worktree),
        branch=snap.branch,
        restored_head=snap.head,
        previous_head=now,
        snapshot=snap.ref,
        backup="",
        dry_run=True,
        changes=tuple(changes),
    )


def _restore(g: GitRepo, snap: Snapshot, plan: RestorePlan, *, now: str, reason: str) -> UndoResult:
    """Back up what the restore will change, then restore under a journal of its own:
    an undo stopped half-way is finished by the next `devkit undo`."""
    backup = take_snapshot(
        g,
        branch=snap.branch,
        head=now,
        reason=reason,
        prefix=BACKUP_PREFIX,
        touched=[*plan.delete, *(path for path, _, _ in plan.write)],
        untracked=plan.overwrites_untracked,
    )
    # Once the files start moving, a signal waits until they are all back.
    with process.critical():
        journal = new_journal(
            branch=snap.branch,
            before_head=now,
            snapshot_ref=snap.ref,
            snapshot_commit=snap.commit,
            target_head=snap.head,
            operation="undo",
        )
        write_journal(g, journal)
        apply_restore(g, snap, plan, branch_now=now)
        g.update_refs(
            [("delete", left_ref(snap.ref), ""), ("delete", snap.ref, "")],
            message="devkit: sync undone",
        )
        remove_journal(g)
    return UndoResult(
        repo=str(g.worktree),
        branch=snap.branch,
        restored_head=snap.head,
        previous_head=now,
        snapshot=snap.ref,
        backup=backup,
    )


def _refuse_changes_since_sync(g: GitRepo, snap: Snapshot) -> None:
    """Undo puts back files and index as they were before the sync: refuse when the
    user changed them after it, rather than discard those changes."""
    if snap.left_state is None:
        return  # a sync by an older devkit did not record what it left
    now = tracked_state(g)
    if now == snap.left_state:
        return
    changed: set[str] = set()
    for before, after in (
        (snap.left_state.index_tree, now.index_tree),
        (snap.left_state.worktree_tree, now.worktree_tree),
    ):
        if before != after:
            out = g.run(["diff", "--name-only", "-z", before, after, "--"], strip=False).text
            changed.update(p for p in out.split("\0") if p)
    raise _changed_since_sync(sorted(changed))


def _changed_since_sync(names: list[str]) -> OperationFailed:
    return OperationFailed(
        f"{len(names)} file(s) changed since the sync ({', '.join(names[:5])}"
        f"{', ...' if len(names) > 5 else ''}); undo would discard those changes",
        code="changed_since_sync",
        hint="commit or stash them first (git stash -u), then run devkit undo again",
        details={"paths": names},
    )
