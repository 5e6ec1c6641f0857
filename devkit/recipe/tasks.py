"""One task, start to end: its needs, platforms, environment and lock, the
up-to-date check, `confirm:` and `requires:`, then its steps, `on_failure:` and
`finally:`, and the TaskRecord of how it ended."""

from __future__ import annotations

import time
from dataclasses import replace

from devkit import process
from devkit.recipe import signals
from devkit.recipe.checks import (
    check_requirements,
    condition_exit,
    inputs,
    task_definition,
    up_to_date,
)
from devkit.recipe.context import Run, TaskFailure, TaskFrame, Tasks, platform_name
from devkit.recipe.execute import Phase, run_steps
from devkit.recipe.locks import task_lock
from devkit.recipe.model import Task
from devkit.recipe.report import StepRecord, TaskRecord
from devkit.recipe.vartypes import ValueShapeError


def run_task(run: Run, task: Task, tasks: Tasks, fds: tuple[int, ...] = ()) -> TaskRecord:
    """Run a task (its needs first) and show and return its record. `fds`: lock
    descriptors of the task that runs this one with a `task:` step."""
    started = time.monotonic()
    record = _not_run(run, task, tasks)
    if record is None:
        run.out.task_started(task.name)
        scope = run.scope(task)
        try:
            frame = TaskFrame(run, task, scope, run.task_env(task, scope), tasks, fds)
            with task_lock(frame) as lock_fds:
                record = _run_body(replace(frame, fds=fds + lock_fds), started)
        except TaskFailure as failure:
            record = _failed(run, task, failure, time.monotonic() - started)
        except ValueShapeError as error:  # a value needed before the steps (a lock path)
            record = _failed(run, task, TaskFailure(str(error), 1), time.monotonic() - started)
    run.out.task_finished(record)
    return record


def _not_run(run: Run, task: Task, tasks: Tasks) -> TaskRecord | None:
    """The record of a task that does not start (a need failed, a signal arrived, not
    this platform), after running its needs."""
    failed = tasks.needs(task)
    interrupted = signals.interrupted()
    if failed is not None or (interrupted and not run.options.dry_run):
        return TaskRecord(
            task.name,
            "interrupted" if interrupted else "blocked",
            failed.exit_code if failed else signals.exit_code(),
            message=f"needed task '{failed.name}' failed" if failed else "interrupted",
        )
    if task.platforms and platform_name() not in task.platforms:
        return TaskRecord(task.name, "skipped", message=f"not on {platform_name()}")
    return None


def _failed(run: Run, task: Task, failure: TaskFailure, duration: float) -> TaskRecord:
    if failure.interrupted:
        return TaskRecord(task.name, "interrupted", failure.exit_code, duration, "interrupted")
    run.fail(
        f"{task.position}: task '{task.name}' failed: {failure.message}",
        failure.exit_code,
        failure.hint,
    )
    return TaskRecord(
        task.name, "failed", failure.exit_code, duration, run.masker.text(failure.message)
    )


def _run_body(frame: TaskFrame, started: float) -> TaskRecord:
    run, task = frame.run, frame.task
    code = _condition(frame)
    if code != 0:
        message = f"nothing to do ('if' exited {code})"
        return TaskRecord(task.name, "skipped", 0, time.monotonic() - started, message)
    sources, outputs = inputs(frame)
    definition = task_definition(frame) if sources else ""
    if up_to_date(frame, sources, outputs, definition):
        return TaskRecord(
            task.name,
            "up_to_date",
            0,
            time.monotonic() - started,
            "sources and outputs unchanged (--force runs it anyway)",
        )
    if not run.options.dry_run:
        _confirm(frame)
        check_requirements(frame)
    records: list[StepRecord] = []
    failed = _run_phases(frame, records)
    duration = time.monotonic() - started
    steps = tuple(records)
    if run.options.dry_run:
        return TaskRecord(task.name, "planned", 0, duration, steps=steps)
    if failed is not None:
        return TaskRecord(task.name, "failed", failed.exit_code, duration, failed.message, steps)
    if signals.interrupted():
        return TaskRecord(
            task.name, "interrupted", signals.exit_code(), duration, "interrupted", steps
        )
    if sources:
        warning = run.state.record(task.name, sources, outputs, definition)
        if warning:  # state is a cache: a problem with it never fails the run
            run.out.note(task.name, warning)
    return TaskRecord(task.name, "ok", 0, duration, steps=steps)


def _run_phases(frame: TaskFrame, records: list[StepRecord]) -> StepRecord | None:
    """Steps, then on_failure (after a failure or a signal), then finally; the record
    of the step that failed the task (a failing cleanup step fails a task that had
    succeeded so far)."""
    task = frame.task
    failed = run_steps(Phase(frame, "steps", records), task.steps)
    if (failed is not None or signals.interrupted()) and task.on_failure:
        run_steps(Phase(frame, "on_failure", records), task.on_failure)
    if task.finally_:
        cleanup = run_steps(Phase(frame, "finally", records), task.finally_)
        failed = failed or cleanup
    return failed


def _condition(frame: TaskFrame) -> int:
    """The exit code of the task's `if:` (0 when it has none, and in a dry run)."""
    task = frame.task
    if task.condition is None or frame.run.options.dry_run:
        return 0
    try:
        code = condition_exit(
            frame,
            str(task.condition),
            frame.scope,
            env=frame.env,
            cwd=frame.directory,
            timeout=None,
        )
    except (KeyError, ValueError) as error:
        raise TaskFailure(f"cannot resolve the task's 'if': {error}", 1) from None
    if signals.interrupted():
        raise TaskFailure("interrupted", signals.exit_code(), interrupted=True)
    return code


def _confirm(frame: TaskFrame) -> None:
    """Ask the task's `confirm:` question (a signal at the prompt interrupts it)."""
    if not frame.task.confirm or frame.run.options.assume_yes:
        return
    try:  # the question with its values (secrets masked), as the person must judge it
        question = frame.run.masker.text(frame.render(frame.task.confirm))
    except (KeyError, ValueError):
        question = frame.task.confirm
    try:
        with process.interruptible():
            answer = frame.run.out.confirm(question)
    except KeyboardInterrupt:
        answer = False
    if signals.interrupted():
        raise TaskFailure("interrupted", signals.exit_code(), interrupted=True)
    if not answer:
        raise TaskFailure("not confirmed", 1)


__all__ = ["run_task"]
