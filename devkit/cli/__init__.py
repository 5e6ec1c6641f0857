"""The Typer application: thin commands that parse options, call core code and report.

Each capability registers its commands from its own module; none of them may import
GitPython, py7zr, rarfile, PyYAML or rich at module level (start-up speed).
"""

from __future__ import annotations

from typing import Annotated

import typer

from devkit import __version__

app = typer.Typer(
    name="devkit",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"devkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Git flows that never lose work, safe archive extraction and YAML recipes.

    Exit codes: 0 ok, 1 failed, 2 usage or invalid input, 3 internal error,
    4 missing external tool, 130 interrupted. Add --json to any command for one
    machine-readable JSON document on stdout.
    """


from devkit.cli import extract as _extract  # noqa: E402
from devkit.cli import git as _git  # noqa: E402

_git.register(app)
_extract.register(app)

from devkit.cli import run as _run  # noqa: E402

_run.register(app)
