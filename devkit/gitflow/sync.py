"""`sync`: bring branches up to date with their upstream and publish local commits.

Per repository, one function per phase, each handing the next a value: check, fetch,
classify, predict, snapshot, integrate, verify, move, push, report. Everything that can
stop half-way (a rebase or merge) runs in a scratch worktree inside the git directory,
so the user's HEAD, index and files are only changed by the move: `git merge
--ff-only`, a two-tree `git read-tree -m -u` plus one ref transaction, or (autostash)
`git reset --hard` plus `git stash apply`. If anything fails or a signal arrives after
the snapshot, the snapshot is restored: a failed or interrupted sync leaves the
repository exactly as it found it.

Signals. The move and the rollback run in `process.critical()` sections: git children
started there are not signalled, and the InterruptSignal that SIGINT, SIGTERM or SIGHUP
raises waits until the section is over, so a signal never lands half-way through moving
the user's files and a second signal never skips the rollback. Worker threads (several
repositories) notice a signal at their next git command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from devkit import process
from devkit.errors import DevkitError, ExitCode, InvalidInput, OperationFailed
from devkit.gitflow.conflicts import build_report, merge_with_base, predict_conflicts
from devkit.gitflow.gitcmd import GitRepo, check_git_version, environment, open_repo
from devkit.gitflow.locking import lock_wait_seconds, repository_lock
from devkit.gitflow.results import RepoSyncResult, SyncReport
from devkit.gitflow.scratch import integrate_in_scratch
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
from devkit.gitflow.status import RepoStatus, paths_overlap
from devkit.gitflow.syncmodel import (
    Carried,
    Checked,
    Known,
    Plan,
    Position,
    SyncLog,
    SyncOptions,
    SyncStopped,
    Taken,
    Unpublished,
)

MODES = ("rebase", "merge", "ff-only")
MAX_DEFAULT_JOBS = 8
REASON = "before sync"
RESULT_OF = {"fast-forward": "fast_forwarded", "rebase": "rebased", "merge": "merged"}
PAST_TENSE = {"fast-forward": "fast-forwarded", "rebase": "rebased", "merge": "merged"}

ProgressCallback = Callable[[str, str], None]  # (repo, what is happening)

__all__ = ["MODES", "SyncStopped", "default_mode", "parse_push_porcelain", "sync_repositories"]


def default_mode(interactive: bool | None) -> str:
    """rebase on a terminal, ff-only on servers (no terminal)."""
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    return "rebase" if interactive else "ff-only"


def sync_repositories(
    repos: Sequence[Path],
    *,
    mode: str | None = None,
    push: bool = True,
    autostash: bool = False,
    jobs: int | None = None,
    dry_run: bool = False,
    interactive: bool | None = None,
    on_progress: ProgressCallback | None = None,
    env: Mapping[str, str] | None = None,
) -> SyncReport:
    """Sync each repository (in parallel); a failure in one never stops the others.

    `env` is the environment every git child starts with and where settings
    (DEVKIT_GIT_TIMEOUT, DEVKIT_LOCK_WAIT, ssh, identity) are read (os.environ when
    None)."""
    chosen = mode or default_mode(interactive)
    if chosen not in MODES:
        raise InvalidInput(
            f"unknown sync mode {chosen!r}",
            code="invalid_mode",
            hint="use one of: " + ", ".join(MODES),
        )
    if jobs is not None and jobs < 1:
        raise InvalidInput("-j must be at least 1", code="invalid_jobs")
    base = environment(env)
    check_git_version(base)
    paths: list[Path] = []
    for repo in repos or [Path.cwd()]:
        if Path(repo).resolve() not in {p.resolve() for p in paths}:
            paths.append(Path(repo))
    workers = max(1, min(jobs or min(os.cpu_count() or 1, MAX_DEFAULT_JOBS), len(paths)))
    options = SyncOptions(mode=chosen, push=push, autostash=autostash, dry_run=dry_run)
    # Signals seen before this sync started are someone else's (a recipe's cleanup).
    since = process.signal_count()

    def one(path: Path) -> RepoSyncResult:
        result = _sync_one(Path(path), options, base, since, on_progress)
        if on_progress:
            on_progress(result.repo, "done")
        return result

    if workers == 1:
        results = [one(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devkit-sync") as pool:
            results = list(pool.map(one, paths))
    return SyncReport(mode=chosen, push=push, dry_run=dry_run, repos=tuple(results))


def _sync_one(
    path: Path,
    options: SyncOptions,
    env: Mapping[str, str],
    since: int,
    progress: ProgressCallback | None,
) -> RepoSyncResult:
    """One repository: errors become its failed result, never the others' problem."""
    log = SyncLog(str(path), progress)
    try:
        g = open_repo(path, env=env)
        g.interrupted_since = since
        log = SyncLog(str(g.worktree), progress)
        with repository_lock(g.common_dir, wait=lock_wait_seconds(g.env)):
            return _sync_locked(g, options, log)
    except DevkitError as error:
        return Known(repo=log.repo).failure(error, log)
    except Exception as error:  # one repository's bug must not stop the others
        if env.get("DEVKIT_DEBUG") == "1":
            raise
        bug = OperationFailed(
            f"internal error: {type(error).__name__}: {error}",
            code="internal_error",
            hint="rerun with DEVKIT_DEBUG=1 and report it",
        )
        return replace(Known(repo=log.repo).failure(bug, log), exit_code=int(ExitCode.INTERNAL))


def _sync_locked(g: GitRepo, options: SyncOptions, log: SyncLog) -> RepoSyncResult:
    """The phases in order; `known` is what the report can say if one of them fails."""
    known = Known(repo=str(g.worktree))
    try:
        checked = check(g)
        if checked is None:
            log.note("skipped: HEAD is detached")
            known = replace(known, state="detached")
            return known.result("skipped", log, next_step="check out a branch to sync it")
        known = replace(known, branch=checked.branch)
        fetch(g, checked.remote, log)
        position = classify(g, checked, options, log)
        if isinstance(position, Unpublished):
            known = known.unpublished(position)
            return publish(g, position, options, log, known)
        known = known.at(position)
        if position.behind == 0:
            return push_ahead(g, position, options, log, known)
        plan = predict(g, position, options)
        if options.dry_run:
            return known.result(_describe_dry_run(position, plan, options, log), log)
        carried = carry_out(g, position, plan, options, log)
        known = replace(
            known, new_head=carried.new, snapshot=carried.snapshot, pushed=carried.pushed
        )
        return known.result(RESULT_OF[plan.action], log, next_step="devkit undo reverts this sync")
    except DevkitError as error:
        return known.failure(error, log)


# -- check -----------------------------------------------------------------------------


def check(g: GitRepo) -> Checked | None:
    """The branch to sync and its remote (None: HEAD is detached). Reads only."""
    branch = _current_branch(g)
    if branch is None:
        return None
    operation = g.operation_in_progress()
    if operation:
        raise SyncStopped(
            f"a {operation} is in progress",
            code="operation_in_progress",
            hint=f"finish or abort it first (git {operation} --continue / --abort)",
        )
    remote, merge_ref = g.config(f"branch.{branch}.remote"), g.config(f"branch.{branch}.merge")
    if remote == ".":
        raise SyncStopped(
            f"'{branch}' tracks a local branch ({merge_ref})",
            code="local_upstream",
            hint="sync the branch it tracks instead",
        )
    if remote is None or merge_ref is None:
        return Checked(branch=branch, remote=_pick_remote(g, branch), merge_ref=None)
    return Checked(branch=branch, remote=remote, merge_ref=merge_ref)


def _current_branch(g: GitRepo) -> str | None:
    """The checked-out branch, or None when HEAD is detached."""
    try:
        head = (g.git_dir / "HEAD").read_text().strip()
    except OSError:
        head = ""
    if head.startswith("ref: refs/heads/"):
        return head.removeprefix("ref: refs/heads/")
    if head.startswith("ref: ") or not head:
        out = g.run(["symbolic-ref", "--quiet", "--short", "HEAD"], check=False)
        return out.text.strip() or None if out.ok else None
    return None


def _pick_remote(g: GitRepo, branch: str) -> str:
    for key in (f"branch.{branch}.pushRemote", "remote.pushDefault"):
        value = g.config(key)
        if value:
            return value
    remotes = g.remotes()
    if "origin" in remotes:
        return "origin"
    if len(remotes) == 1:
        return remotes[0]
    if not remotes:
        raise SyncStopped(
            f"'{branch}' has no upstream and the repository has no remote",
            code="no_remote",
            hint="add one with `git remote add origin <url>` (or devkit init --remote URL)",
        )
    raise SyncStopped(
        f"'{branch}' has no upstream and there are several remotes ({', '.join(remotes)})",
        code="no_upstream",
        hint=f"choose one: git branch --set-upstream-to=<remote>/{branch}",
    )


# -- fetch -----------------------------------------------------------------------------


def fetch(g: GitRepo, remote: str, log: SyncLog) -> None:
    log.note(f"fetching {remote}")
    out = g.fetch(remote)
    if not out.ok:
        raise SyncStopped(
            f"could not fetch from '{remote}': {out.last_error_line()}",
            code="fetch_failed",
            hint="check the network, the remote URL and your credentials; nothing was changed",
        )


# -- classify ----------------------------------------------------------------------------


def classify(
    g: GitRepo, checked: Checked, options: SyncOptions, log: SyncLog
) -> Position | Unpublished:
    """Where the branch stands against its (freshly fetched) upstream."""
    branch, remote = checked.branch, checked.remote
    merge_ref, upstream_spec = checked.merge_ref, "@{upstream}"
    if merge_ref is None:
        tracking = f"refs/remotes/{remote}/{branch}"
        if g.rev(tracking) is None:
            why = f"'{branch}' has no upstream and {remote} has no branch of that name"
            return _unpublished(g, checked, dest=f"refs/heads/{branch}", why=why)
        merge_ref, upstream_spec = f"refs/heads/{branch}", tracking
        if not options.dry_run:
            g.run(["branch", f"--set-upstream-to={remote}/{branch}", branch])
            g.forget_config()
            log.note(f"now tracking {remote}/{branch}")
    status = _usable_status(g, branch)
    up = g.run(
        ["rev-parse", upstream_spec, "--symbolic-full-name", upstream_spec], check=False
    ).text.split()
    if len(up) != 2:
        # Configured, but the remote has no such branch (never pushed, or deleted).
        remote_branch = merge_ref.removeprefix("refs/heads/")
        why = f"{remote} has no branch '{remote_branch}' for '{branch}' to track"
        return _unpublished(g, checked, dest=merge_ref, why=why)
    old = str(status.oid)
    if status.ahead is not None and status.behind is not None and upstream_spec[0] == "@":
        ahead, behind = status.ahead, status.behind
    else:
        counts = g.text(["rev-list", "--left-right", "--count", f"{old}...{up[0]}"]).split()
        ahead, behind = int(counts[0]), int(counts[1])
    return Position(
        branch=branch,
        remote=remote,
        dest=merge_ref,
        upstream=status.upstream or f"{remote}/{merge_ref.removeprefix('refs/heads/')}",
        tracking_ref=up[1],
        old=old,
        up_sha=up[0],
        ahead=ahead,
        behind=behind,
        status=status,
    )


def _unpublished(g: GitRepo, checked: Checked, *, dest: str, why: str) -> Unpublished:
    head = g.rev("HEAD")
    if head is None:
        raise _no_commits(checked.branch)
    upstream = f"{checked.remote}/{dest.removeprefix('refs/heads/')}"
    return Unpublished(checked.branch, checked.remote, dest, upstream, head, why)


def _no_commits(branch: str) -> SyncStopped:
    return SyncStopped(
        f"'{branch}' has no commits yet",
        code="no_commits",
        hint="make a first commit (devkit commit -m ...)",
    )


def _usable_status(g: GitRepo, branch: str) -> RepoStatus:
    status = g.status()
    if status.head != branch:
        raise SyncStopped(f"HEAD moved off '{branch}' while syncing", code="branch_moved")
    if status.oid is None:
        raise _no_commits(branch)
    if status.unmerged:
        raise SyncStopped(
            f"{len(status.unmerged)} unmerged path(s): {', '.join(status.unmerged[:5])}",
            code="unmerged_paths",
            hint="resolve them and commit first",
        )
    return status


# -- nothing to integrate: publish or push -------------------------------------------------


def publish(
    g: GitRepo, unpublished: Unpublished, options: SyncOptions, log: SyncLog, known: Known
) -> RepoSyncResult:
    """A branch the remote does not have yet: push it with -u (not with --no-push)."""
    if not options.push:
        raise SyncStopped(
            unpublished.why,
            code="no_upstream",
            hint=f"publish it: devkit sync (no --no-push) or "
            f"git push -u {unpublished.remote} {unpublished.branch}",
        )
    if options.dry_run:
        log.note(f"would publish {unpublished.branch} to {unpublished.upstream} and track it")
        return known.result("would_publish", log)
    pushed = push(
        g, unpublished.branch, unpublished.remote, unpublished.dest, log, set_upstream=True
    )
    return replace(known, pushed=pushed).result("published", log)


def push_ahead(
    g: GitRepo, position: Position, options: SyncOptions, log: SyncLog, known: Known
) -> RepoSyncResult:
    """Nothing incoming: up to date, or local commits to push."""
    if position.ahead == 0:
        return known.result("up_to_date", log)
    if not options.push:
        return known.result("ahead", log, next_step="push when ready (devkit sync)")
    if options.dry_run:
        log.note(f"would push {position.ahead} commit(s) to {position.upstream}")
        return known.result("would_push", log)
    pushed = push(g, position.branch, position.remote, position.dest, log)
    return replace(known, pushed=pushed).result("pushed", log)


# -- predict -------------------------------------------------------------------------------


def predict(g: GitRepo, position: Position, options: SyncOptions) -> Plan:
    """What integrating would do, decided before anything is touched: stops on a
    predicted conflict, on local changes in the way (unless autostash) and on untracked
    or ignored files that incoming files would overwrite."""
    if position.ahead > 0 and options.mode == "ff-only":
        raise SyncStopped(
            f"'{position.branch}' and {position.upstream} have diverged "
            f"({position.ahead} ahead, {position.behind} behind)",
            code="diverged",
            hint="integrate explicitly: devkit sync --mode rebase (or --mode merge)",
        )
    action = "fast-forward" if position.ahead == 0 else options.mode
    incoming_tree = _predicted_tree(g, position, action)
    changes = _changed_paths(g, position.old, incoming_tree)
    incoming = [path for _, path in changes]
    local = position.status.changed_paths
    overlapping = sorted({p for p in local if any(paths_overlap(p, q) for q in incoming)})
    untracked = set(position.status.untracked)
    # Paths the incoming commits add where a file already sits: untracked files, and
    # ignored ones too (status does not list them, and `git merge` would overwrite them).
    in_the_way = {p for p in overlapping if p in untracked or p.endswith("/")}
    in_the_way.update(_occupied(g.worktree, [p for letter, p in changes if letter == "A"]))
    if overlapping and not options.autostash:
        raise SyncStopped(
            f"local changes touch {len(overlapping)} path(s) that {position.upstream} "
            "changes; nothing was changed",
            code="dirty_overlap",
            hint="commit or stash them, or pass --autostash",
            overlapping=overlapping,
        )
    if in_the_way:
        raise SyncStopped(
            f"untracked or ignored files would be overwritten by {position.upstream}; "
            "nothing was changed",
            code="untracked_overlap",
            hint="move or commit them first",
            overlapping=sorted(in_the_way),
        )
    return Plan(action=action, autostash=bool(overlapping))


def _predicted_tree(g: GitRepo, position: Position, action: str) -> str:
    """The tree integrating would give (before local changes), or the upstream commit
    for a fast-forward; a predicted conflict stops the sync."""
    if action == "fast-forward":
        return position.up_sha
    # The branch is at `old` (we hold the lock) and `upstream` is the upstream's name.
    report, outcome = predict_conflicts(
        g,
        current=(position.branch, position.old),
        incoming=(position.upstream, position.up_sha),
        names_resolve=True,
    )
    if not report.clean:
        raise SyncStopped(
            f"merging {position.upstream} into '{position.branch}' would conflict in "
            f"{len(report.files)} file(s); nothing was changed",
            code="conflict_predicted",
            hint=f"see `devkit conflicts`; integrate by hand: git {action} {position.upstream}",
            conflicts=report,
        )
    return outcome.tree


def _changed_paths(g: GitRepo, old: str, new_tree: str) -> list[tuple[str, str]]:
    """(status letter, path) of what the incoming side changes."""
    raw = g.run(
        ["diff", "--name-status", "-z", "--no-renames", old, new_tree, "--"], strip=False
    ).text
    tokens = [t for t in raw.split("\0") if t]
    return [(tokens[i][0], tokens[i + 1]) for i in range(0, len(tokens) - 1, 2)]


def _occupied(worktree: Path, added: list[str]) -> list[str]:
    """Added paths that something on disk is in the way of (the path itself, or a
    parent that is a file)."""
    found = []
    for rel in added:
        target = worktree / rel
        if os.path.lexists(target):
            found.append(rel)
            continue
        parent = target.parent
        while parent != worktree:
            if os.path.lexists(parent) and not parent.is_dir():
                found.append(str(parent.relative_to(worktree)))
                break
            parent = parent.parent
    return found


def _describe_dry_run(position: Position, plan: Plan, options: SyncOptions, log: SyncLog) -> str:
    log.note(f"would {plan.action} onto {position.upstream} ({position.behind} incoming commit(s))")
    if position.ahead and options.push:
        log.note(f"would then push to {position.upstream}")
    return f"would_{plan.action.replace('-', '_')}"


# -- snapshot, integrate, verify, move, push: rolled back together -------------------------


def carry_out(
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, log: SyncLog
) -> Carried:
    """Snapshot, integrate, verify, move, push; on any failure or signal after the
    snapshot, roll back."""
    taken: Taken | None = None
    moved = pushing = False
    new = position.old
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
        if options.push and position.ahead > 0:
            pushing = True
            lease = position.up_sha if options.mode == "rebase" else None
            pushed = push(g, position.branch, position.remote, position.dest, log, lease=lease)
        return Carried(new=new, snapshot=taken.ref, pushed=pushed)
    except BaseException:
        if taken is not None:
            with process.critical():
                kept = pushing and g.rev(position.tracking_ref) == new
                if kept:
                    # The remote took the push before the failure or signal: the local
                    # branch stays where the remote now is.
                    log.note("the push went through: keeping the sync")
                else:
                    roll_back(g, position, taken, moved=moved, log=log)
        raise


def snapshot(g: GitRepo, position: Position, plan: Plan, log: SyncLog) -> tuple[str, str | None]:
    """The snapshot commit of HEAD, index and files and, for autostash, the local
    changes as a stash commit: (snapshot, stash). Objects only: the caller records the
    snapshot's ref. Changes nothing the user sees."""
    stash = None
    if plan.autostash:
        stash = g.text(["stash", "create", "devkit autostash"]).strip() or None
    log.note("taking a snapshot")
    commit = snapshot_commit(
        g,
        branch=position.branch,
        head=position.old,
        reason=REASON,
        clean=not position.status.dirty,
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
        mode=options.mode,
        branch=position.branch,
        old=position.old,
        up_sha=position.up_sha,
        upstream=position.upstream,
    )


def verify(
    g: GitRepo,
    position: Position,
    plan: Plan,
    options: SyncOptions,
    *,
    new: str,
    stash: str | None,
) -> None:
    """Before the move: the new tip contains the upstream, and carried-over local
    changes re-apply cleanly on top of it."""
    if new != position.up_sha and not _is_ancestor(g, position.up_sha, new):
        raise SyncStopped(
            "verification failed: the result does not contain the upstream",
            code="verify_failed",
            hint="report this",
        )
    if stash is None:
        return
    outcome = merge_with_base(g, new, stash, position.old)
    if outcome.clean:
        return
    current = (
        position.upstream
        if plan.action == "fast-forward"
        else (f"{position.branch} after {options.mode}")
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


def _is_ancestor(g: GitRepo, ancestor: str, descendant: str) -> bool:
    return g.run(["merge-base", "--is-ancestor", ancestor, descendant], check=False).ok


def move(
    g: GitRepo, position: Position, plan: Plan, options: SyncOptions, *, new: str, taken: Taken
) -> None:
    """Move the user's branch, index and files to `new` and record it in the snapshot's
    `left` ref (call inside a critical section); then check that HEAD is on the branch
    at `new` with nothing in progress."""
    reflog = {"GIT_REFLOG_ACTION": f"devkit sync ({options.mode})"}
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
        _move_two_trees(g, position, options, new=new, taken=taken)
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


def _move_two_trees(
    g: GitRepo, position: Position, options: SyncOptions, *, new: str, taken: Taken
) -> None:
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
        message=f"devkit sync ({options.mode}): onto {position.upstream}",
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


def push(
    g: GitRepo,
    branch: str,
    remote: str,
    dest: str,
    log: SyncLog,
    *,
    lease: str | None = None,
    set_upstream: bool = False,
) -> bool:
    """Push the branch to `dest` on `remote`; True when the remote changed. A rejected
    push is a SyncStopped, never a success."""
    g.check_remote_is_safe(remote)
    args = ["push", "--porcelain"]
    if set_upstream:
        args.append("--set-upstream")
    if lease is not None:
        args += [f"--force-with-lease={dest}:{lease}", "--force-if-includes"]
    args += ["--", remote, f"refs/heads/{branch}:{dest}"]
    log.note(f"pushing to {remote}")
    out = g.run(args, check=False, timeout=g.network_timeout, env=g.network_env())
    outcome = parse_push_porcelain(out.text)
    if out.ok and outcome and all(flag in " *+=-" for flag, _, _ in outcome):
        log.note(f"pushed {branch} to {remote} ({dest.removeprefix('refs/heads/')})")
        return any(flag != "=" for flag, _, _ in outcome)
    reasons = [summary for flag, _, summary in outcome if flag == "!"]
    reason = reasons[0] if reasons else out.last_error_line()
    raise SyncStopped(
        f"push to {remote} was rejected: {reason}",
        code="push_rejected",
        hint="someone else pushed or the remote refused it; run devkit sync again"
        if "stale" in reason or "fetch first" in reason or "non-fast-forward" in reason
        else "check the remote's rules and your permissions, then sync again",
    )


def parse_push_porcelain(text: str) -> list[tuple[str, str, str]]:
    """(flag, 'src:dst', summary) for each ref line of `git push --porcelain`."""
    lines = []
    for line in text.splitlines():
        if not line or line.startswith("To ") or line == "Done" or "\t" not in line:
            continue
        flag = line[0]
        parts = line[1:].lstrip("\t").split("\t")
        if len(parts) >= 2:
            lines.append((flag, parts[0], parts[1]))
    return lines
