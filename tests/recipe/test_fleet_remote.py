"""The remote side of fleet runs: `host` and `vars` variables, and
`devkit run --fleet-stdin` (the protocol in devkit/cli/remote.py), with real processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.errors import InvalidInput
from devkit.recipe.errors import RecipeInvalid
from devkit.recipe.model import FleetHost
from devkit.recipe.validate import load_recipe
from tests.recipe.conftest import devkit

WEB01 = FleetHost("web01", ("web", "prod"), {"app_dir": "/srv/app", "workers": 4, "on": True})


# -- host and vars ------------------------------------------------------------------


def test_host_and_vars_locally_are_localhost_and_empty(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """
        tasks:
          show:
            - echo "name={{ host.name }} groups={{ host.groups.0 }}"
            - for: "{{ host.groups }}"
              run: echo "group={{ item }}"
        """
    )
    done = devkit(["run", "--check"], cwd=tmp_path)
    assert done.returncode == 2  # no groups locally: host.groups.0 does not exist
    assert "host.groups is a list of 0 item(s)" in done.stderr


def test_host_vars_render_and_are_checked_per_host(recipe: Callable[[str], Path]) -> None:
    path = recipe(
        """
        tasks:
          show:
            - echo "{{ host.name }} {{ vars.app_dir }} {{ vars.workers }} {{ vars.on }}"
            - for: "{{ host.groups }}"
              run: echo "{{ item }}"
        """
    )
    loaded = load_recipe(path, host=WEB01)
    assert loaded.host.name == "web01"
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path, host=FleetHost("db1", ("db",), {}))
    text = "\n".join(d.render() for d in caught.value.diagnostics)
    assert "vars has no key 'app_dir'" in text and "for host db1" in text
    assert ":4:" in text  # at the placeholder's line


def test_missing_host_var_names_key_and_host(recipe: Callable[[str], Path]) -> None:
    path = recipe("tasks:\n  a:\n    - echo {{ vars.missing }}\n")
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path, host=WEB01)
    (diagnostic,) = caught.value.diagnostics
    assert "'missing'" in diagnostic.message and "host web01" in diagnostic.message
    assert (diagnostic.position.line, diagnostic.position.col) == (3, 12)


@pytest.mark.parametrize("where", ["recipe", "task"])
@pytest.mark.parametrize("name", ["host", "vars"])
def test_a_recipe_cannot_define_host_or_vars(
    recipe: Callable[[str], Path], where: str, name: str
) -> None:
    if where == "recipe":
        text = f"vars:\n  {name}: x\ntasks:\n  a:\n    - echo hi\n"
    else:
        text = f"tasks:\n  a:\n    vars:\n      {name}: x\n    steps:\n      - echo hi\n"
    path = recipe(text)
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path)
    assert any(
        f"variable {name!r} is defined by devkit" in d.message for d in caught.value.diagnostics
    )


def test_var_cannot_set_host(recipe: Callable[[str], Path]) -> None:
    path = recipe("tasks:\n  a:\n    - echo {{ host.name }}\n")
    with pytest.raises(InvalidInput, match="cannot set 'host'"):
        load_recipe(path, cli_vars={"host": "x"})


def test_host_vars_reach_steps_and_dry_run(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe('tasks:\n  a:\n    - echo "on {{ host.name }}"\n')
    done = devkit(["run", "--json"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "on localhost" in done.stderr
    planned = devkit(["run", "--dry-run", "--json"], cwd=tmp_path)
    document = json.loads(planned.stdout)
    assert document["data"]["vars"]["host"] == {"name": "localhost", "groups": []}


# -- output_tail ----------------------------------------------------------------------


def test_failed_step_error_carries_its_last_output_lines_masked(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """
        secrets: [TOKEN]
        tasks:
          a:
            - echo before
            - |
              for i in $(seq 1 30); do echo "line $i"; done
              printf 'token %s\\n' "$TOKEN"
              printf 'long %s' "$(head -c 10000 /dev/zero | tr '\\0' x)"
              exit 3
        """
    )
    done = devkit(["run", "--json"], cwd=tmp_path, env={"TOKEN": "s3cr3t-value"})
    assert done.returncode == 3
    (error,) = json.loads(done.stdout)["errors"]
    tail = error["details"]["output_tail"]
    assert len(tail) == 20
    assert tail[0] == "line 13" and tail[-2] == "token ***"
    assert tail[-1].startswith("long xxx") and len(tail[-1]) == 4096
    assert "before" not in tail  # only the failed step's lines
