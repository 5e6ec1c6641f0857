"""The values sync's phases hand each other, and the report they end in.

Each phase of a sync (check, fetch, classify, predict, snapshot, integrate, verify,
move, push, report) takes what the earlier ones returned and returns a frozen value;
`Known` is what the report can say at any point, so that a phase that fails still
yields a full result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from devkit.errors import DevkitError, OperationFailed
from devkit.gitflow.results import ConflictReport, RepoSyncResult
from devkit.gitflow.status import RepoStatus


class SyncStopped(OperationFailed):
    """A sync that stopped on purpose, carrying what the report needs."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        hint: str | None = None,
        overlapping: Sequence[str] = (),
        conflicts: ConflictReport | None = None,
        next_step: str | None = None,
        snapshot: str | None = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.overlapping = tuple(overlapping)
        self.conflicts = conflicts
        self.next_step = next_step or hint
        self.snapshot = snapshot  # a snapshot the rollback could not restore


@dataclass(frozen=True)
class SyncOptions:
    mode: str  # rebase, merge or ff-only
    push: bool
    autostash: bool
    dry_run: bool
    publish: bool = False  # create the branch on the remote when it has none (push -u)
    # No --mode was given: a repository's `devkit.syncMode` replaces the default.
    mode_is_default: bool = False


class SyncLog:
    """What a repository's sync says as it goes: kept for the report and handed to the
    progress callback. Output only: no phase reads it back."""

    def __init__(self, repo: str, progress: Callable[[str, str], None] | None) -> None:
        self.repo = repo
        self.lines: list[str] = []
        self._progress = progress

    def note(self, text: str) -> None:
        self.lines.append(text)
        if self._progress:
            self._progress(self.repo, text)


@dataclass(frozen=True)
class Checked:
    """check: the branch to sync and the remote it syncs with."""

    branch: str
    remote: str
    merge_ref: str | None  # the upstream branch's ref on the remote; None: no upstream


@dataclass(frozen=True)
class Unpublished:
    """classify: the remote has no branch for this one yet."""

    branch: str
    remote: str
    dest: str  # the ref to create on the remote
    upstream: str  # its short name (origin/feature)
    head: str
    why: str
    # The configured upstream branch is gone from the remote (deleted there, e.g. a
    # merged pull request), as opposed to a branch that never had one.
    gone: bool = False


@dataclass(frozen=True)
class PushTarget:
    """Where `git push` (no arguments) would send the branch."""

    remote: str
    dest: str | None  # the ref on the remote; None: git's own refspecs decide (matching)
    tracking_ref: str | None  # the local copy of the pushed branch, when there is one

    def describe(self) -> str:
        name = self.dest.removeprefix("refs/heads/") if self.dest else "matching branches"
        return f"{self.remote} ({name})"


@dataclass(frozen=True)
class Position:
    """classify: where the branch stands against its freshly fetched upstream."""

    branch: str
    remote: str
    dest: str  # the upstream branch's ref on the remote
    upstream: str  # short name (origin/main)
    tracking_ref: str  # refs/remotes/origin/main
    old: str  # the branch's commit before the sync
    up_sha: str
    ahead: int
    behind: int
    status: RepoStatus
    push_to: PushTarget | None = None  # set when there is something to push
    # When the upstream was rewritten (a force-push removed commits the branch has):
    # the fork point (`git merge-base --fork-point`, from the remote-tracking ref's
    # reflog) and how many commits the upstream had and no longer has.
    fork_point: str | None = None
    removed_upstream: int = 0

    @property
    def state(self) -> str:
        return {
            (False, False): "up_to_date",
            (True, False): "ahead",
            (False, True): "behind",
            (True, True): "diverged",
        }[(self.ahead > 0, self.behind > 0)]


@dataclass(frozen=True)
class Plan:
    """predict: how to integrate, decided before anything is touched."""

    action: str  # fast-forward, rebase or merge
    autostash: bool  # local changes overlap incoming ones and are carried over
    # The tree `git merge-tree` predicts for local + upstream (None: fast-forward). Any
    # integration must end at exactly this tree, or it lost (or invented) a change.
    expected_tree: str | None = None
    fallback: str | None = None  # why the chosen mode was not used (said in the log)
    # A rebase replays only the commits after this one (the fork point of a rewritten
    # upstream), as `git pull --rebase` does; None: all commits the upstream lacks.
    replay_after: str | None = None
    # The tracked paths integrating changes (before local changes are carried over),
    # as predict found them; None: not known, the snapshot asks git.
    incoming: tuple[str, ...] | None = None
    # (path, (mode, blob)) in the old tip of those paths that it has: with a clean
    # tree, the index entries the snapshot would otherwise list.
    incoming_head_entries: tuple[tuple[str, tuple[str, str]], ...] | None = None


@dataclass(frozen=True)
class Taken:
    """snapshot: the snapshot ref and, for autostash, the local changes as a stash."""

    ref: str
    stash: str | None


@dataclass(frozen=True)
class Carried:
    """integrate + verify + move + push: where the branch is now."""

    new: str
    snapshot: str
    pushed: bool


@dataclass(frozen=True)
class Known:
    """What the report can say about a repository so far."""

    repo: str
    mode: str | None = None
    branch: str | None = None
    upstream: str | None = None
    state: str = "unknown"
    ahead: int = 0
    behind: int = 0
    old_head: str | None = None
    new_head: str | None = None
    snapshot: str | None = None
    pushed: bool = False

    def at(self, position: Position) -> Known:
        return replace(
            self,
            upstream=position.upstream,
            state=position.state,
            ahead=position.ahead,
            behind=position.behind,
            old_head=position.old,
            new_head=position.old,
        )

    def unpublished(self, unpublished: Unpublished) -> Known:
        return replace(
            self,
            upstream=unpublished.upstream,
            state="upstream_gone" if unpublished.gone else "no_upstream",
            old_head=unpublished.head,
            new_head=unpublished.head,
        )

    def result(self, result: str, log: SyncLog, *, next_step: str | None = None) -> RepoSyncResult:
        return RepoSyncResult(
            repo=self.repo,
            mode=self.mode,
            branch=self.branch,
            upstream=self.upstream,
            state=self.state,
            ahead=self.ahead,
            behind=self.behind,
            result=result,
            exit_code=0,
            pushed=self.pushed,
            old_head=self.old_head,
            new_head=self.new_head,
            snapshot=self.snapshot,
            next_step=next_step,
            log=tuple(log.lines),
        )

    def failure(self, error: DevkitError, log: SyncLog) -> RepoSyncResult:
        stopped = error if isinstance(error, SyncStopped) else None
        known = replace(self, snapshot=stopped.snapshot) if stopped else self
        return replace(
            known.result("failed", log, next_step=stopped.next_step if stopped else error.hint),
            exit_code=int(error.exit_code),
            error=error.to_json(),
            overlapping=stopped.overlapping if stopped else (),
            conflicts=stopped.conflicts if stopped else None,
        )
