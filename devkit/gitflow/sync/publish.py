"""A branch whose upstream the remote does not have: never pushed, or gone from the
server (deleted there, typically after its pull request was merged).

Creating a branch on a server is a decision, not a side effect of syncing: like
git-town (whose `push-new-branches` is off by default), sync publishes a branch only
when asked (`--publish`), and never re-creates a deleted one otherwise. Without it, the
report says what is there and whether the branch holds work that no remote has.
"""

from __future__ import annotations

from dataclasses import replace

from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.results import RepoSyncResult
from devkit.gitflow.sync.destination import push_elsewhere
from devkit.gitflow.sync.model import Known, PushTarget, SyncLog, SyncOptions, Unpublished
from devkit.gitflow.sync.push import push


def publish_or_report(
    g: GitRepo, unpublished: Unpublished, options: SyncOptions, log: SyncLog, known: Known
) -> RepoSyncResult:
    """Push where `git push` would when that only updates an existing branch (a fork
    that has it); create the branch only with --publish; otherwise report."""
    elsewhere = push_elsewhere(g, unpublished) if options.push else None
    if elsewhere is not None and _exists_on_remote(g, elsewhere):
        # A fork that already has the branch: an ordinary push, nothing is created.
        return _push_to(g, unpublished, elsewhere, options, log, known)
    if not options.publish:
        return _report_unpublished(g, unpublished, log, known)
    if elsewhere is not None:
        # A fork: push where `git push` would and leave the configured upstream alone.
        return _push_to(g, unpublished, elsewhere, options, log, known)
    verb = "re-create" if unpublished.gone else "publish"
    if options.dry_run:
        log.note(f"would {verb} {unpublished.upstream} and track it")
        return known.result("would_publish", log)
    log.note(f"{verb} {unpublished.upstream} (--publish)")
    pushed = push(
        g, unpublished.branch, unpublished.remote, unpublished.dest, log, set_upstream=True
    )
    return replace(known, pushed=pushed).result("published", log)


def _push_to(
    g: GitRepo,
    unpublished: Unpublished,
    target: PushTarget,
    options: SyncOptions,
    log: SyncLog,
    known: Known,
) -> RepoSyncResult:
    if options.dry_run:
        log.note(f"would push {unpublished.branch} to {target.describe()}")
        return known.result("would_push", log)
    pushed = push(g, unpublished.branch, target.remote, target.dest, log)
    return replace(known, pushed=pushed).result("pushed", log)


def _exists_on_remote(g: GitRepo, target: PushTarget) -> bool:
    return target.tracking_ref is not None and g.rev(target.tracking_ref) is not None


def _report_unpublished(
    g: GitRepo, unpublished: Unpublished, log: SyncLog, known: Known
) -> RepoSyncResult:
    """Not published and not pushed: say so, and warn about work no remote has."""
    branch, remote = unpublished.branch, unpublished.remote
    publish_hint = f"devkit sync --publish (git push -u {remote} {branch})"
    if not unpublished.gone:
        log.note(unpublished.why)
        return known.result("not_published", log, next_step=f"publish it: {publish_hint}")
    log.note(
        f"{unpublished.upstream}, the upstream of '{branch}', is gone: deleted on the "
        "server (a merged pull request?)"
    )
    unshipped = unshipped_commits(g, unpublished.head, remote)
    if unshipped:
        log.note(
            f"warning: {unshipped} commit(s) of '{branch}' are on no remote branch and "
            "not in its default branch; deleting the branch would lose them"
        )
        next_step = f"keep them: {publish_hint}, or merge them elsewhere"
    else:
        next_step = f"everything on '{branch}' has shipped; delete it: git branch -D {branch}"
    return known.result("upstream_gone", log, next_step=next_step)


def unshipped_commits(g: GitRepo, head: str, remote: str) -> int:
    """How many commits of `head` no remote-tracking branch has; 0 also when their
    changes are all in the remote's default branch already (a squash or rebase merge
    gives new commits, so the originals are on no remote branch)."""
    count = g.text(["rev-list", "--count", head, "--not", "--remotes", "--"]).strip()
    if int(count or "0") == 0:
        return 0
    default = _default_branch(g, remote)
    if default is not None:
        merged = g.run(["merge-tree", "--write-tree", default, head], check=False)
        default_tree = g.text(["rev-parse", f"{default}^{{tree}}"]).strip()
        if merged.ok and merged.text.split("\n", 1)[0].strip() == default_tree:
            return 0
    return int(count)


def _default_branch(g: GitRepo, remote: str) -> str | None:
    """The remote's default branch as last fetched (its HEAD, else main or master)."""
    for ref in (f"refs/remotes/{remote}/HEAD", f"refs/remotes/{remote}/main"):
        if g.rev(ref) is not None:
            return ref
    master = f"refs/remotes/{remote}/master"
    return master if g.rev(master) is not None else None
