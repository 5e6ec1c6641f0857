"""The sync journal: what a sync that is moving the user's files, index and branch
started from, written before the first live change and removed when the move is over.

A SIGKILL (or a power cut) can stop devkit at any instant of the move. The journal
makes every such instant recoverable: it names the branch, the commit it was on, the
snapshot of index and working tree taken before the move (already a commit with a
ref) and the state the move was heading for. While it exists, the next devkit command
in that worktree says that a sync did not complete, and `devkit undo` puts the
snapshot back.

It lives in the worktree's own git directory (`.git/devkit/journal.json`; a linked
worktree has its own), since index and files belong to one worktree. It is written
atomically (a temporary file, fsync, rename, fsync of the directory), so a reader
finds either no journal or a whole one.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from devkit.errors import OperationFailed
from devkit.gitflow.gitcmd import GitRepo

JOURNAL_NAME = "journal.json"
FORMAT = 1


@dataclass(frozen=True)
class Journal:
    branch: str
    before_head: str  # the branch's commit before the sync
    snapshot_ref: str  # refs/devkit/snapshots/<branch>/<stamp>
    snapshot_commit: str  # HEAD, index and files before the sync (see snapshot.py)
    target_head: str  # where the move takes the branch
    started: str  # UTC, ISO 8601
    operation: str = "sync"  # or "undo": an undo restoring the same snapshot
    # The index and files the move heads for (a snapshot-shaped commit), when known.
    target_state: str | None = None


def journal_path(g: GitRepo) -> Path:
    return g.git_dir / "devkit" / JOURNAL_NAME


def journal_location(g: GitRepo) -> str:
    """The journal's path as the user would type it (relative to the worktree)."""
    path = journal_path(g)
    return str(path.relative_to(g.worktree)) if path.is_relative_to(g.worktree) else str(path)


def write_journal(g: GitRepo, journal: Journal) -> None:
    """Write the journal atomically and durably (call it inside a critical section,
    before the first change to the user's files, index or branch)."""
    path = journal_path(g)
    path.parent.mkdir(exist_ok=True)
    payload = json.dumps({"format": FORMAT, **asdict(journal)}, indent=2, sort_keys=True)
    temporary = path.with_name(f".{JOURNAL_NAME}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(payload + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    _sync_directory(path.parent)


def remove_journal(g: GitRepo) -> None:
    """The move (or its rollback) is over: forget it, durably."""
    path = journal_path(g)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        _sync_directory(path.parent)


def read_journal(g: GitRepo) -> Journal | None:
    """The journal of a sync that did not complete, or None.

    A journal devkit cannot read (a newer format, a damaged file) is still an
    incomplete sync: say so rather than carry on as if nothing happened."""
    path = journal_path(g)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _unreadable(path, str(error.strerror or error)) from error
    try:
        data = json.loads(raw)
        if data.pop("format") != FORMAT:
            raise ValueError("unknown format")
        return Journal(**data)
    except (ValueError, TypeError, KeyError) as error:
        raise _unreadable(path, str(error)) from error


def new_journal(
    *,
    branch: str,
    before_head: str,
    snapshot_ref: str,
    snapshot_commit: str,
    target_head: str,
    target_state: str | None = None,
    operation: str = "sync",
) -> Journal:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Journal(
        branch,
        before_head,
        snapshot_ref,
        snapshot_commit,
        target_head,
        started,
        operation,
        target_state,
    )


def refuse_incomplete_sync(g: GitRepo) -> None:
    """Stop any command that would build on a half-moved worktree."""
    journal = read_journal(g)
    if journal is None:
        return
    raise OperationFailed(
        f"a {journal.operation} of '{journal.branch}' did not complete (started "
        f"{journal.started}); files, index or branch may be half-way between before and "
        "after",
        code="sync_incomplete",
        hint="run `devkit undo` to restore the state from before the sync "
        f"(it is kept in {journal.snapshot_ref})",
        details={"snapshot": journal.snapshot_ref, "branch": journal.branch},
    )


def _unreadable(path: Path, why: str) -> OperationFailed:
    return OperationFailed(
        f"the journal of an incomplete sync ({path}) cannot be read: {why}",
        code="sync_incomplete",
        hint="inspect it, restore from refs/devkit/snapshots/ by hand, then delete it",
    )


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
