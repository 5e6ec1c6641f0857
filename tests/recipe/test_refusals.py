"""What validation refuses with one clear line and exit 2 (never a traceback, never a
partial run), and what it now accepts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Devkit = Callable[..., subprocess.CompletedProcess[str]]

VARS_RECIPE = """\
vars:
  level: "1"
tasks:
  deploy:
    vars: {target: /srv/app}
    steps: ['echo "{{ level }} {{ target }} {{ HOME }}" > ran.txt']
"""


def test_an_unknown_var_is_exit_2_with_a_did_you_mean(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(VARS_RECIPE)
    result = devkit_here(["run", "--var", "levle=9"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "unknown variable 'levle' in --var levle=...; did you mean 'level'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "ran.txt").exists()
    as_json = json.loads(devkit_here(["run", "--json", "--var", "targt=x"], cwd=tmp_path).stdout)
    assert as_json["errors"][0]["code"] == "unknown_var"
    assert "did you mean 'target'?" in as_json["errors"][0]["message"]


def test_a_var_the_recipe_declares_or_uses_is_accepted(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(VARS_RECIPE)
    args = ["run", "--var", "level=9", "--var", "target=/t", "--var", "HOME=/h"]
    result = devkit_here(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ran.txt").read_text() == "9 /t /h\n"


def _check(devkit_here: Devkit, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    return result


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object/apply:os.system [touch pwned.txt]", "!!python/object/apply:os.system"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ("!env HOME", "!env"),
        ("!!binary aGk=", "!!binary"),
        ("!!set {a: null}", "!!set"),
    ],
)
def test_a_yaml_tag_is_refused_at_its_position(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit, value: str, tag: str
) -> None:
    recipe(f"tasks:\n  a:\n    steps:\n      - run: {value}\n")
    result = _check(devkit_here, tmp_path)
    assert result.returncode == 2
    assert f"devkit.yaml:4:14: YAML tag {tag!r} is not allowed in a recipe" in result.stderr
    assert not (tmp_path / "pwned.txt").exists()


def test_standard_tags_for_text_stay_allowed(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe("tasks:\n  a: !!seq\n    - run: !!str echo 0755 > out.txt\n")
    assert devkit_here(["run"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "out.txt").read_text() == "0755\n"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('tasks:\n  a: ["echo a\\0b"]\n', "2:7"),
        ('tasks:\n  a:\n    - run: [echo, "a\\0b"]\n', "3:19"),
        ('tasks:\n  a:\n    - run: echo\n      cwd: "a\\0b"\n', "4:12"),
        ('tasks:\n  a:\n    sources: ["a\\0b"]\n    steps: [echo]\n', "3:15"),
        ('tasks:\n  a:\n    lock: "a\\0b"\n    steps: [echo]\n', "3:11"),
        ('vars:\n  "a\\0b": x\ntasks:\n  a: [echo]\n', "2:3"),
        ('dotenv: ["a\\0b"]\ntasks:\n  a: [echo]\n', "1:10"),
    ],
)
def test_a_nul_anywhere_is_exit_2_at_its_position(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit, text: str, where: str
) -> None:
    recipe(text)
    result = _check(devkit_here, tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"devkit.yaml:{where}: a NUL character cannot be passed" in result.stderr


def test_a_nul_in_a_dotenv_file_is_exit_2(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    (tmp_path / ".env").write_bytes(b"OK=1\nTOKEN=sec\0ret\n")
    recipe("dotenv: [.env]\ntasks:\n  a: ['echo {{ env.TOKEN }} > out.txt']\n")
    result = _check(devkit_here, tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"{tmp_path / '.env'}:2:1: a NUL character cannot be passed" in result.stderr
    assert "sec" not in result.stderr  # a dotenv file holds secrets: its line is not shown
    assert devkit_here(["run"], cwd=tmp_path).returncode == 2
    assert not (tmp_path / "out.txt").exists()


def _nested_flow(levels: int) -> str:
    return "tasks:\n  a:\n    - run: [echo, " + "[" * levels + "x" + "]" * levels + "]\n"


def _nested_block(levels: int) -> str:
    lines = ["tasks:", "  a:", "    - run:"]
    lines += [" " * (6 + 2 * level) + "-" for level in range(levels)]
    return "\n".join(lines) + " x\n"


@pytest.mark.parametrize("text", [_nested_flow(500), _nested_block(500), _nested_flow(5000)])
def test_deep_yaml_nesting_is_refused_with_a_clear_limit(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit, text: str
) -> None:
    # Before: 500 levels ended in a RecursionError (exit 3).
    recipe(text)
    result = _check(devkit_here, tmp_path)
    assert result.returncode == 2, result.stderr
    assert "nested more than 100 levels deep" in result.stderr or (
        "maximum nesting depth" in result.stderr  # libyaml's own limit (1000)
    )


def test_an_escaped_brace_pair_works_without_a_placeholder_after_it(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    # Before: `\{{` alone was "unclosed placeholder" (it worked only before a real one).
    recipe(
        r"""
        vars: {v: val}
        tasks:
          a:
            - run: echo '\{{ x }}' >> out.txt
            - run: echo '{{ v }} \{{ y }}' >> out.txt
            - run: [bash, -c, 'echo "\{{" >> out.txt']
            - run: echo "docker --format \{{.Name}}" >> out.txt
        """
    )
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert lines == ["{{ x }}", "val {{ y }}", "{{", "docker --format {{.Name}}"]


def test_an_unclosed_placeholder_is_still_refused(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe("tasks:\n  a: ['echo \\{{ x }} {{ y']\n")
    result = _check(devkit_here, tmp_path)
    assert result.returncode == 2
    assert "unclosed placeholder '{{'" in result.stderr


def test_x_keys_hold_yaml_anchors_at_top_level_and_in_tasks(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(
        """\
        x-retry: &retry {attempts: 2}
        x-env:
          common: &env {GREETING: hello}
        tasks:
          a:
            x-steps: &steps
              - run: echo "$GREETING" >> out.txt
                env: *env
                retry: *retry
            steps: *steps
          b:
            steps: *steps
            needs: [a]
        default: b
        """
    )
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.txt").read_text() == "hello\nhello\n"


def test_x_keys_are_not_allowed_in_steps(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe("tasks:\n  a:\n    - run: echo\n      x-note: 1\n")
    result = _check(devkit_here, tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:4:7: unknown key 'x-note' in a run step" in result.stderr


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("timeout: 0s\ntasks:\n  a: [sleep 1]\n", "1:10"),
        ("tasks:\n  a:\n    timeout: 0ms\n    steps: [sleep 1]\n", "3:14"),
        ("tasks:\n  a:\n    - run: sleep 1\n      timeout: 0.0m\n", "4:16"),
    ],
)
def test_a_zero_timeout_is_refused_with_a_hint(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit, text: str, where: str
) -> None:
    # Before: 0s silently meant "no timeout at all".
    recipe(text)
    result = _check(devkit_here, tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"devkit.yaml:{where}: " in result.stderr
    assert "leave 'timeout' out for no timeout, or give one above zero" in result.stderr


def test_the_json_schema_agrees_on_x_keys_and_zero_timeouts(tmp_path: Path) -> None:
    import re

    from devkit.recipe.schema import json_schema

    document = json_schema()
    assert "^x-" in document["patternProperties"]
    shapes = document["properties"]["tasks"]["additionalProperties"]["anyOf"]
    task = next(shape for shape in shapes if shape.get("type") == "object")
    assert "^x-" in task["patternProperties"]
    pattern = document["properties"]["timeout"]["pattern"]
    assert not re.fullmatch(pattern, "0s") and not re.fullmatch(pattern, "0.0ms")
    assert re.fullmatch(pattern, "0.5s") and re.fullmatch(pattern, "10m")
