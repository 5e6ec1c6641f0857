"""What a devkit killed with SIGKILL leaves behind, and tidying it on the next run.

Only call these while holding the repository lock (devkit/gitflow/locking.py): every
devkit process that makes scratch worktrees or temporary indexes holds it meanwhile,
so whatever is found then belongs to a devkit that is gone. (`devkit stage` uses its
own `.git/devkit-index` under git's index.lock and is left alone.)
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

from devkit import process
from devkit.errors import OperationFailed
from devkit.gitflow.gitcmd import GitRepo

TEMPORARY_INDEX_PREFIX = "devkit-index-"  # snapshot.temporary_index: devkit-index-<pid>-<hex>
SCRATCH_PREFIX = "sync-"  # scratch worktrees: .git/devkit/sync-*/wt


def remove_scratch(g: GitRepo, parent: Path) -> None:
    """What `git worktree remove --force` does (delete the files and the admin dir),
    without a git process, and also for a `worktree add` that was stopped half-way
    (its admin dir is still marked `locked`, which `git worktree prune` respects)."""
    shutil.rmtree(parent, ignore_errors=True)
    _forget_worktrees_under(g, parent)


def _forget_worktrees_under(g: GitRepo, root: Path) -> None:
    """Delete the `.git/worktrees/` entries of linked worktrees inside `root`."""
    admin_root = g.common_dir / "worktrees"
    for admin in admin_root.glob("*") if admin_root.is_dir() else ():
        try:
            pointer = Path((admin / "gitdir").read_text().strip())
        except OSError:
            continue
        if pointer.resolve().is_relative_to(root.resolve()):
            shutil.rmtree(admin, ignore_errors=True)
    with contextlib.suppress(OSError):
        admin_root.rmdir()  # only if empty, as git's prune does


def tidy_leftovers(g: GitRepo) -> list[str]:
    """Remove the scratch worktrees (files and `.git/worktrees/` entries) and the
    temporary index copies of devkits that were killed; returns what was removed."""
    removed: list[str] = []
    with process.critical():
        holder = g.common_dir / "devkit"
        for parent in sorted(holder.glob(f"{SCRATCH_PREFIX}*")) if holder.is_dir() else ():
            remove_scratch(g, parent)
            removed.append(str(parent))
        # A `worktree add` stopped before its directory appeared still has an entry.
        _forget_worktrees_under(g, holder)
        for copy in sorted(g.git_dir.glob(f"{TEMPORARY_INDEX_PREFIX}*")):
            copy.unlink(missing_ok=True)
            removed.append(str(copy))
    return removed


def refuse_index_lock(g: GitRepo) -> None:
    """Stop, naming the lock and its age, when git's index lock is taken: "commit or
    stash" would send the user the wrong way."""
    age = index_lock_age(g)
    if age is None:
        return
    lock = g.git_dir / "index.lock"
    shown = lock.relative_to(g.worktree) if lock.is_relative_to(g.worktree) else lock
    raise OperationFailed(
        f"git's index lock {shown} exists (made {describe_age(age)}); nothing was changed",
        code="index_locked",
        hint=f"if no git command is running in this repository, the lock is stale (a "
        f"crashed git left it): remove it (rm {shown}) and run the command again",
    )


def remove_index_lock_left_by(g: GitRepo, journal: Path) -> None:
    """A git that was SIGKILLed during a journaled move may have left index.lock: it is
    the move's when it is younger than the journal (no other devkit ran meanwhile; the
    caller holds the repository lock)."""
    lock = g.git_dir / "index.lock"
    with contextlib.suppress(FileNotFoundError):
        if lock.stat().st_mtime >= journal.stat().st_mtime:
            lock.unlink()


def index_lock_age(g: GitRepo) -> float | None:
    """Seconds since `.git/index.lock` was made, or None when there is none."""
    try:
        return max(0.0, time.time() - (g.git_dir / "index.lock").stat().st_mtime)
    except FileNotFoundError:
        return None


def describe_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"
