"""Variables computed by a command (`vars: {tag: {sh: "git describe --tags"}}`).

A command runs only when its value is first needed, and at most once per run (tasks
share the value, parallel ones wait for it), through devkit.process.run_captured: in
the recipe's folder, with the run's environment, in its own process group, stopped at
its timeout. Its standard output, trailing newlines stripped as `$(...)` does, is the
value; stderr only explains a failure. A failure names the variable. With
`secret: true` the value is masked from the moment it is known.

Checking a recipe (`--check`, `--list`) and `--dry-run` run no command: the value
stands as `$(COMMAND)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from devkit import process
from devkit.recipe.template import ShellScript
from devkit.recipe.vartypes import FromCommand, ValueShapeError

DEFAULT_TIMEOUT = 60.0


class CommandFailed(ValueShapeError):
    """A variable's command failed, timed out or could not start."""


class CommandValues:
    """The values of a run's `sh:` variables, computed on first use."""

    def __init__(
        self,
        *,
        cwd: Path,
        environment: Mapping[str, str],
        grace: float,
        on_secret: Callable[[str], None],
        mask: Callable[[str], str],
    ) -> None:
        self.cwd = cwd
        self.environment = dict(environment)
        self.grace = grace
        self.on_secret = on_secret
        self.mask = mask
        self._values: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
        # One command at a time: a second task needing the same value waits for it
        # instead of running the command again.
        self._lock = threading.Lock()

    def value(
        self, name: str, definition: FromCommand, script: ShellScript, cwd: Path | None = None
    ) -> str:
        """The command's output; `cwd`: the folder of an included file, if any."""
        folder = cwd or self.cwd
        key = (str(folder), script.text, tuple(sorted(script.values.items())))
        with self._lock:
            value = self._values.get(key)
            if value is None:
                value = self._values[key] = self._compute(name, definition, script, folder)
        return value

    def _compute(self, name: str, definition: FromCommand, script: ShellScript, cwd: Path) -> str:
        from devkit.recipe.steps import bash_prefix

        timeout = definition.timeout or DEFAULT_TIMEOUT
        shown = self.mask(script.display)
        try:
            result = process.run_captured(
                [*bash_prefix(), script.text],
                cwd=cwd,
                env={**self.environment, **script.values},
                timeout=timeout,
                grace=self.grace,
            )
        except OSError as error:
            raise CommandFailed(
                name, f"variable {name!r}: cannot start bash: {error.strerror or error}"
            ) from None
        except KeyboardInterrupt:
            raise CommandFailed(
                name, f"variable {name!r}: interrupted while running `{shown}`"
            ) from None
        value = result.stdout.decode("utf-8", "surrogateescape").rstrip("\n")
        if definition.secret:
            self.on_secret(value)
        if result.timed_out:
            raise CommandFailed(name, f"variable {name!r}: `{shown}` timed out after {timeout:g} s")
        if result.status != 0:
            lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
            why = f": {self.mask(lines[-1])}" if lines else ""
            raise CommandFailed(name, f"variable {name!r}: `{shown}` exited {result.status}{why}")
        return value


__all__ = ["DEFAULT_TIMEOUT", "CommandFailed", "CommandValues"]
