"""`sync`: bring branches up to date with their upstream and publish local commits.

Per repository, one function per phase, each handing the next a value: check, fetch,
classify, predict, snapshot, integrate, verify, move, push, report. Everything that can
stop half-way (a rebase or merge) runs in a scratch worktree inside the git directory,
so the user's HEAD, index and files are only changed by the move: a two-tree `git
read-tree -m -u` (or, autostash, `git read-tree --reset -u` to the final files computed
beforehand) plus one ref transaction, journaled so that even a SIGKILL leaves the work
recoverable (see sync/move.py). If anything fails or a signal arrives after the move
started, the snapshot is restored: a failed or interrupted sync leaves the repository
exactly as it found it.

Signals. The move and the rollback run in `process.critical()` sections: git children
started there are not signalled, and the InterruptSignal that SIGINT, SIGTERM or SIGHUP
raises waits until the section is over, so a signal never lands half-way through moving
the user's files and a second signal never skips the rollback. Worker threads (several
repositories) notice a signal at their next git command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from devkit import process
from devkit.errors import DevkitError, ExitCode, InvalidInput, OperationFailed
from devkit.gitflow.gitcmd import GitRepo, check_git_version, environment, open_repo
from devkit.gitflow.leftovers import tidy_leftovers
from devkit.gitflow.locking import lock_wait_seconds, repository_lock
from devkit.gitflow.results import RepoSyncResult, SyncReport
from devkit.gitflow.sync.destination import push_target
from devkit.gitflow.sync.model import (
    Known,
    Plan,
    Position,
    SyncLog,
    SyncOptions,
    SyncStopped,
    Unpublished,
)
from devkit.gitflow.sync.move import carry_out
from devkit.gitflow.sync.plan import find_upstream_rewrite, predict
from devkit.gitflow.sync.publish import publish_or_report
from devkit.gitflow.sync.push import push
from devkit.gitflow.sync.state import check, classify, fetch

MODES = ("rebase", "merge", "ff-only")
MAX_DEFAULT_JOBS = 8
RESULT_OF = {"fast-forward": "fast_forwarded", "rebase": "rebased", "merge": "merged"}

ProgressCallback = Callable[[str, str], None]  # (repo, what is happening)

__all__ = ["MODES", "SyncStopped", "default_mode", "sync_repositories"]


def default_mode(interactive: bool | None) -> str:
    """rebase for a person at a terminal, ff-only on servers. Interactive means stdin
    is a terminal: where the output goes (`devkit sync | tee log`) does not matter."""
    if interactive is None:
        interactive = sys.stdin.isatty()
    return "rebase" if interactive else "ff-only"


def configured_mode(g: GitRepo, options: SyncOptions) -> SyncOptions:
    """The options with the repository's `devkit.syncMode` (git config, any scope) as
    the mode when no --mode was given."""
    if not options.mode_is_default:
        return options
    value = g.config("devkit.syncMode")
    if value is None:
        return options
    if value not in MODES:
        raise InvalidInput(
            f"git config devkit.syncMode is {value!r}",
            code="invalid_mode",
            hint="set it to one of: " + ", ".join(MODES),
        )
    return replace(options, mode=value)


def sync_repositories(
    repos: Sequence[Path],
    *,
    mode: str | None = None,
    preferred_mode: str | None = None,
    push: bool = True,
    publish: bool = False,
    autostash: bool = False,
    jobs: int | None = None,
    dry_run: bool = False,
    interactive: bool | None = None,
    on_progress: ProgressCallback | None = None,
    env: Mapping[str, str] | None = None,
) -> SyncReport:
    """Sync each repository (in parallel); a failure in one never stops the others.

    `env` is the environment every git child starts with and where settings
    (DEVKIT_GIT_TIMEOUT, DEVKIT_LOCK_WAIT, ssh, identity) are read (os.environ when
    None). `publish`: create a branch the remote does not have (or no longer has) there,
    as `git push -u` would; without it such a branch is only reported. Without `mode`, a
    repository's git config devkit.syncMode decides, then `preferred_mode` (the user's
    config file), then whether stdin is a terminal."""
    chosen = mode or preferred_mode or default_mode(interactive)
    if chosen not in MODES:
        raise InvalidInput(
            f"unknown sync mode {chosen!r}",
            code="invalid_mode",
            hint="use one of: " + ", ".join(MODES),
        )
    if publish and not push:
        raise InvalidInput(
            "--publish pushes and --no-push does not: choose one", code="invalid_options"
        )
    if jobs is not None and jobs < 1:
        raise InvalidInput("-j must be at least 1", code="invalid_jobs")
    base = environment(env)
    check_git_version(base)
    paths: list[Path] = []
    for repo in repos or [Path.cwd()]:
        if Path(repo).resolve() not in {p.resolve() for p in paths}:
            paths.append(Path(repo))
    workers = max(1, min(jobs or min(os.cpu_count() or 1, MAX_DEFAULT_JOBS), len(paths)))
    options = SyncOptions(
        mode=chosen,
        push=push,
        autostash=autostash,
        dry_run=dry_run,
        publish=publish,
        mode_is_default=mode is None,
    )
    # Signals seen before this sync started are someone else's (a recipe's cleanup).
    since = process.signal_count()

    def one(path: Path) -> RepoSyncResult:
        result = _sync_one(Path(path), options, base, since, on_progress)
        if len(paths) > 1:
            result = _skip_if_not_a_repository(result)
        if on_progress:
            on_progress(result.repo, "done")
        return result

    if workers == 1:
        results = [one(p) for p in paths]
    else:
        from concurrent.futures import ThreadPoolExecutor  # only for several at once

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devkit-sync") as pool:
            results = list(pool.map(one, paths))
    modes = {r.mode for r in results if r.mode}
    shown = modes.pop() if len(modes) == 1 else "mixed" if modes else chosen
    return SyncReport(mode=shown, push=push, dry_run=dry_run, repos=tuple(results))


def _skip_if_not_a_repository(result: RepoSyncResult) -> RepoSyncResult:
    """Among several paths (`devkit sync ~/src/*`), a stray file or a folder that is
    not a repository is skipped with a note rather than failed; named alone, it is
    an error, because then it is surely a mistake."""
    if not result.error or result.error.get("code") != "not_a_repository":
        return result
    return replace(
        result,
        result="skipped",
        exit_code=0,
        error=None,
        next_step="not a git repository: skipped",
        log=(*result.log, "skipped: not a git repository"),
    )


def _sync_one(
    path: Path,
    options: SyncOptions,
    env: Mapping[str, str],
    since: int,
    progress: ProgressCallback | None,
) -> RepoSyncResult:
    """One repository: errors become its failed result, never the others' problem."""
    log = SyncLog(str(path), progress)
    try:
        g = open_repo(path, env=env)
        g.interrupted_since = since
        log = SyncLog(str(g.worktree), progress)
        options = configured_mode(g, options)
        with repository_lock(g.common_dir, wait=lock_wait_seconds(g.env)):
            return _sync_locked(g, options, log)
    except DevkitError as error:
        return Known(repo=log.repo).failure(error, log)
    except Exception as error:  # one repository's bug must not stop the others
        if env.get("DEVKIT_DEBUG") == "1":
            raise
        bug = OperationFailed(
            f"internal error: {type(error).__name__}: {error}",
            code="internal_error",
            hint="rerun with DEVKIT_DEBUG=1 and report it",
        )
        return replace(Known(repo=log.repo).failure(bug, log), exit_code=int(ExitCode.INTERNAL))


def _sync_locked(g: GitRepo, options: SyncOptions, log: SyncLog) -> RepoSyncResult:
    """The phases in order; `known` is what the report can say if one of them fails."""
    known = Known(repo=str(g.worktree), mode=options.mode)
    try:
        if not options.dry_run and tidy_leftovers(g):
            log.note("removed what an interrupted devkit left (scratch worktree, index copy)")
        checked = check(g)
        if checked is None:
            log.note("skipped: HEAD is detached")
            known = replace(known, state="detached")
            return known.result("skipped", log, next_step="check out a branch to sync it")
        known = replace(known, branch=checked.branch)
        fetch(g, checked.remote, log)
        position = classify(g, checked, options, log)
        if isinstance(position, Unpublished):
            known = known.unpublished(position)
            return publish_or_report(g, position, options, log, known)
        known = known.at(position)
        if options.push and position.ahead > 0:
            # Where git push would go (or its refusal), known before anything moves.
            position = replace(position, push_to=push_target(g, position))
        position = find_upstream_rewrite(g, position)
        if position.behind == 0 and not position.removed_upstream:
            return push_ahead(g, position, options, log, known)
        plan = predict(g, position, options)
        if options.dry_run:
            return known.result(_describe_dry_run(position, plan, options, log), log)
        carried = carry_out(g, position, plan, options, log)
        known = replace(
            known, new_head=carried.new, snapshot=carried.snapshot, pushed=carried.pushed
        )
        return known.result(RESULT_OF[plan.action], log, next_step="devkit undo reverts this sync")
    except DevkitError as error:
        return known.failure(error, log)


# -- nothing to integrate: push -------------------------------------------------


def push_ahead(
    g: GitRepo, position: Position, options: SyncOptions, log: SyncLog, known: Known
) -> RepoSyncResult:
    """Nothing incoming: up to date, or local commits to push."""
    if position.ahead == 0:
        return known.result("up_to_date", log)
    if not options.push:
        return known.result("ahead", log, next_step="push when ready (devkit sync)")
    target = position.push_to
    if target is None:  # push_target is set whenever there is something to push
        raise OperationFailed("no push destination", code="internal_error")
    if options.dry_run:
        log.note(f"would push {position.ahead} commit(s) to {target.describe()}")
        return known.result("would_push", log)
    pushed = push(g, position.branch, target.remote, target.dest, log)
    return replace(known, pushed=pushed).result("pushed", log)


def _describe_dry_run(position: Position, plan: Plan, options: SyncOptions, log: SyncLog) -> str:
    if plan.fallback:
        log.note(plan.fallback)
    if plan.replay_after:
        log.note(
            f"{position.upstream} was rewritten: would not replay the "
            f"{position.removed_upstream} commit(s) it removed"
        )
    log.note(f"would {plan.action} onto {position.upstream} ({position.behind} incoming commit(s))")
    if position.ahead and options.push and position.push_to:
        log.note(f"would then push to {position.push_to.describe()}")
    return f"would_{plan.action.replace('-', '_')}"
