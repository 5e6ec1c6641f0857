"""The validated recipe: frozen dataclasses built only after every check passed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.recipe.errors import Diagnostic, Position
from devkit.recipe.fleetblock import FleetBlock
from devkit.recipe.loader import Text


@dataclass(frozen=True)
class Retry:
    attempts: int = 1
    delay: float = 0.0
    backoff: float = 1.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (2, 3, ...)."""
        return self.delay * (self.backoff ** max(attempt - 2, 0))


@dataclass(frozen=True)
class Step:
    """One step: `kind` names its entry in the step registry (run, task, git, extract)."""

    kind: str
    value: Any  # Text or tuple[Text, ...] (a `run:` list)
    options: Mapping[str, Any]
    position: Position
    name: str | None = None
    cwd: Text | None = None
    env: Mapping[str, Text] = field(default_factory=dict)
    timeout: float | None = None
    grace: float | None = None
    retry: Retry = Retry()
    continue_on_error: bool = False
    condition: Text | None = None
    loop: tuple[Text, ...] | Text | None = None  # a list of items or a glob
    platforms: tuple[str, ...] = ()
    stdin: bool = False
    id: str | None = None  # its stdout is {{ steps.ID.stdout }} (see stepoutputs.py)


@dataclass(frozen=True)
class Require:
    check: Text
    message: str
    position: Position


@dataclass(frozen=True)
class Lock:
    path: Text
    wait: float
    position: Position


@dataclass(frozen=True)
class Arg:
    """A positional argument of a task (see arguments.py); no default: required."""

    name: str
    default: str | None
    position: Position


@dataclass(frozen=True)
class Task:
    name: str
    position: Position
    desc: str = ""
    vars: Mapping[str, Any] = field(default_factory=dict)  # see vartypes.py
    env: Mapping[str, Text] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    parallel: bool = False
    sources: tuple[Text, ...] = ()
    outputs: tuple[Text, ...] = ()
    lock: Lock | None = None
    confirm: str | None = None
    requires: tuple[Require, ...] = ()
    steps: tuple[Step, ...] = ()
    on_failure: tuple[Step, ...] = ()
    finally_: tuple[Step, ...] = ()
    platforms: tuple[str, ...] = ()
    timeout: float | None = None
    secrets: tuple[str, ...] = ()  # only this task needs and sees them (secrets.py)
    condition: Text | None = None  # `if:`: run the task only when this exits 0
    args: tuple[Arg, ...] = ()
    # A task from an included file (see includes.py): its folder, and the prefix of
    # its name and step ids ("db:").
    directory: Path | None = None
    namespace: str = ""
    fleet: FleetBlock | None = None  # overrides the recipe's (see fleetblock.py)


@dataclass(frozen=True)
class FleetHost:
    """The host a recipe runs on, as `{{ host.name }}`, `{{ host.groups }}` and
    `{{ vars.NAME }}` show it: on a fleet run, the inventory's host and its variables
    (defaults, then its groups', then its own); locally, "localhost" without groups or
    variables, so that one recipe runs the same both ways."""

    name: str = "localhost"
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)


LOCALHOST = FleetHost()


@dataclass(frozen=True)
class Dotenv:
    path: str
    optional: bool
    position: Position


@dataclass(frozen=True)
class Recipe:
    path: Path
    name: str  # as written on the command line, used in diagnostics
    description: str
    vars: Mapping[str, Any]  # text, lists, mappings (see vartypes.py)
    env: Mapping[str, Text]
    dotenv: tuple[Dotenv, ...]
    dotenv_values: Mapping[str, str]
    secrets: tuple[str, ...]
    tasks: Mapping[str, Task]
    default: str | None
    grace: float
    timeout: float | None
    # Variables without a value (null) that a task uses, by task (None: every task);
    # a run of such a task needs them from --var (see runner.py).
    unset: Mapping[str | None, tuple[Diagnostic, ...]] = field(default_factory=dict)
    log: Text | None = None  # the log file (--log overrides it)
    host: FleetHost = LOCALHOST  # {{ host.* }} and {{ vars.* }}
    fleet: FleetBlock | None = None  # how a fleet run spreads it (see fleetblock.py)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def default_task(self) -> str | None:
        if self.default:
            return self.default
        if len(self.tasks) == 1:
            return next(iter(self.tasks))
        return None
