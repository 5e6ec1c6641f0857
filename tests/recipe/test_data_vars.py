"""Issue 9: a variable may be a list or a mapping (`for: "{{ hosts }}"`, `{{ db.host }}`),
or null (it must then come from --var); never an internal error (exit 3)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.recipe.conftest import devkit

Runner = Callable[..., subprocess.CompletedProcess[str]]

DATA_RECIPE = """\
vars:
  base: app
  hosts: [web1, "{{ base }}-2"]
  servers:
    - {name: a, port: "80"}
    - {name: b, port: "81"}
  db: {host: dbhost, port: "5432", opts: [x, y]}
tasks:
  hosts:
    - for: "{{ hosts }}"
      run: printf '[%s]\\n' {{ item }}
  servers:
    - for: "{{ servers }}"
      run: echo "server {{ item.name }} port {{ item.port }}"
  db:
    - run: [printf, "%s|", "{{ db.host }}:{{ db.port }}", "{{ db.opts.1 }}", "{{ hosts.0 }}"]
"""


def output_lines(stdout: str, marker: str) -> list[str]:
    """What follows `marker` on the steps' output lines; `marker` names the task, as
    "[task] text", though a task is tagged only when tasks run in parallel."""
    text = "    " + marker.split("] ", 1)[1]
    return [line[len(text) :] for line in stdout.splitlines() if line.startswith(text)]


def test_for_iterates_a_list_variable_and_paths_reach_into_data(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(DATA_RECIPE)
    result = devkit(["run", "hosts", "servers", "db"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert output_lines(result.stdout, "[hosts] [") == ["web1]", "app-2]"]
    assert output_lines(result.stdout, "[servers] server ") == ["a port 80", "b port 81"]
    assert "dbhost:5432|y|web1|" in result.stdout


def test_a_list_var_given_on_the_command_line_in_flow_style(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(DATA_RECIPE)
    hostile = "$(touch CANARY); x"
    result = devkit(["run", "hosts", "--var", f'hosts=[one, "{hostile}"]'], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert output_lines(result.stdout, "[hosts] [") == ["one]", f"{hostile}]"]
    assert not (tmp_path / "CANARY").exists()


def test_a_plain_var_for_a_list_variable_is_refused_with_the_flow_form(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe(DATA_RECIPE)
    result = devkit_here(["run", "hosts", "--var", "hosts=web9"], cwd=tmp_path)
    assert result.returncode == 2
    assert "--var 'hosts=[web1, web2]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("use", "message"),
    [
        ("{{ hosts }}", "{{ hosts }} is a list, not text; iterate it with for:"),
        ("{{ db }}", "{{ db }} is a mapping, not text; pick a key: {{ db.host }}"),
        ("{{ db.hostt }}", "db has no key 'hostt'; did you mean 'host'?"),
        ("{{ hosts.5 }}", "hosts is a list of 2 item(s); '5' is not one of its indexes"),
        ("{{ base.x }}", "base is text, so it has no 'x'"),
    ],
)
def test_data_used_where_text_is_needed_is_refused_at_its_position(
    recipe: Callable[[str], Path], tmp_path: Path, use: str, message: str, devkit_here: Runner
) -> None:
    recipe(DATA_RECIPE + f"  bad:\n    - run: echo {use}\n")
    result = devkit_here(["run", "bad", "--json"], cwd=tmp_path)
    assert result.returncode == 2
    [diagnostic] = json.loads(result.stdout)["data"]["diagnostics"]
    assert (diagnostic["line"], diagnostic["col"]) == (18, 17)
    assert message in diagnostic["message"]


def test_item_keys_are_checked_against_every_item(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe(DATA_RECIPE + '  bad:\n    - for: "{{ servers }}"\n      run: echo {{ item.addr }}\n')
    result = devkit_here(["run", "bad", "--check"], cwd=tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:19:17: {{ item.addr }}: item has no key 'addr'" in result.stderr


def test_for_over_a_mapping_or_a_list_inside_a_glob_is_refused(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe(
        DATA_RECIPE
        + '  bad:\n    - for: "{{ db }}"\n      run: echo {{ item }}\n'
        + '    - for: "{{ hosts }}/*.txt"\n      run: echo {{ item }}\n'
    )
    result = devkit_here(["run", "bad", "--check"], cwd=tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:18:13: for: {{ db }} is a mapping; 'for' takes a list" in result.stderr
    assert "devkit.yaml:20:13: {{ hosts }} is a list, not text" in result.stderr


def test_null_inside_data_and_odd_keys_are_refused(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe("vars:\n  hosts: [a, ~]\n  db: {web-1: x}\ntasks:\n  a: [echo]\n")
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:2:14: expected a value, got nothing (null)" in result.stderr
    assert "devkit.yaml:3:8: invalid key 'web-1'" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


NULL_RECIPE = """\
vars:
  dest:
  target: "{{ dest }}/out"
tasks:
  first:
    - run: touch first-ran
  uses:
    needs: [first]
    steps:
      - run: printf '%s\\n' "{{ target }}"
"""


def test_a_null_variable_must_be_given_by_the_tasks_that_use_it(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(NULL_RECIPE)
    assert devkit(["run", "--check"], cwd=tmp_path).returncode == 0
    assert devkit(["run", "first"], cwd=tmp_path).returncode == 0
    (tmp_path / "first-ran").unlink()

    refused = devkit(["run", "uses", "--json"], cwd=tmp_path)
    assert refused.returncode == 2
    error = json.loads(refused.stdout)["errors"][0]
    assert error["code"] == "missing_value"
    assert "devkit.yaml:10:29: variable 'dest' has no value" in error["message"]
    assert "pass --var dest=VALUE" in error["message"]
    assert not (tmp_path / "first-ran").exists()  # refused before anything ran

    given = devkit(["run", "uses", "--var", "dest=/srv"], cwd=tmp_path)
    assert given.returncode == 0, given.stderr
    assert "/srv/out" in given.stdout


def test_list_shows_data_and_null_variables(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe(DATA_RECIPE.replace("vars:\n", "vars:\n  dest:\n"))
    result = devkit_here(["run", "--list", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    variables = json.loads(result.stdout)["data"]["vars"]
    assert variables["dest"] is None
    assert variables["hosts"] == ["web1", "app-2"]
    assert variables["db"] == {"host": "dbhost", "port": "5432", "opts": ["x", "y"]}


def test_secrets_in_data_are_masked_in_dry_run_json(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        secrets: [TOKEN]
        vars:
          auth: {user: bob, token: "{{ env.TOKEN }}"}
          hosts: ["{{ env.TOKEN }}-host"]
        tasks:
          a:
            - for: "{{ hosts }}"
              run: echo {{ auth.token }} {{ item }}
        """
    )
    result = devkit(["run", "--dry-run", "--json"], cwd=tmp_path, env={"TOKEN": "s3cr3t"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data["vars"]["auth"] == {"user": "bob", "token": "***"}
    assert data["vars"]["hosts"] == ["***-host"]


ENV_RECIPE = """\
dotenv: [.env?]
vars:
  branch: {env: DEPLOY_BRANCH, default: main}
  region: {env: DEPLOY_REGION}
  hosts: {env: DEPLOY_HOSTS, default: [web1]}
tasks:
  branch:
    - run: printf 'branch=%s\\n' {{ branch }}
  region:
    - run: printf 'region=%s\\n' {{ region }}
  hosts:
    - for: "{{ hosts }}"
      run: printf 'host=%s\\n' {{ item }}
"""


def test_an_env_variable_with_a_default_follows_the_documented_precedence(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(ENV_RECIPE)

    def branch(*args: str, env: dict[str, str] | None = None) -> list[str]:
        result = devkit(["run", "branch", *args], cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        return output_lines(result.stdout, "[branch] branch=")

    assert branch() == ["main"]  # the default
    (tmp_path / ".env").write_text("DEPLOY_BRANCH=from-dotenv\n")
    assert branch() == ["from-dotenv"]  # dotenv beats the default
    assert branch(env={"DEPLOY_BRANCH": "from-env"}) == ["from-env"]  # env beats dotenv
    assert branch("--var", "branch=from-var", env={"DEPLOY_BRANCH": "x"}) == ["from-var"]


def test_an_env_variable_without_default_is_needed_only_where_used(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(ENV_RECIPE)
    assert devkit(["run", "branch"], cwd=tmp_path).returncode == 0
    listed = devkit(["run", "--list", "--json"], cwd=tmp_path)
    assert json.loads(listed.stdout)["data"]["vars"]["region"] == "$DEPLOY_REGION (not set)"
    refused = devkit(["run", "region"], cwd=tmp_path)
    assert refused.returncode == 2
    assert "devkit.yaml:10:33: variable 'region' comes from the environment variable" in (
        refused.stderr
    )
    assert "export DEPLOY_REGION, or pass --var region=VALUE" in refused.stderr
    given = devkit(["run", "region"], cwd=tmp_path, env={"DEPLOY_REGION": "eu"})
    assert output_lines(given.stdout, "[region] region=") == ["eu"]


def test_an_env_variable_for_a_list_is_read_in_flow_style(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(ENV_RECIPE)
    result = devkit(["run", "hosts"], cwd=tmp_path, env={"DEPLOY_HOSTS": "[a, b]"})
    assert output_lines(result.stdout, "[hosts] host=") == ["a", "b"]
    refused = devkit(["run", "hosts"], cwd=tmp_path, env={"DEPLOY_HOSTS": "a"})
    assert refused.returncode == 2
    assert "environment variable DEPLOY_HOSTS: hosts is a list" in refused.stderr


def test_an_env_definition_is_checked_like_every_other_mapping(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Runner
) -> None:
    recipe("vars:\n  b: {env: BRANCH, defualt: main}\n  c: {env: 1x}\ntasks:\n  a: [echo]\n")
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:2:20: unknown key 'defualt'" in result.stderr
    assert "did you mean 'default'?" in result.stderr
    assert "devkit.yaml:3:12: expected an environment variable name, got '1x'" in result.stderr
