"""The StepContext the step registry sees for one item of one step: rendering,
paths, the step's environment and timeout, and running a process or another task.

A step's process starts through devkit.process.run_streaming: its own process
group, its output streamed (masked, line by line) to the observer and the log, the
deadline and the SIGINT -> SIGTERM -> SIGKILL escalation handled there, and the
task's lock descriptors inherited (see locks.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from devkit import process
from devkit.recipe.context import TaskFrame
from devkit.recipe.model import Step, Task
from devkit.recipe.steps import StepOutcome
from devkit.recipe.template import ShellScript, parse_template, render_plain, render_shell
from devkit.recipe.vars import Scope

# A step stopped by its timeout exits 124, as coreutils' `timeout` does: a script can tell
# it from a Ctrl-C (130) and from the step's own failures, whatever the step did with the
# SIGINT it was sent first.
TIMED_OUT_EXIT = 124

# Cleanup steps (on_failure, finally) without a timeout of their own get this one, so
# that a hung cleanup cannot keep an interrupted run alive for ever.
CLEANUP_TIMEOUT = 300.0


class StepRunContext:
    def __init__(self, frame: TaskFrame, step: Step, scope: Scope, cwd: Path, phase: str) -> None:
        self.frame = frame
        self.step = step
        self.scope = scope
        self.cwd = cwd
        self.phase = phase

    @property
    def task(self) -> Task:
        return self.frame.task

    @property
    def base_dir(self) -> Path:
        return self.frame.directory

    def render(self, text: str) -> str:
        return render_plain(parse_template(str(text)), self.scope.lookup)

    def shell(self, text: str) -> ShellScript:
        return render_shell(parse_template(str(text)), self.scope.lookup)

    def path(self, text: str) -> Path:
        return self.frame.run.path(text, self.env(), self.task.directory)

    def env(self) -> dict[str, str]:
        env = dict(self.frame.env)
        for key, value in self.step.env.items():
            env[key] = self.render(value)
        return env

    def timeout(self) -> float | None:
        timeout = self.step.timeout or self.task.timeout or self.frame.run.recipe.timeout
        if timeout is None and self.phase != "steps":
            return CLEANUP_TIMEOUT
        return timeout

    def grace(self) -> float:
        step = self.step
        return step.grace if step.grace is not None else self.frame.run.recipe.grace

    def run_process(
        self, argv: Sequence[str], *, step: Step, values: Mapping[str, str] | None = None
    ) -> StepOutcome:
        """Run argv as the step's process; `values` (a shell script's) join its env."""
        out, task_name = self.frame.run.out, self.task.name
        lines = out.lines(task_name)
        on_output, errors = lines.feed, None
        if step.id is not None:  # stdout is kept for later steps; stderr only shown
            key = self.task.namespace + step.id
            on_output = self.frame.run.outputs.capture(key, lines.feed).feed
            errors = out.lines(task_name)
        try:
            result = process.run_streaming(
                argv,
                cwd=self.cwd,
                env={**self.env(), **(values or {})},
                on_output=on_output,
                on_stderr=errors.feed if errors is not None else None,
                timeout=self.timeout(),
                grace=self.grace(),
                stdin=step.stdin,
                on_idle=lines.idle,
                pass_fds=self.frame.fds,
            )
        except OSError as error:
            return StepOutcome(127, message=f"cannot start {argv[0]!r}: {error.strerror or error}")
        finally:
            lines.close()
            if errors is not None:
                errors.close()
        return StepOutcome(
            TIMED_OUT_EXIT if result.timed_out else result.exit_code,
            timed_out=result.timed_out,
            interrupted=result.interrupted and not result.timed_out,
        )

    def run_task(self, name: str) -> StepOutcome:
        # The task runs as part of this one: its processes inherit this task's locks.
        record = self.frame.tasks.ensure(name, self.frame.fds)
        if record.ok:
            return StepOutcome(0)
        return StepOutcome(
            record.exit_code or 1,
            message=f"task '{name}' {record.status}",
            interrupted=record.status == "interrupted",
        )

    def report(self, text: str) -> None:
        """A line of a built-in step's own output: shown and logged like a process's."""
        out = self.frame.run.out
        for line in text.splitlines() or [""]:
            out.output(self.task.name, out.masker.text(line))


__all__ = ["CLEANUP_TIMEOUT", "TIMED_OUT_EXIT", "StepRunContext"]
