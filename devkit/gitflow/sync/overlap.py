"""Which local work an incoming change would run into, decided as git decides it.

Two kinds, kept apart because they have different fixes:

- tracked changes (staged or not) to paths the incoming side changes: `--autostash`
  carries them over. A path deleted locally that the incoming side deletes too is not in
  the way (git's two-way merge accepts it).
- untracked or ignored files where the incoming side puts something: a file at a path
  it adds, a file where it needs a directory, or files inside a directory it replaces
  with a file. Only moving them helps. A tracked file replaced by a directory, a
  directory replaced by a file, and a new file inside an untracked directory are not in
  the way (`git pull --ff-only` accepts them). Ignored files count, although git would
  overwrite them: they may hold work (a local config, a secret), and sync never loses a
  byte.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.status import RepoStatus, paths_overlap

# Status letters (index, worktree) of a deletion that a deletion upstream agrees with.
_DELETED = {".D", "D."}
_MAX_PATHSPECS = 500


def tracked_overlap(status: RepoStatus, changes: Sequence[tuple[str, str]]) -> list[str]:
    """Tracked local changes to paths that the incoming (status letter, path) changes
    touch (a path, or a directory holding it)."""
    deleted_upstream = {path for letter, path in changes if letter == "D"}
    incoming = [path for _, path in changes]
    found: set[str] = set()
    for entry in status.entries:
        if entry.kind not in "12u":
            continue
        if entry.xy in _DELETED and entry.path in deleted_upstream:
            continue  # deleted on both sides: nothing to carry over
        for path in (entry.path, entry.orig_path):
            if path and any(paths_overlap(path, other) for other in incoming):
                found.add(path)
    return sorted(found)


def untracked_in_the_way(g: GitRepo, changes: Sequence[tuple[str, str]]) -> list[str]:
    """Untracked or ignored files that placing the incoming paths would overwrite."""
    return untracked_at(g, [rel for letter, rel in changes if letter in "AT"])


def untracked_at(g: GitRepo, paths: Iterable[str], *, tracked: Collection[str] = ()) -> list[str]:
    """Untracked or ignored files that overlap these paths: at one, inside one (a
    directory on disk), or at a parent of one (a file where a directory must go).
    Looked up on disk at those paths only, never by scanning the whole tree; the index
    is asked only about files not in `tracked` (paths the caller knows it holds)."""
    candidates: set[str] = set()
    for rel in paths:
        candidates.update(_occupants(g.worktree, rel))
    candidates.difference_update(tracked)
    if not candidates:
        return []
    return sorted(candidates - _in_index(g, candidates))


def _occupants(worktree: Path, rel: str) -> Iterable[str]:
    """What sits on disk where `rel` must go: the path itself (a file, a symlink, or the
    files inside a directory), or a parent that is not a directory."""
    target = worktree / rel
    kind = _kind(target)
    if kind == "dir":
        yield from _files_under(worktree, target)
    elif kind is not None:
        yield rel
    parent = target.parent
    while parent != worktree:
        if _kind(parent) not in (None, "dir"):
            yield parent.relative_to(worktree).as_posix()
        parent = parent.parent


def _kind(path: Path) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return "dir" if stat.S_ISDIR(mode) else "other"


def _files_under(worktree: Path, directory: Path) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(directory):
        # A symlink to a directory is listed in dirnames and not followed: it is a file.
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in filenames + links:
            yield Path(dirpath, name).relative_to(worktree).as_posix()


def _in_index(g: GitRepo, paths: Iterable[str]) -> set[str]:
    """Those of `paths` that the index tracks (the rest are untracked or ignored)."""
    wanted = set(paths)
    # Many paths (a large untracked directory): list the whole index instead of
    # passing them all on one command line.
    specs = [f":(literal){p}" for p in wanted] if len(wanted) <= _MAX_PATHSPECS else []
    listed = g.run(["ls-files", "-z", "--full-name", "--", *specs], strip=False).text
    return {p for p in listed.split("\0") if p} & wanted
