"""Git commands: init, stage, commit, sync, conflicts, undo (thin shells over devkit.gitflow)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devkit.cli.common import JsonOption, run_command
from devkit.console import CommandResult, Console, printable
from devkit.errors import DevkitError, ExitCode, OperationFailed

if TYPE_CHECKING:
    from devkit.config import Value
    from devkit.gitflow.results import ConflictReport, RepoSyncResult, StageResult, SyncReport


def show_conflicts(console: Console, report: ConflictReport, *, indent: str = "") -> None:
    """Human rendering of a conflict report (silent in JSON mode)."""
    if report.clean:
        console.outcome(True, f"{indent}{report.headline()}")
        return
    console.line(f"{indent}{report.headline()}")
    rows = []
    for item in report.files:
        lines = ", ".join(f"{h.start}-{h.end}" for h in item.hunks) or "-"
        rows.append([item.path, item.type, item.original_path or "", lines])
    console.table(["path", "type", "renamed from", "conflict lines"], rows)
    for item in report.files:
        for side in item.sides:
            for commit in side.commits:
                console.line(
                    f"{indent}  {item.path}: {side.ref} {commit.sha} {commit.date[:10]} "
                    f"{commit.author}: {commit.subject}"
                )


def _ahead_behind(result: RepoSyncResult) -> str:
    if result.state in ("detached", "unknown", "no_upstream", "upstream_gone"):
        return "-"
    return f"+{result.ahead}/-{result.behind}"


RepoDirOption = Annotated[
    Path | None,
    typer.Option(
        "-C",
        metavar="PATH",
        help="Run as if devkit was started in PATH (like git -C); other paths are relative to it.",
        show_default=False,
    ),
]


def _in(base: Path | None, path: Path | None = None) -> Path:
    """`path` as git -C would see it: relative paths start at `base` (default: cwd)."""
    start = base if base is not None else Path.cwd()
    return start if path is None else start / path


def register(app: typer.Typer) -> None:
    for command in (init, stage, commit, sync, conflicts, undo):
        app.command()(command)


def init(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="[PATH]", show_default=False, help="Directory to create or adopt (default: .)."
        ),
    ] = Path("."),
    remote: Annotated[
        str | None, typer.Option("--remote", metavar="URL", help="URL of the 'origin' remote.")
    ] = None,
    branch: Annotated[
        str, typer.Option("--branch", metavar="NAME", help="Default branch name.")
    ] = "main",
    gitignore: Annotated[
        str | None,
        typer.Option(
            "--gitignore", metavar="LIST", help="Comma-separated templates: python,node,..."
        ),
    ] = None,
    no_commit: Annotated[
        bool, typer.Option("--no-commit", help="Do not make a first commit.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check everything and say what would be done; do nothing."),
    ] = False,
    chdir: RepoDirOption = None,
    json_output: JsonOption = False,
) -> CommandResult:
    """Create a repository (or adopt an existing one) with a .gitignore and a remote.

    Makes a first commit when the directory has files, unless --no-commit. An
    existing repository keeps its history.
    """

    def body(console: Console) -> CommandResult:
        from devkit.gitflow import init_repository

        names = [n for n in (gitignore or "").split(",") if n.strip()]
        result = init_repository(
            _in(chdir, path),
            remote=remote,
            branch=branch,
            gitignore=names,
            commit=not no_commit,
            dry_run=dry_run,
        )
        would = "would " if result.dry_run else ""
        verb = (
            ("create" if result.created else "adopt")
            if would
            else ("created" if result.created else "adopted")
        )
        console.outcome(True, f"{would}{verb} repository {result.path} on branch {result.branch}")
        if result.gitignore_written:
            console.line(f".gitignore: {would}add {', '.join(result.gitignore_written)}")
        if result.remote:
            console.line(f"remote origin: {result.remote}")
        if result.commit:
            console.line(f"first commit {result.commit}")
        if result.dry_run:
            console.summary("nothing was done (--dry-run)")
        return CommandResult("init", result.to_json())

    return run_command("init", json_mode=json_output, body=body)


def stage(
    paths: Annotated[
        list[str] | None, typer.Argument(metavar="[PATH]...", help="Paths to stage.")
    ] = None,
    all_changes: Annotated[
        bool, typer.Option("--all", "-A", help="Stage every change, new files included.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be staged.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Stage even secrets, big files or conflict markers."),
    ] = False,
    chdir: RepoDirOption = None,
    json_output: JsonOption = False,
) -> CommandResult:
    """Stage paths (or --all) and show what is staged.

    Refuses, unless --force, files that still contain conflict markers, likely
    secrets (gitleaks' rules: tokens, private keys; .env files, Terraform state) and
    files over the size limit (DEVKIT_STAGE_MAX_BYTES, default 5 MiB); then nothing is
    staged.
    """

    def body(console: Console) -> CommandResult:
        from devkit.gitflow import stage_paths

        result = stage_paths(
            _in(chdir), paths or [], all_changes=all_changes, dry_run=dry_run, force=force
        )
        _show_staged(console, result)
        errors = () if not result.exit_code else (_refused_error(result),)
        return CommandResult("stage", result.to_json(), errors, result.exit_code)

    return run_command("stage", json_mode=json_output, body=body)


def _show_staged(console: Console, result: StageResult) -> None:
    for refusal in result.refused:
        label = "warning (forced)" if result.forced else "refused"
        console.line(f"{label}: {refusal.path}: {refusal.detail}")
    heading = "would stage" if result.dry_run else "staged"
    if result.staged:
        console.table(["status", "path"], [list(s) for s in result.staged], title=heading)
    elif not result.exit_code:
        console.line("nothing staged")


def _refused_error(result: StageResult) -> DevkitError:
    return OperationFailed(
        f"nothing staged: {len(result.refused)} file(s) refused",
        code="refused_paths",
        hint="fix the files listed above, or pass --force",
        details={"refused": [refusal.to_json() for refusal in result.refused]},
    )


def commit(
    message: Annotated[
        str, typer.Option("--message", "-m", metavar="TEXT", help="The commit message.")
    ],
    all_changes: Annotated[
        bool, typer.Option("--all", "-a", help="Commit all changes to tracked files.")
    ] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Commit even with no changes.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check everything and list what would be committed; commit nothing."
        ),
    ] = False,
    chdir: RepoDirOption = None,
    json_output: JsonOption = False,
) -> CommandResult:
    """Commit what is staged through git (hooks and signing apply)."""

    def body(console: Console) -> CommandResult:
        from devkit.gitflow import create_commit

        result = create_commit(
            _in(chdir),
            message=message,
            all_changes=all_changes,
            allow_empty=allow_empty,
            dry_run=dry_run,
        )
        if result.dry_run:
            for path in result.files:
                console.line(f"  {printable(path)}")
            console.outcome(
                True,
                f"would commit {result.files_changed} file(s) on {result.branch}: "
                f"{result.summary} (nothing committed; hooks not run)",
            )
        else:
            console.outcome(True, f"[{result.branch} {result.short_sha}] {result.summary}")
        return CommandResult("commit", result.to_json())

    return run_command("commit", json_mode=json_output, body=body)


def sync(
    repos: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[REPO]...", help="Repositories (default: the current one)."),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            metavar="rebase|merge|ff-only",
            help="rebase, merge or ff-only (default: git config devkit.syncMode, else "
            "rebase when stdin is a terminal, else ff-only).",
        ),
    ] = None,
    no_push: Annotated[bool, typer.Option("--no-push", help="Do not push.")] = False,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish",
            "-u",
            help="Create a branch the remote lacks there and track it (like git push -u); "
            "without it such a branch is only reported, a deleted one never re-created.",
        ),
    ] = False,
    autostash: Annotated[
        bool, typer.Option("--autostash", help="Carry overlapping local changes over.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            help="Repositories synced at once (default: the CPUs, at most 8).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Fetch and report; change nothing else.")
    ] = False,
    chdir: RepoDirOption = None,
    json_output: JsonOption = False,
) -> CommandResult:
    """Bring branches up to date with their upstream and push local commits.

    Predicts conflicts first and never leaves a repository half-way: a sync either
    completes or leaves HEAD, index and files exactly as they were. Many
    repositories sync in parallel; one table and a summary line close the output.
    """

    def body(console: Console) -> CommandResult:
        import sys

        from devkit.config import load_config
        from devkit.gitflow import sync_repositories

        settings = load_config()
        targets = [_in(chdir, repo) for repo in repos] if repos else [_in(chdir)]
        with console.progress("syncing", total=len(targets), unit="repositories") as bar:

            def on_progress(repo: str, event: str) -> None:
                if event == "done":
                    bar.advance(1)

            report = sync_repositories(
                targets,
                **_mode_arguments(settings.resolve("sync.mode", mode)),
                push=not no_push,
                publish=publish,
                autostash=autostash,
                jobs=settings.value("sync.jobs", jobs),
                dry_run=dry_run,
                interactive=sys.stdin.isatty(),
                on_progress=on_progress,
            )
        _show_sync(console, report)
        errors = tuple(_repo_error(r) for r in report.repos if r.exit_code != 0)
        return CommandResult("sync", report.to_json(), errors, report.exit_code)

    return run_command("sync", json_mode=json_output, body=body)


def _mode_arguments(choice: Value) -> dict[str, Any]:
    """--mode and DEVKIT_SYNC_MODE beat a repository's git config devkit.syncMode; the
    user's config file does not (a repository's own setting is the more specific)."""
    if choice.source in ("flag", "environment"):
        return {"mode": choice.value}
    return {"preferred_mode": choice.value}


def _show_sync(console: Console, report: SyncReport) -> None:
    """Each repository's log, overlaps and conflicts, then one table and a summary
    line (why a repository failed is its error line, on stderr)."""
    many = len(report.repos) > 1
    for result in report.repos:
        # A repository that needs attention always shows its log; the others with -v
        # (or when it is the only one), so twenty clean repositories stay one table.
        attention = (
            result.exit_code != 0
            or bool(result.overlapping)
            or (result.conflicts is not None)
            or any(text.startswith("warning:") for text in result.log)
        )
        show = console.line if attention or not many else console.detail
        if result.log or attention:
            show(f"{result.repo}:")
        for text in result.log:
            show(f"  {text}")
        for path in result.overlapping:
            show(f"  overlapping: {path}")
        if result.conflicts is not None:
            show_conflicts(console, result.conflicts, indent="  ")
    rows = [
        [r.repo, r.branch or "-", _ahead_behind(r), r.result, r.next_step or ""]
        for r in report.repos
    ]
    console.table(["repo", "branch", "ahead/behind", "result", "next"], rows)
    s = report.summary()
    console.summary(
        f"{s['total']} repositor{'y' if s['total'] == 1 else 'ies'} ({report.mode}): "
        f"{s['ok']} ok, {s['skipped']} skipped, {s['failed']} failed"
    )


def _repo_error(result: RepoSyncResult) -> DevkitError:
    """A failed repository's error (as the sync recorded it), naming the repository."""
    recorded = result.error or {}
    error = OperationFailed(
        result.problem,
        code=recorded.get("code") or "sync_failed",
        hint=recorded.get("hint"),
        details={**(recorded.get("details") or {}), "repo": result.repo},
    )
    with contextlib.suppress(ValueError):  # a code ExitCode does not name stays 1
        error.exit_code = ExitCode(result.exit_code)
    return error


def conflicts(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="[TARGET]", help="Branch or commit to merge (default: the upstream)."
        ),
    ] = None,
    no_fetch: Annotated[
        bool,
        typer.Option(
            "--no-fetch",
            help="Compare with the upstream as last fetched (default: fetch it first).",
        ),
    ] = False,
    chdir: RepoDirOption = None,
    json_output: JsonOption = False,
) -> CommandResult:
    """Report live conflicts, or predict those of merging TARGET into HEAD.

    Prediction touches neither the index nor the working tree. Exit 0 when clean,
    1 when there are conflicts.
    """

    def body(console: Console) -> CommandResult:
        from devkit.gitflow import report_conflicts

        report = report_conflicts(_in(chdir), target=target, fetch=not no_fetch)
        show_conflicts(console, report)
        return CommandResult("conflicts", report.to_json(), exit_code=report.exit_code)

    return run_command("conflicts", json_mode=json_output, body=body)


def undo(
    repo: Annotated[
        Path | None,
        typer.Argument(metavar="[REPO]", help="Repository (default: the current one)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check everything and list what would be restored."),
    ] = False,
    chdir: RepoDirOption = None,
    json_output: JsonOption = False,
) -> CommandResult:
    """Undo the last devkit sync of the current branch from its snapshot.

    Only acts if the branch still points where the sync left it; the state just
    before the undo is kept under refs/devkit/undo-backups/.
    """

    def body(console: Console) -> CommandResult:
        from devkit.gitflow import undo_last_sync

        result = undo_last_sync(_in(chdir, repo), dry_run=dry_run)
        if result.dry_run:
            for path in result.changes:
                console.line(f"  {printable(path)}")
            console.outcome(
                True,
                f"would restore {result.branch} to {result.restored_head[:7]} "
                f"(now {result.previous_head[:7]}) and {len(result.changes)} file(s);"
                " nothing was changed",
            )
        else:
            console.outcome(
                True,
                f"{result.branch} restored to {result.restored_head[:7]} "
                f"(was {result.previous_head[:7]}); backup in {result.backup}",
            )
        return CommandResult("undo", result.to_json())

    return run_command("undo", json_mode=json_output, body=body)
