"""What the parts of a run share: `Run` (the recipe, the options, the environment,
the output, the up-to-date state and the first failure) and, for each running task, a
`TaskFrame` (its scope, environment, lock descriptors, and how to run other tasks)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from devkit import redaction
from devkit.recipe.arguments import task_arguments
from devkit.recipe.computed import CommandValues
from devkit.recipe.mask import Masker
from devkit.recipe.model import Recipe, Task
from devkit.recipe.options import RunObserver, RunOptions
from devkit.recipe.output import Output
from devkit.recipe.report import TaskRecord
from devkit.recipe.secrets import hidden_from, run_secrets, without
from devkit.recipe.state import StateStore
from devkit.recipe.stepoutputs import StepOutputs
from devkit.recipe.template import parse_template, render_plain
from devkit.recipe.validate import recipe_scope
from devkit.recipe.vars import Scope, environment


def platform_name() -> str:
    return {"win32": "windows", "cygwin": "windows"}.get(
        sys.platform, sys.platform.rstrip("0123456789")
    )


def expand_home(text: str, env: Mapping[str, str]) -> str:
    """`~` from the run's HOME, not from devkit's own os.environ; `~user` from the
    user database."""
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or _user_home()
        return home + text[1:] if home else text
    return os.path.expanduser(text) if text.startswith("~") else text


def _user_home() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return ""


class TaskFailure(Exception):
    """A task cannot go on: lock held, requirement not met, declined, or a signal
    arrived while it waited (`interrupted`)."""

    def __init__(
        self,
        message: str,
        exit_code: int,
        *,
        interrupted: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.interrupted = interrupted
        self.hint = hint


class Run:
    """One invocation of run_recipe."""

    def __init__(
        self,
        recipe: Recipe,
        options: RunOptions,
        observer: RunObserver,
        environ: Mapping[str, str] | None = None,
        planned: Iterable[str] | None = None,
    ) -> None:
        """`planned`: the tasks the run may reach (default: all); their secrets must be
        set (a dry run puts placeholders in for those that are not)."""
        self.recipe = recipe
        self.options = options
        given = dict(os.environ if environ is None else environ)
        secrets = run_secrets(
            recipe,
            environment(given, recipe.dotenv_values),
            recipe.tasks if planned is None else planned,
            dry_run=options.dry_run,
        )
        self.environ = {**given, **secrets.placeholders}
        self.environment = environment(self.environ, recipe.dotenv_values)
        self.masker = Masker(secrets.values)
        # Whatever devkit prints from now on is masked, error lines included.
        redaction.mask_everywhere(self.masker.text)
        self.out = Output(observer, self.masker, options.log)
        for name in secrets.placeholders:
            self.out.note(None, f"secret {name} is not set: --dry-run shows a placeholder")
        self.outputs = StepOutputs(dry_run=options.dry_run)
        self.commands = (
            None
            if options.dry_run
            else CommandValues(
                cwd=recipe.directory,
                environment=self.environment,
                grace=recipe.grace,
                on_secret=self.masker.add,
                mask=self.masker.text,
            )
        )
        self.state = StateStore(recipe.path, environ=self.environ)
        self.run_dir: str | None = None
        self.failure: str | None = None
        self.failure_code = 0
        self.failure_hint: str | None = None
        self._lock = threading.Lock()

    def fail(self, message: str, exit_code: int, hint: str | None = None) -> None:
        """Record the run's failure (and the fix its cause suggests); only the first
        one counts."""
        with self._lock:
            if self.failure is None:
                self.failure = self.masker.text(message)
                self.failure_code = exit_code or 1
                self.failure_hint = self.masker.text(hint) if hint else None

    def scope(self, task: Task | None) -> Scope:
        """The variables `task` sees (not the secrets only other tasks declare)."""
        hidden = hidden_from(self.recipe, task)
        recipe = self.recipe
        if hidden:
            recipe = replace(recipe, dotenv_values=without(recipe.dotenv_values, hidden))
        return recipe_scope(
            recipe,
            cli_vars=self.options.cli_vars,
            environ=without(self.environ, hidden),
            task=task,
            run_dir=self.run_dir,
            commands=self.commands,
            outputs=self.outputs,
            args=task_arguments(task, self.options.args) if task else None,
            task_scope=(task.namespace, task.directory) if task else ("", None),
        )

    def task_env(self, task: Task, scope: Scope) -> dict[str, str]:
        env = without(self.environment, hidden_from(self.recipe, task))
        for values in (self.recipe.env, task.env):
            for key, value in values.items():
                try:
                    env[key] = render_plain(parse_template(str(value)), scope.lookup)
                except (KeyError, ValueError) as error:  # e.g. a `sh:` variable failed
                    raise TaskFailure(f"cannot resolve env {key}: {error}", 1) from None
        return env

    def path(self, text: str, env: Mapping[str, str], base: Path | None = None) -> Path:
        """A path as written in the recipe: relative to the recipe's folder (`base`:
        the folder of an included file)."""
        path = Path(expand_home(text, env))
        return path if path.is_absolute() else (base or self.recipe.directory) / path


class Tasks(Protocol):
    """The scheduler, as a task sees it."""

    def ensure(self, name: str, fds: tuple[int, ...] = ()) -> TaskRecord:
        """Run a task unless it ran (or is running) already; `fds` are lock
        descriptors its processes inherit (a `task:` step runs under its caller's lock)."""
        ...

    def needs(self, task: Task) -> TaskRecord | None:
        """Run a task's needs; the first that did not succeed, if any."""
        ...


@dataclass(frozen=True)
class TaskFrame:
    """One running task."""

    run: Run
    task: Task
    scope: Scope
    env: Mapping[str, str]
    tasks: Tasks
    # Lock descriptors every process of the task inherits (see locks.py).
    fds: tuple[int, ...] = ()

    def render(self, text: object) -> str:
        return render_plain(parse_template(str(text)), self.scope.lookup)

    def path(self, text: str) -> Path:
        return self.run.path(text, self.env, self.task.directory)

    @property
    def directory(self) -> Path:
        """The folder of the file the task is written in."""
        return self.task.directory or self.run.recipe.directory

    @property
    def name(self) -> str:
        return self.task.name


__all__ = ["Run", "TaskFailure", "TaskFrame", "Tasks", "expand_home", "platform_name"]
