"""`sync`: bring branches up to date with their upstream and publish local commits.

Per repository: check, fetch with prune, classify, predict conflicts with
`git merge-tree --write-tree`, snapshot, integrate, verify, push, report. Everything
that can stop half-way (a rebase or merge) runs in a scratch worktree inside the git
directory, so the user's HEAD, index and files are only ever changed by one atomic step
(`git merge --ff-only` or a two-tree `git read-tree -m -u`, which refuse rather than
overwrite local changes). If anything fails after that step, the snapshot is restored: a failed sync
leaves the repository exactly as it found it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from devkit.errors import DevkitError, ExitCode, InvalidInput, OperationFailed
from devkit.gitflow.conflicts import live_report, merge_with_base, predict_conflicts
from devkit.gitflow.gitcmd import GitRepo, check_git_version, environment, open_repo
from devkit.gitflow.locking import lock_wait_seconds, repository_lock
from devkit.gitflow.results import ConflictReport, RepoSyncResult, SyncReport
from devkit.gitflow.snapshot import (
    Snapshot,
    left_ref,
    mark_left,
    read_snapshot,
    restore_snapshot,
    take_snapshot,
    temporary_index,
)
from devkit.gitflow.status import paths_overlap

MODES = ("rebase", "merge", "ff-only")
MAX_DEFAULT_JOBS = 8

ProgressCallback = Callable[[str, str], None]  # (repo, what is happening)


class SyncStopped(OperationFailed):
    """A sync that stopped on purpose, carrying what the report needs."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        hint: str | None = None,
        overlapping: Sequence[str] = (),
        conflicts: ConflictReport | None = None,
        next_step: str | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.overlapping = tuple(overlapping)
        self.conflicts = conflicts
        self.next_step = next_step or hint


@dataclass
class _Run:
    """Mutable state of one repository's sync, turned into a RepoSyncResult at the end."""

    repo: str
    mode: str
    push: bool
    autostash: bool
    dry_run: bool
    progress: ProgressCallback | None
    branch: str | None = None
    upstream: str | None = None
    state: str = "unknown"
    ahead: int = 0
    behind: int = 0
    old_head: str | None = None
    new_head: str | None = None
    snapshot: str | None = None
    pushed: bool = False
    left_marked: bool = False
    log: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.log.append(text)
        if self.progress:
            self.progress(self.repo, text)

    def result(self, result: str, *, next_step: str | None = None) -> RepoSyncResult:
        return RepoSyncResult(
            repo=self.repo,
            branch=self.branch,
            upstream=self.upstream,
            state=self.state,
            ahead=self.ahead,
            behind=self.behind,
            result=result,
            exit_code=0,
            pushed=self.pushed,
            old_head=self.old_head,
            new_head=self.new_head,
            snapshot=self.snapshot,
            next_step=next_step,
            log=tuple(self.log),
        )

    def failure(self, error: DevkitError) -> RepoSyncResult:
        stopped = error if isinstance(error, SyncStopped) else None
        return replace(
            self.result("failed", next_step=(stopped.next_step if stopped else error.hint)),
            exit_code=int(error.exit_code),
            error=error.to_json(),
            overlapping=stopped.overlapping if stopped else (),
            conflicts=stopped.conflicts if stopped else None,
        )


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
    workers = jobs or min(os.cpu_count() or 1, MAX_DEFAULT_JOBS)
    workers = max(1, min(workers, len(paths)))

    def one(path: Path) -> RepoSyncResult:
        run = _Run(
            repo=str(path),
            mode=chosen,
            push=push,
            autostash=autostash,
            dry_run=dry_run,
            progress=on_progress,
        )
        try:
            result = _sync_one(Path(path), run, base)
        except DevkitError as error:
            result = run.failure(error)
        except Exception as error:  # one repository's bug must not stop the others
            if base.get("DEVKIT_DEBUG") == "1":
                raise
            result = replace(
                run.failure(
                    OperationFailed(
                        f"internal error: {type(error).__name__}: {error}",
                        code="internal_error",
                        hint="rerun with DEVKIT_DEBUG=1 and report it",
                    )
                ),
                exit_code=int(ExitCode.INTERNAL),
            )
        if on_progress:
            on_progress(result.repo, "done")
        return result

    if workers == 1:
        results = [one(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devkit-sync") as pool:
            results = list(pool.map(one, paths))
    return SyncReport(mode=chosen, push=push, dry_run=dry_run, repos=tuple(results))


def _sync_one(path: Path, run: _Run, env: Mapping[str, str]) -> RepoSyncResult:
    g = open_repo(path, env=env)
    run.repo = str(g.worktree)
    with repository_lock(g.common_dir, wait=lock_wait_seconds(g.env)):
        return _sync_locked(g, run)


def _require_commit(g: GitRepo, branch: str) -> str:
    sha = g.rev("HEAD")
    if sha is None:
        raise SyncStopped(
            f"'{branch}' has no commits yet",
            code="no_commits",
            hint="make a first commit (devkit commit -m ...)",
        )
    return sha


def _upstream_of(g: GitRepo, branch: str) -> tuple[str | None, str | None]:
    """(remote, merge ref) configured for the branch."""
    return g.config(f"branch.{branch}.remote"), g.config(f"branch.{branch}.merge")


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


def _fetch(g: GitRepo, remote: str, run: _Run) -> None:
    run.note(f"fetching {remote}")
    out = g.fetch(remote)
    if not out.ok:
        raise SyncStopped(
            f"could not fetch from '{remote}': {out.last_error_line()}",
            code="fetch_failed",
            hint="check the network, the remote URL and your credentials; nothing was changed",
        )


def _publish(
    g: GitRepo, run: _Run, *, remote: str, branch: str, dest: str, why: str
) -> RepoSyncResult:
    """A branch the remote does not have yet: push it with -u (not with --no-push)."""
    run.state = "no_upstream"
    if not run.push:
        raise SyncStopped(
            why,
            code="no_upstream",
            hint=f"publish it: devkit sync (no --no-push) or git push -u {remote} {branch}",
        )
    if run.dry_run:
        run.note(f"would publish {branch} to {run.upstream} and track it")
        return run.result("would_publish")
    run.old_head = run.new_head = _require_commit(g, branch)
    _push(g, run, remote=remote, dest=dest, lease=None, set_upstream=True)
    return run.result("published")


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


def _sync_locked(g: GitRepo, run: _Run) -> RepoSyncResult:
    branch = _current_branch(g)
    if branch is None:
        run.state = "detached"
        run.note("skipped: HEAD is detached")
        return run.result("skipped", next_step="check out a branch to sync it")
    run.branch = branch
    operation = g.operation_in_progress()
    if operation:
        raise SyncStopped(
            f"a {operation} is in progress",
            code="operation_in_progress",
            hint=f"finish or abort it first (git {operation} --continue / --abort)",
        )

    remote, merge_ref = _upstream_of(g, branch)
    if remote == ".":
        raise SyncStopped(
            f"'{branch}' tracks a local branch ({merge_ref})",
            code="local_upstream",
            hint="sync the branch it tracks instead",
        )
    if remote is None or merge_ref is None:
        remote = _pick_remote(g, branch)
        _fetch(g, remote, run)
        tracking = f"refs/remotes/{remote}/{branch}"
        if g.rev(tracking) is not None:
            if not run.dry_run:
                g.run(["branch", f"--set-upstream-to={remote}/{branch}", branch])
                g.forget_config()
                run.note(f"now tracking {remote}/{branch}")
            merge_ref = f"refs/heads/{branch}"
        else:
            run.upstream = f"{remote}/{branch}"
            return _publish(
                g,
                run,
                remote=remote,
                branch=branch,
                dest=f"refs/heads/{branch}",
                why=f"'{branch}' has no upstream and {remote} has no branch of that name",
            )
    else:
        _fetch(g, remote, run)

    # Read the state after fetching: ahead/behind are then against the fresh upstream.
    status = g.status()
    if status.head != branch:
        raise SyncStopped(f"HEAD moved off '{branch}' while syncing", code="branch_moved")
    if status.oid is None:
        raise SyncStopped(
            f"'{branch}' has no commits yet",
            code="no_commits",
            hint="make a first commit (devkit commit -m ...)",
        )
    run.old_head = run.new_head = old = status.oid
    if status.unmerged:
        raise SyncStopped(
            f"{len(status.unmerged)} unmerged path(s): {', '.join(status.unmerged[:5])}",
            code="unmerged_paths",
            hint="resolve them and commit first",
        )

    up = g.run(["rev-parse", "--verify", "--quiet", "@{upstream}", "--"], check=False)
    up_sha = up.text.splitlines()[0].strip() if up.ok and up.text.strip() else None
    remote_branch = merge_ref.removeprefix("refs/heads/")
    short_up = status.upstream or f"{remote}/{remote_branch}"
    run.upstream = short_up
    if up_sha is None:
        # Configured, but the remote has no such branch (never pushed, or deleted).
        return _publish(
            g,
            run,
            remote=remote,
            branch=branch,
            dest=merge_ref,
            why=f"{remote} has no branch '{remote_branch}' for '{branch}' to track",
        )
    if status.ahead is not None and status.behind is not None:
        run.ahead, run.behind = status.ahead, status.behind
    else:
        counts = g.text(["rev-list", "--left-right", "--count", f"{old}...{up_sha}"]).split()
        run.ahead, run.behind = int(counts[0]), int(counts[1])
    run.state = {
        (False, False): "up_to_date",
        (True, False): "ahead",
        (False, True): "behind",
        (True, True): "diverged",
    }[(run.ahead > 0, run.behind > 0)]
    dest = merge_ref

    if run.behind == 0:
        if run.ahead == 0:
            return run.result("up_to_date")
        if not run.push:
            return run.result("ahead", next_step="push when ready (devkit sync)")
        if run.dry_run:
            run.note(f"would push {run.ahead} commit(s) to {short_up}")
            return run.result("would_push")
        _push(g, run, remote=remote, dest=dest, lease=None, set_upstream=False)
        return run.result("pushed")

    if run.ahead > 0 and run.mode == "ff-only":
        raise SyncStopped(
            f"'{branch}' and {short_up} have diverged ({run.ahead} ahead, {run.behind} behind)",
            code="diverged",
            hint="integrate explicitly: devkit sync --mode rebase (or --mode merge)",
        )

    # Predict before touching anything.
    if run.ahead > 0:
        # `branch` is at `old` (we hold the lock) and `short_up` is the upstream's name.
        report, outcome = predict_conflicts(
            g, current=(branch, old), incoming=(short_up, up_sha), names_resolve=True
        )
        if not report.clean:
            raise SyncStopped(
                f"merging {short_up} into '{branch}' would conflict in "
                f"{len(report.files)} file(s); nothing was changed",
                code="conflict_predicted",
                hint=f"see `devkit conflicts`; integrate by hand: git {run.mode} {short_up}",
                conflicts=report,
            )
        incoming_tree = outcome.tree
    else:
        incoming_tree = up_sha
    local = status.changed_paths
    changes = _changed_paths(g, old, incoming_tree)
    incoming = [path for _, path in changes]
    overlapping = sorted({p for p in local if any(paths_overlap(p, q) for q in incoming)})
    untracked = set(status.untracked)
    # Paths the incoming commits add where a file already sits: untracked files, and
    # ignored ones too (status does not list them, and `git merge` would overwrite them).
    in_the_way = {p for p in overlapping if p in untracked or p.endswith("/")}
    in_the_way.update(_occupied(g.worktree, [p for letter, p in changes if letter == "A"]))
    untracked_overlap = sorted(in_the_way)
    if overlapping and not run.autostash:
        raise SyncStopped(
            f"local changes touch {len(overlapping)} path(s) that {short_up} changes; "
            "nothing was changed",
            code="dirty_overlap",
            hint="commit or stash them, or pass --autostash",
            overlapping=overlapping,
        )
    if untracked_overlap:
        raise SyncStopped(
            f"untracked or ignored files would be overwritten by {short_up}; nothing was changed",
            code="untracked_overlap",
            hint="move or commit them first",
            overlapping=untracked_overlap,
        )
    action = "fast-forward" if run.ahead == 0 else run.mode
    if run.dry_run:
        run.note(f"would {action} onto {short_up} ({run.behind} incoming commit(s))")
        if run.ahead and run.push:
            run.note(f"would then push to {short_up}")
        return run.result(f"would_{action.replace('-', '_')}")

    stash = None
    if overlapping:
        stash = g.text(["stash", "create", "devkit autostash"]).strip() or None
    run.note("taking a snapshot")
    run.snapshot = take_snapshot(
        g, branch=branch, head=old, reason="before sync", clean=not status.dirty
    )
    try:
        new = _integrate(g, run, old=old, up_sha=up_sha, short_up=short_up, stash=stash)
        run.new_head = new
        if run.push and run.ahead > 0:
            rewrote = run.mode == "rebase"
            _push(
                g,
                run,
                remote=remote,
                dest=dest,
                lease=up_sha if rewrote else None,
                set_upstream=False,
            )
        if not run.left_marked:
            mark_left(g, run.snapshot, new)
    except BaseException:
        _roll_back(g, run, old)
        raise
    result = {"fast-forward": "fast_forwarded", "rebase": "rebased", "merge": "merged"}[action]
    return run.result(result, next_step="devkit undo reverts this sync" if run.snapshot else None)


def _is_ancestor(g: GitRepo, ancestor: str, descendant: str) -> bool:
    return g.run(["merge-base", "--is-ancestor", ancestor, descendant], check=False).ok


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


def _roll_back(g: GitRepo, run: _Run, old: str) -> None:
    """Restore the snapshot if the branch was moved or files changed."""
    if run.snapshot is None:
        return
    head = g.rev("HEAD") or old
    snap = read_snapshot(g, run.snapshot)
    if head == old and not _differs_from_snapshot(g, snap):
        g.run(["update-ref", "-d", run.snapshot], check=False)
        run.snapshot = None
        run.new_head = old
        return
    run.note("restoring the snapshot")
    restore_snapshot(g, snap, branch_now=head)
    run.new_head = old
    g.run(["update-ref", "-d", run.snapshot], check=False)
    if run.left_marked:
        g.run(["update-ref", "-d", left_ref(run.snapshot)], check=False)
    run.snapshot = None


def _differs_from_snapshot(g: GitRepo, snap: Snapshot) -> bool:
    """Whether the index or working tree no longer match the snapshot."""
    with temporary_index(g, copy_real=True) as env:
        index_tree = g.text(["write-tree"], env=env).strip()
        g.run(["add", "-A", "--", "."], env=env)
        worktree_tree = g.text(["write-tree"], env=env).strip()
    return bool(index_tree != snap.index_tree or worktree_tree != snap.worktree_tree)


def _integrate(
    g: GitRepo, run: _Run, *, old: str, up_sha: str, short_up: str, stash: str | None
) -> str:
    """Compute the new tip (in a scratch worktree when needed), then move the user's
    branch and files in one step. Returns the new tip."""
    branch = run.branch or "HEAD"
    reflog = {"GIT_REFLOG_ACTION": f"devkit sync ({run.mode})"}
    if run.ahead == 0:
        new = up_sha
    else:
        new = _in_scratch_worktree(g, run, old=old, up_sha=up_sha, short_up=short_up)
    if stash is not None:
        # Would the local changes re-apply cleanly on top of the new tip?
        outcome = merge_with_base(g, new, stash, old)
        if not outcome.clean:
            from devkit.gitflow.conflicts import build_report

            report = build_report(
                g,
                state="predicted",
                current=(short_up if run.ahead == 0 else f"{branch} after {run.mode}", new),
                incoming=("local changes", stash),
                base=old,
                outcome=outcome,
            )
            raise SyncStopped(
                f"your local changes would not re-apply on top of {short_up} "
                f"({len(report.files)} conflicting file(s)); nothing was changed",
                code="autostash_conflict",
                hint="commit your changes, then sync and resolve the conflict",
                conflicts=report,
            )
        g.run(["reset", "--hard", "--quiet", new], env=reflog)
        applied = g.run(["stash", "apply", "--index", "--quiet", stash], check=False)
        if not applied.ok:
            g.run(["reset", "--hard", "--quiet", new], env=reflog)
            applied = g.run(["stash", "apply", "--quiet", stash], check=False)
        if not applied.ok:
            raise SyncStopped(
                f"re-applying local changes failed: {applied.last_error_line()}",
                code="autostash_conflict",
                hint="your changes were restored; commit them and sync again",
            )
        run.note("re-applied local changes")
    elif run.ahead == 0:
        moved = g.run(["merge", "--ff-only", "--quiet", new], check=False, env=reflog)
        if not moved.ok:
            raise SyncStopped(
                f"fast-forward refused: {moved.last_error_line()}",
                code="integrate_failed",
                hint="commit or stash local changes and sync again",
            )
    else:
        # A two-tree read-tree is what checkout does: it updates index and files from
        # OLD to NEW, keeps every other local change (staged ones included) and
        # refuses, changing nothing, if a local change would be overwritten.
        moved = g.run(["read-tree", "-m", "-u", old, new], check=False)
        if not moved.ok:
            raise SyncStopped(
                f"updating the working tree refused: {moved.last_error_line()}",
                code="integrate_failed",
                hint="commit or stash local changes and sync again",
            )
        # Move the branch (only if still at `old`) and record where the sync leaves it,
        # in one transaction.
        updates: list[tuple[str, ...]] = [("update", f"refs/heads/{branch}", new, old)]
        if run.snapshot:
            updates.append(("create", left_ref(run.snapshot), new))
        g.update_refs(updates, message=f"devkit sync ({run.mode}): onto {short_up}")
        run.left_marked = run.snapshot is not None
    # Verify: on the branch, at the new tip, nothing half-done.
    where = g.run(["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], check=False).text
    if where.split() != [new, f"refs/heads/{branch}"] or g.operation_in_progress():
        raise SyncStopped(
            "verification after integrating failed", code="verify_failed", hint="report this"
        )
    if run.mode == "merge" and run.ahead and not _is_ancestor(g, up_sha, new):
        raise SyncStopped(
            "verification failed: the result does not contain the upstream",
            code="verify_failed",
        )
    verb = {"fast-forward": "fast-forwarded", "rebase": "rebased", "merge": "merged"}
    action = "fast-forward" if run.ahead == 0 else run.mode
    run.note(f"{verb[action]} onto {short_up} ({run.behind} incoming commit(s))")
    return new


def _in_scratch_worktree(g: GitRepo, run: _Run, *, old: str, up_sha: str, short_up: str) -> str:
    """Rebase or merge in a throw-away worktree; the user's files are not touched."""
    branch = run.branch or "HEAD"
    holder = g.common_dir / "devkit"
    holder.mkdir(exist_ok=True)
    scratch_parent = Path(tempfile.mkdtemp(prefix="sync-", dir=holder))
    scratch = scratch_parent / "wt"
    env = {"GIT_REFLOG_ACTION": f"devkit sync ({run.mode})", "GIT_LFS_SKIP_SMUDGE": "1"}
    # The scratch checkout is bookkeeping, not the user's checkout: no post-checkout
    # hook, no LFS downloads. The rebase or merge itself runs with the user's hooks.
    g.run(
        [
            "-c",
            "core.hooksPath=/dev/null",
            "worktree",
            "add",
            "--detach",
            "--quiet",
            str(scratch),
            old,
        ],
        env={"GIT_LFS_SKIP_SMUDGE": "1"},
    )
    try:
        base = ["-C", str(scratch)]
        if run.mode == "rebase":
            out = g.run(
                [*base, "rebase", "--no-autostash", "--no-update-refs", "--quiet", up_sha],
                check=False,
                env=env,
            )
        else:
            message = f"Merge {short_up} into {branch}"
            out = g.run(
                [*base, "merge", "--no-edit", "--no-ff", "--quiet", "-m", message, up_sha],
                check=False,
                env=env,
            )
        if not out.ok:
            report = _scratch_report(g, scratch, branch=branch, short_up=short_up, mode=run.mode)
            abort = "rebase" if run.mode == "rebase" else "merge"
            g.run([*base, abort, "--abort"], check=False)
            if report is None or not report.files:
                raise SyncStopped(
                    f"{run.mode} of '{branch}' onto {short_up} failed: {out.last_error_line()}; "
                    "nothing was changed",
                    code="integrate_failed",
                    hint="a hook may have refused it; see the message",
                )
            files = len(report.files)
            raise SyncStopped(
                f"{run.mode} of '{branch}' onto {short_up} stopped on a conflict "
                f"({files} file(s)); nothing was changed",
                code="conflict",
                hint=f"integrate by hand: git {run.mode} {short_up}, then resolve",
                conflicts=report,
            )
        return _detached_head_of(scratch) or g.text([*base, "rev-parse", "HEAD"]).strip()
    finally:
        # What `git worktree remove --force` does (delete the files and the admin
        # dir), without one more git process per repository.
        admin = _admin_dir_of(scratch)
        shutil.rmtree(scratch_parent, ignore_errors=True)
        if admin is not None and admin.parent == g.common_dir / "worktrees":
            shutil.rmtree(admin, ignore_errors=True)
            with contextlib.suppress(OSError):
                admin.parent.rmdir()  # only if empty, as git's prune does
        else:
            g.run(["worktree", "prune"], check=False)


def _admin_dir_of(worktree: Path) -> Path | None:
    """A linked worktree's directory under .git/worktrees/ (from its .git file)."""
    try:
        pointer = (worktree / ".git").read_text().strip()
    except OSError:
        return None
    if not pointer.startswith("gitdir: "):
        return None
    return Path(pointer.removeprefix("gitdir: ")).resolve()


def _detached_head_of(worktree: Path) -> str | None:
    """The commit a linked worktree's detached HEAD names, read from its files."""
    admin = _admin_dir_of(worktree)
    try:
        head = (admin / "HEAD").read_text().strip() if admin else ""
    except OSError:
        return None
    return head if len(head) in (40, 64) and all(c in "0123456789abcdef" for c in head) else None


def _scratch_report(
    g: GitRepo, scratch: Path, *, branch: str, short_up: str, mode: str
) -> ConflictReport | None:
    try:
        sg = open_repo(scratch, env=g.env, search_parents=False)
        if mode == "rebase":
            report = live_report(sg, current_label=short_up, incoming_label=branch)
        else:
            report = live_report(sg, current_label=branch, incoming_label=short_up)
    except DevkitError:
        return None
    if report is None:
        return None
    return replace(report, repo=str(g.worktree))


def _push(
    g: GitRepo,
    run: _Run,
    *,
    remote: str,
    dest: str,
    lease: str | None,
    set_upstream: bool,
) -> None:
    branch = run.branch or "HEAD"
    g.check_remote_is_safe(remote)
    args = ["push", "--porcelain"]
    if set_upstream:
        args.append("--set-upstream")
    if lease is not None:
        args += [f"--force-with-lease={dest}:{lease}", "--force-if-includes"]
    args += ["--", remote, f"refs/heads/{branch}:{dest}"]
    run.note(f"pushing to {remote}")
    out = g.run(args, check=False, timeout=g.network_timeout, env=g.network_env())
    outcome = parse_push_porcelain(out.text)
    if out.ok and outcome and all(flag in " *+=-" for flag, _, _ in outcome):
        run.pushed = any(flag != "=" for flag, _, _ in outcome)
        run.note(f"pushed {branch} to {remote} ({dest.removeprefix('refs/heads/')})")
        return
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
