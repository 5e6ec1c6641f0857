"""Generated recipes, valid and broken in random ways, through `devkit run --check`
in-process: the answer is always exit 0 or exit 2 with diagnostics, never a traceback
or an internal error. Two hundred examples by default, thousands under `slow`
(derandomized: the same examples on every run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit.recipe.schema import COMMON_STEP_FIELDS, RECIPE_FIELDS, TASK_FIELDS
from tests.clirun import invoke

# Words that mean something to some layer: YAML 1.1 booleans, durations, placeholders
# (good, bad, escaped, env, raw, loop), shell fragments, paths, task names.
WORDS = [
    "",
    "x",
    "true",
    "false",
    "yes",
    "on",
    "null",
    "~",
    "0",
    "1",
    "-1",
    "0755",
    "1.10",
    "0s",
    "5s",
    "500ms",
    "1h",
    "5 s",
    "{{ x }}",
    "{{ env.HOME }}",
    "{{ env.NO_SUCH }}",
    "{{ item }}",
    "{{ x | raw }}",
    "{{ }}",
    "{{ bad-name }}",
    "{{",
    "}}",
    "\\{{",
    "\\{{ x }}",
    'echo "unterminated',
    "echo 'a' && [[ -n b ]]",
    "cat <<EOF\n{{ x }}\nEOF",
    "cat <<'EOF'\n{{ x }}\nEOF",
    "# {{ x }}",
    "${ {{ x }} }",
    "$(( {{ x }} ))",
    "a\nb",
    "a\0b",
    "é ✓",
    "task0",
    "task1",
    "nope",
    "./x",
    "/tmp",
    "linux",
    "sync",
    "init",
    "x-note",
]
KEYS = sorted({*RECIPE_FIELDS, *TASK_FIELDS, *COMMON_STEP_FIELDS, "run", "task", "git", "extract"})

scalars = st.one_of(st.sampled_from(WORDS), st.text(max_size=12), st.integers(-3, 3))
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(WORDS[:20]), st.text(max_size=6))
values: st.SearchStrategy[Any] = st.recursive(
    scalars | st.none() | st.booleans(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
steps = st.one_of(
    st.sampled_from(WORDS),
    st.dictionaries(st.sampled_from([*COMMON_STEP_FIELDS, "run", "task"]), values, max_size=4),
    st.fixed_dictionaries({"run": st.sampled_from(WORDS)}, optional={"if": scalars}),
)
tasks = st.one_of(
    st.lists(steps, max_size=3),
    st.dictionaries(st.sampled_from(sorted(TASK_FIELDS)), values, max_size=4).flatmap(
        lambda task: st.lists(steps, max_size=3).map(lambda s: {**task, "steps": s})
    ),
    values,
)
recipes = st.one_of(
    st.fixed_dictionaries(
        {"tasks": st.dictionaries(st.sampled_from(["task0", "task1", "x", "a b"]), tasks)},
        optional={key: values for key in sorted(RECIPE_FIELDS) if key != "tasks"},
    ),
    values,
)
# YAML text a dump never writes: tags, anchors, merges, duplicate keys, odd documents.
RAW_PREFIXES = [
    "",
    "%YAML 1.1\n---\n",
    "x-a: &a {run: echo}\n",
    "x-a: !!python/object:os.system [x]\n",
    "tasks: {}\n",
    "--- !env\n",
    "? [a]\n: b\n",
    "<<: {timeout: 0s}\n",
]


def _check(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    result = invoke(["run", str(path), "--check", "--json"])
    assert result.exit_code in (0, 2), (text, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, text
    document = json.loads(result.stdout)
    if result.exit_code == 2:
        assert document["errors"][0]["code"] in ("invalid_recipe", "recipe_unreadable"), text


def _fuzz(tmp_path: Path, recipe: Any, prefix: str) -> None:
    try:
        text = yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return
    _check(tmp_path / "devkit.yaml", prefix + text)


SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@settings(max_examples=200, **SETTINGS)  # type: ignore[arg-type]
@given(recipe=recipes, prefix=st.sampled_from(RAW_PREFIXES))
def test_generated_recipes_get_exit_0_or_2_never_a_crash(
    tmp_path: Path, recipe: Any, prefix: str
) -> None:
    _fuzz(tmp_path, recipe, prefix)


@pytest.mark.slow
@settings(max_examples=3000, **SETTINGS)  # type: ignore[arg-type]
@given(recipe=recipes, prefix=st.sampled_from(RAW_PREFIXES))
def test_many_generated_recipes_get_exit_0_or_2_never_a_crash(
    tmp_path: Path, recipe: Any, prefix: str
) -> None:
    _fuzz(tmp_path, recipe, prefix)
