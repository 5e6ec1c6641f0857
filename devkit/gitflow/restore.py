"""Putting a snapshot back: branch, index (with its flags) and files, byte for byte.

A restore is planned first, reading only: which tracked files to delete, which files
to write, and which of those are untracked files that would be overwritten (undo
refuses then; the rollback of a sync does not, since it is putting back what the sync
itself replaced). Applying it writes only files whose bytes differ from the snapshot,
with the snapshot's raw bytes (no eol conversion: the snapshot kept them raw), never
a file outside a sparse checkout's cone, then the index: the snapshot's own index file
when it kept one (every flag, skip-worktree included), else its tree.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from devkit.errors import OperationFailed
from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.snapshot import Snapshot, index_entries, temporary_index

GITLINK = "160000"
SYMLINK = "120000"


@dataclass(frozen=True)
class RestorePlan:
    delete: tuple[str, ...]  # tracked now, absent from the snapshot
    write: tuple[tuple[str, str, str], ...]  # (path, mode, oid) whose bytes differ
    overwrites_untracked: tuple[str, ...]  # paths in `write` now holding untracked files


def plan_restore(g: GitRepo, snap: Snapshot) -> RestorePlan:
    """What restoring `snap` would change in the working tree (reads only)."""
    wanted = {
        path: entry
        for path, entry in _tree_entries(g, snap.worktree_tree).items()
        if entry[0] != GITLINK
    }
    tracked = index_entries(g, None)
    outside = _skip_worktree(g, snap)
    changed_on_disk = _listed(g, ["diff-files", "--name-only", "-z"])
    delete = sorted(p for p in tracked if p not in wanted and p not in outside)
    candidates = {p for p, entry in wanted.items() if tracked.get(p) != entry}
    candidates |= changed_on_disk & wanted.keys()
    candidates -= outside
    present = _raw_contents(g, sorted(candidates))
    write = [
        (path, *wanted[path]) for path in sorted(candidates) if present.get(path) != wanted[path]
    ]
    overwrites = [p for p, _, _ in write if p not in tracked and os.path.lexists(g.worktree / p)]
    return RestorePlan(tuple(delete), tuple(write), tuple(overwrites))


def apply_restore(g: GitRepo, snap: Snapshot, plan: RestorePlan, *, branch_now: str) -> None:
    """Put branch, files and index back as `snap` recorded them (call inside a critical
    section). `branch_now` is the SHA the branch must still point at (compare-and-swap)."""
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
    for path in reversed(plan.delete):
        _remove(g.worktree, path)
    contents = _blobs(g, [oid for _, _, oid in plan.write])
    for path, mode, oid in plan.write:
        _write(g.worktree, path, mode, contents[oid])
    if snap.index_file is not None:
        _write_index_file(g, _blobs(g, [snap.index_file])[snap.index_file])
    else:
        g.run(["read-tree", snap.index_tree])
    # The stat data of rewritten files is stale: refresh it so status is not confused.
    g.run(["update-index", "-q", "--refresh"], check=False)


def restore_snapshot(g: GitRepo, snap: Snapshot, *, branch_now: str) -> None:
    """Plan and apply a restore (untracked files in the way are overwritten)."""
    apply_restore(g, snap, plan_restore(g, snap), branch_now=branch_now)


# -- reading ------------------------------------------------------------------------------


def _tree_entries(g: GitRepo, tree: str) -> dict[str, tuple[str, str]]:
    out = g.run(["ls-tree", "-r", "-z", "--full-tree", tree], strip=False).text
    found = {}
    for record in out.split("\0"):
        if record:
            info, _, path = record.partition("\t")
            mode, _kind, oid = info.split()
            found[path] = (mode, oid)
    return found


def _listed(g: GitRepo, args: list[str], env: dict[str, str] | None = None) -> set[str]:
    return {p for p in g.run(args, env=env, strip=False).text.split("\0") if p}


def _skip_worktree(g: GitRepo, snap: Snapshot) -> set[str]:
    """Paths the snapshot's index marks skip-worktree (outside a sparse cone)."""
    if snap.index_file is None:
        return set()
    with temporary_index(g, copy_real=False) as env:
        Path(env["GIT_INDEX_FILE"]).write_bytes(_blobs(g, [snap.index_file])[snap.index_file])
        listed = _listed(g, ["ls-files", "-t", "-z"], env)
    return {entry[2:] for entry in listed if entry.startswith("S ")}


def _raw_contents(g: GitRepo, paths: list[str]) -> dict[str, tuple[str, str]]:
    """{path: (mode, oid of its raw bytes)} of the regular files and symlinks there."""
    found: dict[str, tuple[str, str]] = {}
    regular = []
    for path in paths:
        target = g.worktree / path
        try:
            info = target.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            link = os.fsencode(os.readlink(target))
            found[path] = (SYMLINK, _blob_id(g, link))
        elif stat.S_ISREG(info.st_mode):
            regular.append((path, "100755" if info.st_mode & 0o100 else "100644"))
    for start in range(0, len(regular), 500):
        batch = regular[start : start + 500]
        oids = g.text(["hash-object", "--no-filters", "--", *(p for p, _ in batch)]).split()
        for (path, mode), oid in zip(batch, oids, strict=True):
            found[path] = (mode, oid)
    return found


def _blob_id(g: GitRepo, content: bytes) -> str:
    return g.run(["hash-object", "--stdin", "--no-filters"], input=content).text.strip()


def _blobs(g: GitRepo, oids: list[str]) -> dict[str, bytes]:
    """The raw contents of blobs, in one `git cat-file --batch`."""
    unique = list(dict.fromkeys(oids))
    if not unique:
        return {}
    out = g.run(["cat-file", "--batch"], input="\n".join(unique).encode() + b"\n", strip=False)
    data, found, at = out.stdout, {}, 0
    for oid in unique:
        end = data.index(b"\n", at)
        size = int(data[at:end].split()[2])
        found[oid] = data[end + 1 : end + 1 + size]
        at = end + 1 + size + 1
    return found


# -- writing --------------------------------------------------------------------------------


def _remove(root: Path, path: str) -> None:
    target = root / path
    if target.is_symlink() or target.is_file():
        target.unlink()
    parent = target.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _write(root: Path, path: str, mode: str, content: bytes) -> None:
    """Write one file atomically (a temporary name, then rename), with git's modes;
    the umask applies as it does to git's own checkout."""
    target = root / path
    if target.is_dir() and not target.is_symlink():
        target.rmdir()  # emptied by the deletes; a directory with other files stays an error
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.devkit-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    if mode == SYMLINK:
        os.symlink(os.fsdecode(content), temporary)
    else:
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777 if mode == "100755" else 0o666
        )
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
    os.replace(temporary, target)


def _write_index_file(g: GitRepo, content: bytes) -> None:
    """Replace the index by git's lock protocol: index.lock, then rename."""
    lock = g.git_dir / "index.lock"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OperationFailed(
            "git's index lock .git/index.lock exists: another git is using the index",
            code="index_locked",
            hint="if no git command is running, remove .git/index.lock and run devkit undo",
        ) from None
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(lock, g.git_dir / "index")
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
