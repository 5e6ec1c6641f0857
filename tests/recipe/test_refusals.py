"""What validation refuses with one clear line and exit 2 (never a traceback, never a
partial run), and what it now accepts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

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
