"""What decides whether a task or a step runs: the up-to-date check (`sources:`,
`outputs:`), `requires:` and `if:`. A check is a shell command whose output goes only
to the log; it runs as a process of its task (own process group, the task's lock
descriptors, stopped with the task on a signal)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from devkit import process
from devkit.recipe import signals
from devkit.recipe.context import TaskFailure, TaskFrame
from devkit.recipe.steps import StepOutcome, bash_prefix
from devkit.recipe.template import ShellScript, parse_template, render_shell
from devkit.recipe.vars import Scope


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
    lines = run.out.lines(lambda line: run.out.log_line(task.name, f"  {line}"))
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


def up_to_date(frame: TaskFrame, sources: list[str], outputs: list[str]) -> bool:
    """Sources and outputs are what they were after the task's last success."""
    run = frame.run
    return (
        bool(sources)
        and not run.options.force
        and run.state.is_up_to_date(frame.name, sources, outputs)
    )


__all__ = ["check_requirements", "condition_exit", "inputs", "run_check", "up_to_date"]
