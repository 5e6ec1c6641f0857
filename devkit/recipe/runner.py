"""Run a validated recipe: the requested tasks (or the default one), each once, in
dependency order, and the RunReport of how it went.

The run is split by concern, the way go-task splits its executor:
- runner.py (this module): what to run, the run's set-up and cleanup, the report;
- schedule.py: tasks once each, needs, parallel needs;
- tasks.py: one task: lock (locks.py), up-to-date and requires (checks.py), phases;
- execute.py: a task's steps: items, labels, dry runs, `if:`;
- attempts.py: one step item with retries, and its record;
- stepcontext.py: what a step kind sees, and starting its process (devkit.process);
- signals.py: what SIGINT, SIGTERM and SIGHUP do to a run; output.py: what is shown.

Core code: nothing here prints. Everything the user sees goes through the
RunObserver, already masked; the optional log gets the same, with timestamps.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from devkit.errors import DevkitError, InvalidInput
from devkit.recipe import signals
from devkit.recipe.arguments import task_arguments
from devkit.recipe.context import Run, expand_home
from devkit.recipe.fields import did_you_mean
from devkit.recipe.model import Recipe
from devkit.recipe.options import RunObserver, RunOptions
from devkit.recipe.report import RunReport
from devkit.recipe.schedule import Scheduler
from devkit.recipe.template import parse_template, render_plain
from devkit.recipe.validate import post_order, recipe_scope, task_edges
from devkit.recipe.vartypes import map_text


def run_recipe(
    recipe: Recipe,
    options: RunOptions,
    observer: RunObserver,
    *,
    environ: Mapping[str, str] | None = None,
) -> RunReport:
    """Run the requested tasks (or the default one); never raises for a failing step
    or a signal: the report carries the exit code. Raises InvalidInput for an unknown
    task, a missing secret or a confirmation that cannot be asked."""
    names = requested_tasks(recipe, options)
    planned = plan(recipe, names)
    for name in names:  # a required argument missing: refused before anything runs
        task_arguments(recipe.tasks[name], options.args)
    _check_values(recipe, planned)
    run = Run(recipe, options, observer, environ, planned)
    _check_confirmation(recipe, options, planned)
    started = time.monotonic()
    with signals.handling(), signals.run_directory() as run_dir:
        run.run_dir = run_dir
        scheduler = Scheduler(run)
        for name in names:
            record = scheduler.ensure(name)
            if not record.ok or signals.interrupted():
                break
        return _report(run, scheduler, names, time.monotonic() - started)


def recipe_log_path(
    recipe: Recipe, cli_vars: Mapping[str, str], environ: Mapping[str, str]
) -> Path | None:
    """The recipe's `log:` file, rendered, relative to its folder (None: it has none)."""
    if recipe.log is None:
        return None
    scope = recipe_scope(recipe, cli_vars=cli_vars, environ=environ)
    try:
        text = render_plain(parse_template(str(recipe.log)), scope.lookup)
    except (KeyError, ValueError) as error:
        raise InvalidInput(
            f"{recipe.log.pos}: cannot resolve 'log': {error}", code="usage", hint=None
        ) from None
    path = Path(expand_home(text, environ))
    return path if path.is_absolute() else recipe.directory / path


def requested_tasks(recipe: Recipe, options: RunOptions) -> tuple[str, ...]:
    names = options.tasks
    if not names:
        default = recipe.default_task()
        if default is None:
            raise InvalidInput(
                f"{recipe.name} has several tasks and no 'default'",
                code="no_task",
                hint=f"name one: {', '.join(recipe.tasks)} (or see --list)",
            )
        names = (default,)
    for name in names:
        if name not in recipe.tasks:
            raise InvalidInput(
                f"unknown task {name!r} in {recipe.name}" + did_you_mean(name, list(recipe.tasks)),
                code="unknown_task",
                hint="see 'devkit run RECIPE --list'",
            )
    return names


def plan(recipe: Recipe, names: Sequence[str]) -> list[str]:
    """Every task the run may reach (needs and task steps), dependencies first."""
    return post_order(task_edges(recipe), names)


def _check_values(recipe: Recipe, planned: list[str]) -> None:
    """Variables written as null must be given (--var) for the tasks that use them."""
    problems = [
        diagnostic for task in (None, *planned) for diagnostic in recipe.unset.get(task, ())
    ]
    if problems:
        raise InvalidInput(
            "; ".join(dict.fromkeys(f"{d.position}: {d.message}" for d in problems)),
            code="missing_value",
            hint="give each with --var NAME=VALUE ('devkit run RECIPE --list' shows them)",
        )


def _check_confirmation(recipe: Recipe, options: RunOptions, planned: list[str]) -> None:
    if options.dry_run or options.assume_yes or options.can_confirm:
        return
    asking = [name for name in planned if recipe.tasks[name].confirm]
    if asking:
        raise InvalidInput(
            f"task {asking[0]!r} asks for confirmation and there is no terminal",
            code="confirmation_required",
            hint="run it from a terminal, or pass --yes",
        )


def _report(run: Run, scheduler: Scheduler, names: tuple[str, ...], duration: float) -> RunReport:
    interrupted = signals.interrupted()
    failure = run.failure
    if interrupted:
        exit_code = signals.exit_code()
        failure = failure or signals.description()
    else:
        exit_code = run.failure_code if failure else 0
    variables = {}
    if run.options.dry_run:
        with contextlib.suppress(DevkitError, KeyError, ValueError):
            resolved = run.scope(None).resolved()
            variables = {key: map_text(value, run.masker.text) for key, value in resolved.items()}
    return RunReport(
        recipe=run.recipe.name,
        requested=names,
        tasks=tuple(scheduler.records[name] for name in scheduler.order),
        exit_code=exit_code,
        interrupted=interrupted,
        dry_run=run.options.dry_run,
        duration=duration,
        failure=failure,
        vars=variables,
        failure_hint=run.failure_hint,
    )


__all__ = ["RunObserver", "RunOptions", "plan", "requested_tasks", "run_recipe"]
