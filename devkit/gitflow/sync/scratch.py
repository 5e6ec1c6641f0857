"""A throw-away linked worktree inside the git directory, where sync rebases or merges
without touching the user's files.

Creating and removing it are critical sections: a signal never leaves a half-made
scratch directory or a `.git/worktrees/` entry behind. The rebase or merge itself is
interruptible (its git is stopped with the rest of the sync).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from devkit import process
from devkit.errors import DevkitError
from devkit.gitflow.conflicts import live_report
from devkit.gitflow.gitcmd import GitRepo, open_repo
from devkit.gitflow.leftovers import remove_scratch
from devkit.gitflow.results import ConflictReport
from devkit.gitflow.sync.model import SyncStopped


@contextmanager
def scratch_worktree(g: GitRepo, at: str) -> Iterator[Path]:
    """A detached worktree at commit `at` under `.git/devkit/sync-*/wt`, removed
    (files and admin directory) however the block ends."""
    parent: Path | None = None
    try:
        with process.critical():
            holder = g.common_dir / "devkit"
            holder.mkdir(exist_ok=True)
            parent = Path(tempfile.mkdtemp(prefix="sync-", dir=holder))
        # The scratch checkout is bookkeeping, not the user's checkout: no
        # post-checkout hook, no LFS downloads.
        add = ["worktree", "add", "--detach", "--quiet", str(parent / "wt"), at]
        g.run(["-c", "core.hooksPath=/dev/null", *add], env={"GIT_LFS_SKIP_SMUDGE": "1"})
        yield parent / "wt"
    finally:
        if parent is not None:
            with process.critical():
                remove_scratch(g, parent)


def integrate_in_scratch(
    g: GitRepo,
    *,
    mode: str,
    branch: str,
    old: str,
    up_sha: str,
    upstream: str,
    replay_after: str | None = None,
) -> str:
    """Rebase `old` onto the upstream (only the commits after `replay_after` when set),
    or merge the upstream into it, in a scratch worktree. Returns the new tip; a
    conflict or a refusing hook is a SyncStopped."""
    env = {"GIT_REFLOG_ACTION": f"devkit sync ({mode})", "GIT_LFS_SKIP_SMUDGE": "1"}
    with scratch_worktree(g, old) as scratch:
        base = ["-C", str(scratch)]
        if mode == "rebase":
            args = ["rebase", "--no-autostash", "--no-update-refs", "--quiet"]
            args += ["--onto", up_sha, replay_after] if replay_after else [up_sha]
        else:
            message = f"Merge {upstream} into {branch}"
            args = ["merge", "--no-edit", "--no-ff", "--quiet", "-m", message, up_sha]
        # The rebase or merge runs with the user's hooks.
        out = g.run([*base, *args], check=False, env=env)
        if out.ok:
            return _detached_head_of(scratch) or g.text([*base, "rev-parse", "HEAD"]).strip()
        report = _scratch_report(g, scratch, branch=branch, upstream=upstream, mode=mode)
        g.run([*base, mode, "--abort"], check=False)
        if report is None or not report.files:
            raise SyncStopped(
                f"{mode} of '{branch}' onto {upstream} failed: {out.last_error_line()}; "
                "nothing was changed",
                code="integrate_failed",
                hint="a hook may have refused it; see the message",
            )
        raise SyncStopped(
            f"{mode} of '{branch}' onto {upstream} stopped on a conflict "
            f"({len(report.files)} file(s)); nothing was changed",
            code="conflict",
            hint=f"integrate by hand: git {mode} {upstream}, then resolve",
            conflicts=report,
        )


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
    g: GitRepo, scratch: Path, *, branch: str, upstream: str, mode: str
) -> ConflictReport | None:
    try:
        sg = open_repo(scratch, env=g.env, search_parents=False)
        if mode == "rebase":
            report = live_report(sg, current_label=upstream, incoming_label=branch)
        else:
            report = live_report(sg, current_label=branch, incoming_label=upstream)
    except DevkitError:
        return None
    if report is None:
        return None
    return replace(report, repo=str(g.worktree))
