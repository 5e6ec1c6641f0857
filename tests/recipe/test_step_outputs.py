"""Issue 9: a step's stdout for later steps (`id:` + `{{ steps.ID.stdout }}`), checked
to name a step that runs before, capped in size, and still a value, never code."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.recipe.conftest import devkit, task_output

Runner = Callable[..., subprocess.CompletedProcess[str]]

RECIPE = """\
tasks:
  build:
    - id: version
      run: printf '%s\\n\\n' 'v1.2 $(touch CANARY)'; echo "progress" >&2
    - run: printf 'built=%s\\n' {{ steps.version.stdout }}
  deploy:
    needs: [build]
    steps:
      - run: printf 'deploying=%s\\n' "{{ steps.version.stdout }}"
      - id: checked
        if: "false"
        run: echo never
      - run: echo {{ steps.checked.stdout }}
"""


def test_stdout_reaches_later_steps_and_dependent_tasks(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(RECIPE)
    result = devkit(["run", "deploy", "--json"], cwd=tmp_path)
    build, deploy = task_output(result.stderr, "build"), task_output(result.stderr, "deploy")
    assert "progress" in build  # stderr is shown, not kept
    assert "built=v1.2 $(touch CANARY)" in build
    assert "deploying=v1.2 $(touch CANARY)" in deploy
    assert not (tmp_path / "CANARY").exists()
    # A step skipped by its `if:` has no output: using it fails that step, clearly.
    assert result.returncode == 1
    error = json.loads(result.stdout)["errors"][0]["message"]
    assert error == (
        "devkit.yaml:13:9: cannot resolve the step: {{ steps.checked.stdout }}:"
        " step 'checked' has not run (skipped or failed)"
    )


def test_a_dry_run_shows_where_the_output_goes(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(RECIPE)
    result = devkit(["run", "build", "--dry-run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "would run: printf 'built=%s\\n' '<stdout of step '\"'\"'version'\"'\"'>'" in (
        result.stdout
    )


def test_output_over_the_cap_is_an_error_where_it_is_used(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        tasks:
          big:
            - id: dump
              run: head -c 1100000 /dev/zero | tr '\\0' x
            - run: echo {{ steps.dump.stdout }}
        """
    )
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 1
    assert "step 'dump' printed more than 1 MiB; write large output to a file" in result.stderr


def test_references_are_checked_before_anything_runs(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe(
        """\
        vars:
          v: "{{ steps.a.stdout }}"
        tasks:
          one:
            - run: echo {{ steps.b.stdout }} {{ steps.a.stdout }} {{ steps.a.stderr }}
            - id: a
              run: echo
            - id: a
              run: echo
          two:
            - id: b
              run: echo {{ steps.b.stdout }} {{ steps.versoin.stdout }}
            - id: looped
              for: [1, 2]
              run: echo
            - id: version
              git: sync
        """
    )
    result = devkit_here(["run", "--check", "--json"], cwd=tmp_path)
    assert result.returncode == 2
    found = {
        (d["line"], d["col"], d["message"])
        for d in json.loads(result.stdout)["data"]["diagnostics"]
    }
    assert found == {
        (2, 7, "{{ steps.a.stdout }} has a value only in steps, after step 'a'"),
        (
            5,
            17,
            "step 'b' does not run before this: it is in task 'two', which is not among"
            " the needs of task 'one'",
        ),
        (5, 38, "step 'a' does not run before this: it is this step or a later one of this task"),
        (5, 59, "{{ steps.a.stderr }}: write {{ steps.ID.stdout }}"),
        (8, 11, "duplicate step id 'a' (first used at line 6)"),
        (12, 17, "step 'b' does not run before this: it is this step or a later one of this task"),
        (12, 38, "unknown step id 'versoin'"),
        (13, 11, "a step with 'for' runs several times: it cannot have an 'id'"),
        (16, 7, "unknown key 'id' in a git sync step"),
    }


def test_a_task_skipped_as_up_to_date_has_no_step_output(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / "input.txt").write_text("x")
    recipe(
        """\
        tasks:
          build:
            sources: [input.txt]
            steps:
              - id: version
                run: echo v1
          deploy:
            needs: [build]
            steps:
              - run: echo "deploying {{ steps.version.stdout }}"
        """
    )
    first = devkit(["run", "deploy"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "deploying v1" in first.stdout
    second = devkit(["run", "deploy"], cwd=tmp_path)
    assert second.returncode == 1
    assert "step 'version' has not run (skipped or failed)" in second.stderr
