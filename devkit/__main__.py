"""Entry point: run the app and render its result, the one place output is finished.

Whatever happens (a command's result, a usage error, an interruption, a bug) ends as
one CommandResult, rendered once: the JSON envelope with --json, error lines otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import typer

from devkit import redaction
from devkit.console import CommandResult, Console, announce_stopping
from devkit.errors import DevkitError, ExitCode, InvalidInput


def _command_name(argv: Sequence[str]) -> str:
    return next((arg for arg in argv if not arg.startswith("-")), "devkit")


def _failure(args: Sequence[str], error: DevkitError) -> CommandResult:
    """An invocation that stopped early, rendered as it asked: --json, or with
    --fleet-stdin as the last line of its event stream."""
    return CommandResult.failure(
        _command_name(args), error, json_mode="--json" in args, events="--fleet-stdin" in args
    )


def _usage_error(args: Sequence[str], error: typer.TyperException) -> CommandResult:
    """An unknown command or option, a bad value: one line, exit 2."""
    from devkit.cli import COMMAND_MODULES

    name = _command_name(args)
    where = f"devkit {name} --help" if name in COMMAND_MODULES else "devkit --help"
    problem = InvalidInput(error.format_message(), code="usage", hint=f"see '{where}'")
    return _failure(args, problem)


def _internal_error(args: Sequence[str], error: Exception) -> CommandResult:
    """A bug: one line naming it, exit 3; DEVKIT_DEBUG=1 shows the traceback instead."""
    bug = DevkitError(
        f"internal error: {type(error).__name__}: {error}",
        code="internal_error",
        hint="rerun with DEVKIT_DEBUG=1 for the traceback",
    )
    bug.exit_code = ExitCode.INTERNAL
    return _failure(args, bug)


def _interrupted(args: Sequence[str], interrupt: BaseException | None) -> CommandResult:
    """SIGINT, SIGTERM or SIGHUP outside a command body (while parsing, say)."""
    from devkit.cli.common import interrupted

    return _failure(args, interrupted(interrupt))


def run_app(args: Sequence[str]) -> CommandResult | int:
    """Run the command `args` name; a bare exit code when there is nothing to render
    (--help, --version: their text is the output)."""
    from devkit.cli import app
    from devkit.process import interruption

    try:
        outcome = app(args=list(args), prog_name="devkit", standalone_mode=False)
    except typer.TyperException as error:
        return _usage_error(args, error)
    except (KeyboardInterrupt, typer.Abort) as interrupt:
        return _interrupted(args, interrupt)
    except Exception as error:
        if os.environ.get("DEVKIT_DEBUG") == "1":
            if not redaction.active():
                raise
            # The traceback would carry the secrets the run knows: print it masked.
            import traceback

            sys.stderr.write(redaction.redact("".join(traceback.format_exc())))
        return _internal_error(args, error)
    if isinstance(outcome, CommandResult):
        return outcome
    if interruption() is not None:
        # Typer turns a KeyboardInterrupt it sees (while parsing) into exit code 130.
        return _interrupted(args, None)
    return outcome if isinstance(outcome, int) else int(ExitCode.OK)


def main(argv: Sequence[str] | None = None) -> int:
    from devkit.process import cooperative, signal_policy

    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    with signal_policy(announce=announce_stopping), redaction.scope():
        try:
            result = run_app(args)
        except KeyboardInterrupt as interrupt:  # between the command and this line
            result = _interrupted(args, interrupt)
        if isinstance(result, int):
            return result
        # A signal now no longer cuts the document in half; the result stands.
        with cooperative():
            return Console(json_mode=result.json_mode).render(result)


def run() -> NoReturn:
    """The `devkit` program: `main`, then an exit without the interpreter's teardown
    when it has nothing left to do (see _exit)."""
    _exit(main())


def _exit(code: int) -> NoReturn:
    """Exit now, skipping the interpreter's teardown (freeing every module and object:
    ~9 ms of each run, a tenth of devkit's start-up, measured), when it would do nothing
    else for us: the output is flushed, no atexit callback is registered and no other
    thread is running. Otherwise, or if the flush fails (a closed pipe), exit as usual."""
    import atexit
    import threading

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    pending = getattr(atexit, "_ncallbacks", lambda: 1)()
    if pending or any(not thread.daemon for thread in others):
        sys.exit(code)
    os._exit(code)


if __name__ == "__main__":
    run()
