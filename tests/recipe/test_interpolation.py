"""Interpolated values reach programs intact and execute nothing, wherever they land."""

# ruff: noqa: E501  (recipes in these tests are YAML text with long shell lines)
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.recipe.template import parse_template, render_shell
from tests.recipe.conftest import devkit

HOSTILE = [
    "two words",
    'it\'s "quoted"',
    "$(touch CANARY)",
    "`touch CANARY`",
    "; touch CANARY; echo ",
    "line one\nline two && touch CANARY",
    "back\\slash $HOME ${HOME} !bang *glob* ?",
    "' ; touch CANARY ; '",
    '" ; touch CANARY ; "',
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "shell_text",
    [
        "printf '%s\\0' {{ v }}",
        'printf "%s\\0" "{{ v }}"',
        "printf '%s\\0' '{{ v }}'",
        'printf "%s\\0" "$(printf %s {{ v }})"',
        "printf '%s\\0' prefix-{{ v }}-suffix",
    ],
)
def test_shell_quoting_keeps_one_argument(value: str, shell_text: str, tmp_path: Path) -> None:
    script = render_shell(parse_template(shell_text), lambda _: value)
    assert value not in script.text or not value
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.text],
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, **script.values},
    )
    assert result.returncode == 0, result.stderr
    args = result.stdout.split(b"\0")[:-1]
    expected = value.encode()
    if "prefix-" in shell_text:
        expected = b"prefix-" + expected + b"-suffix"
    assert args == [expected]
    assert not (tmp_path / "CANARY").exists()


def test_raw_opts_out_of_quoting(tmp_path: Path) -> None:
    script = render_shell(parse_template("printf '%s\\0' {{ v | raw }}"), lambda _: "a b")
    result = subprocess.run(["bash", "-c", script.text], capture_output=True)
    assert result.stdout.split(b"\0")[:-1] == [b"a", b"b"]


def test_escaped_braces_stay_literal() -> None:
    template = parse_template("docker inspect --format '\\{{.Name}}' {{ c }}")
    script = render_shell(template, lambda _: "web 1")
    assert script.display == "docker inspect --format '{{.Name}}' 'web 1'"
    assert script.text == "docker inspect --format '{{.Name}}' \"${DEVKIT_V_0}\""


def test_hostile_var_from_the_command_line_through_a_real_run(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        vars:
          name: default
        tasks:
          show:
            steps:
              - run: python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' {{ name }} "in {{ name }}"
              - run: [python3, -c, "import json,sys; print(json.dumps(sys.argv[1:]))", "{{ name }}"]
              - for: ["{{ name }}", plain]
                run: python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' {{ item }}
        """
    )
    value = "a b; touch CANARY $(touch CANARY) `touch CANARY` 'q' \"d\"\nnext"
    result = devkit(["run", "--var", f"name={value}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = [
        json.loads(line[4:]) for line in result.stdout.splitlines() if line.startswith("    [")
    ]
    assert printed == [[value, f"in {value}"], [value], [value], ["plain"]]
    assert not (tmp_path / "CANARY").exists()


def test_variable_precedence(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=dotenv\nB=dotenv\nC=dotenv\nD=dotenv\n")
    recipe(
        """\
        dotenv: [.env, missing.env?]
        vars:
          A: recipe
          B: recipe
          C: recipe
          joined: "{{ A }}+{{ B }}"
        tasks:
          show:
            vars:
              A: task
              B: task
            steps:
              - run: [printf, "%s,%s,%s,%s,%s,%s|", "{{ A }}", "{{ B }}", "{{ C }}", "{{ D }}", "{{ E }}", "{{ joined }}"]
        """
    )
    result = devkit(["run", "--var", "A=cli"], cwd=tmp_path, env={"D": "environ", "E": "environ"})
    assert result.returncode == 0, result.stderr
    # D is in dotenv and in the environment: the environment wins (dotenv gives defaults)
    assert "cli,task,recipe,environ,environ,cli+task|" in result.stdout


def test_one_environment_order_for_every_spelling(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    """`{{ X }}`, `{{ env.X }}`, `{env: X}` and a step's `$X` agree: the process
    environment over dotenv, dotenv when the environment lacks the name."""
    (tmp_path / ".env").write_text("BOTH=dotenv\nONLY=dotenv\n")
    recipe(
        """\
        dotenv: [.env]
        vars:
          both_var: {env: BOTH}
          only_var: {env: ONLY}
        tasks:
          show:
            - run: >-
                printf '%s ' "{{ BOTH }}" "{{ env.BOTH }}" "{{ both_var }}" "$BOTH"
                "{{ ONLY }}" "{{ env.ONLY }}" "{{ only_var }}" "$ONLY"
        """
    )
    result = devkit(["run"], cwd=tmp_path, env={"BOTH": "environ"})
    assert result.returncode == 0, result.stderr
    assert "environ environ environ environ dotenv dotenv dotenv dotenv" in result.stdout
