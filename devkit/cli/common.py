"""What every command shares: the --json option and the boundary that turns a command
body's outcome (a result, an expected DevkitError or an interruption) into one
CommandResult. The result is rendered once, by `devkit.__main__.main`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from devkit.console import CommandResult, Console
from devkit.errors import DevkitError, Interrupted

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (errors included)."),
]

# The options every fleet command takes (`fleet install`, `run --hosts`).
HostsOption = Annotated[
    str | None,
    typer.Option(
        "--hosts",
        metavar="HOSTS",
        help="Comma-separated hosts; ranges as in Ansible: web[01:12].example.com.",
        rich_help_panel="Fleet",
    ),
]
InventoryOption = Annotated[
    Path | None,
    typer.Option(
        "--inventory", "-i", metavar="FILE", help="An inventory YAML file.", rich_help_panel="Fleet"
    ),
]
LimitOption = Annotated[
    str | None,
    typer.Option(
        "--limit",
        metavar="PATTERN",
        help="Only these hosts: names, groups, globs, !x, &y.",
        rich_help_panel="Fleet",
    ),
]
ConnectTimeoutOption = Annotated[
    int,
    typer.Option(
        "--connect-timeout", min=1, metavar="SECONDS", help="Per host.", rich_help_panel="Fleet"
    ),
]
AcceptNewHostKeysOption = Annotated[
    bool,
    typer.Option(
        "--accept-new-host-keys",
        help="Trust the key of a host seen for the first time (ssh accept-new);"
        " a changed key is always refused.",
        rich_help_panel="Fleet",
    ),
]

# A command body gets the console (for live output) and returns its result.
CommandBody = Callable[[Console], CommandResult]


def run_command(command: str, *, json_mode: bool, body: CommandBody) -> CommandResult:
    """Run a command body; expected errors and interruptions become its result."""
    console = Console(json_mode=json_mode)
    try:
        from devkit.config import load_config

        load_config()  # a broken config file stops every command, not only some
        result = reports_interruption(body(console))
    except DevkitError as error:
        result = CommandResult.failure(command, received_signal(error))
    except KeyboardInterrupt as interrupt:
        result = CommandResult.failure(command, interrupted(interrupt))
    return dataclasses.replace(result, json_mode=json_mode)


def reports_interruption(result: CommandResult) -> CommandResult:
    """A command that devkit was signalled during never reports success.

    Core code may finish its work after the signal (cleanup, a cooperative loop that
    stops between steps) and return a result; if that result does not already say it
    was interrupted, the interruption is added and its exit code (128 + signal) wins,
    so that a script never reads a cut-short run as a complete one."""
    from devkit.process import interruption

    if interruption() is None or any(error.code == "interrupted" for error in result.errors):
        return result
    error = interrupted()
    return dataclasses.replace(
        result, errors=(*result.errors, error), exit_code=int(error.exit_code)
    )


def interrupted(interrupt: BaseException | None = None, **kwargs: object) -> Interrupted:
    """The Interrupted error for the signal devkit received (SIGINT when none was)."""
    return _with_received_signal(Interrupted.from_signal(interrupt, **kwargs))


def received_signal(error: DevkitError) -> DevkitError:
    """An Interrupted names the signal that really stopped devkit; other errors pass."""
    return _with_received_signal(error) if isinstance(error, Interrupted) else error


def _with_received_signal(error: Interrupted) -> Interrupted:
    """The signal policy records the first SIGINT, SIGTERM or SIGHUP; core code that
    raises Interrupted (or a bare KeyboardInterrupt) without knowing which one arrived
    would otherwise report SIGINT and exit 130 for a SIGTERM."""
    from devkit.process import interruption

    signum = interruption()
    if signum is None or signum == error.signum:
        return error
    details = {key: value for key, value in error.details.items() if key != "signal"}
    return Interrupted(
        error.message, signum=signum, code=error.code, hint=error.hint, details=details
    )
