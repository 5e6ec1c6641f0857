"""Issue 9: variables computed by a command (`{sh: ...}`): lazily, at most once per run,
in the recipe's folder, failures naming the variable, secret values masked."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.recipe.conftest import devkit

Runner = Callable[..., subprocess.CompletedProcess[str]]

RECIPE = """\
dotenv: [.env?]
vars:
  tag: {sh: "echo computed >> sh-ran.log; printf 'v1.2\\\\n\\\\n'"}
  lines: {sh: "printf 'a\\\\nb\\\\n'"}
  folder: {sh: 'printf "%s+%s" "$PWD" "${FROM_DOTENV-}"'}
  unused: {sh: "touch unused-ran"}
  named: {sh: "printf %s {{ name }}"}
  name: plain
tasks:
  first:
    - run: printf 'first %s %s\\n' {{ tag }} {{ tag }}
  second:
    needs: [first]
    steps:
      - run: printf 'second %s\\n' {{ tag }}
      - run: [sh, -c, 'printf %s "$1" > lines.out', sh, "{{ lines }}"]
      - run: printf 'folder=%s\\n' {{ folder }}
      - run: printf 'named=%s\\n' {{ named }}
"""


def test_a_command_runs_once_when_first_needed_in_the_recipe_folder(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(RECIPE)
    (tmp_path / ".env").write_text("FROM_DOTENV=dotenv-value\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = devkit(["run", str(tmp_path / "devkit.yaml"), "second"], cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert "first v1.2 v1.2" in result.stdout  # trailing newlines stripped, like $(...)
    assert "second v1.2" in result.stdout
    assert (tmp_path / "sh-ran.log").read_text() == "computed\n"  # once for both tasks
    assert (tmp_path / "lines.out").read_text() == "a\nb"  # inner newlines kept
    assert f"folder={tmp_path}+dotenv-value" in result.stdout  # the run's environment
    assert not (tmp_path / "unused-ran").exists()  # never used: never run


def test_checking_listing_and_dry_runs_run_no_command(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(RECIPE)
    for args in (["--check"], ["--list"], ["second", "--dry-run"]):
        result = devkit(["run", *args], cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
    listed = json.loads(devkit(["run", "--list", "--json"], cwd=tmp_path).stdout)
    assert listed["data"]["vars"]["folder"] == """$(printf "%s+%s" "$PWD" "${FROM_DOTENV-}")"""
    assert not (tmp_path / "sh-ran.log").exists()
    assert not (tmp_path / "unused-ran").exists()


def test_a_value_in_the_command_stays_a_value(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(RECIPE)
    hostile = "$(touch CANARY); `touch CANARY` 'q\""
    result = devkit(["run", "second", "--var", f"name={hostile}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"named={hostile}" in result.stdout
    assert not (tmp_path / "CANARY").exists()


def test_a_failing_or_hanging_command_names_the_variable(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        vars:
          version: {sh: "echo 'fatal: No names found' >&2; exit 128"}
          slow: {sh: "sleep 30", timeout: 300ms}
        tasks:
          failing:
            - run: touch before
            - run: echo {{ version }}
          hanging:
            - run: echo {{ slow }}
        """
    )
    failed = devkit(["run", "failing", "--json"], cwd=tmp_path)
    assert failed.returncode == 1
    error = json.loads(failed.stdout)["errors"][0]
    assert error["message"] == (
        "devkit.yaml:7:7: cannot resolve the step: variable 'version':"
        " `echo 'fatal: No names found' >&2; exit 128` exited 128: fatal: No names found"
    )
    assert (tmp_path / "before").exists()

    hung = devkit(["run", "hanging"], cwd=tmp_path, timeout=20)
    assert hung.returncode == 1
    assert "variable 'slow': `sleep 30` timed out after 0.3 s" in hung.stderr


def test_a_secret_computed_value_is_masked_everywhere(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        vars:
          token: {sh: "printf 'tok-%s' 4242", secret: true}
        tasks:
          use:
            - run: echo "token={{ token }}"; echo "env=$TOKEN"; echo tok-4242 >&2
              env: {TOKEN: "{{ token }}"}
            - run: "false {{ token }}"
        """
    )
    log = tmp_path / "run.log"
    result = devkit(["run", "--json", "--log", str(log)], cwd=tmp_path)
    assert result.returncode == 1
    everything = result.stdout + result.stderr + log.read_text()
    assert "tok-4242" not in everything
    assert "token=***" in result.stderr and "env=***" in result.stderr


def test_a_definition_is_either_env_or_sh(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe(
        'vars:\n  a: {env: A, sh: "echo"}\n  b: {sh: "echo", secrett: true}\n'
        "  c: {sh: \"cat <<'EOF'\\n{{ a }}\\nEOF\"}\ntasks:\n  t: [echo]\n"
    )
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:2:6: a variable comes from 'env' or from 'sh', not both" in result.stderr
    assert "devkit.yaml:3:19: unknown key 'secrett'" in result.stderr
    assert "a placeholder in a quoted heredoc" in result.stderr
