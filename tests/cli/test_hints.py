"""Every error line carries at most one hint, and it is the hint of the real cause."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from tests.clirun import run_devkit


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("devkit: error:")]


RECIPES = {
    "git-step": ("tasks:\n  t:\n    - git: sync\n      repo: {tmp}\n", "run `devkit init` there"),
    "extract-step": (
        "tasks:\n  t:\n    - extract: {tmp}/plain.txt\n      to: {tmp}/out\n",
        "supported: zip",
    ),
    "lock": (
        "tasks:\n  t:\n    lock: {tmp}/deploy.lock\n    steps: [echo never]\n",
        "wait for the other run to finish, or give the lock a 'wait:'",
    ),
    "shell-step": ("tasks:\n  t: [exit 4]\n", "see the step's output above"),
}


@pytest.mark.parametrize("case", list(RECIPES))
def test_a_failed_run_has_one_hint_from_its_cause(case: str, tmp_path: Path) -> None:
    text, hint = RECIPES[case]
    (tmp_path / "plain.txt").write_text("not an archive\n")
    (tmp_path / "devkit.yaml").write_text(text.format(tmp=tmp_path))
    with (tmp_path / "deploy.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run holds the task's lock
        result = run_devkit(["run"], cwd=tmp_path)
    assert result.returncode != 0
    (line,) = error_lines(result.stderr)
    assert line.count("(hint:") == 1, line
    assert line.endswith(f"(hint: {hint})") or f"(hint: {hint}" in line, line
    if case == "lock":
        assert f"lock {tmp_path / 'deploy.lock'} is held by another run" in line


def test_the_hint_also_reaches_json(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text(RECIPES["git-step"][0].format(tmp=tmp_path))
    import json

    result = run_devkit(["run", "--json"], cwd=tmp_path)
    document = json.loads(result.stdout)
    (error,) = document["errors"]
    assert error["hint"].startswith("run `devkit init` there")
    assert "(hint:" not in error["message"]
    assert document["data"]["failure_hint"] == error["hint"]


def test_sync_names_a_repository_once(tmp_path: Path) -> None:
    result = run_devkit(["sync", str(tmp_path)])
    (line,) = error_lines(result.stderr)
    assert line.count(str(tmp_path)) == 1, line
