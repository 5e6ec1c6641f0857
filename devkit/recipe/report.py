"""Results of a run: small frozen records with to_json()."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devkit.recipe.errors import Position


@dataclass(frozen=True)
class StepRecord:
    task: str
    name: str
    position: Position
    status: str  # ok | failed | ignored | skipped | interrupted | planned
    exit_code: int = 0
    attempts: int = 0
    duration: float = 0.0
    item: str | None = None
    message: str | None = None
    command: str | None = None
    timed_out: bool = False
    phase: str = "steps"  # steps | on_failure | finally
    data: dict[str, Any] | None = None
    # The last output lines of a step that did not succeed (masked); not in to_json():
    # the run's error carries them (`output_tail` in its details).
    output_tail: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "name": self.name,
            "line": self.position.line,
            "col": self.position.col,
            "phase": self.phase,
            "status": self.status,
            "exit_code": self.exit_code,
            "attempts": self.attempts,
            "duration": round(self.duration, 3),
            "item": self.item,
            "message": self.message,
            "command": self.command,
            "timed_out": self.timed_out,
            "data": self.data,
        }


@dataclass(frozen=True)
class TaskRecord:
    name: str
    status: str  # ok | failed | up_to_date | skipped | blocked | interrupted | planned
    exit_code: int = 0
    duration: float = 0.0
    message: str | None = None
    steps: tuple[StepRecord, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "up_to_date", "skipped", "planned")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
            "message": self.message,
            "steps": [step.to_json() for step in self.steps],
        }


@dataclass(frozen=True)
class RunReport:
    recipe: str
    requested: tuple[str, ...]
    tasks: tuple[TaskRecord, ...]
    exit_code: int
    interrupted: bool
    dry_run: bool
    duration: float
    failure: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    failure_hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "requested": list(self.requested),
            "dry_run": self.dry_run,
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 3),
            "failure": self.failure,
            "failure_hint": self.failure_hint,
            "vars": self.vars,
            "tasks": [task.to_json() for task in self.tasks],
        }
