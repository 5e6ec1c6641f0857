"""check, fetch, classify: which branch a sync works on and where it stands against
its freshly fetched upstream. Nothing here changes the repository except fetching
(and, outside a dry run, setting a missing upstream that the remote already has)."""

from __future__ import annotations

from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.journal import refuse_incomplete_sync
from devkit.gitflow.status import RepoStatus
from devkit.gitflow.sync.model import (
    Checked,
    Position,
    SyncLog,
    SyncOptions,
    SyncStopped,
    Unpublished,
)

# -- check -----------------------------------------------------------------------------


def check(g: GitRepo) -> Checked | None:
    """The branch to sync and its remote (None: HEAD is detached). Reads only.

    An operation in progress is looked for first: a rebase or bisect detaches HEAD,
    and "HEAD is detached" would hide the real cause. A sync that was stopped half-way
    through its move (SIGKILL) comes before anything else."""
    refuse_incomplete_sync(g)
    refuse_operation_in_progress(g)
    branch = _current_branch(g)
    if branch is None:
        return None
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


def refuse_operation_in_progress(g: GitRepo) -> None:
    """Stop, saying how to finish it, when a rebase, merge, cherry-pick, revert or
    bisect is under way."""
    operation = g.operation_in_progress()
    if operation:
        hint = f"continue it (git {operation} --continue) or abort it (git {operation} --abort)"
    elif (g.git_dir / "BISECT_LOG").exists():
        operation, hint = "bisect", "end it first: git bisect reset"
    else:
        return
    raise SyncStopped(f"a {operation} is in progress", code="operation_in_progress", hint=hint)


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
        if g.rev("HEAD") is None:  # `git branch --set-upstream-to` needs a commit
            raise _no_commits(branch, remote_branch=f"{remote} {branch}")
        if not options.dry_run:
            g.run(["branch", f"--set-upstream-to={remote}/{branch}", branch])
            g.forget_config()
            log.note(f"now tracking {remote}/{branch}")
    status = _usable_status(g, branch)
    up = g.run(
        ["rev-parse", upstream_spec, "--symbolic-full-name", upstream_spec], check=False
    ).text.split()
    if len(up) != 2:
        # Configured, but the remote has no such branch: git calls the upstream "gone"
        # (deleted on the server, typically a merged pull request).
        remote_branch = merge_ref.removeprefix("refs/heads/")
        why = f"{remote} no longer has '{remote_branch}', the upstream of '{branch}'"
        return _unpublished(g, checked, dest=merge_ref, why=why, gone=True)
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


def _unpublished(
    g: GitRepo, checked: Checked, *, dest: str, why: str, gone: bool = False
) -> Unpublished:
    head = g.rev("HEAD")
    if head is None:
        raise _no_commits(checked.branch)
    upstream = f"{checked.remote}/{dest.removeprefix('refs/heads/')}"
    return Unpublished(checked.branch, checked.remote, dest, upstream, head, why, gone)


def _no_commits(branch: str, *, remote_branch: str | None = None) -> SyncStopped:
    hint = "make a first commit (devkit commit -m ...)"
    if remote_branch:
        hint += f", or start from the remote's: git pull {remote_branch}"
    return SyncStopped(f"'{branch}' has no commits yet", code="no_commits", hint=hint)


def _usable_status(g: GitRepo, branch: str) -> RepoStatus:
    # Tracked changes only: scanning a large tree for untracked files costs more than
    # the rest of the status, and sync looks for them only where incoming paths go
    # (overlap.untracked_at).
    status = g.status(untracked="no")
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
