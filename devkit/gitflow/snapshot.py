"""Snapshots of HEAD, the index and the working tree, for undo and rollback.

A snapshot is a commit W under `refs/devkit/snapshots/<branch>/<stamp>`, shaped like a
stash: W's tree is the tracked files (with the raw bytes, no eol conversion or filter,
of those changed locally and those the caller is about to change) plus the untracked
files the caller names (those it may overwrite; the others are never copied); its first
parent is HEAD, its second a commit whose tree is the index, its third (when there is
an index file) a commit holding the index file itself, so that restoring brings back
every entry's flags (a sparse checkout's skip-worktree bits). When nothing differs
from HEAD and no flag needs keeping, the ref points at HEAD itself. It is built with a
temporary GIT_INDEX_FILE (a copy of the real index), so the real index and working
tree are never touched. Restoring is devkit/gitflow/restore.py; undo is undo.py.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from devkit.errors import OperationFailed
from devkit.gitflow.gitcmd import BOOKKEEPING_IDENTITY, GitRepo

SNAPSHOT_PREFIX = "refs/devkit/snapshots/"
BACKUP_PREFIX = "refs/devkit/undo-backups/"
# refs/devkit/left/<branch>/<stamp>: where the sync of the same-named snapshot left
# the branch; written only when that sync completed.
LEFT_PREFIX = "refs/devkit/left/"
# Snapshots (and undo backups) of a branch kept: the newest KEEP, and every one younger
# than KEEP_DAYS (git config devkit.undoKeep, devkit.undoKeepDays).
KEEP = 10
KEEP_DAYS = 14.0


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
    index_file: str | None = None  # the index file's bytes, as a blob, when kept


@dataclass(frozen=True)
class TrackedState:
    """An index and the tracked files of a working tree, as trees (the files as
    `git add -u` would stage them)."""

    index_tree: str
    worktree_tree: str


@contextmanager
def temporary_index(g: GitRepo, *, copy_real: bool) -> Iterator[dict[str, str]]:
    """An environment with GIT_INDEX_FILE pointing at a private, throw-away index."""
    # (os.urandom rather than the `secrets` module: that one imports hashlib and hmac)
    path = g.git_dir / f"devkit-index-{os.getpid()}-{os.urandom(4).hex()}"
    real = g.git_dir / "index"
    try:
        if copy_real and real.exists():
            # A copy keeps the stat cache, so `add -A` only rehashes changed files.
            shutil.copyfile(real, path)
        # Paths devkit passes are file names, never patterns.
        yield {"GIT_INDEX_FILE": str(path), "GIT_LITERAL_PATHSPECS": "1", **BOOKKEEPING_IDENTITY}
    finally:
        for leftover in (path, Path(f"{path}.lock")):
            leftover.unlink(missing_ok=True)


def _stamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S") + f".{now.microsecond:06d}Z"


def take_snapshot(
    g: GitRepo,
    *,
    branch: str,
    head: str,
    reason: str,
    prefix: str = "",
    touched: Sequence[str] = (),
    untracked: Sequence[str] = (),
) -> str:
    """Record HEAD, index and working tree; return the snapshot's ref name."""
    commit = snapshot_commit(
        g,
        branch=branch,
        head=head,
        reason=reason,
        clean=False,
        touched=touched,
        untracked=untracked,
    )
    return record_snapshot(g, branch=branch, commit=commit, reason=reason, prefix=prefix)


def snapshot_commit(
    g: GitRepo,
    *,
    branch: str,
    head: str,
    reason: str,
    clean: bool,
    touched: Sequence[str] = (),
    untracked: Sequence[str] = (),
    head_entries: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """The snapshot commit of HEAD, index and working tree (objects only, no ref).

    `clean` (status listed nothing) means index and tracked files equal HEAD's tree, so
    they need no scan. `touched`: the tracked paths the caller is about to change; they
    and every changed tracked file are kept as their raw bytes (no eol conversion or
    filter), so that a restore writes back exactly what was there. `untracked`: the
    untracked paths the caller may overwrite or delete; other untracked files are left
    out, since nothing devkit does touches them. When nothing differs from HEAD and no
    index flag needs keeping, HEAD itself is the snapshot. `head_entries`: with
    `clean`, the caller may pass {path: (mode, blob)} of HEAD for every touched path
    HEAD has (the index then holds exactly those), which saves listing the index."""
    with temporary_index(g, copy_real=True) as env:
        index_tree = g.text(["write-tree"], env=env).strip()
        if not clean:
            g.run(["add", "-u", "--", "."], env=env)
        for start in range(0, len(untracked), 500):
            g.run(["add", "-f", "--", *untracked[start : start + 500]], env=env)
        tracked_tree = index_tree
        if untracked or not clean:
            tracked_tree = g.text(["write-tree"], env=env).strip()
        raw = set(touched)
        if tracked_tree != index_tree:
            raw.update(_changed_paths(g, index_tree, tracked_tree))
        known = head_entries if clean and not untracked and raw == set(touched) else None
        worktree_tree = _with_raw_bytes(g, env, sorted(raw), known) or tracked_tree
    head_tree = g.text(["rev-parse", f"{head}^{{tree}}"]).strip()
    if worktree_tree == index_tree == head_tree and not _needs_index_file(g):
        return head
    index_file = _index_file_blob(g)
    env = dict(BOOKKEEPING_IDENTITY)
    index_commit = g.text(
        ["commit-tree", index_tree, "-p", head, "-m", f"devkit index of {branch}"], env=env
    ).strip()
    parents = ["-p", head, "-p", index_commit]
    if index_file is not None:
        listing = f"100644 blob {index_file}\tindex\0".encode()
        holder = g.run(["mktree", "-z"], input=listing).text.strip()
        file_commit = g.text(
            ["commit-tree", holder, "-m", f"devkit index file of {branch}"], env=env
        ).strip()
        parents += ["-p", file_commit]
    message = _message(reason, branch=branch, head=head)
    return g.text(["commit-tree", worktree_tree, *parents, "-m", message], env=env).strip()


def _changed_paths(g: GitRepo, before: str, after: str) -> list[str]:
    out = g.run(["diff", "--name-only", "-z", "--no-renames", before, after, "--"], strip=False)
    return [p for p in out.text.split("\0") if p]


def _with_raw_bytes(
    g: GitRepo,
    env: dict[str, str],
    paths: list[str],
    known: Mapping[str, tuple[str, str]] | None = None,
) -> str | None:
    """Store the raw bytes of these regular files in the temporary index and return
    its tree (None when every entry already holds them). `known`: the index entries
    of these paths, when the caller knows them (else the index is asked)."""
    regular = [p for p in paths if stat.S_ISREG(_lstat_mode(g.worktree / p))]
    if not regular:
        return None
    oids: list[str] = []
    for start in range(0, len(regular), 500):
        batch = regular[start : start + 500]
        out = g.text(["hash-object", "-w", "--no-filters", "--", *batch])
        oids += out.split()
    entries = dict(known) if known is not None else index_entries(g, env, regular)
    lines = []
    for path, oid in zip(regular, oids, strict=True):
        mode = entries.get(path, ("", ""))[0] or _git_mode(g.worktree / path)
        if entries.get(path) != (mode, oid):
            lines.append(f"{mode} {oid}\t{path}\0")
    if not lines:
        return None
    g.run(["update-index", "-z", "--index-info"], env=env, input="".join(lines).encode())
    return g.text(["write-tree"], env=env).strip()


def index_entries(
    g: GitRepo, env: Mapping[str, str] | None, paths: Sequence[str] = ()
) -> dict[str, tuple[str, str]]:
    """{path: (mode, oid)} of an index (stage 0; the last stage of unmerged paths)."""
    args = ["ls-files", "-s", "-z", "--full-name"]
    out = g.run([*args, "--", *paths] if paths else args, env=env, strip=False).text
    found = {}
    for record in out.split("\0"):
        if record:
            info, _, path = record.partition("\t")
            mode, oid, _stage = info.split()
            found[path] = (mode, oid)
    return found


def _lstat_mode(path: Path) -> int:
    try:
        return path.lstat().st_mode
    except OSError:
        return 0


def _git_mode(path: Path) -> str:
    return "100755" if _lstat_mode(path) & 0o100 else "100644"


def _index_file_blob(g: GitRepo) -> str | None:
    """The index file itself, as a blob: restoring it brings back every entry with its
    flags (skip-worktree of a sparse checkout, assume-unchanged, intent-to-add). Not
    for a split index, whose file names a shared one that may be gone by then."""
    index = g.git_dir / "index"
    if not index.exists() or any(g.git_dir.glob("sharedindex.*")):
        return None
    return g.text(["hash-object", "-w", "--no-filters", "--", str(index)]).strip()


def _needs_index_file(g: GitRepo) -> bool:
    """Whether the index may hold flags that its tree does not show."""
    return (g.config("core.sparseCheckout") or "").lower() == "true"


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
    index_file = None
    if meta.get("devkit-index-file"):
        index_file = g.text(["rev-parse", f"{meta['devkit-index-file']}:index"]).strip()
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
        index_file=index_file,
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
    if len(parents) > 2:
        meta["devkit-index-file"] = parents[2]
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


def prune_snapshots(g: GitRepo, branch: str) -> list[str]:
    """Delete the branch's snapshots and undo backups that are neither among the
    newest `devkit.undoKeep` (10) nor younger than `devkit.undoKeepDays` (14); returns
    the refs deleted. A sync's snapshot goes with the record of what it left."""
    keep = _config_number(g, "devkit.undoKeep", KEEP)
    days = _config_number(g, "devkit.undoKeepDays", KEEP_DAYS)
    prefixes = [f"{SNAPSHOT_PREFIX}{branch}/", f"{BACKUP_PREFIX}{branch}/"]
    listed = g.text(["for-each-ref", "--sort=-refname", "--format=%(refname)", *prefixes])
    now = datetime.now(timezone.utc)
    doomed: list[str] = []
    for prefix in prefixes:
        refs = [r for r in listed.splitlines() if r.rpartition("/")[0] + "/" == prefix]
        for ref in refs[int(keep) :]:
            taken = _stamp_time(ref.rpartition("/")[2])
            if taken is not None and (now - taken).total_seconds() > days * 86400:
                doomed.append(ref)
    commands: list[tuple[str, ...]] = []
    for ref in doomed:
        commands.append(("delete", ref, ""))
        if ref.startswith(SNAPSHOT_PREFIX):
            commands.append(("delete", left_ref(ref), ""))
    if commands:
        g.update_refs(commands, message="devkit: prune old snapshots")
    return doomed


def _config_number(g: GitRepo, key: str, default: float) -> float:
    try:
        return max(0.0, float(g.config(key) or default))
    except ValueError:
        return default


def _stamp_time(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
