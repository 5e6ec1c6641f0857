"""Every validation error: exact file:line:col, the offending line, all at once, exit 2,
and nothing runs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.clirun import invoke
from tests.recipe.conftest import devkit

BROKEN = """\
version: 1
vars:
  app_dir: /srv/app
tasks:
  build:
    needs: [tset]
    steps:
      - run: touch ran.txt; echo {{ app_dri }}
        tiemout: 5s
      - run: [echo, hi]
        timeout: 5 s
        continue_on_error: yes
  test:
    steps:
      - rn: foo
      - git: synk
      - git: commit
      - run: echo {{ bad-name }}
      - run: echo {{ item }}
  a:
    needs: [b]
    steps: [echo a]
  b:
    needs: [a]
    steps: [echo b]
  b:
    steps: []
default: buld
"""

EXPECTED = [
    "devkit.yaml:6:13: unknown task 'tset' in 'needs' of task 'build'; did you mean 'test'?",
    "devkit.yaml:8:34: undefined variable 'app_dri'; did you mean 'app_dir'?",
    "devkit.yaml:9:9: unknown key 'tiemout' in a run step; did you mean 'timeout'?",
    "devkit.yaml:11:18: expected a duration like 500ms, 5s, 5m or 1h, got '5 s'",
    "devkit.yaml:12:28: expected true or false, got 'yes'",
    "devkit.yaml:15:9: a step needs one of run, task, git, extract (did you mean 'run'?)",
    "devkit.yaml:16:14: expected one of init, stage, commit, sync, conflicts, got 'synk';"
    " did you mean 'sync'?",
    "devkit.yaml:17:9: a git commit step is missing the required key 'message'",
    "devkit.yaml:18:19: invalid placeholder '{{ bad-name }}'",
    "devkit.yaml:19:19: {{ item }} is only defined in a step with 'for:'",
    "devkit.yaml:20:3: dependency cycle: a -> b -> a",
    "devkit.yaml:26:3: duplicate key 'b' (first defined at line 23)",
    "devkit.yaml:28:10: unknown task 'buld' in 'default'; did you mean 'build'?",
]


def test_every_error_is_reported_at_once_with_its_position(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(BROKEN)
    result = devkit(["run", "build"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    reported = [line for line in lines if line.startswith("devkit.yaml:")]
    assert len(reported) == len(EXPECTED), result.stderr
    for expected, line in zip(EXPECTED, reported, strict=True):
        assert line.startswith(expected), (expected, line)
    assert not (tmp_path / "ran.txt").exists()
    assert "Traceback" not in result.stderr
    # The offending line is shown under each diagnostic, with a caret at the column.
    index = lines.index(reported[1])
    assert lines[index + 1].strip() == "- run: touch ran.txt; echo {{ app_dri }}"
    assert lines[index + 2].index("^") - lines[index + 1].index("-") == 34 - 7
    assert "13 problems in the recipe; nothing ran" in lines[-1]


def test_json_mode_lists_every_diagnostic(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe(BROKEN)
    result = devkit(["run", "--check", "--json"], cwd=tmp_path)
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and doc["exit_code"] == 2
    error = doc["errors"][0]
    assert error["code"] == "invalid_recipe"
    diagnostics = doc["data"]["diagnostics"]
    assert len(diagnostics) == len(EXPECTED)
    assert diagnostics[0] == {
        "file": "devkit.yaml",
        "line": 6,
        "col": 13,
        "message": "unknown task 'tset' in 'needs' of task 'build'; did you mean 'test'?",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tasks:\n  a: [echo {{ x ]\n", "devkit.yaml:2:"),  # YAML syntax
        (
            "tasks:\n  a:\n    steps:\n      - run: echo {{ env.NO_SUCH_VAR_X }}\n",
            "devkit.yaml:4:19: environment variable 'NO_SUCH_VAR_X' is not set",
        ),
        (
            "tasks:\n  a:\n    steps:\n      - run: echo\n        retry: {attempts: 0}\n",
            "devkit.yaml:5:27: expected a number >= 1, got 0",
        ),
        (
            "tasks:\n  a:\n    steps:\n      - run: echo\n        task: b\n",
            "devkit.yaml:4:9: a step has exactly one of run, task, git, extract; got run, task",
        ),
        (
            "tasks:\n  a:\n    steps:\n      - extract: x.zip\n        timeout: 5s\n",
            "devkit.yaml:5:9: unknown key 'timeout' in a extract step",
        ),
        (
            "tasks:\n  a:\n    steps:\n      - extract: x.zip\n",
            "devkit.yaml:4:9: a extract step is missing the required key 'to'",
        ),
        (
            "tasks:\n  a:\n    steps:\n      - task: nope\n",
            "devkit.yaml:4:15: unknown task 'nope' in a task step of task 'a'",
        ),
        (
            "vars:\n  x: '{{ y }}'\n  y: '{{ x }}'\ntasks:\n  a: ['echo {{ x }}']\n",
            "devkit.yaml:2:7: variables refer to each other in a cycle: y -> x -> y",
        ),
        ("dotenv: [missing.env]\ntasks:\n  a: [echo]\n", "devkit.yaml:1:10: dotenv file not found"),
        (
            "tasks:\n  a:\n    lock: {path: x.lock, wait: forever}\n    steps: [echo]\n",
            "devkit.yaml:3:32: expected a duration",
        ),
        ("version: 2\ntasks:\n  a: [echo]\n", "devkit.yaml:1:1: unsupported recipe version 2"),
        ("tasks: {}\n", "devkit.yaml:1:8: the recipe has no tasks"),
        ("- just a list\n", "devkit.yaml:1:1: a recipe is a mapping"),
        ("", "devkit.yaml:1:1: the recipe is empty"),
        (
            "tasks:\n  a:\n    steps:\n      - run: echo\n        platforms: [linux, plan9]\n",
            "devkit.yaml:5:28: expected one of linux, darwin",
        ),
        (
            "tasks:\n  a:\n    stesp: []\n",
            "devkit.yaml:3:5: unknown key 'stesp' in task; did you mean 'steps'?",
        ),
    ],
)
def test_each_error_points_at_its_place(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    expected: str,
) -> None:
    recipe(text)
    monkeypatch.chdir(tmp_path)
    result = invoke(["run", "--check"])  # in-process: these cases only parse and check
    assert result.exit_code == 2, result.stderr
    assert expected in result.stderr, result.stderr


def test_bad_dotenv_line_points_into_the_dotenv_file(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("GOOD=1\nDB_PASSWORD hunter2\n")
    recipe("dotenv: [.env]\ntasks:\n  a: [echo]\n")
    result = devkit(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 2
    assert f"{tmp_path / '.env'}:2:1: expected KEY=VALUE" in result.stderr
    assert "hunter2" not in result.stderr  # a dotenv line is never echoed: it holds secrets


def test_yaml_11_surprises_stay_strings(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        vars:
          a: on
          b: no
          c: 0755
          d: 1.10
          e: 0x1F
          f: ~x
        tasks:
          show:
            - run: [printf, "%s|", "{{ a }}", "{{ b }}", "{{ c }}", "{{ d }}", "{{ e }}", "{{ f }}"]
        """
    )
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "on|no|0755|1.10|0x1F|~x|" in result.stdout


def test_valid_recipe_passes_check_and_runs_nothing(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe("tasks:\n  a: [touch ran.txt]\n  b: [touch ran.txt]\n")
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid: 2 tasks, 2 steps" in result.stdout
    assert not (tmp_path / "ran.txt").exists()


def test_unknown_task_on_the_command_line(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe("tasks:\n  build: [echo]\n  test: [echo]\n")
    result = devkit_here(["run", "biuld"], cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown task 'biuld'" in result.stderr and "did you mean 'build'" in result.stderr
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert "no 'default'" in result.stderr


def test_missing_recipe_is_one_line_exit_2(tmp_path: Path) -> None:
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "recipe not found: devkit.yaml" in result.stderr


def test_schema_is_json_and_comes_from_the_registry(tmp_path: Path) -> None:
    from devkit.recipe.schema import COMMON_STEP_FIELDS
    from devkit.recipe.steps import GIT_VARIANTS

    result = devkit(["run", "--schema"], cwd=tmp_path)
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"tasks"}
    variants = schema["$defs"]["step"]["oneOf"]
    git = {v["properties"]["git"]["const"]: v for v in variants if "git" in v.get("properties", {})}
    assert set(git) == set(GIT_VARIANTS)
    for action, options in GIT_VARIANTS.items():
        assert set(options) <= set(git[action]["properties"])
    run = next(v for v in variants if "run" in v.get("properties", {}))
    assert set(run["properties"]) == {"run", *COMMON_STEP_FIELDS}
    assert run["properties"]["grace"]["pattern"] == "^[0-9]+(?:\\.[0-9]+)?(?:ms|s|m|h)$"
    # A timeout of zero is refused (it would mean no timeout): the schema says so too.
    assert run["properties"]["timeout"]["pattern"].startswith("^(?![0.]+(?:ms|s|m|h)$)")


def test_requirement_without_run_is_a_diagnostic_not_a_crash(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe("tasks:\n  t:\n    requires:\n      - check: test -n x\n    steps: [echo hi]\n")
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "requirement is missing the required key 'run'" in result.stderr
    assert "internal error" not in result.stderr
