"""A task's steps, in order: platforms, `cwd:`, `for:` items, labels, dry runs and
`if:` conditions, each item through run_attempts. Regular steps stop at the first
failure and when a signal arrives; cleanup steps (`on_failure:`, `finally:`) all run."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.recipe import signals
from devkit.recipe.attempts import run_attempts
from devkit.recipe.checks import condition_exit
from devkit.recipe.context import TaskFrame, platform_name
from devkit.recipe.model import Step
from devkit.recipe.report import StepRecord
from devkit.recipe.stepcontext import StepRunContext
from devkit.recipe.steps import REGISTRY
from devkit.recipe.template import parse_template
from devkit.recipe.vars import loop_items
from devkit.recipe.vartypes import display


@dataclass
class Phase:
    """Where step records go: one phase (steps, on_failure, finally) of one task."""

    frame: TaskFrame
    name: str
    records: list[StepRecord] = field(default_factory=list)

    @property
    def cleanup(self) -> bool:
        return self.name != "steps"

    def stopped(self) -> bool:
        """A regular step does not start once a signal arrived; a cleanup step does."""
        return not self.cleanup and signals.interrupted()

    def finish(self, record: StepRecord) -> StepRecord | None:
        """Record and show a step; the record when it fails the task."""
        self.records.append(record)
        self.frame.run.out.step_finished(record)
        return record if record.status == "failed" else None

    def broken(self, step: Step, message: str) -> StepRecord | None:
        """A step that cannot even be resolved: it fails the task."""
        run = self.frame.run
        run.fail(f"{step.position}: {message}", 1)
        record = StepRecord(
            self.frame.name,
            step.name or step.kind,
            step.position,
            "failed",
            1,
            message=run.masker.text(message),
            phase=self.name,
        )
        return self.finish(record)


def run_steps(phase: Phase, steps: Sequence[Step]) -> StepRecord | None:
    """Run steps in order; the record of the step that failed the task, if any."""
    first_failure: StepRecord | None = None
    for step in steps:
        if phase.stopped():
            return None
        failed = run_step(phase, step)
        if failed is not None and not phase.cleanup:
            return failed
        first_failure = first_failure or failed
    return first_failure


def run_step(phase: Phase, step: Step) -> StepRecord | None:
    frame = phase.frame
    name = _name(frame, step)
    if step.platforms and platform_name() not in step.platforms:
        message = f"not on {platform_name()}"
        skipped = StepRecord(
            frame.name,
            name or step.kind,
            step.position,
            "skipped",
            message=message,
            phase=phase.name,
        )
        return phase.finish(skipped)
    try:
        cwd = frame.path(frame.render(step.cwd)) if step.cwd else frame.directory
        items = _items(frame, step, cwd)
    except (KeyError, ValueError) as error:
        return phase.broken(step, f"cannot resolve the step: {error}")
    if not items:
        frame.run.out.note(frame.name, f"{name or step.kind}: 'for' matched nothing")
    for item in items:
        if phase.stopped():
            return None
        ctx = StepRunContext(frame, step, frame.scope.with_item(item), cwd, phase.name)
        failed = _run_item(phase, ctx, name, item)
        if failed is not None:
            return failed
    return None


def _run_item(phase: Phase, ctx: StepRunContext, name: str | None, value: Any) -> StepRecord | None:
    """One item of a step (the step itself without `for:`)."""
    step = ctx.step
    item = None if value is None else display(value)
    masker = phase.frame.run.masker
    try:
        command = masker.text(REGISTRY[step.kind].describe(step, ctx))
    except (KeyError, ValueError) as error:
        return phase.broken(step, f"cannot resolve the step: {error}")
    # What a person reads is the step with its values filled in (secrets masked): the
    # same text a dry run shows, cut to one short line.
    label = name or _summary(command if step.kind == "run" else _built_in(step, ctx, masker))
    if item is not None:
        item = masker.text(item)  # the record's `item` goes into --json as it is
        if item not in label:
            label = f"{label} [{item}]"
    if phase.frame.run.options.dry_run:
        planned = StepRecord(
            phase.frame.name,
            label,
            step.position,
            "planned",
            item=item,
            command=command,
            phase=phase.name,
        )
        return phase.finish(planned)
    if step.condition is not None:
        try:
            code = condition_exit(
                phase.frame,
                str(step.condition),
                ctx.scope,
                env=ctx.env(),
                cwd=ctx.cwd,
                timeout=ctx.timeout(),
            )
        except (KeyError, ValueError) as error:
            return phase.broken(step, f"cannot resolve the step's 'if': {error}")
        if code != 0:
            skipped = StepRecord(
                phase.frame.name,
                label,
                step.position,
                "skipped",
                item=item,
                message=f"condition exited {code}",
                command=command,
                phase=phase.name,
            )
            return phase.finish(skipped)
    return phase.finish(run_attempts(ctx, label, command, item))


def _name(frame: TaskFrame, step: Step) -> str | None:
    """The step's `name:`, rendered and masked (None when it has none or it cannot
    be rendered yet)."""
    if step.name is None:
        return None
    try:
        return frame.run.masker.text(frame.render(step.name))
    except (KeyError, ValueError):
        return None


def _items(frame: TaskFrame, step: Step, cwd: Path) -> list[Any]:
    if step.loop is None:
        return [None]
    if isinstance(step.loop, tuple):
        return [frame.render(t) for t in step.loop]
    listed = loop_items(parse_template(str(step.loop)), frame.scope)
    if listed is not None:  # `for: "{{ hosts }}"` with a list variable
        return listed
    pattern = frame.render(step.loop)
    full = pattern if os.path.isabs(pattern) else os.path.join(cwd, pattern)
    matches = sorted(glob.glob(full, recursive=True))
    if not os.path.isabs(pattern):
        matches = [os.path.relpath(m, cwd) for m in matches]
    # A file named `-rf` must not read as an option to the step's program.
    return [f"./{m}" if m.startswith("-") else m for m in matches]


def _built_in(step: Step, ctx: StepRunContext, masker: Any) -> str:
    """`git: sync`, `extract: /srv/releases/app-1.4.tar.gz`, `task: deploy`."""
    try:
        value = ctx.render(str(step.value))
    except (KeyError, ValueError):
        value = str(step.value)
    return str(masker.text(f"{step.kind}: {value}"))


def _summary(command: str) -> str:
    first = command.strip().splitlines()[0] if command.strip() else command
    if len(first) > 60:
        first = first[:57] + "..."
    elif "\n" in command.strip():
        first += " ..."
    return first


__all__ = ["Phase", "run_step", "run_steps"]
