"""Deep recipes (generated): long chains of `needs:` run, nested `task:` steps beyond a
clear limit are refused with exit 2, and nothing ends in a RecursionError."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Devkit = Callable[..., subprocess.CompletedProcess[str]]


def needs_chain(length: int, *, failing: int | None = None) -> str:
    """t0 needs t1, which needs t2, ...; every 50th task (and the last) leaves a mark."""
    lines = ["tasks:"]
    for index in range(length):
        lines.append(f"  t{index}:")
        if index < length - 1:
            lines.append(f"    needs: [t{index + 1}]")
        if index == failing:
            lines.append("    steps: ['exit 7']")
        elif index % 50 == 0 or index == length - 1:
            lines.append(f"    steps: ['echo t{index} >> order.txt']")
        else:
            lines.append("    steps: []")
    return "\n".join([*lines, "default: t0", ""])


def nested_task_steps(levels: int) -> str:
    """t0 runs t1 in a `task:` step, t1 runs t2, ... `levels` levels deep."""
    lines = ["tasks:"]
    for index in range(levels + 1):
        lines.append(f"  t{index}:")
        step = f"task: t{index + 1}" if index < levels else "run: echo bottom > bottom.txt"
        lines.append(f"    - {step}")
    return "\n".join([*lines, "default: t0", ""])


def _no_crash(result: subprocess.CompletedProcess[str]) -> None:
    assert "RecursionError" not in result.stderr and "internal error" not in result.stderr


def test_a_chain_of_400_needs_checks_and_runs(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    # Before: --check passed, then the run died of a RecursionError (exit 3).
    recipe(needs_chain(400))
    check = devkit_here(["run", "--check"], cwd=tmp_path)
    _no_crash(check)
    assert check.returncode == 0, check.stderr
    result = devkit_here(["run"], cwd=tmp_path)
    _no_crash(result)
    assert result.returncode == 0, result.stderr
    marks = (tmp_path / "order.txt").read_text().split()
    assert marks == ["t399", "t350", "t300", "t250", "t200", "t150", "t100", "t50", "t0"]


def test_a_failure_at_the_bottom_of_a_long_chain_blocks_every_task_above(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(needs_chain(400, failing=399))
    result = devkit_here(["run", "--json"], cwd=tmp_path)
    _no_crash(result)
    assert result.returncode == 7, result.stderr
    tasks = json.loads(result.stdout)["data"]["tasks"]
    assert [task["status"] for task in tasks] == ["failed"] + ["blocked"] * 399
    assert not (tmp_path / "order.txt").exists()


def test_task_steps_nested_beyond_the_limit_are_refused(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(nested_task_steps(80))
    result = devkit_here(["run"], cwd=tmp_path)
    _no_crash(result)
    assert result.returncode == 2, result.stderr
    assert (
        "devkit.yaml:2:3: task 't0' nests 80 levels of 'task:' steps; devkit allows 32"
        in result.stderr
    )
    assert not (tmp_path / "bottom.txt").exists()


def test_task_steps_nested_to_the_limit_run(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(nested_task_steps(32))
    result = devkit_here(["run"], cwd=tmp_path)
    _no_crash(result)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "bottom.txt").read_text() == "bottom\n"


@pytest.mark.slow
def test_a_chain_of_3000_needs_runs_in_a_real_process(
    recipe: Callable[..., Path], tmp_path: Path
) -> None:
    from tests.recipe.conftest import devkit

    recipe(needs_chain(3000))
    result = devkit(["run"], cwd=tmp_path, timeout=300)
    _no_crash(result)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "order.txt").read_text().split()[0] == "t2999"
