"""Issue 9, section 6: task-level `if:` (nothing to do), positional arguments and the
log file named in the recipe."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.recipe.conftest import devkit, task_output

Runner = Callable[..., subprocess.CompletedProcess[str]]

IF_RECIPE = """\
tasks:
  fetch:
    - id: behind
      run: cat behind.txt
  deploy:
    needs: [fetch]
    if: test {{ steps.behind.stdout }} -gt 0 && touch if-ran
    requires:
      - run: touch requires-ran
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
    assert not (tmp_path / "requires-ran").exists()  # nothing to do: no requires either
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


ARGS_RECIPE = """\
tasks:
  build:
    - run: echo built
  deploy:
    args: [version, {name: env, default: staging}]
    steps:
      - run: printf 'deploy %s to %s\\n' {{ version }} {{ env }}
  notify:
    args: [{name: channel, default: ops}]
    steps:
      - run: printf 'notify %s\\n' {{ channel }}
"""


def shown(stdout: str, task: str) -> list[str]:
    return task_output(stdout, task)


def test_positional_arguments_bind_to_the_task_before_them(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(ARGS_RECIPE)
    result = devkit(["run", "deploy", "v1.2", "--var", "version=from-var"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert shown(result.stdout, "deploy") == ["deploy v1.2 to staging"]  # above --var

    result = devkit(["run", "build", "deploy", "v2", "prod", "notify", "dev"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert shown(result.stdout, "deploy") == ["deploy v2 to prod"]
    assert shown(result.stdout, "notify") == ["notify dev"]

    # Greedy, as in just: a word where an argument may go is an argument.
    result = devkit(["run", "deploy", "v3", "notify"], cwd=tmp_path)
    assert shown(result.stdout, "deploy") == ["deploy v3 to notify"]
    assert shown(result.stdout, "notify") == []

    hostile = "v4 $(touch CANARY); `touch CANARY`"
    result = devkit(["run", "deploy", hostile], cwd=tmp_path)
    assert shown(result.stdout, "deploy") == [f"deploy {hostile} to staging"]
    assert not (tmp_path / "CANARY").exists()


def test_missing_or_extra_arguments_exit_2_with_the_usage(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(ARGS_RECIPE)
    missing = devkit(["run", "build", "deploy", "--json"], cwd=tmp_path)
    assert missing.returncode == 2
    [error] = json.loads(missing.stdout)["errors"]
    assert error["message"] == "task 'deploy' needs the argument VERSION"
    assert error["hint"] == "devkit run [RECIPE] deploy VERSION [ENV=staging]"
    assert "[build] built" not in missing.stderr  # nothing ran

    extra = devkit(["run", "deploy", "v1", "prod", "eu"], cwd=tmp_path)
    assert extra.returncode == 2
    assert "unknown task 'eu'" in extra.stderr
    assert "task 'deploy' takes at most 2 argument(s): deploy VERSION [ENV=staging]" in (
        extra.stderr
    )
    listed = devkit(["run", "--list"], cwd=tmp_path)
    assert "deploy VERSION [ENV=staging]" in listed.stdout


def test_arguments_are_checked_in_the_recipe(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe(
        """\
        tasks:
          deploy:
            args: [version, {name: env, default: x}, region, version]
            steps:
              - run: echo {{ version }} {{ env }} {{ reigon }}
          all:
            needs: [deploy]
            steps:
              - task: deploy
        """
    )
    result = devkit_here(["run", "--check", "--json"], cwd=tmp_path)
    assert result.returncode == 2
    found = {
        (d["line"], d["col"], d["message"])
        for d in json.loads(result.stdout)["data"]["diagnostics"]
    }
    only_cli = (
        "task 'deploy' needs the argument VERSION, which only the command line can give"
        " (give it a default to run it from here)"
    )
    assert found == {
        (3, 46, "an argument without a default cannot follow one with"),
        (3, 54, "duplicate argument 'version'"),
        (5, 43, "undefined variable 'reigon'; did you mean 'region'?"),
        (7, 13, only_cli),
        (9, 15, only_cli),
    }


def test_the_recipe_names_its_log_file_and_log_overrides_it(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        secrets: [TOKEN]
        vars:
          name: deploy
        log: logs/{{ name }}.log
        tasks:
          a:
            - run: echo "hello $TOKEN"
        """
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"TOKEN": "s3cr3t"}
    result = devkit(["run", str(tmp_path / "devkit.yaml")], cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    logged = (tmp_path / "logs" / "deploy.log").read_text()
    assert "[a] | hello ***" in logged and "s3cr3t" not in logged

    override = tmp_path / "other.log"
    args = ["run", str(tmp_path / "devkit.yaml"), "--log", str(override), "--var", "name=x"]
    result = devkit(args, cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    assert "[a] | hello ***" in override.read_text()
    assert not (tmp_path / "logs" / "x.log").exists()
    assert (tmp_path / "logs" / "deploy.log").read_text() == logged
