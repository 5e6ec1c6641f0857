"""Helpers for recipe tests: write a recipe into a temporary folder, run devkit on it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clirun import run_devkit


@pytest.fixture
def recipe(tmp_path: Path) -> Callable[[str], Path]:
    """Write a recipe (dedented) as tmp_path/devkit.yaml and return its path."""

    def write(text: str, name: str = "devkit.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write


def devkit(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return run_devkit(args, cwd=cwd, env=env, timeout=timeout)


def wait_for_file(path: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def process_gone(pid: int) -> bool:
    """True when no live process has this PID (a zombie counts as gone: it is dead)."""
    status = Path(f"/proc/{pid}/status")
    if status.parent.exists() or Path("/proc/self").exists():
        try:
            text = status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True
        return "\nState:\tZ" in text
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.02)
    return False


def kill_if_alive(pid: int) -> None:
    """Test cleanup: never leave a process of ours behind, even when a test fails."""
    if not process_gone(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def devkit_here(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """devkit run in-process (CliRunner), for tests that need no signals: faster, and
    it exercises the same code as the real process tests."""
    from tests.clirun import invoke

    def run(
        args: list[str], cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        monkeypatch.chdir(cwd)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        result = invoke(args)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    return run


def task_output(text: str, task: str) -> list[str]:
    """The output lines of `task`'s steps in a plain (piped) run: they follow the task's
    `▶ task` line, indented by four spaces (a task tag appears only in parallel runs)."""
    found, current = [], None
    for line in text.splitlines():
        if line.startswith("▶ "):
            current = line[2:]
        elif current == task and line.startswith("    "):
            found.append(line[4:])
    return found
