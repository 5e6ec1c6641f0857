"""Snapshots of HEAD, the index and the whole working tree, and `undo` from them.

A snapshot is a commit W under `refs/devkit/snapshots/<branch>/<stamp>`, shaped like a
stash: W's tree is the working tree (tracked and untracked files, not ignored ones),
its first parent is HEAD and its second parent is a commit whose tree is the index
(for a clean tree, where index and files equal HEAD, the ref points at HEAD itself).
It is built with a temporary GIT_INDEX_FILE (a copy of the real index), `add -A`,
`write-tree` and `commit-tree`, so the real index and working tree are never touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from devkit import process
from devkit.errors import OperationFailed
from devkit.gitflow.gitcmd import BOOKKEEPING_IDENTITY, GitRepo, open_repo
from devkit.gitflow.journal import (
    Journal,
    journal_location,
    journal_path,
    read_journal,
    remove_journal,
)
from devkit.gitflow.leftovers import refuse_index_lock, remove_index_lock_left_by, tidy_leftovers
from devkit.gitflow.locking import lock_wait_seconds, repository_lock
from devkit.gitflow.results import UndoResult

SNAPSHOT_PREFIX = "refs/devkit/snapshots/"
BACKUP_PREFIX = "refs/devkit/undo-backups/"
# refs/devkit/left/<branch>/<stamp>: where the sync of the same-named snapshot left
# the branch; written only when that sync completed.
LEFT_PREFIX = "refs/devkit/left/"


@dataclass(frozen=True)
class Snapshot:
    ref: str
    commit: str
    branch: str
    head: str
    index_tree: str
    worktree_tree: str
    left: str | None  # where the sync left the branch, once it completed
    # The index and tracked files the sync left (None: a sync by an older devkit).
    left_state: TrackedState | None = None


@dataclass(frozen=True)
class TrackedState:
    """An index and the tracked files of a working tree, as trees (the files as
    `git add -u` would stage them)."""

    index_tree: str
    worktree_tree: str


@contextmanager
def temporary_index(g: GitRepo, *, copy_real: bool) -> Iterator[dict[str, str]]:
    """An environment with GIT_INDEX_FILE pointing at a private, throw-away index."""
    path = g.git_dir / f"devkit-index-{os.getpid()}-{secrets.token_hex(4)}"
    real = g.git_dir / "index"
    try:
        if copy_real and real.exists():
            # A copy keeps the stat cache, so `add -A` only rehashes changed files.
            shutil.copyfile(real, path)
        yield {"GIT_INDEX_FILE": str(path), **BOOKKEEPING_IDENTITY}
    finally:
        for leftover in (path, Path(f"{path}.lock")):
            leftover.unlink(missing_ok=True)


def _stamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond:06d}Z"


def take_snapshot(
    g: GitRepo, *, branch: str, head: str, reason: str, prefix: str = "", clean: bool = False
) -> str:
    """Record HEAD, index and working tree; return the snapshot's ref name."""
    commit = snapshot_commit(g, branch=branch, head=head, reason=reason, clean=clean)
    return record_snapshot(g, branch=branch, commit=commit, reason=reason, prefix=prefix)


def snapshot_commit(g: GitRepo, *, branch: str, head: str, reason: str, clean: bool) -> str:
    """The snapshot commit of HEAD, index and working tree (objects only, no ref).

    `clean` (status listed nothing) means index and working tree both equal HEAD's
    tree, so no scan of the working tree is needed: HEAD itself is the snapshot."""
    if clean:
        return head
    with temporary_index(g, copy_real=True) as env:
        index_tree = g.text(["write-tree"], env=env).strip()
        g.run(["add", "-A", "--", "."], env=env)
        worktree_tree = g.text(["write-tree"], env=env).strip()
        index_commit = g.text(
            ["commit-tree", index_tree, "-p", head, "-m", f"devkit index of {branch}"], env=env
        ).strip()
        message = _message(reason, branch=branch, head=head)
        return g.text(
            ["commit-tree", worktree_tree, "-p", head, "-p", index_commit, "-m", message], env=env
        ).strip()


def record_snapshot(g: GitRepo, *, branch: str, commit: str, reason: str, prefix: str = "") -> str:
    """Create the snapshot's ref (refs/devkit/snapshots/<branch>/<UTC time>)."""
    ref = f"{prefix or SNAPSHOT_PREFIX}{branch}/{_stamp()}"
    g.run(["update-ref", "-m", f"devkit: {reason}", ref, commit, "0" * 40])
    return ref


def _message(reason: str, *, branch: str, head: str) -> str:
    lines = [f"devkit snapshot: {reason}", "", f"devkit-branch: {branch}", f"devkit-head: {head}"]
    return "\n".join(lines) + "\n"


def left_ref(snapshot_ref: str) -> str:
    return LEFT_PREFIX + snapshot_ref.removeprefix(SNAPSHOT_PREFIX)


def read_snapshot(g: GitRepo, ref: str, *, commit: str | None = None) -> Snapshot:
    """The snapshot `ref` names (or, given, the snapshot commit that `ref` named)."""
    commit = commit or g.text(["rev-parse", "--verify", f"{ref}^{{commit}}"]).strip()
    head, state, meta = _read_state_commit(g, commit)
    if state is None:
        # The snapshot of a clean tree is HEAD itself: index and files were its tree.
        tree = g.text(["rev-parse", f"{commit}^{{tree}}"]).strip()
        state = TrackedState(index_tree=tree, worktree_tree=tree)
    branch = ref.removeprefix(SNAPSHOT_PREFIX).removeprefix(BACKUP_PREFIX).rpartition("/")[0]
    left = left_state = None
    left_commit = g.rev(left_ref(ref)) if ref.startswith(SNAPSHOT_PREFIX) else None
    if left_commit is not None:
        left, left_state, _ = _read_state_commit(g, left_commit)
    return Snapshot(
        ref=ref,
        commit=commit,
        branch=meta.get("devkit-branch", branch),
        head=head,
        index_tree=state.index_tree,
        worktree_tree=state.worktree_tree,
        left=left,
        left_state=left_state,
    )


def _read_state_commit(g: GitRepo, commit: str) -> tuple[str, TrackedState | None, dict[str, str]]:
    """(HEAD, index and files, metadata) of a snapshot or left-state commit; a plain
    commit is only a HEAD."""
    raw = g.text(["cat-file", "commit", commit])
    header, _, body = raw.partition("\n\n")
    parents = [line.split()[1] for line in header.splitlines() if line.startswith("parent ")]
    tree = next(line.split()[1] for line in header.splitlines() if line.startswith("tree "))
    meta = {}
    for line in body.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("devkit-"):
            meta[key] = value.strip()
    if "devkit-head" not in meta:
        return commit, None, meta
    if len(parents) < 2:
        raise OperationFailed(f"{commit} is not a devkit snapshot", code="bad_snapshot")
    index_tree = g.text(["rev-parse", f"{parents[1]}^{{tree}}"]).strip()
    return meta["devkit-head"], TrackedState(index_tree, tree), meta


def tracked_state(g: GitRepo) -> TrackedState:
    """The index and the tracked files as they are now (nothing is changed)."""
    with temporary_index(g, copy_real=True) as env:
        index_tree = g.text(["write-tree"], env=env).strip()
        g.run(["add", "-u", "--", "."], env=env)
        return TrackedState(index_tree, g.text(["write-tree"], env=env).strip())


def state_commit(g: GitRepo, *, branch: str, head: str, state: TrackedState, reason: str) -> str:
    """A commit shaped like a snapshot (tree: the files; parents: HEAD and a commit of
    the index), for objects only."""
    env = dict(BOOKKEEPING_IDENTITY)
    message = f"devkit index of {branch}"
    index_commit = g.text(
        ["commit-tree", state.index_tree, "-p", head, "-m", message], env=env
    ).strip()
    message = _message(reason, branch=branch, head=head)
    return g.text(
        ["commit-tree", state.worktree_tree, "-p", head, "-p", index_commit, "-m", message],
        env=env,
    ).strip()


def mark_left(g: GitRepo, ref: str, left: str) -> None:
    """Record where the sync left the branch (undo only acts if it is still there)."""
    g.run(["update-ref", "-m", "devkit: sync completed", left_ref(ref), left, "0" * 40])


def latest_snapshot(g: GitRepo, branch: str) -> Snapshot | None:
    out = g.text(
        ["for-each-ref", "--sort=-refname", "--format=%(refname)", f"{SNAPSHOT_PREFIX}{branch}/"]
    )
    for ref in out.splitlines():
        rest = ref[len(SNAPSHOT_PREFIX) :]
        ref_branch, _, _stamp_part = rest.rpartition("/")
        if ref_branch == branch:
            return read_snapshot(g, ref)
    return None


def _ls_tree_files(g: GitRepo, tree: str) -> set[str]:
    raw = g.run(["ls-tree", "-r", "-z", "--name-only", tree], strip=False).text
    return {p for p in raw.split("\0") if p}


def _present_files(g: GitRepo) -> set[str]:
    tracked = g.run(["ls-files", "-z"], strip=False).text
    untracked = g.run(["ls-files", "-z", "--others", "--exclude-standard"], strip=False).text
    return {p for p in (tracked + "\0" + untracked).split("\0") if p}


def restore_snapshot(g: GitRepo, snap: Snapshot, *, branch_now: str) -> None:
    """Put branch, index and working tree back exactly as the snapshot recorded them.

    `branch_now` is the SHA the branch must still point at (compare-and-swap)."""
    # 1. The branch (HEAD stays attached to it).
    if branch_now != snap.head:
        g.run(
            [
                "update-ref",
                "-m",
                "devkit: restore snapshot",
                f"refs/heads/{snap.branch}",
                snap.head,
                branch_now,
            ]
        )
    # 2. The working tree: remove what the snapshot did not have, rewrite what differs.
    wanted = _ls_tree_files(g, snap.worktree_tree)
    for extra in sorted(_present_files(g) - wanted, reverse=True):
        target = g.worktree / extra
        if target.is_symlink() or target.is_file():
            target.unlink()
        parent = target.parent
        while parent != g.worktree and parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    with temporary_index(g, copy_real=False) as env:
        g.run(["read-tree", snap.worktree_tree], env=env)
        differing = g.run(["diff-files", "--name-only", "-z"], env=env, strip=False).text
        paths = [p for p in differing.split("\0") if p]
        for start in range(0, len(paths), 500):
            g.run(["checkout-index", "-f", "--", *paths[start : start + 500]], env=env)
    # 3. The index, then refresh its stat cache so status is not confused.
    g.run(["read-tree", snap.index_tree])
    g.run(["update-index", "-q", "--refresh"], check=False)


def undo_last_sync(repo: Path, *, env: Mapping[str, str] | None = None) -> UndoResult:
    """Restore the last sync snapshot of the current branch, if the branch is still
    where that sync left it. The state just before the undo is kept as a backup.

    `env`: the environment of every git child (os.environ when None)."""
    g = open_repo(repo, env=env)
    with repository_lock(g.common_dir, wait=lock_wait_seconds(g.env)):
        tidy_leftovers(g)
        journal = read_journal(g)
        if journal is not None:
            return _undo_incomplete_sync(g, journal)
        refuse_index_lock(g)
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
        backup = take_snapshot(
            g, branch=branch, head=status.oid, reason="before undo", prefix=BACKUP_PREFIX
        )
        # Once the files start moving, a signal waits until they are all back.
        with process.critical():
            restore_snapshot(g, snap, branch_now=status.oid)
            g.run(["update-ref", "-d", snap.ref, snap.commit])
            g.run(["update-ref", "-d", left_ref(snap.ref)], check=False)
        return UndoResult(
            repo=str(g.worktree),
            branch=branch,
            restored_head=snap.head,
            previous_head=status.oid,
            snapshot=snap.ref,
            backup=backup,
        )


def _undo_incomplete_sync(g: GitRepo, journal: Journal) -> UndoResult:
    """Put back the state from before a sync that was stopped while it moved files,
    index and branch (SIGKILL, a power cut, a failed rollback): whatever the move had
    done, the snapshot named in the journal is restored exactly. The half-moved state
    is kept as a backup."""
    branch = journal.branch
    on = g.run(["symbolic-ref", "--quiet", "HEAD"], check=False).text.strip()
    if on != f"refs/heads/{branch}":
        raise OperationFailed(
            f"a sync of '{branch}' did not complete, but HEAD is not on '{branch}'",
            code="sync_incomplete",
            hint=f"check out '{branch}' (git switch {branch}), then run devkit undo",
        )
    now = g.rev(f"refs/heads/{branch}")
    if now not in (journal.before_head, journal.target_head):
        raise OperationFailed(
            f"a sync of '{branch}' did not complete and the branch has moved since "
            f"(now {str(now)[:7]})",
            code="branch_moved",
            hint=f"the state from before that sync is {journal.snapshot_commit} "
            f"({journal.snapshot_ref}); restore a file with "
            f"`git checkout {journal.snapshot_commit} -- PATH`, then delete "
            f"{journal_location(g)}",
        )
    assert now is not None
    remove_index_lock_left_by(g, journal_path(g))
    refuse_index_lock(g)
    snap = read_snapshot(g, journal.snapshot_ref, commit=journal.snapshot_commit)
    backup = take_snapshot(
        g, branch=branch, head=now, reason="before undo of an incomplete sync", prefix=BACKUP_PREFIX
    )
    with process.critical():
        restore_snapshot(g, snap, branch_now=now)
        g.update_refs(
            [("delete", left_ref(journal.snapshot_ref), ""), ("delete", journal.snapshot_ref, "")],
            message="devkit: incomplete sync undone",
        )
        remove_journal(g)
    return UndoResult(
        repo=str(g.worktree),
        branch=branch,
        restored_head=snap.head,
        previous_head=now,
        snapshot=journal.snapshot_ref,
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
    names = sorted(changed)
    raise OperationFailed(
        f"{len(names)} file(s) changed since the sync ({', '.join(names[:5])}"
        f"{', ...' if len(names) > 5 else ''}); undo would discard those changes",
        code="changed_since_sync",
        hint="commit or stash them first (git stash), then run devkit undo again",
        details={"paths": names},
    )
