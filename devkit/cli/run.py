"""`devkit run`: YAML recipes, validated before anything runs."""

from __future__ import annotations

import contextlib
import re
import sys
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devkit.cli.common import (
    AcceptNewHostKeysOption,
    ConnectTimeoutOption,
    HostsOption,
    InventoryOption,
    JsonOption,
    LimitOption,
    interrupted,
    run_command,
)
from devkit.console import CommandResult, Console, StatusSink, printable
from devkit.errors import DevkitError, InvalidInput, OperationFailed

if TYPE_CHECKING:
    from devkit.recipe.model import Recipe
    from devkit.recipe.report import RunReport, StepRecord, TaskRecord

DEFAULT_RECIPE = "devkit.yaml"
# With -q, how much of a failed step's output is shown (its last lines, each cut short).
QUIET_TAIL_LINES = 200
QUIET_LINE_CHARS = 4096


def names_recipe(argument: str) -> bool:
    """Whether the first argument of `devkit run` is a recipe file rather than a task."""
    return argument.endswith((".yaml", ".yml")) or "/" in argument or Path(argument).is_file()


def split_arguments(arguments: list[str]) -> tuple[Path, tuple[str, ...]]:
    """`[RECIPE] [TASK...]`: the first argument is the recipe when it looks like a file;
    otherwise the nearest devkit.yaml in this folder or a parent (as `just` finds its
    justfile)."""
    from devkit.recipe.discover import find_recipe

    if arguments and names_recipe(arguments[0]):
        return Path(arguments[0]), tuple(arguments[1:])
    return find_recipe(Path.cwd()) or Path(DEFAULT_RECIPE), tuple(arguments)


def complete_arguments(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Shell completion for `[RECIPE] [TASK]...`: the tasks of the recipe named so far
    (or of the nearest devkit.yaml); a path-like word is left to the shell's file
    completion."""
    from devkit.recipe.discover import task_names

    if "/" in incomplete:
        return []
    given = [str(word) for word in ctx.params.get("arguments") or []]
    recipe, _ = split_arguments(given)
    tasks = [(name, desc) for name, desc in task_names(recipe) if name.startswith(incomplete)]
    if given:
        return tasks
    recipes = sorted(
        (path.name, "recipe")
        for pattern in ("*.yaml", "*.yml")
        for path in Path.cwd().glob(pattern)
        if path.name.startswith(incomplete)
    )
    return tasks + recipes


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
    """Shows a run: compact on a terminal; in a pipe or a cron log, the lines that start
    and finish a step carry a timestamp too (`timestamps`: every line does). Output
    lines are tagged with their task only when tasks run in parallel."""

    def __init__(
        self, console: Console, *, parallel: bool, status: StatusSink, timestamps: bool = False
    ) -> None:
        self.console = console
        self.styled = console.styled and not console.json_mode
        self.parallel = parallel
        self.status = status
        self.timestamps = timestamps
        self.running: dict[str, str] = {}
        self.held: dict[str, deque[str]] = {}
        self.open_line: str | None = None  # the task whose output line is unfinished

    def _stamp(self, text: str, *, step_line: bool = False) -> str:
        if self.timestamps or (step_line and not self.styled):
            return f"{datetime.now():%Y-%m-%d %H:%M:%S} {text}"
        return text

    def _show(self, text: str, *, style: str | None = None, step_line: bool = False) -> None:
        self._end_open_line()
        self._emit(self._stamp(text, step_line=step_line), style=style)

    def _emit(self, text: str, *, style: str | None = None, end: str = "\n") -> None:
        if self.console.json_mode:
            self.console.notice(text, style=style, end=end)
        else:
            self.console.line(text, style=style, end=end)

    def _end_open_line(self) -> None:
        """Other text must not be glued to a step's unfinished output line."""
        if self.open_line is not None:
            self.open_line = None
            self._emit("")

    def task_started(self, task: str) -> None:
        self._show(f"▶ {printable(task)}", style="bold")

    def step_started(self, task: str, label: str) -> None:
        self._show(f"  {self._prefix(task)}• {printable(label)}", style="cyan", step_line=True)
        self.running[task] = label
        self._update_status()

    def _update_status(self) -> None:
        self.status.update("  ".join(f"{task} › {label}" for task, label in self.running.items()))

    def output(self, task: str, text: str, *, end: bool = True) -> None:
        if self.console.quiet:
            self._hold(task, text, end=end)
            return
        if self.styled:
            # On a terminal each piece is a line of its own: the live status line stays
            # under the output (and nobody reads a 64 KiB line there anyway).
            for line in text.split("\n"):
                self._show(f"    {self._prefix(task)}{printable(line)}")
            return
        # Plain output (a pipe, a file, cron) keeps the bytes: a long line arrives in
        # pieces and is written as one line, with no chrome but the indent (and the
        # time with --timestamps).
        head = self._stamp(f"    {self._prefix(task)}")
        if self.open_line == task:
            head_first = ""
        else:
            self._end_open_line()
            head_first = head
        body = printable_lines(text).replace("\n", "\n" + head)
        self._emit(head_first + body, end="\n" if end else "")
        self.open_line = None if end else task

    def _hold(self, task: str, text: str, *, end: bool) -> None:
        """-q shows a step's output only if the step fails: its last lines, each cut
        to QUIET_LINE_CHARS so that holding them stays small whatever the step prints."""
        held = self.held.setdefault(task, deque(maxlen=QUIET_TAIL_LINES))
        pieces = text.split("\n")
        if self.open_line == task and held:
            held[-1] = (held[-1] + printable(pieces.pop(0)))[:QUIET_LINE_CHARS]
        held.extend(f"    {self._prefix(task)}{printable(p[:QUIET_LINE_CHARS])}" for p in pieces)
        self.open_line = None if end else task

    def _prefix(self, task: str) -> str:
        return f"[{printable(task)}] " if self.parallel else ""

    def step_finished(self, record: StepRecord) -> None:
        if self.running.pop(record.task, None) is not None:
            self._update_status()
        name = printable(record.name)
        prefix = self._prefix(record.task)
        took = f"({record.duration:.1f} s)"
        if record.status == "ok":
            self._show(f"  {prefix}✓ {name} {took}", style="green", step_line=True)
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
                f"  {prefix}✗ {name} failed, ignored (continue_on_error) {took}",
                style="yellow",
                step_line=True,
            )
        else:
            failed = f"  {prefix}✗ {name} {record.status} (exit {record.exit_code}) {took}"
            self._show(failed, style="bold red", step_line=True)
            if self.console.quiet:
                self.console.summary(failed)
                for line in self.held.pop(record.task, ()):
                    self.console.summary(line)
        self.held.pop(record.task, None)

    def task_finished(self, record: TaskRecord) -> None:
        if record.status == "up_to_date":
            self._show(f"✓ {printable(record.name)} is up to date (skipped)", style="green")
        elif record.status in ("skipped", "blocked"):
            self._show(
                f"- {printable(record.name)} {record.status}: {printable(record.message or '')}",
                style="dim",
            )

    def note(self, task: str | None, text: str) -> None:
        self._end_open_line()
        prefix = f"[{printable(task)}] " if task else ""
        self.console.notice(f"{prefix}{printable(text)}", style="dim")

    def confirm(self, question: str) -> bool:
        return self.console.confirm(question)


_PLAIN_ASCII = bytes(range(0x20, 0x7F)) + b"\n"
_UNPRINTABLE_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def printable_lines(text: str) -> str:
    """printable() for each line of a block of lines (the newlines stay); a block
    without control characters, the usual case, is returned as it is at C speed."""
    if text.isascii() and not text.encode("ascii").translate(None, _PLAIN_ASCII):
        return text  # about ten times faster than the regex below
    if _UNPRINTABLE_BUT_NEWLINE.search(text) is None:
        return text
    return "\n".join(printable(line) for line in text.split("\n"))


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

    from devkit import redaction
    from devkit.recipe.arguments import usage
    from devkit.recipe.mask import Masker
    from devkit.recipe.secrets import task_secrets
    from devkit.recipe.validate import recipe_scope
    from devkit.recipe.vars import environment as run_environment
    from devkit.recipe.vartypes import display, map_text, unresolved

    environment = run_environment(os.environ, recipe.dotenv_values)
    declared = {*recipe.secrets, *task_secrets(recipe)}
    masker = Masker([environment[s] for s in declared if s in environment])
    redaction.mask_everywhere(masker.text)
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
                help="Recipe file (default: devkit.yaml here or in a parent folder), then"
                " tasks (default: its default task), each followed by its arguments if it"
                " declares 'args'.",
                show_default=False,
                autocompletion=complete_arguments,
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
            typer.Option(
                "-j",
                "--jobs",
                min=1,
                metavar="N",
                help="At most N tasks at once (parallel needs; default: no limit).",
            ),
        ] = None,
        timestamps: Annotated[
            bool,
            typer.Option(
                "--timestamps", help="Start every output line with the time (not only steps')."
            ),
        ] = False,
        log: Annotated[
            Path | None,
            typer.Option(
                "--log", metavar="FILE", help="Append the full log (timestamps, masked) to FILE."
            ),
        ] = None,
        schema: Annotated[
            bool, typer.Option("--schema", help="Print the recipe JSON Schema and exit.")
        ] = False,
        init: Annotated[
            bool,
            typer.Option(
                "--init",
                help="Write a commented starter devkit.yaml (and .devkit-schema.json) here.",
            ),
        ] = False,
        hosts: HostsOption = None,
        inventory: InventoryOption = None,
        limit: LimitOption = None,
        forks: Annotated[
            int | None,
            typer.Option(
                "--forks",
                min=1,
                metavar="N",
                help="Hosts at once (default 10, or the recipe's fleet: forks).",
                rich_help_panel="Fleet",
            ),
        ] = None,
        serial: Annotated[
            str | None,
            typer.Option(
                "--serial",
                metavar="SIZES",
                help="Rolling batches: 2, 25%, or 1,25% (the last size repeats).",
                rich_help_panel="Fleet",
            ),
        ] = None,
        max_fail_percentage: Annotated[
            float | None,
            typer.Option(
                "--max-fail-percentage",
                min=0,
                max=100,
                metavar="PCT",
                help="Stop before the next batch when more of a batch failed.",
                rich_help_panel="Fleet",
            ),
        ] = None,
        connect_timeout: ConnectTimeoutOption = 10,
        accept_new_host_keys: AcceptNewHostKeysOption = False,
        json_output: JsonOption = False,
        fleet_stdin: Annotated[
            bool,
            typer.Option(
                "--fleet-stdin",
                hidden=True,
                help="The remote half of a fleet run: request on stdin, events on stdout.",
            ),
        ] = False,
    ) -> CommandResult:
        """Run a YAML recipe: validated completely before the first step runs.

        Steps run in their own process groups with timeouts, retries and cleanup;
        values are shell-quoted automatically; secrets are masked everywhere.
        Exit code: the failing step's (128+signal if killed, 124 timed out), 2 invalid recipe,
        128+signal when devkit is interrupted (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
        With --hosts or --inventory the recipe runs on each host over ssh; exit 0 all
        hosts ok, 1 a host failed, 5 only unreachable hosts, 6 max-fail-percentage hit.
        """

        if fleet_stdin:  # the recipe comes on stdin (devkit/cli/remote.py)
            from devkit.cli.remote import run_from_stdin

            return run_from_stdin(
                list(arguments or []), dry_run=dry_run, force=force, yes=yes, jobs=jobs
            )

        from devkit.cli.fleetrun import FleetFlags

        fleet = FleetFlags(
            hosts=hosts,
            inventory=inventory,
            limit=limit,
            forks=forks,
            serial=serial,
            max_fail_percentage=max_fail_percentage,
            connect_timeout=connect_timeout,
            accept_new_host_keys=accept_new_host_keys,
            timestamps=timestamps,
            log=log,
        )

        def body(console: Console) -> CommandResult:
            answered = _without_recipe(console, init=init, schema=schema)
            if answered is not None:
                return answered
            from devkit.recipe.errors import RecipeInvalid
            from devkit.recipe.validate import load_recipe

            recipe_path, tasks = split_arguments(list(arguments or []))
            cli_vars = parse_vars(list(var or []))
            if fleet.wanted and not list_tasks:
                from devkit.cli.fleetrun import RunFlags, fleet_command

                flags = RunFlags(tasks, cli_vars, dry_run, force, yes, jobs)
                return fleet_command(console, recipe_path, flags, fleet, check=check)
            try:
                recipe = load_recipe(recipe_path, cli_vars=cli_vars, display_name=str(recipe_path))
            except RecipeInvalid as error:
                _show_diagnostics(console, error)
                raise
            if list_tasks or check:
                return _inspect(console, recipe, cli_vars, list_tasks=list_tasks)
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
                from devkit.config import load_config

                stamped = timestamps or bool(load_config().value("output.timestamps"))
                observer = ConsoleObserver(
                    console, parallel=parallel, status=status, timestamps=stamped
                )
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
            return run_result(console, report)

        return run_command("run", json_mode=json_output, body=body)


def _inspect(
    console: Console, recipe: Recipe, cli_vars: dict[str, str], *, list_tasks: bool
) -> CommandResult:
    """`--list` or `--check`."""
    if list_tasks:
        return CommandResult("run", _list(console, recipe, cli_vars))
    return _valid(console, recipe)


def _without_recipe(console: Console, *, init: bool, schema: bool) -> CommandResult | None:
    """`--init` and `--schema`: answered before any recipe is read (None: neither)."""
    if init:
        return CommandResult("run", write_starter(console, Path.cwd()))
    if schema:
        return _print_schema(console)
    return None


def _print_schema(console: Console) -> CommandResult:
    import json

    from devkit.recipe.schema import json_schema

    document = json_schema()
    if not console.json_mode:
        console.line(json.dumps(document, indent=2, sort_keys=True))
    return CommandResult("run", {"schema": document})


def _valid(console: Console, recipe: Recipe) -> CommandResult:
    """`--check`: the recipe passed every check."""
    steps = sum(len(t.steps) + len(t.on_failure) + len(t.finally_) for t in recipe.tasks.values())
    console.outcome(
        True, f"{printable(recipe.name)} is valid: {len(recipe.tasks)} tasks, {steps} steps"
    )
    data = {"recipe": recipe.name, "valid": True, "tasks": len(recipe.tasks)}
    return CommandResult("run", {**data, "steps": steps})


def write_starter(console: Console, folder: Path) -> dict[str, Any]:
    """`--init`: the starter recipe and the schema editors read; never overwrites."""
    import json

    from devkit.recipe.schema import json_schema
    from devkit.recipe.starter import SCHEMA_FILE, STARTER

    recipe = folder / DEFAULT_RECIPE
    existing = [path for path in (recipe, folder / "devkit.yml") if path.exists()]
    if existing:
        raise InvalidInput(
            f"a recipe already exists: {existing[0]}",
            code="recipe_exists",
            hint="edit it, or remove it to start over",
        )
    try:
        with recipe.open("x", encoding="utf-8") as stream:
            stream.write(STARTER)
        schema_text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
        (folder / SCHEMA_FILE).write_text(schema_text, encoding="utf-8")
    except OSError as error:
        raise OperationFailed(
            f"cannot write {recipe}: {error.strerror}",
            code="write_failed",
            hint="run it in a folder you can write to",
        ) from None
    console.outcome(True, f"wrote {DEFAULT_RECIPE} and {SCHEMA_FILE}: try 'devkit run --list'")
    return {"recipe": str(recipe), "schema": str(folder / SCHEMA_FILE)}


def run_result(console: Console, report: RunReport) -> CommandResult:
    """The outcome of a run (its summary line shown), as `devkit run` reports it."""
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
        hint=report.failure_hint or "see the step's output above; --log FILE keeps it all",
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
            "output_tail": list(step.output_tail),
        }
    tasks = [task for task in report.tasks if not task.ok]
    return {"task": tasks[0].name, "exit_code": tasks[0].exit_code} if tasks else {}
