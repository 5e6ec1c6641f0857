"""One step item, attempted up to `retry.attempts` times, and the StepRecord of how
it ended (ok, failed, ignored for `continue_on_error`, interrupted)."""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Any

from devkit import process
from devkit.recipe import signals
from devkit.recipe.output import fmt_seconds
from devkit.recipe.report import StepRecord
from devkit.recipe.stepcontext import StepRunContext
from devkit.recipe.steps import REGISTRY, StepKind, StepOutcome


def run_attempts(ctx: StepRunContext, label: str, command: str, item: str | None) -> StepRecord:
    """Announce the step, run its attempts, and return its record (not yet shown)."""
    ctx.frame.run.out.step_started(ctx.task.name, label, command)
    started = time.monotonic()
    outcome, attempts = _attempt_loop(ctx, label)
    duration = time.monotonic() - started
    status = _status(ctx, outcome)
    message = _message(ctx, label, outcome, status, attempts, duration)
    masker = ctx.frame.run.masker
    return StepRecord(
        ctx.task.name,
        label,
        ctx.step.position,
        status,
        outcome.exit_code,
        attempts,
        duration,
        item,
        message,
        command,
        outcome.timed_out,
        ctx.phase,
        _masked(masker, dict(outcome.data)) if outcome.data is not None else None,
        ctx.frame.run.out.tail(ctx.task.name) if status != "ok" else (),
    )


def _attempt_loop(ctx: StepRunContext, label: str) -> tuple[StepOutcome, int]:
    retry = ctx.step.retry
    outcome = StepOutcome(1)
    for attempt in range(1, retry.attempts + 1):
        outcome = _attempt(ctx)
        done = outcome.exit_code == 0 or outcome.interrupted or signals.interrupted()
        if done or attempt == retry.attempts:
            return outcome, attempt
        delay = retry.delay_before(attempt + 1)
        ctx.frame.run.out.note(
            ctx.task.name,
            f"{label}: attempt {attempt} failed (exit {outcome.exit_code});"
            f" retrying in {fmt_seconds(delay)}",
        )
        if signals.pause(delay):
            return outcome, attempt
    return outcome, retry.attempts


def _attempt(ctx: StepRunContext) -> StepOutcome:
    kind = REGISTRY[ctx.step.kind]
    try:
        if kind.in_process:
            return _in_process(kind, ctx)
        return kind.execute(ctx.step, ctx)
    except KeyboardInterrupt:
        return StepOutcome(signals.exit_code(), message="interrupted", interrupted=True)
    except (KeyError, ValueError) as error:
        return StepOutcome(1, message=f"cannot resolve the step: {error}")


def _in_process(kind: StepKind, ctx: StepRunContext) -> StepOutcome:
    """A built-in step (git, extract): devkit's own code, in this thread, given the
    step's environment explicitly (never through os.environ, which other threads share).
    In the main thread a signal interrupts it with InterruptSignal (its children are
    stopped by devkit.process)."""
    with process.interruptible():
        return kind.execute(ctx.step, ctx)


def _status(ctx: StepRunContext, outcome: StepOutcome) -> str:
    if outcome.exit_code == 0:
        return "ok"
    if outcome.interrupted or signals.interrupted():
        return "interrupted"
    return "ignored" if ctx.step.continue_on_error else "failed"


def _message(
    ctx: StepRunContext,
    label: str,
    outcome: StepOutcome,
    status: str,
    attempts: int,
    duration: float,
) -> str | None:
    """The record's message; for a failure, the sentence that explains it (and the
    run's failure, when it is the first)."""
    run = ctx.frame.run
    message = run.masker.text(outcome.message) if outcome.message else None
    if status not in ("failed", "ignored"):
        return message
    how = f"exit {outcome.exit_code}"
    if outcome.timed_out:
        how = f"timed out after {fmt_seconds(ctx.timeout() or 0)} ({how})"
    elif 128 < outcome.exit_code < 128 + 65:
        with contextlib.suppress(ValueError):
            how += f", killed by {signal.Signals(outcome.exit_code - 128).name}"
    plural = "attempt" if attempts == 1 else "attempts"
    text = (
        f"{ctx.step.position}: step '{label}' in task '{ctx.task.name}' failed: {how} "
        f"after {attempts} {plural} ({fmt_seconds(duration)})"
    )
    if message:
        text += f": {message}"
    if status == "failed":
        run.fail(text, outcome.exit_code, outcome.hint)  # keeps only the first failure
    return run.masker.text(text)


def _masked(masker: Any, value: Any) -> Any:
    """A built-in step's result with secrets masked in every string."""
    if not masker.active:
        return value
    if isinstance(value, str):
        return masker.text(value)
    if isinstance(value, dict):
        return {key: _masked(masker, item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(masker, item) for item in value]
    return value


__all__ = ["run_attempts"]
