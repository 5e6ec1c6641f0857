"""Run devkit the two ways the tests need: in-process (CliRunner) and as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from typer.testing import CliRunner

from devkit.cli import app


def invoke(args: Sequence[str], **kwargs: object):  # type: ignore[no-untyped-def]
    """In-process run through Typer's CliRunner (fast; stdout and stderr kept apart)."""
    return CliRunner().invoke(app, list(args), **kwargs)  # type: ignore[arg-type]


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
