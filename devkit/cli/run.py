"""`devkit run`: YAML recipes, validated before anything runs."""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devkit.cli.common import JsonOption, interrupted, run_command
from devkit.console import CommandResult, Console, StatusSink, printable
from devkit.errors import DevkitError, InvalidInput, OperationFailed

if TYPE_CHECKING:
    from devkit.recipe.model import Recipe
    from devkit.recipe.report import RunReport, StepRecord, TaskRecord

DEFAULT_RECIPE = "devkit.yaml"


def split_arguments(arguments: list[str]) -> tuple[Path, tuple[str, ...]]:
    """`[RECIPE] [TASK...]`: the first argument is the recipe when it looks like a file."""
    if arguments:
        first = arguments[0]
        if first.endswith((".yaml", ".yml")) or "/" in first or Path(first).is_file():
            return Path(first), tuple(arguments[1:])
    return Path(DEFAULT_RECIPE), tuple(arguments)


def parse_vars(values: list[str]) -> dict[str, str]:
    import re

    result: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InvalidInput(
                f"invalid --var {value!r}",
                code="usage",
                hint="write --var NAME=VALUE (NAME: letters, digits, _)",
            )
        result[name] = text
    return result


class ConsoleObserver:
    """Shows a run: compact on a terminal, timestamped plain lines otherwise (cron)."""

    def __init__(self, console: Console, *, parallel: bool, status: StatusSink) -> None:
        self.console = console
        self.styled = console.styled and not console.json_mode
        self.parallel = parallel
        self.status = status
        self.running: dict[str, str] = {}

    def _show(self, text: str, *, style: str | None = None) -> None:
        if not self.styled:
            text = f"{datetime.now():%Y-%m-%d %H:%M:%S} {text}"
        if self.console.json_mode:
            self.console.notice(text)
        else:
            self.console.line(text, style=style)

    def task_started(self, task: str) -> None:
        self._show(f"▶ {printable(task)}", style="bold")

    def step_started(self, task: str, label: str) -> None:
        self._show(f"  {self._prefix(task)}• {printable(label)}", style="cyan")
        self.running[task] = label
        self._update_status()

    def _update_status(self) -> None:
        self.status.update("  ".join(f"{task} › {label}" for task, label in self.running.items()))

    def output(self, task: str, line: str) -> None:
        self._show(f"    {self._prefix(task)}{printable(line)}")

    def _prefix(self, task: str) -> str:
        return f"[{printable(task)}] " if self.parallel or not self.styled else ""

    def step_finished(self, record: StepRecord) -> None:
        if self.running.pop(record.task, None) is not None:
            self._update_status()
        name = printable(record.name)
        prefix = self._prefix(record.task)
        took = f"({record.duration:.1f} s)"
        if record.status == "ok":
            self._show(f"  {prefix}✓ {name} {took}", style="green")
            if record.data:
                self._show(f"    {prefix}{printable(summarize(record.data))}", style="dim")
        elif record.status == "planned":
            where = "" if record.phase == "steps" else f" ({record.phase})"
            first, *rest = (record.command or name).rstrip("\n").split("\n") or [""]
            self._show(f"  {prefix}would run{where}: {printable(first)}")
            for line in rest:  # shell text keeps its lines
                self._show(f"  {prefix}    {printable(line)}")
        elif record.status == "skipped":
            self._show(
                f"  {prefix}- {name} skipped: {printable(record.message or '')}", style="dim"
            )
        elif record.status == "ignored":
            self._show(
                f"  {prefix}✗ {name} failed, ignored (continue_on_error) {took}", style="yellow"
            )
        else:
            self._show(
                f"  {prefix}✗ {name} {record.status} (exit {record.exit_code}) {took}",
                style="bold red",
            )

    def task_finished(self, record: TaskRecord) -> None:
        if record.status == "up_to_date":
            self._show(f"✓ {printable(record.name)} is up to date (skipped)", style="green")
        elif record.status in ("skipped", "blocked"):
            self._show(
                f"- {printable(record.name)} {record.status}: {printable(record.message or '')}",
                style="dim",
            )

    def note(self, task: str | None, text: str) -> None:
        prefix = f"[{printable(task)}] " if task else ""
        self.console.notice(f"{prefix}{printable(text)}", style="dim")

    def confirm(self, question: str) -> bool:
        return self.console.confirm(question)


def summarize(data: dict[str, Any], limit: int = 8) -> str:
    """One line for a built-in step's result: its scalar fields, and list sizes."""
    parts: list[str] = []
    for key, value in data.items():
        if isinstance(value, bool) or value is None or isinstance(value, (str, int, float)):
            parts.append(f"{key}: {value}")
        elif isinstance(value, (list, tuple)):
            parts.append(f"{key}: {len(value)}")
    return ", ".join(parts[:limit])


def _show_diagnostics(console: Console, error: Exception) -> None:
    for diagnostic in getattr(error, "diagnostics", ()):
        for line in diagnostic.render().splitlines():
            console.notice(printable(line))


def _list(console: Console, recipe: Recipe, cli_vars: dict[str, str]) -> dict[str, Any]:
    import os

    from devkit.recipe.arguments import usage
    from devkit.recipe.mask import Masker
    from devkit.recipe.validate import recipe_scope
    from devkit.recipe.vartypes import display, map_text, unresolved

    environment = {**os.environ, **recipe.dotenv_values}
    masker = Masker([environment[s] for s in recipe.secrets if s in environment])
    scope = recipe_scope(recipe, cli_vars=cli_vars, environ=os.environ)
    default = recipe.default_task()
    tasks = []
    rows = []
    for task in recipe.tasks.values():
        needs = ", ".join(map(str, task.needs))
        tasks.append(
            {
                "name": task.name,
                "desc": task.desc,
                "needs": list(map(str, task.needs)),
                "default": task.name == default,
                "vars": sorted(task.vars),
                "args": [{"name": a.name, "default": a.default} for a in task.args],
            }
        )
        mark = " (default)" if task.name == default else ""
        rows.append([usage(task) + mark, task.desc, needs])
    variables: dict[str, Any] = {}
    for name in recipe.vars:
        try:
            variables[name] = map_text(scope.value(name), masker.text)
        except (KeyError, ValueError):  # e.g. an unset environment variable: show the text
            variables[name] = unresolved(recipe.vars[name])
    if recipe.description:
        console.line(printable(recipe.description))
    console.table(["task", "description", "needs"], rows)
    if variables:
        console.line()
        console.table(
            ["variable", "value"],
            [[k, "(none: pass --var)" if v is None else display(v)] for k, v in variables.items()],
        )
    return {
        "recipe": recipe.name,
        "description": recipe.description,
        "default": default,
        "tasks": tasks,
        "vars": variables,
    }


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        arguments: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="[RECIPE] [TASK [ARG]...]...",
                help="Recipe file (default devkit.yaml), then tasks (default: its default task),"
                " each followed by its arguments if it declares 'args'.",
                show_default=False,
            ),
        ] = None,
        var: Annotated[
            list[str] | None,
            typer.Option(
                "--var", metavar="NAME=VALUE", help="Set a variable (beats every other source)."
            ),
        ] = None,
        list_tasks: Annotated[
            bool, typer.Option("--list", help="Show tasks, descriptions and variables.")
        ] = False,
        check: Annotated[
            bool, typer.Option("--check", help="Validate the recipe and exit.")
        ] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print what would run (secrets masked).")
        ] = False,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Answer yes to every 'confirm:'.")
        ] = False,
        force: Annotated[
            bool, typer.Option("--force", help="Run tasks even when up to date.")
        ] = False,
        jobs: Annotated[
            int | None,
            typer.Option("-j", "--jobs", min=1, help="At most N tasks at once (parallel needs)."),
        ] = None,
        log: Annotated[
            Path | None,
            typer.Option(
                "--log", metavar="FILE", help="Append the full log (timestamps, masked) to FILE."
            ),
        ] = None,
        schema: Annotated[
            bool, typer.Option("--schema", help="Print the recipe JSON Schema and exit.")
        ] = False,
        json_output: JsonOption = False,
    ) -> CommandResult:
        """Run a YAML recipe: validated completely before the first step runs.

        Steps run in their own process groups with timeouts, retries and cleanup;
        values are shell-quoted automatically; secrets are masked everywhere.
        Exit code: the failing step's (128+signal if killed), 2 invalid recipe,
        128+signal when devkit is interrupted (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
        """

        def body(console: Console) -> CommandResult:
            if schema:
                import json

                from devkit.recipe.schema import json_schema

                document = json_schema()
                if not console.json_mode:
                    console.line(json.dumps(document, indent=2, sort_keys=True))
                return CommandResult("run", {"schema": document})
            from devkit.recipe.errors import RecipeInvalid
            from devkit.recipe.validate import load_recipe

            recipe_path, tasks = split_arguments(list(arguments or []))
            cli_vars = parse_vars(list(var or []))
            try:
                recipe = load_recipe(recipe_path, cli_vars=cli_vars, display_name=str(recipe_path))
            except RecipeInvalid as error:
                _show_diagnostics(console, error)
                raise
            if list_tasks:
                return CommandResult("run", _list(console, recipe, cli_vars))
            if check:
                steps = sum(
                    len(t.steps) + len(t.on_failure) + len(t.finally_)
                    for t in recipe.tasks.values()
                )
                console.outcome(
                    True,
                    f"{printable(recipe.name)} is valid: {len(recipe.tasks)} tasks, {steps} steps",
                )
                data = {"recipe": recipe.name, "valid": True, "tasks": len(recipe.tasks)}
                return CommandResult("run", {**data, "steps": steps})
            from devkit.recipe.arguments import bind_arguments

            named, args = bind_arguments(recipe, tasks)
            return _execute(console, recipe, named, cli_vars, args)

        def _execute(
            console: Console,
            recipe: Recipe,
            tasks: tuple[str, ...],
            cli_vars: dict[str, str],
            args: dict[str, dict[str, str]],
        ) -> CommandResult:
            import os

            from devkit.recipe.runner import RunOptions, recipe_log_path, run_recipe

            parallel = any(t.parallel for t in recipe.tasks.values())
            with contextlib.ExitStack() as stack:
                status = stack.enter_context(console.live_status())
                observer = ConsoleObserver(console, parallel=parallel, status=status)
                log_stream = None
                log_file = log if log is not None else recipe_log_path(recipe, cli_vars, os.environ)
                if log_file is not None:
                    try:
                        if log is None:  # the recipe's own log: its folder may be new
                            log_file.parent.mkdir(parents=True, exist_ok=True)
                        log_stream = stack.enter_context(log_file.open("a", encoding="utf-8"))
                    except OSError as error:
                        raise InvalidInput(
                            f"cannot open log file {log_file}: {error.strerror}",
                            code="usage",
                            hint="pass a writable path to --log (or fix the recipe's 'log:')",
                        ) from None
                options = RunOptions(
                    tasks=tasks,
                    cli_vars=cli_vars,
                    dry_run=dry_run,
                    force=force,
                    assume_yes=yes,
                    can_confirm=bool(sys.stdin and sys.stdin.isatty()),
                    jobs=jobs,
                    log=log_stream,
                    args=args,
                )
                report = run_recipe(recipe, options, observer)
            return _finish(console, report)

        return run_command("run", json_mode=json_output, body=body)


def _finish(console: Console, report: RunReport) -> CommandResult:
    from devkit.process import interruption

    data = report.to_json()
    stopped = report.interrupted or interruption() is not None
    if report.exit_code == 0 and not stopped:
        done = [t for t in report.tasks if t.status in ("ok", "up_to_date", "planned")]
        verb = "planned" if report.dry_run else "done"
        console.outcome(
            True,
            f"{printable(report.recipe)}: {len(done)} task(s) {verb} in {report.duration:.1f} s",
        )
        return CommandResult("run", data)
    error = run_failure(report, interrupted_run=stopped)
    # An interrupted run exits 128 + the signal received; a failed one with the step's code.
    exit_code = error.exit_code if stopped else report.exit_code
    return CommandResult("run", data, errors=(error,), exit_code=int(exit_code))


def run_failure(report: RunReport, *, interrupted_run: bool) -> DevkitError:
    """The error of a run that did not succeed, with where it failed in `details`."""
    where = _failed_at(report)
    if interrupted_run:
        return interrupted(
            message=report.failure or "interrupted",
            hint="cleanup steps ran; rerun when ready",
            details=where,
        )
    return OperationFailed(
        report.failure or "the recipe failed",
        code="step_failed",
        hint="see the step's output above; --log FILE keeps it all",
        details=where,
    )


def _failed_at(report: RunReport) -> dict[str, Any]:
    """The step (or, when none ran, the task) that failed first: the one whose exit code
    the run took, else the first failed one."""
    steps = [
        step
        for task in report.tasks
        for step in task.steps
        if step.status in ("failed", "interrupted")
    ]
    matching = [step for step in steps if step.exit_code == report.exit_code]
    if matching or steps:
        step = (matching or steps)[0]
        return {
            "task": step.task,
            "step": step.name,
            "line": step.position.line,
            "col": step.position.col,
            "phase": step.phase,
            "exit_code": step.exit_code,
            "timed_out": step.timed_out,
        }
    tasks = [task for task in report.tasks if not task.ok]
    return {"task": tasks[0].name, "exit_code": tasks[0].exit_code} if tasks else {}
