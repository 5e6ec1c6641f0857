"""Entry point: run the app; map anything unexpected to one line and exit code 3."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from devkit.console import Console
from devkit.errors import ExitCode, InvalidInput, OperationFailed


def _command_name(argv: Sequence[str]) -> str:
    return next((arg for arg in argv if not arg.startswith("-")), "devkit")


def main(argv: Sequence[str] | None = None) -> int:
    from devkit.cli import app
    from devkit.process import exit_status, signal_policy

    args = list(sys.argv[1:] if argv is None else argv)
    console = Console(json_mode="--json" in args)
    try:
        with signal_policy():
            result = app(args=args, prog_name="devkit", standalone_mode=False)
    except typer.TyperException as error:
        # Usage errors (unknown command or option, bad value): one line, exit 2.
        message = error.format_message()
        problem = InvalidInput(message, code="usage", hint="see 'devkit --help'")
        console.error(problem)
        console.emit(_command_name(args), exit_code=ExitCode.USAGE, errors=[problem])
        return int(getattr(error, "exit_code", ExitCode.USAGE))
    except (typer.Abort, KeyboardInterrupt) as error:
        # SIGINT, SIGTERM or SIGHUP outside a command's own handling: 128 + signal.
        return int(getattr(error, "signum", 0) + 128) if hasattr(error, "signum") else exit_status()
    except Exception as error:
        if os.environ.get("DEVKIT_DEBUG") == "1":
            raise
        bug = OperationFailed(
            f"internal error: {type(error).__name__}: {error}",
            code="internal_error",
            hint="rerun with DEVKIT_DEBUG=1 for the traceback",
        )
        console.error(bug)
        console.emit(_command_name(args), exit_code=ExitCode.INTERNAL, errors=[bug])
        return int(ExitCode.INTERNAL)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
