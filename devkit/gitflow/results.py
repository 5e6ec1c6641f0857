"""Results of the git flows: small frozen dataclasses with `to_json()`.

This module imports nothing heavy, so callers can type against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InitResult:
    path: str
    created: bool  # False when an existing repository was adopted
    branch: str
    remote: str | None
    gitignore_written: tuple[str, ...]  # template names added to .gitignore
    commit: str | None  # short SHA of the first commit, if one was made
    dry_run: bool = False  # then: what would be created, written and set, none of it done

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "created": self.created,
            "branch": self.branch,
            "remote": self.remote,
            "gitignore_templates": list(self.gitignore_written),
            "commit": self.commit,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class Refusal:
    path: str
    reason: str  # "conflict_markers", "secret", "too_large"
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class StageResult:
    repo: str
    dry_run: bool
    staged: tuple[tuple[str, str], ...]  # (status letter, path) now staged (or would be)
    refused: tuple[Refusal, ...]
    forced: bool

    @property
    def exit_code(self) -> int:
        """1 when something was refused (and not forced): nothing was staged then."""
        return 1 if self.refused and not self.forced else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "dry_run": self.dry_run,
            "staged": [{"status": s, "path": p} for s, p in self.staged],
            "refused": [r.to_json() for r in self.refused],
            "forced": self.forced,
        }


@dataclass(frozen=True)
class CommitResult:
    repo: str
    branch: str
    sha: str
    short_sha: str
    summary: str
    files_changed: int
    dry_run: bool = False
    files: tuple[str, ...] = ()  # a dry run's paths that would be committed

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "sha": self.sha,
            "short_sha": self.short_sha,
            "summary": self.summary,
            "files_changed": self.files_changed,
            "dry_run": self.dry_run,
            "files": list(self.files),
        }


# -- conflicts --------------------------------------------------------------------


@dataclass(frozen=True)
class CommitInfo:
    sha: str  # short
    author: str
    date: str  # ISO 8601
    subject: str

    def to_json(self) -> dict[str, Any]:
        return {"sha": self.sha, "author": self.author, "date": self.date, "subject": self.subject}


@dataclass(frozen=True)
class SideRef:
    ref: str  # a ref name (branch, remote branch, tag) or a short SHA when nothing names it
    sha: str  # short

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "sha": self.sha}


@dataclass(frozen=True)
class ConflictSide:
    ref: str
    sha: str
    commits: tuple[CommitInfo, ...]  # since the merge base, touching this file

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "sha": self.sha, "commits": [c.to_json() for c in self.commits]}


@dataclass(frozen=True)
class Hunk:
    start: int  # 1-based line of the `<<<<<<<` marker
    end: int  # 1-based line of the `>>>>>>>` marker

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


@dataclass(frozen=True)
class FileConflict:
    path: str
    type: str  # content, add/add, modify/delete, delete/modify, rename/delete,
    #           directory rename suggested,
    #           rename/rename, file/directory, binary, mode (or git's own word)
    original_path: str | None
    message: str
    hunks: tuple[Hunk, ...]
    sides: tuple[ConflictSide, ...]  # [current side, incoming side]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.type,
            "original_path": self.original_path,
            "message": self.message,
            "hunks": [h.to_json() for h in self.hunks],
            "sides": [s.to_json() for s in self.sides],
        }


@dataclass(frozen=True)
class ConflictReport:
    repo: str
    state: str  # "predicted", "merge", "rebase", "cherry-pick", "revert"
    current: SideRef  # the side HEAD is on
    incoming: SideRef  # the side being merged or applied
    merge_base: str | None
    files: tuple[FileConflict, ...]

    @property
    def exit_code(self) -> int:
        return 1 if self.files else 0

    @property
    def clean(self) -> bool:
        return not self.files

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "state": self.state,
            "current": self.current.to_json(),
            "incoming": self.incoming.to_json(),
            "merge_base": self.merge_base,
            "clean": self.clean,
            "files": [f.to_json() for f in self.files],
        }

    def headline(self) -> str:
        """One sentence: clean, or how many files conflict between which sides."""
        if self.clean:
            return (
                f"no conflicts: {self.incoming.ref} ({self.incoming.sha}) merges cleanly into "
                f"{self.current.ref} ({self.current.sha})"
            )
        what = "would conflict" if self.state == "predicted" else f"{self.state} in progress"
        return (
            f"{len(self.files)} conflicting file(s), {what}: "
            f"{self.current.ref} ({self.current.sha}) <- "
            f"{self.incoming.ref} ({self.incoming.sha}); merge base {self.merge_base or '-'}"
        )

    def file_lines(self) -> list[str]:
        """Per conflicting file: its type and hunks, then each side's commits touching it."""
        lines = []
        for item in self.files:
            hunks = ", ".join(f"{h.start}-{h.end}" for h in item.hunks) or "-"
            renamed = f" (renamed from {item.original_path})" if item.original_path else ""
            lines.append(f"{item.path}{renamed}: {item.type} conflict, lines {hunks}")
            lines.extend(
                f"  {side.ref} {commit.sha} {commit.date[:10]} {commit.author}: {commit.subject}"
                for side in item.sides
                for commit in side.commits
            )
        return lines


# -- sync ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoSyncResult:
    repo: str
    branch: str | None
    upstream: str | None
    state: str  # before the sync: up_to_date, ahead, behind, diverged, no_upstream,
    #             upstream_gone, detached, unknown
    ahead: int
    behind: int
    result: str  # up_to_date, pushed, fast_forwarded, rebased, merged, published,
    #              not_published, upstream_gone,
    #              skipped, failed, would_* (dry run)
    exit_code: int
    pushed: bool = False
    old_head: str | None = None
    new_head: str | None = None
    snapshot: str | None = None
    next_step: str | None = None
    error: dict[str, Any] | None = None
    overlapping: tuple[str, ...] = ()
    conflicts: ConflictReport | None = None
    log: tuple[str, ...] = ()
    mode: str | None = None  # the mode this repository synced in (None: not decided)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def problem(self) -> str:
        """Why the repository failed, in one sentence that names it once."""
        message = (self.error or {}).get("message") or f"sync {self.result}"
        return message if message.startswith(f"{self.repo}:") else f"{self.repo}: {message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "mode": self.mode,
            "branch": self.branch,
            "upstream": self.upstream,
            "state": self.state,
            "ahead": self.ahead,
            "behind": self.behind,
            "result": self.result,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "pushed": self.pushed,
            "old_head": self.old_head,
            "new_head": self.new_head,
            "snapshot": self.snapshot,
            "next_step": self.next_step,
            "error": self.error,
            "overlapping": list(self.overlapping),
            "conflicts": self.conflicts.to_json() if self.conflicts else None,
            "log": list(self.log),
        }


@dataclass(frozen=True)
class SyncReport:
    mode: str
    push: bool
    dry_run: bool
    repos: tuple[RepoSyncResult, ...]

    @property
    def exit_code(self) -> int:
        return max((r.exit_code for r in self.repos), default=0)

    def summary(self) -> dict[str, int]:
        failed = sum(1 for r in self.repos if r.exit_code != 0)
        skipped = sum(1 for r in self.repos if r.result == "skipped")
        return {
            "total": len(self.repos),
            "ok": len(self.repos) - failed - skipped,
            "skipped": skipped,
            "failed": failed,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "push": self.push,
            "dry_run": self.dry_run,
            "summary": self.summary(),
            "repos": [r.to_json() for r in self.repos],
        }


@dataclass(frozen=True)
class UndoResult:
    repo: str
    branch: str
    restored_head: str
    previous_head: str
    snapshot: str
    backup: str  # a snapshot of the state just before the undo, so the undo is undoable
    dry_run: bool = False  # then nothing was restored, and `changes` says what would be
    changes: tuple[str, ...] = ()  # a dry run's paths that would be written or deleted

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "restored_head": self.restored_head,
            "previous_head": self.previous_head,
            "snapshot": self.snapshot,
            "backup": self.backup,
            "dry_run": self.dry_run,
            "changes": list(self.changes),
        }
