"""Issue 9, section 6: task-level `if:` (nothing to do), positional arguments and the
log file named in the recipe."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.recipe.conftest import devkit

IF_RECIPE = """\
tasks:
  fetch:
    - id: behind
      run: cat behind.txt
  deploy:
    needs: [fetch]
    if: test {{ steps.behind.stdout }} -gt 0 && touch if-ran
    steps:
      - run: touch restarted
  notify:
    needs: [deploy]
    steps:
      - run: touch notified
"""


def statuses(stdout: str) -> dict[str, tuple[str, str | None]]:
    tasks = json.loads(stdout)["data"]["tasks"]
    return {task["name"]: (task["status"], task["message"]) for task in tasks}


def test_a_task_if_skips_the_task_successfully_and_dependents_still_run(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(IF_RECIPE)
    (tmp_path / "behind.txt").write_text("0\n")
    result = devkit(["run", "notify", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout) == {
        "fetch": ("ok", None),
        "deploy": ("skipped", "nothing to do ('if' exited 1)"),
        "notify": ("ok", None),
    }
    assert not (tmp_path / "restarted").exists()
    assert (tmp_path / "notified").exists()

    (tmp_path / "behind.txt").write_text("2\n")
    result = devkit(["run", "notify", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout)["deploy"] == ("ok", None)
    assert (tmp_path / "restarted").exists()


def test_a_dry_run_does_not_run_the_task_if(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe(IF_RECIPE)
    result = devkit(["run", "notify", "--dry-run", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert statuses(result.stdout)["deploy"][0] == "planned"
    assert not (tmp_path / "if-ran").exists()


def test_a_task_if_keeps_values_as_values_and_is_checked(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        vars:
          marker: plain
        tasks:
          guarded:
            if: test "{{ marker }}" != skip
            steps:
              - run: touch guarded-ran
          broken:
            if: test {{ steps.nope.stdout }} = x
            steps:
              - run: echo
        """
    )
    assert devkit(["run", "--check"], cwd=tmp_path).returncode == 2
    checked = devkit(["run", "--check", "--json"], cwd=tmp_path)
    [diagnostic] = json.loads(checked.stdout)["data"]["diagnostics"]
    assert (diagnostic["line"], diagnostic["message"]) == (9, "unknown step id 'nope'")

    (tmp_path / "devkit.yaml").write_text(
        (tmp_path / "devkit.yaml").read_text().split("  broken:")[0]
    )
    hostile = '$(touch CANARY)" ; touch CANARY; "'
    result = devkit(["run", "--var", f"marker={hostile}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "guarded-ran").exists()
    assert not (tmp_path / "CANARY").exists()
    skipped = devkit(["run", "--var", "marker=skip", "--json"], cwd=tmp_path)
    assert statuses(skipped.stdout)["guarded"][0] == "skipped"
