"""The step registry: every step kind (run, task, git, extract) declares its options
once, as schema fields, and how to execute and describe itself. The runner looks kinds
up here and never branches on the kind of a step.

Built-in steps call devkit's own core code in-process (devkit.gitflow, devkit.archive),
imported lazily so that validating a recipe stays fast.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from devkit.recipe.fields import (
    Bool,
    Field,
    Int,
    ListOf,
    Number,
    OneOf,
    Size,
    Str,
    Type,
)
from devkit.recipe.model import Step
from devkit.recipe.template import ShellScript


@dataclass(frozen=True)
class StepOutcome:
    """How one attempt of a step ended; `exit_code` 0 is success."""

    exit_code: int
    message: str | None = None
    data: Mapping[str, Any] | None = None
    timed_out: bool = False
    interrupted: bool = False
    hint: str | None = None  # what a built-in step's error suggests doing


class StepContext(Protocol):
    """What the runner offers a step while it runs (one loop item, one attempt)."""

    @property
    def base_dir(self) -> Path: ...

    @property
    def cwd(self) -> Path: ...

    def env(self) -> dict[str, str]: ...

    def render(self, text: str) -> str: ...

    def shell(self, text: str) -> ShellScript: ...

    def path(self, text: str) -> Path: ...

    def run_process(
        self, argv: Sequence[str], *, step: Step, values: Mapping[str, str] | None = None
    ) -> StepOutcome: ...

    def run_task(self, name: str) -> StepOutcome: ...

    def report(self, text: str) -> None: ...


Execute = Callable[[Step, StepContext], StepOutcome]
Describe = Callable[[Step, StepContext], str]


@dataclass(frozen=True)
class StepKind:
    key: str
    description: str
    value: Type
    execute: Execute
    describe: Describe
    common: frozenset[str]
    options: Mapping[str, Field] = field(default_factory=dict)
    # For kinds whose value picks a sub-command (git: sync), the options of each.
    variants: Mapping[str, Mapping[str, Field]] | None = None
    in_process: bool = False

    def option_fields(self, variant: str | None) -> Mapping[str, Field]:
        if self.variants is not None and variant is not None:
            return {**self.options, **self.variants.get(variant, {})}
        return self.options


# -- run: shell text or a program with arguments -------------------------------------

BASH_FLAGS = ("-euo", "pipefail", "-c")


@cache
def bash_prefix() -> tuple[str, ...]:
    """`bash -euo pipefail -c`, with bash found once (not searched on PATH per step)."""
    import shutil

    return (shutil.which("bash") or "bash", *BASH_FLAGS)


# Shell text made only of words (no expansions, operators, globs, redirections, comments
# or escapes) means the same with or without bash: bash would exec the program itself.
# Running such a command directly saves starting bash, about 1 ms per step.
_SHELL_SPECIAL = frozenset("$`\\*?[]{}~;&|<>()#!\n\r\t")
BASH_WORDS = frozenset(
    [
        "alias",
        "bg",
        "bind",
        "break",
        "builtin",
        "caller",
        "case",
        "cd",
        "command",
        "compgen",
        "complete",
        "compopt",
        "continue",
        "declare",
        "dirs",
        "disown",
        "do",
        "done",
        "echo",
        "elif",
        "else",
        "enable",
        "esac",
        "eval",
        "exec",
        "exit",
        "export",
        "false",
        "fc",
        "fg",
        "fi",
        "for",
        "function",
        "getopts",
        "hash",
        "help",
        "history",
        "if",
        "in",
        "jobs",
        "kill",
        "let",
        "local",
        "logout",
        "mapfile",
        "popd",
        "printf",
        "pushd",
        "pwd",
        "read",
        "readarray",
        "readonly",
        "return",
        "select",
        "set",
        "shift",
        "shopt",
        "source",
        "suspend",
        "test",
        "then",
        "time",
        "times",
        "trap",
        "true",
        "type",
        "typeset",
        "ulimit",
        "umask",
        "unalias",
        "unset",
        "until",
        "wait",
        "while",
        ".",
        ":",
        "[",
        "[[",
        "]]",
        "{",
        "}",
        "!",
    ]
)


def direct_argv(text: str, *, path: str | None, cwd: Path) -> list[str] | None:
    """The argv bash would exec for a plain simple command, or None when bash is needed."""
    import os
    import shutil

    if not text or _SHELL_SPECIAL.intersection(text):
        return None
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if not words or words[0] in BASH_WORDS or "=" in words[0]:
        return None
    program = words[0]
    if "/" in program:
        full = program if os.path.isabs(program) else os.path.join(cwd, program)
        if not (os.path.isfile(full) and os.access(full, os.X_OK)):
            return None
        return words
    found = shutil.which(program, path=path)
    return [found, *words[1:]] if found else None


def shell_argv(step: Step, ctx: StepContext) -> tuple[list[str], Mapping[str, str]]:
    """The argv of a `run:` step and the values its script refers to (its env)."""
    if isinstance(step.value, tuple):
        return [ctx.render(part) for part in step.value], {}
    script = ctx.shell(step.value)
    if script.words_only:
        # Only plain words: the displayed text splits into the argv bash would exec,
        # and no bash ever parses it.
        direct = direct_argv(script.display, path=ctx.env().get("PATH"), cwd=ctx.cwd)
        if direct is not None:
            return direct, {}
    return [*bash_prefix(), script.text], script.values


def _execute_run(step: Step, ctx: StepContext) -> StepOutcome:
    argv, values = shell_argv(step, ctx)
    return ctx.run_process(argv, step=step, values=values)


def _describe_run(step: Step, ctx: StepContext) -> str:
    if isinstance(step.value, tuple):
        return shlex.join(ctx.render(part) for part in step.value)
    return ctx.shell(step.value).display


# -- task: run another task (once per invocation, like needs) --------------------------


def _execute_task(step: Step, ctx: StepContext) -> StepOutcome:
    return ctx.run_task(str(step.value))


def _describe_task(step: Step, ctx: StepContext) -> str:
    return f"task {step.value}"


# -- git: devkit.gitflow ----------------------------------------------------------------


def _json_outcome(result: Any, exit_code: int = 0) -> StepOutcome:
    return StepOutcome(exit_code, data=result.to_json())


def _devkit_error_outcome(error: Exception) -> StepOutcome:
    code = int(getattr(error, "exit_code", 1))
    message = getattr(error, "message", str(error))
    return StepOutcome(code or 1, message=message, hint=getattr(error, "hint", None))


def _opt(step: Step, key: str, default: Any = None) -> Any:
    return step.options.get(key, default)


def _repo(step: Step, ctx: StepContext) -> Path:
    return ctx.path(ctx.render(_opt(step, "repo", ".")))


def _execute_git(step: Step, ctx: StepContext) -> StepOutcome:
    from devkit.errors import DevkitError

    try:
        return _GIT_ACTIONS[str(step.value)](step, ctx)
    except DevkitError as error:
        return _devkit_error_outcome(error)


def _git_init(step: Step, ctx: StepContext) -> StepOutcome:
    from devkit.gitflow import init_repository

    remote = _opt(step, "remote")
    result = init_repository(
        ctx.path(ctx.render(_opt(step, "path", "."))),
        remote=ctx.render(remote) if remote is not None else None,
        branch=ctx.render(_opt(step, "branch", "main")),
        gitignore=[ctx.render(p) for p in _opt(step, "gitignore", ())],
        commit=_opt(step, "commit", True),
        env=ctx.env(),
    )
    return _json_outcome(result)


def _git_stage(step: Step, ctx: StepContext) -> StepOutcome:
    from devkit.gitflow import stage_paths

    result = stage_paths(
        _repo(step, ctx),
        [ctx.render(p) for p in _opt(step, "paths", ())],
        all_changes=_opt(step, "all", False),
        dry_run=_opt(step, "dry_run", False),
        force=_opt(step, "force", False),
        env=ctx.env(),
    )
    return _json_outcome(result)


def _git_commit(step: Step, ctx: StepContext) -> StepOutcome:
    from devkit.gitflow import create_commit

    result = create_commit(
        _repo(step, ctx),
        message=ctx.render(_opt(step, "message")),
        all_changes=_opt(step, "all", False),
        allow_empty=_opt(step, "allow_empty", False),
        env=ctx.env(),
    )
    return _json_outcome(result)


def _git_sync(step: Step, ctx: StepContext) -> StepOutcome:
    from devkit.gitflow import sync_repositories

    repos = [ctx.path(ctx.render(r)) for r in _opt(step, "repos", ())] or [_repo(step, ctx)]
    report = sync_repositories(
        repos,
        mode=_opt(step, "mode"),
        push=_opt(step, "push", True),
        publish=_opt(step, "publish", False),
        autostash=_opt(step, "autostash", False),
        jobs=_opt(step, "jobs"),
        dry_run=_opt(step, "dry_run", False),
        interactive=False,
        env=ctx.env(),
    )
    problems = []
    hints = []
    for repo in report.repos:
        ctx.report(f"{repo.repo}: {repo.result} (was {repo.state})")
        if repo.exit_code != 0:
            error = repo.error or {}
            problems.append(repo.problem)
            if error.get("hint") and error["hint"] not in hints:
                hints.append(error["hint"])
    outcome = _json_outcome(report, int(report.exit_code))
    if problems:
        return StepOutcome(
            outcome.exit_code,
            message="; ".join(problems),
            data=outcome.data,
            hint="; ".join(hints) or None,
        )
    return outcome


def _git_conflicts(step: Step, ctx: StepContext) -> StepOutcome:
    from devkit.gitflow import report_conflicts

    target = _opt(step, "target")
    report = report_conflicts(
        _repo(step, ctx),
        target=ctx.render(target) if target is not None else None,
        fetch=_opt(step, "fetch", True),
        env=ctx.env(),
    )
    for line in [report.headline(), *report.file_lines()]:
        ctx.report(line)
    outcome = _json_outcome(report, int(report.exit_code))
    if report.exit_code == 1:
        return StepOutcome(1, message="conflicts found", data=outcome.data)
    return outcome


_GIT_ACTIONS: dict[str, Execute] = {
    "init": _git_init,
    "stage": _git_stage,
    "commit": _git_commit,
    "sync": _git_sync,
    "conflicts": _git_conflicts,
}


def _describe_git(step: Step, ctx: StepContext) -> str:
    options = " ".join(f"{key}={ctx.render(str(value))}" for key, value in step.options.items())
    return f"devkit git {step.value} {options}".rstrip()


# -- extract: devkit.archive ------------------------------------------------------------


def _execute_extract(step: Step, ctx: StepContext) -> StepOutcome:
    from devkit.errors import DevkitError

    try:
        from devkit.archive import ExtractOptions, extract_archive, parse_size

        limits: dict[str, Any] = {}
        for key in ("max_bytes",):
            if key in step.options:
                limits[key] = parse_size(str(step.options[key]))
        for key in ("max_ratio", "max_entries"):
            if key in step.options:
                limits[key] = step.options[key]
        password = _opt(step, "password")
        options = ExtractOptions(
            overwrite=_opt(step, "overwrite", False),
            password=ctx.render(password) if password is not None else None,
            recursive=_opt(step, "recursive", False),
            skip_unsafe=_opt(step, "skip_unsafe", False),
            **limits,
        )
        archive = ctx.path(ctx.render(step.value))
        result = extract_archive(
            archive,
            dest=ctx.path(ctx.render(_opt(step, "to"))),
            options=options,
            env=ctx.env(),
        )
    except DevkitError as error:
        return _devkit_error_outcome(error)
    return _json_outcome(result)


def _describe_extract(step: Step, ctx: StepContext) -> str:
    return f"devkit extract {ctx.render(step.value)} --dest {ctx.render(_opt(step, 'to'))}"


# -- the registry -------------------------------------------------------------------------

_ALL_COMMON = frozenset(
    {
        "name",
        "cwd",
        "env",
        "timeout",
        "grace",
        "retry",
        "continue_on_error",
        "if",
        "for",
        "platforms",
        "stdin",
        "id",
    }
)
_BUILTIN_COMMON = frozenset({"name", "env", "retry", "continue_on_error", "if", "for", "platforms"})

_TEXT = Str(template=True)
_TEXTS = ListOf(Str(template=True), single=True)
_REPO = Field(_TEXT, "The repository folder (default: the recipe's folder).")

GIT_VARIANTS: dict[str, dict[str, Field]] = {
    "init": {
        "path": Field(_TEXT, "Folder to make a repository (default: the recipe's folder)."),
        "remote": Field(_TEXT, "URL or path of the remote 'origin'."),
        "branch": Field(Str(), "Name of the first branch (default main)."),
        "gitignore": Field(_TEXTS, ".gitignore templates (python, node, ...; see devkit init)."),
        "commit": Field(Bool(), "Make the first commit (default true)."),
    },
    "stage": {
        "repo": _REPO,
        "paths": Field(_TEXTS, "Paths to stage."),
        "all": Field(Bool(), "Stage every change."),
        "dry_run": Field(Bool(), "Only report what would be staged."),
        "force": Field(Bool(), "Stage files refused as risky (conflict markers, secrets, size)."),
    },
    "commit": {
        "repo": _REPO,
        "message": Field(_TEXT, "The commit message.", required=True),
        "all": Field(Bool(), "Stage every change first."),
        "allow_empty": Field(Bool(), "Commit even when nothing changed."),
    },
    "sync": {
        "repo": _REPO,
        "repos": Field(_TEXTS, "Several repositories to sync."),
        "mode": Field(
            Str(choices=("ff-only", "rebase", "merge")),
            "How to integrate the upstream; default: git config devkit.syncMode, else"
            " ff-only (a recipe is never interactive).",
        ),
        "push": Field(Bool(), "Push after integrating (default true)."),
        "publish": Field(Bool(), "Create a branch the remote lacks there (git push -u)."),
        "autostash": Field(Bool(), "Stash local changes around the sync."),
        "jobs": Field(Int(minimum=1), "Repositories synced at once."),
        "dry_run": Field(Bool(), "Only report what would happen."),
    },
    "conflicts": {
        "repo": _REPO,
        "target": Field(_TEXT, "Branch to predict conflicts against (default: upstream)."),
        "fetch": Field(Bool(), "Fetch the upstream before predicting (default true)."),
    },
}

EXTRACT_OPTIONS: dict[str, Field] = {
    "to": Field(
        _TEXT,
        "Destination folder: the archive lands in it as its single top folder, or in a"
        " folder named after the archive.",
        required=True,
    ),
    "overwrite": Field(Bool(), "Replace files that already exist."),
    "password": Field(_TEXT, "Password for encrypted archives (use a secret)."),
    "recursive": Field(Bool(), "Also extract archives found inside."),
    "max_bytes": Field(Size(), "Refuse archives that unpack to more than this (50M, 2G)."),
    "max_ratio": Field(Number(), "Refuse archives with a higher compression ratio."),
    "max_entries": Field(Int(minimum=1), "Refuse archives with more members."),
    "skip_unsafe": Field(Bool(), "Skip unsafe members instead of refusing the archive."),
}

REGISTRY: dict[str, StepKind] = {
    kind.key: kind
    for kind in (
        StepKind(
            key="run",
            description="Shell text (bash with set -euo pipefail), or a list: no shell.",
            value=OneOf(scalar=_TEXT, sequence=ListOf(_TEXT, min_items=1), label="a command"),
            execute=_execute_run,
            describe=_describe_run,
            common=_ALL_COMMON,
        ),
        StepKind(
            key="task",
            description="Run another task of this recipe (at most once per invocation).",
            value=Str(),
            execute=_execute_task,
            describe=_describe_task,
            common=frozenset({"name", "continue_on_error", "if", "platforms"}),
        ),
        StepKind(
            key="git",
            description="A devkit git flow, with the same options and safety as the CLI command.",
            value=Str(choices=tuple(GIT_VARIANTS)),
            execute=_execute_git,
            describe=_describe_git,
            common=_BUILTIN_COMMON,
            variants=GIT_VARIANTS,
            in_process=True,
        ),
        StepKind(
            key="extract",
            description="Extract an archive safely (devkit extract), atomically into 'to'.",
            value=_TEXT,
            execute=_execute_extract,
            describe=_describe_extract,
            common=_BUILTIN_COMMON,
            options=EXTRACT_OPTIONS,
            in_process=True,
        ),
    )
}
