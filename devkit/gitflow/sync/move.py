"""snapshot -> integrate -> verify -> move -> push, rolled back together.

The move and the rollback run in `process.critical()` sections: their git children
are never signalled and the InterruptSignal of SIGINT, SIGTERM or SIGHUP waits until
the section ends, so a signal never lands half-way through moving the user's files,
index and branch, and a second signal never skips the rollback. Building the snapshot,
the scratch rebase or merge and the push stay interruptible."""

from __future__ import annotations

from devkit import process
from devkit.errors import DevkitError
from devkit.gitflow.conflicts import build_report, merge_with_base
from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.snapshot import (
    Snapshot,
    left_ref,
    mark_left,
    read_snapshot,
    record_snapshot,
    restore_snapshot,
    snapshot_commit,
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
from devkit.gitflow.sync.push import push
from devkit.gitflow.sync.scratch import integrate_in_scratch

REASON = "before sync"
PAST_TENSE = {"fast-forward": "fast-forwarded", "rebase": "rebased", "merge": "merged"}


# -- snapshot, integrate, verify, move, push: rolled back together -------------------------


def carry_out(
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, log: SyncLog
) -> Carried:
    """Snapshot, integrate, verify, move, push; on any failure or signal after the
    snapshot, roll back."""
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
    try:
        commit, stash = snapshot(g, position, plan, log)
        with process.critical():
            # Bound together: a snapshot ref exists exactly when `taken` says so.
            ref = record_snapshot(g, branch=position.branch, commit=commit, reason=REASON)
            taken = Taken(ref=ref, stash=stash)
        new = integrate(g, position, plan, options, log)
        verify(g, position, plan, options, new=new, stash=taken.stash)
        with process.critical():
            moved = True
            move(g, position, plan, options, new=new, taken=taken)
        log.note(
            f"{PAST_TENSE[plan.action]} onto {position.upstream} "
            f"({position.behind} incoming commit(s))"
        )
        pushed = False
        target = position.push_to
        if options.push and position.ahead > 0 and target is not None:
            pushing = True
            pushed = push(
                g, position.branch, target.remote, target.dest, log, lease=_lease(g, position, plan)
            )
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
    commit = snapshot_commit(
        g, branch=position.branch, head=position.old, reason=REASON, clean=not position.status.dirty
    )
    return commit, stash


def integrate(
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, log: SyncLog
) -> str:
    """The new tip: the upstream for a fast-forward, else the result of a rebase or
    merge run in a scratch worktree (the user's files are not touched)."""
    if plan.action == "fast-forward":
        return position.up_sha
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
) -> None:
    """Before the move: the new tip contains the upstream, its tree is the one
    `git merge-tree` predicted (no local or incoming change was lost), and carried-over
    local changes re-apply cleanly on top of it."""
    if new != position.up_sha and not _is_ancestor(g, position.up_sha, new):
        raise SyncStopped(
            "verification failed: the result does not contain the upstream",
            code="verify_failed",
            hint="report this",
        )
    _check_integrated_tree(g, position, plan, new=new)
    if stash is None:
        return
    outcome = merge_with_base(g, new, stash, position.old)
    if outcome.clean:
        return
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


def _check_integrated_tree(g: GitRepo, position: Position, plan: Plan, *, new: str) -> None:
    """The invariant of every integration: the result's tree is the merge of the local
    and the upstream trees. A rebase that replays a change twice, drops one or keeps a
    commit the upstream reverted ends somewhere else, and must not move anything."""
    if plan.expected_tree is None:
        return
    got = g.text(["rev-parse", f"{new}^{{tree}}"]).strip()
    if got == plan.expected_tree:
        return
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
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, *, new: str, taken: Taken
) -> None:
    """Move the user's branch, index and files to `new` and record it in the snapshot's
    `left` ref (call inside a critical section); then check that HEAD is on the branch
    at `new` with nothing in progress."""
    reflog = {"GIT_REFLOG_ACTION": f"devkit sync ({plan.action})"}
    if taken.stash is not None:
        _move_with_local_changes(g, new=new, stash=taken.stash, reflog=reflog)
        mark_left(g, taken.ref, new)
    elif plan.action == "fast-forward":
        moved = g.run(["merge", "--ff-only", "--quiet", new], check=False, env=reflog)
        if not moved.ok:
            raise SyncStopped(
                f"fast-forward refused: {moved.last_error_line()}",
                code="integrate_failed",
                hint="commit or stash local changes and sync again",
            )
        mark_left(g, taken.ref, new)
    else:
        _move_two_trees(g, position, plan.action, new=new, taken=taken)
    where = g.run(["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], check=False).text
    if where.split() != [new, f"refs/heads/{position.branch}"] or g.operation_in_progress():
        raise SyncStopped(
            "verification after integrating failed", code="verify_failed", hint="report this"
        )


def _move_with_local_changes(g: GitRepo, *, new: str, stash: str, reflog: dict[str, str]) -> None:
    # git 2.39's `stash apply` leaves .git/AUTO_MERGE behind even after a clean merge.
    auto_merge = g.git_dir / "AUTO_MERGE"
    stale = not auto_merge.exists()
    try:
        g.run(["reset", "--hard", "--quiet", new], env=reflog)
        applied = g.run(["stash", "apply", "--index", "--quiet", stash], check=False)
        if not applied.ok:
            g.run(["reset", "--hard", "--quiet", new], env=reflog)
            applied = g.run(["stash", "apply", "--quiet", stash], check=False)
    finally:
        if stale:
            auto_merge.unlink(missing_ok=True)
    if not applied.ok:
        raise SyncStopped(
            f"re-applying local changes failed: {applied.last_error_line()}",
            code="autostash_conflict",
            hint="your changes were restored; commit them and sync again",
        )


def _move_two_trees(g: GitRepo, position: Position, action: str, *, new: str, taken: Taken) -> None:
    # A two-tree read-tree is what checkout does: it updates index and files from OLD
    # to NEW, keeps every other local change (staged ones included) and refuses,
    # changing nothing, if a local change would be overwritten.
    moved = g.run(["read-tree", "-m", "-u", position.old, new], check=False)
    if not moved.ok:
        raise SyncStopped(
            f"updating the working tree refused: {moved.last_error_line()}",
            code="integrate_failed",
            hint="commit or stash local changes and sync again",
        )
    # Move the branch (only if still at `old`) and record where the sync leaves it, in
    # one transaction.
    g.update_refs(
        [
            ("update", f"refs/heads/{position.branch}", new, position.old),
            ("create", left_ref(taken.ref), new),
        ],
        message=f"devkit sync ({action}): onto {position.upstream}",
    )


def roll_back(g: GitRepo, position: Position, taken: Taken, *, moved: bool, log: SyncLog) -> None:
    """Undo a sync that did not complete (call inside a critical section): restore
    the snapshot if the move started and something changed, then delete it."""
    if moved:
        head = g.rev("HEAD") or position.old
        snap = read_snapshot(g, taken.ref)
        if head != position.old or _differs_from_snapshot(g, snap):
            log.note("restoring the snapshot")
            try:
                restore_snapshot(g, snap, branch_now=head)
            except DevkitError as error:
                raise SyncStopped(
                    f"rolling back failed ({error}); the state from before the sync is "
                    f"in {taken.ref}",
                    code="rollback_failed",
                    hint=f"inspect it with `git show {taken.ref}`; restore a file with "
                    f"`git checkout {taken.ref} -- PATH`",
                    snapshot=taken.ref,
                ) from error
    g.update_refs(
        [("delete", left_ref(taken.ref), ""), ("delete", taken.ref, "")],
        message="devkit: sync rolled back",
    )


def _differs_from_snapshot(g: GitRepo, snap: Snapshot) -> bool:
    """Whether the index or working tree no longer match the snapshot."""
    with temporary_index(g, copy_real=True) as env:
        index_tree = g.text(["write-tree"], env=env).strip()
        g.run(["add", "-A", "--", "."], env=env)
        worktree_tree = g.text(["write-tree"], env=env).strip()
    return bool(index_tree != snap.index_tree or worktree_tree != snap.worktree_tree)
