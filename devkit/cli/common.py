"""What every command shares: the --json option and the boundary that turns
DevkitErrors into one line (or one JSON envelope) and an exit code."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from devkit.console import Console
from devkit.errors import DevkitError, Interrupted

JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (errors included)."),
]

# A command body gets the console and returns (data for --json, exit code).
CommandBody = Callable[[Console], "tuple[Mapping[str, Any], int]"]


def run_command(command: str, *, json_mode: bool, body: CommandBody) -> None:
    """Run a command body and exit with its code; expected errors become one line."""
    console = Console(json_mode=json_mode)
    try:
        data, exit_code = body(console)
    except DevkitError as error:
        fail(console, command, error)
    except KeyboardInterrupt as interrupt:
        fail(console, command, Interrupted.from_signal(interrupt))
    console.emit(command, data=data, exit_code=exit_code)
    raise typer.Exit(exit_code)


def fail(
    console: Console,
    command: str,
    error: DevkitError,
    data: Mapping[str, Any] | None = None,
) -> typer.Exit:
    console.error(error)
    console.emit(command, data=data or error.details, exit_code=error.exit_code, errors=[error])
    raise typer.Exit(int(error.exit_code))
