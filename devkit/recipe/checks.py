"""What decides whether a task or a step runs: the up-to-date check (`sources:`,
`outputs:`), `requires:` and `if:`. A check is a shell command whose output goes only
to the log; it runs as a process of its task (own process group, the task's lock
descriptors, stopped with the task on a signal)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from devkit import process
from devkit.recipe import signals
from devkit.recipe.context import TaskFailure, TaskFrame
from devkit.recipe.loader import Text
from devkit.recipe.model import Step
from devkit.recipe.state import definition_digest
from devkit.recipe.steps import StepOutcome, bash_prefix
from devkit.recipe.template import (
    Placeholder,
    ShellScript,
    parse_template,
    render_plain,
    render_shell,
)
from devkit.recipe.vars import LOOP_NAMES, Scope


def run_check(
    frame: TaskFrame,
    command: ShellScript,
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float | None = None,
) -> StepOutcome:
    """Run a shell script as a check (its values in its env); how it ended."""
    run, task = frame.run, frame.task
    lines = run.out.check_lines(task.name)
    try:
        result = process.run_streaming(
            [*bash_prefix(), command.text],
            cwd=cwd or frame.directory,
            env={**env, **command.values},
            on_output=lines.feed,
            grace=run.recipe.grace,
            timeout=timeout or task.timeout or run.recipe.timeout,
            pass_fds=frame.fds,
        )
    except OSError as error:
        return StepOutcome(127, message=f"cannot start bash: {error.strerror or error}")
    finally:
        lines.close()
    return StepOutcome(result.exit_code, timed_out=result.timed_out, interrupted=result.interrupted)


def check_requirements(frame: TaskFrame) -> None:
    """Run the task's `requires:` checks in order; raise TaskFailure for the first one
    that fails (or when a signal arrived meanwhile)."""
    for require in frame.task.requires:
        try:
            command = render_shell(parse_template(str(require.check)), frame.scope.lookup)
        except (KeyError, ValueError) as error:
            raise TaskFailure(f"cannot resolve a 'requires' check: {error}", 1) from None
        outcome = run_check(frame, command, env=frame.env)
        if signals.interrupted():
            raise TaskFailure("interrupted", signals.exit_code(), interrupted=True)
        if outcome.exit_code != 0:
            raise TaskFailure(require.message, 1)


def condition_exit(
    frame: TaskFrame,
    condition: str,
    scope: Scope,
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float | None,
) -> int:
    """The exit code of a step's `if:` (0: the step runs)."""
    command = render_shell(parse_template(condition), scope.lookup)
    return run_check(frame, command, env=env, cwd=cwd, timeout=timeout).exit_code


def inputs(frame: TaskFrame) -> tuple[list[str], list[str]]:
    """The task's `sources:` and `outputs:` patterns, rendered."""
    task = frame.task
    return [frame.render(s) for s in task.sources], [frame.render(s) for s in task.outputs]


def up_to_date(
    frame: TaskFrame, sources: list[str], outputs: list[str], definition: str = ""
) -> bool:
    """Sources, outputs and what the task runs (`definition`) are what they were after
    the task's last success."""
    run = frame.run
    return (
        bool(sources)
        and not run.options.force
        and run.state.is_up_to_date(frame.name, sources, outputs, definition)
    )


# `$NAME` and `${NAME}` in a task's text: environment variables its commands may read.
_ENV_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
# Placeholders whose value is new on every run, or per item: they stay as written.
_PER_RUN = frozenset({"run_dir", *LOOP_NAMES})


def task_definition(frame: TaskFrame) -> str:
    """A digest of what the task runs: every text of its `requires:` and steps
    (`on_failure:` and `finally:` included) with the variables filled in, and the
    environment it sets or refers to as `$NAME`. A `--var`, a changed variable, a
    changed command or environment value makes the task run again."""
    task = frame.task

    def lookup(placeholder: Placeholder) -> str:
        if not placeholder.env and placeholder.name in _PER_RUN:
            return f"{{{{ {placeholder.name} }}}}"
        return frame.scope.lookup(placeholder)

    def render(text: str) -> str:
        try:
            return render_plain(parse_template(text), lookup)
        except (KeyError, ValueError):
            return f"(unresolved) {text}"

    texts = [render(str(require.check)) for require in task.requires]
    for phase, steps in (
        ("steps", task.steps),
        ("on_failure", task.on_failure),
        ("finally", task.finally_),
    ):
        texts.append(f"-- {phase}")
        for step in steps:
            texts.extend(_step_texts(step, render))
    names = {*frame.run.recipe.env, *task.env}
    for text in texts:
        names.update(_ENV_REFERENCE.findall(text))
    env = {name: frame.env[name] for name in names if name in frame.env}
    return definition_digest(texts, env)


def _step_texts(step: Step, render: Any) -> Iterator[str]:
    """Every field of a step but its position, texts rendered, in a stable order."""
    for spec in fields(step):
        if spec.name != "position":
            yield spec.name
            yield from _flatten(getattr(step, spec.name), render)


def _flatten(value: Any, render: Any) -> Iterator[str]:
    if isinstance(value, Text):
        yield render(str(value))
    elif isinstance(value, (list, tuple)):
        yield f"[{len(value)}"
        for item in value:
            yield from _flatten(item, render)
    elif isinstance(value, Mapping):
        yield f"{{{len(value)}"
        for key in sorted(value):
            yield str(key)
            yield from _flatten(value[key], render)
    else:
        yield repr(value)


__all__ = [
    "check_requirements",
    "condition_exit",
    "inputs",
    "run_check",
    "task_definition",
    "up_to_date",
]
