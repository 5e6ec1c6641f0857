"""snapshot -> integrate -> verify -> move -> push, rolled back together.

Nothing the user sees changes before the move: the snapshot is only objects, the
rebase or merge runs in a scratch worktree, and verify computes the final index and
working tree (local changes carried over included) with `git merge-tree`. The move
then records the snapshot's ref, writes the journal (.git/devkit/journal.json, see
devkit/gitflow/journal.py), moves files and index, moves the branch and records where
it left it in one ref transaction, and removes the journal. A SIGKILL at any instant
leaves the work either untouched or recoverable: while the journal exists, the next
devkit command reports the incomplete sync and `devkit undo` restores the snapshot.

The move and the rollback run in `process.critical()` sections: their git children
are never signalled and the InterruptSignal of SIGINT, SIGTERM or SIGHUP waits until
the section ends, so a signal never lands half-way through moving the user's files,
index and branch, and a second signal never skips the rollback. Building the snapshot,
the scratch rebase or merge and the push stay interruptible."""

from __future__ import annotations

from dataclasses import dataclass

from devkit import process
from devkit.errors import DevkitError
from devkit.gitflow.conflicts import build_report, merge_with_base
from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.journal import new_journal, remove_journal, write_journal
from devkit.gitflow.leftovers import refuse_index_lock
from devkit.gitflow.restore import apply_restore, plan_restore
from devkit.gitflow.snapshot import (
    TrackedState,
    left_ref,
    prune_snapshots,
    read_snapshot,
    record_snapshot,
    snapshot_commit,
    state_commit,
    temporary_index,
)
from devkit.gitflow.sync.model import (
    Carried,
    Plan,
    Position,
    SyncLog,
    SyncOptions,
    SyncStopped,
    Taken,
)
from devkit.gitflow.sync.overlap import untracked_at
from devkit.gitflow.sync.push import push
from devkit.gitflow.sync.replay import replay_rebase
from devkit.gitflow.sync.scratch import integrate_in_scratch

REASON = "before sync"
PAST_TENSE = {"fast-forward": "fast-forwarded", "rebase": "rebased", "merge": "merged"}


@dataclass(frozen=True)
class Target:
    """verify: where the move takes the branch, index and tracked files, and whether
    local changes that overlap incoming ones are carried over (autostash)."""

    head: str
    state: TrackedState
    carried: bool


# -- snapshot, integrate, verify, move, push: rolled back together -------------------------


def carry_out(
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, log: SyncLog
) -> Carried:
    """Snapshot, integrate, verify, move, push; on any failure or signal after the
    move started, roll back."""
    taken: Taken | None = None
    moved = pushing = False
    new = position.old
    if plan.fallback:
        log.note(plan.fallback)
    if plan.replay_after:
        log.note(
            f"{position.upstream} was rewritten: not replaying the "
            f"{position.removed_upstream} commit(s) it removed (as git pull --rebase)"
        )
    refuse_index_lock(g)
    try:
        commit, stash = snapshot(g, position, plan, log)
        new = integrate(g, position, plan, options, log)
        target = verify(g, position, plan, options, new=new, stash=stash)
        # What the sync leaves, so that undo can tell later edits from the sync's own.
        left = state_commit(
            g, branch=position.branch, head=new, state=target.state, reason="left by sync"
        )
        with process.critical():
            # Bound together: a snapshot ref exists exactly when `taken` says so, and
            # the journal exists from before the first live change to the end of the
            # move (or of its rollback).
            ref = record_snapshot(g, branch=position.branch, commit=commit, reason=REASON)
            taken = Taken(ref=ref, stash=stash)
            write_journal(
                g,
                new_journal(
                    branch=position.branch,
                    before_head=position.old,
                    snapshot_ref=ref,
                    snapshot_commit=commit,
                    target_head=new,
                    target_state=left,
                ),
            )
            moved = True
            move(g, position, plan, target=target, taken=taken, left=left)
            remove_journal(g)
        log.note(
            f"{PAST_TENSE[plan.action]} onto {position.upstream} "
            f"({position.behind} incoming commit(s))"
        )
        pushed = False
        target_remote = position.push_to
        if options.push and position.ahead > 0 and target_remote is not None:
            pushing = True
            pushed = push(
                g,
                position.branch,
                target_remote.remote,
                target_remote.dest,
                log,
                lease=_lease(g, position, plan),
            )
        _prune(g, position.branch, log)
        return Carried(new=new, snapshot=taken.ref, pushed=pushed)
    except BaseException:
        if taken is not None:
            with process.critical():
                kept = pushing and _pushed_to_remote(g, position, new)
                if kept:
                    # The remote took the push before the failure or signal: the local
                    # branch stays where the remote now is.
                    log.note("the push went through: keeping the sync")
                else:
                    roll_back(g, position, taken, moved=moved, log=log)
        raise


def _prune(g: GitRepo, branch: str, log: SyncLog) -> None:
    """Old snapshots go once the sync is done; failing to prune fails nothing."""
    try:
        prune_snapshots(g, branch)
    except DevkitError as error:
        log.note(f"old snapshots were not pruned: {error}")


def _lease(g: GitRepo, position: Position, plan: Plan) -> str | None:
    """The commit a rebased branch's push may replace, or None for a plain push.

    Back to its upstream: the upstream commit it was rebased onto. To another branch
    (a fork in a triangular workflow) whose last known commit is part of the branch's
    history before the rebase: that commit, since the rebase rewrote exactly those
    commits; the lease refuses the push if the fork has moved since. Otherwise a plain
    push, which the remote refuses unless it is a fast-forward, as `git push` would."""
    target = position.push_to
    if plan.action != "rebase" or target is None:
        return None
    if (target.remote, target.dest) == (position.remote, position.dest):
        return position.up_sha
    known = g.rev(target.tracking_ref) if target.dest and target.tracking_ref else None
    return known if known and _is_ancestor(g, known, position.old) else None


def _pushed_to_remote(g: GitRepo, position: Position, new: str) -> bool:
    """Whether the remote took the push (its remote-tracking ref is at `new`)."""
    tracking = position.push_to.tracking_ref if position.push_to else None
    return tracking is not None and g.rev(tracking) == new


def snapshot(g: GitRepo, position: Position, plan: Plan, log: SyncLog) -> tuple[str, str | None]:
    """The snapshot commit of HEAD, index and files and, for autostash, the local
    changes as a stash commit: (snapshot, stash). Objects only: the caller records the
    snapshot's ref. Changes nothing the user sees."""
    stash = None
    if plan.autostash:
        stash = g.text(["stash", "create", "devkit autostash"]).strip() or None
    log.note("taking a snapshot")
    touched = _incoming_paths(g, position, plan)
    clean = _tracked_clean(position)
    # With a clean tree the index holds exactly HEAD's entries of the touched paths.
    head_entries = (
        dict(plan.incoming_head_entries)
        if plan.incoming_head_entries is not None and plan.incoming is not None
        else None
    )
    # Untracked (and ignored) files the move could overwrite or delete, found on disk
    # where it writes; the others (a 200 MiB download, a build directory) stay out of
    # the snapshot: nothing touches them. (Status ran without its untracked scan.)
    tracked = head_entries.keys() if clean and head_entries is not None else ()
    untracked = untracked_at(g, touched, tracked=tracked) if touched else []
    commit = snapshot_commit(
        g,
        branch=position.branch,
        head=position.old,
        reason=REASON,
        clean=clean,
        touched=touched,
        untracked=untracked,
        head_entries=head_entries,
    )
    return commit, stash


def _tracked_clean(position: Position) -> bool:
    """Whether index and tracked files were HEAD's tree (status listed no change)."""
    return not any(entry.kind in "12u" for entry in position.status.entries)


def _incoming_paths(g: GitRepo, position: Position, plan: Plan) -> list[str]:
    """The tracked paths the move changes (before carrying local changes over)."""
    if plan.incoming is not None:
        return list(plan.incoming)
    target = plan.expected_tree or position.up_sha
    out = g.run(
        ["diff", "--name-only", "-z", "--no-renames", position.old, target, "--"], strip=False
    )
    return [p for p in out.text.split("\0") if p]


def integrate(
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, log: SyncLog
) -> str:
    """The new tip: the upstream for a fast-forward, else the result of a rebase
    replayed from objects (sync/replay.py) or of a rebase or merge run in a scratch
    worktree (the user's files are not touched either way)."""
    if plan.action == "fast-forward":
        return position.up_sha
    if plan.action == "rebase":
        # Objects only, no checkout; None when only a real `git rebase` will do.
        replayed = replay_rebase(
            g,
            old=position.old,
            onto=position.up_sha,
            upstream=plan.replay_after or position.up_sha,
        )
        if replayed is not None:
            return replayed
    return integrate_in_scratch(
        g,
        mode=plan.action,
        branch=position.branch,
        old=position.old,
        up_sha=position.up_sha,
        upstream=position.upstream,
        replay_after=plan.replay_after,
    )


def verify(
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, *, new: str, stash: str | None
) -> Target:
    """Before the move: the new tip contains the upstream, its tree is the one
    `git merge-tree` predicted (no local or incoming change was lost), and carried-over
    local changes re-apply cleanly on top of it. Returns where the move goes."""
    if new != position.up_sha and not _is_ancestor(g, position.up_sha, new):
        raise SyncStopped(
            "verification failed: the result does not contain the upstream",
            code="verify_failed",
            hint="report this",
        )
    checked_tree = _check_integrated_tree(g, position, plan, new=new)
    if stash is None:
        if _tracked_clean(position):  # index and files simply become the new tree
            tree = checked_tree or g.text(["rev-parse", f"{new}^{{tree}}"]).strip()
            return Target(head=new, state=TrackedState(tree, tree), carried=False)
        return Target(head=new, state=_two_tree_state(g, old=position.old, new=new), carried=False)
    outcome = merge_with_base(g, new, stash, position.old)
    if outcome.clean:
        index_tree = _carried_index(g, new=new, stash=stash, old=position.old)
        return Target(head=new, state=TrackedState(index_tree, outcome.tree), carried=True)
    current = (
        position.upstream
        if plan.action == "fast-forward"
        else (f"{position.branch} after {plan.action}")
    )
    report = build_report(
        g,
        state="predicted",
        current=(current, new),
        incoming=("local changes", stash),
        base=position.old,
        outcome=outcome,
    )
    raise SyncStopped(
        f"your local changes would not re-apply on top of {position.upstream} "
        f"({len(report.files)} conflicting file(s)); nothing was changed",
        code="autostash_conflict",
        hint="commit your changes, then sync and resolve the conflict",
        conflicts=report,
    )


def _two_tree_state(g: GitRepo, *, old: str, new: str) -> TrackedState:
    """The index and tracked files a two-tree `read-tree -m -u OLD NEW` leaves: the
    same read-tree, run on copies of the index (the second one holding the files)."""
    with temporary_index(g, copy_real=True) as env:
        g.run(["read-tree", "-m", old, new], env=env)
        index_tree = g.text(["write-tree"], env=env).strip()
    with temporary_index(g, copy_real=True) as env:
        g.run(["add", "-u", "--", "."], env=env)
        g.run(["read-tree", "-m", old, new], env=env)
        return TrackedState(index_tree, g.text(["write-tree"], env=env).strip())


def _carried_index(g: GitRepo, *, new: str, stash: str, old: str) -> str:
    """The index after carrying the staged changes over, as `git stash apply --index`
    would; when they do not merge on their own, the new tip's tree (the changes are
    then unstaged but in the files, as plain `git stash apply` leaves them)."""
    staged = merge_with_base(g, new, f"{stash}^2", old)
    return staged.tree if staged.clean else g.text(["rev-parse", f"{new}^{{tree}}"]).strip()


def _check_integrated_tree(g: GitRepo, position: Position, plan: Plan, *, new: str) -> str | None:
    """The invariant of every integration: the result's tree is the merge of the local
    and the upstream trees. A rebase that replays a change twice, drops one or keeps a
    commit the upstream reverted ends somewhere else, and must not move anything.
    Returns the new tip's tree (None for a fast-forward, which has no prediction)."""
    if plan.expected_tree is None:
        return None
    got = g.text(["rev-parse", f"{new}^{{tree}}"]).strip()
    if got == plan.expected_tree:
        return got
    changed = g.text(["diff", "--name-only", "-z", plan.expected_tree, got, "--"])
    paths = sorted(p for p in changed.split("\0") if p)
    raise SyncStopped(
        f"the {plan.action} of '{position.branch}' onto {position.upstream} does not "
        f"keep every change of both sides ({len(paths)} file(s) differ from the merge); "
        "nothing was changed",
        code="integration_mismatch",
        hint=f"integrate by merging: devkit sync --mode merge (or git merge {position.upstream})",
        overlapping=paths,
    )


def _is_ancestor(g: GitRepo, ancestor: str, descendant: str) -> bool:
    return g.run(["merge-base", "--is-ancestor", ancestor, descendant], check=False).ok


def move(
    g: GitRepo, position: Position, plan: Plan, *, target: Target, taken: Taken, left: str
) -> None:
    """Move the user's index, files and branch to `target`, recording what the sync
    left (`left`, a state commit) in the same ref transaction (call inside a critical
    section, with the journal written); then check that HEAD is on the branch at the
    new tip with nothing in progress."""
    new = target.head
    if target.carried:
        _move_with_local_changes(g, target.state.index_tree, target.state.worktree_tree)
    else:
        # A two-tree read-tree is what checkout does: it updates index and files from
        # OLD to NEW, keeps every other local change (staged ones included) and
        # refuses, changing nothing, if a local change would be overwritten.
        moved = g.run(["read-tree", "-m", "-u", position.old, new], check=False)
        if not moved.ok:
            refuse_index_lock(g)
            raise SyncStopped(
                f"updating the working tree refused: {moved.last_error_line()}",
                code="integrate_failed",
                hint="commit or stash local changes and sync again",
            )
    g.update_refs(
        [
            ("update", f"refs/heads/{position.branch}", new, position.old),
            ("create", left_ref(taken.ref), left),
        ],
        message=f"devkit sync ({plan.action}): onto {position.upstream}",
    )
    where = g.run(["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], check=False).text
    if where.split() != [new, f"refs/heads/{position.branch}"] or g.operation_in_progress():
        raise SyncStopped(
            "verification after integrating failed", code="verify_failed", hint="report this"
        )


def _move_with_local_changes(g: GitRepo, index_tree: str, worktree_tree: str) -> None:
    """Files to the working tree verify computed (new tip plus local changes), then
    the index to the carried index. Unlike `reset --hard` + `stash apply`, the files
    go straight from before to after: no instant holds the new tip without the
    user's edits. Untracked files in the way were refused by predict."""
    g.run(["read-tree", "--reset", "-u", worktree_tree])
    # One-tree -m keeps the stat data of entries whose content matches.
    g.run(["read-tree", "-m", index_tree])
    g.run(["update-index", "-q", "--refresh"], check=False)


def roll_back(g: GitRepo, position: Position, taken: Taken, *, moved: bool, log: SyncLog) -> None:
    """Undo a sync that did not complete (call inside a critical section): restore
    the snapshot if the move started, then delete it and the journal. If restoring
    fails, the journal stays: `devkit undo` retries."""
    if moved:
        head = g.rev("HEAD") or position.old
        try:
            snap = read_snapshot(g, taken.ref)
            plan = plan_restore(g, snap)
            if head != position.old or plan.delete or plan.write:
                log.note("restoring the snapshot")
            apply_restore(g, snap, plan, branch_now=head)
        except DevkitError as error:
            raise SyncStopped(
                f"rolling back failed ({error}); the state from before the sync is in {taken.ref}",
                code="rollback_failed",
                hint="run `devkit undo` to restore it",
                snapshot=taken.ref,
            ) from error
    g.update_refs(
        [("delete", left_ref(taken.ref), ""), ("delete", taken.ref, "")],
        message="devkit: sync rolled back",
    )
    remove_journal(g)
