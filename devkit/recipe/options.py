"""What a caller hands the runner: the options of one run and the observer that is
told what happens (the CLI's console, or a test's recorder)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from devkit.recipe.report import StepRecord, TaskRecord


class RunObserver(Protocol):
    """Receives what happens, as it happens (strings already masked)."""

    def task_started(self, task: str) -> None: ...

    def step_started(self, task: str, label: str) -> None: ...

    def output(self, task: str, text: str, *, end: bool = True) -> None:
        """Complete lines of a step's output, joined by newlines (without the last
        one); with `end` False the start of a line the next call continues (a long line
        passed on in pieces, or a prompt shown after a pause)."""

    def step_finished(self, record: StepRecord) -> None: ...

    def task_finished(self, record: TaskRecord) -> None: ...

    def note(self, task: str | None, text: str) -> None: ...

    def confirm(self, question: str) -> bool: ...


@dataclass(frozen=True)
class RunOptions:
    tasks: tuple[str, ...] = ()
    cli_vars: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    force: bool = False
    assume_yes: bool = False
    can_confirm: bool = False
    jobs: int | None = None
    log: TextIO | None = None
    # Positional arguments given on the command line, by task (see arguments.py).
    args: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


__all__ = ["RunObserver", "RunOptions"]
