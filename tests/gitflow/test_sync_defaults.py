"""The default sync mode: from git config (`devkit.syncMode`), else from whether stdin is
a terminal, never from where stdout goes (`devkit sync | tee log` behaves like
`devkit sync`)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.gitrepos import Remote, commit, git, push_from


def diverged(remote: Remote) -> Path:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    return clone


def sync_with_terminal_stdin(repo: Path, *args: str) -> tuple[int, dict[str, object]]:
    """`devkit sync --json` with stdin a terminal and stdout a pipe (as under `| tee`)."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.run(
            [sys.executable, "-m", "devkit", "sync", "--no-push", "--json", *args],
            cwd=repo,
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    return process.returncode, json.loads(process.stdout)["data"]


def test_stdin_on_a_terminal_means_rebase_even_when_stdout_is_piped(remote: Remote) -> None:
    clone = diverged(remote)
    code, data = sync_with_terminal_stdin(clone)
    assert (code, data["mode"]) == (0, "rebase"), data
    assert data["repos"][0]["result"] == "rebased"  # type: ignore[index]


def test_no_terminal_on_stdin_means_ff_only(remote: Remote) -> None:
    clone = diverged(remote)
    out = run_devkit(["sync", "--no-push", "--json"], cwd=clone)
    data = json.loads(out.stdout)["data"]
    assert (out.returncode, data["mode"]) == (1, "ff-only")
    assert data["repos"][0]["error"]["code"] == "diverged"


@pytest.mark.parametrize(("configured", "result"), [("merge", "merged"), ("rebase", "rebased")])
def test_git_config_sets_the_default_mode(remote: Remote, configured: str, result: str) -> None:
    clone = diverged(remote)
    git(clone, "config", "devkit.syncMode", configured)
    out = run_devkit(["sync", "--no-push", "--json"], cwd=clone)  # stdin is not a terminal
    data = json.loads(out.stdout)["data"]
    assert out.returncode == 0, out.stdout
    assert (data["mode"], data["repos"][0]["mode"], data["repos"][0]["result"]) == (
        configured,
        configured,
        result,
    )


def test_mode_option_overrides_git_config(remote: Remote) -> None:
    clone = diverged(remote)
    git(clone, "config", "devkit.syncMode", "merge")
    out = run_devkit(["sync", "--no-push", "--json", "--mode", "ff-only"], cwd=clone)
    assert json.loads(out.stdout)["data"]["repos"][0]["error"]["code"] == "diverged"


def test_an_invalid_configured_mode_is_one_clear_line(remote: Remote) -> None:
    clone = remote.clone("me")
    git(clone, "config", "devkit.syncMode", "sideways")
    out = run_devkit(["sync"], cwd=clone)
    assert out.returncode == 2
    assert "devkit.syncMode is 'sideways'" in out.stderr and "Traceback" not in out.stderr


def test_sync_help_documents_the_default() -> None:
    out = run_devkit(["sync", "--help"], env={"COLUMNS": "200"})
    assert "devkit.syncMode" in out.stdout and "stdin" in out.stdout


def test_repositories_with_different_configured_modes_report_mixed(remote: Remote) -> None:
    first, second = remote.clone("first"), remote.clone("second")
    git(second, "config", "devkit.syncMode", "merge")
    out = run_devkit(["sync", "--json", str(first), str(second)])
    data = json.loads(out.stdout)["data"]
    assert out.returncode == 0, out.stdout
    assert data["mode"] == "mixed"
    assert [repo["mode"] for repo in data["repos"]] == ["ff-only", "merge"]
