"""Run devkit the two ways the tests need: in-process and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from typer.testing import CliRunner, Result

from devkit.__main__ import main


def invoke(
    args: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """In-process run of `devkit ARGS` through `main()`, as the console script runs it
    (one render of the result), with Typer's CliRunner isolating stdin, stdout, stderr
    and the environment. Unexpected exceptions propagate, as with DEVKIT_DEBUG=1."""
    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (stdout, stderr, output):
        exit_code = 1
        exception: BaseException | None = None
        try:
            exit_code = main(list(args))
        except SystemExit as error:  # what a library call might still raise
            exit_code = error.code if isinstance(error.code, int) else 1
            exception = error
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return Result(
            runner=runner,
            stdout_bytes=stdout.getvalue(),
            stderr_bytes=stderr.getvalue(),
            output_bytes=output.getvalue(),
            return_value=exit_code,
            exit_code=exit_code,
            exception=exception,
        )


def run_devkit(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """A real `python -m devkit` process: the exit code is the one a shell would see."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "devkit", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def start_devkit(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """A real `python -m devkit` process left running, in its own session so that a
    test can signal exactly it; `env` is added to this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "devkit", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
