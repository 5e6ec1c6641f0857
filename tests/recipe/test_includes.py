"""Issue 9, section 6: `includes:` of other recipe files, with namespaced tasks."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

from tests.recipe.conftest import devkit, task_output

Runner = Callable[..., subprocess.CompletedProcess[str]]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def shown(stdout: str, task: str) -> list[str]:
    return task_output(stdout, task)


def test_included_tasks_run_namespaced_in_their_own_folder(tmp_path: Path) -> None:
    root = write(
        tmp_path / "devkit.yaml",
        """\
        vars:
          dest: root-dest
        includes:
          db: ops/db.yaml
        tasks:
          all:
            needs: [db:backup]
            steps:
              - run: printf 'all %s\\n' {{ dest }}
        """,
    )
    write(
        tmp_path / "ops" / "db.yaml",
        """\
        secrets: [DB_PASSWORD]
        dotenv: [db.env]
        vars:
          dest: "{{ recipe_dir }}/dumps"
          here: {sh: pwd}
        env:
          DB_NAME: app
        includes:
          nested: nested/more.yaml
        tasks:
          dump:
            - id: size
              run: echo 42
          backup:
            args: [{name: label, default: nightly}]
            needs: [dump, nested:hello]
            steps:
              - run: >-
                  printf 'dest=%s cwd=%s sh=%s db=%s@%s size=%s label=%s pw=%s\\n'
                  {{ dest }} "$PWD" {{ here }} "$DB_NAME" "$DB_HOST" {{ steps.size.stdout }}
                  {{ label }} "$DB_PASSWORD"
              - task: dump
        """,
    )
    write(tmp_path / "ops" / "nested" / "more.yaml", "tasks:\n  hello: [pwd]\n")
    write(tmp_path / "ops" / "db.env", "DB_HOST=dbhost\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"DB_PASSWORD": "hunter2"}
    result = devkit(["run", str(root), "all"], cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    ops = tmp_path / "ops"
    assert shown(result.stdout, "db:backup") == [
        f"dest={ops}/dumps cwd={ops} sh={ops} db=app@dbhost size=42 label=nightly pw=***"
    ]
    assert shown(result.stdout, "db:nested:hello") == [str(ops / "nested")]
    assert shown(result.stdout, "all") == ["all root-dest"]

    result = devkit(
        ["run", str(root), "db:backup", "weekly", "--var", "dest=/cli"], cwd=elsewhere, env=env
    )
    assert result.returncode == 0, result.stderr
    assert shown(result.stdout, "db:backup")[0].startswith("dest=/cli ")
    assert shown(result.stdout, "db:backup")[0].endswith("label=weekly pw=***")

    listed = devkit(["run", str(root), "--list", "--json"], cwd=elsewhere, env=env)
    names = [task["name"] for task in json.loads(listed.stdout)["data"]["tasks"]]
    assert names == ["all", "db:dump", "db:backup", "db:nested:hello"]


def test_problems_in_included_files_name_those_files(tmp_path: Path, devkit_here: Runner) -> None:
    write(
        tmp_path / "devkit.yaml",
        """\
        includes:
          db: db/tasks.yaml
          web: web.yaml
          gone: nope.yaml
        tasks:
          all:
            needs: [db:bakup]
            steps:
              - run: echo {{ steps.size.stdout }}
        """,
    )
    write(
        tmp_path / "db" / "tasks.yaml",
        """\
        includes:
          up: ../devkit.yaml
        tasks:
          backup:
            - id: size
              run: echo {{ undefined }}
        """,
    )
    write(tmp_path / "web.yaml", "tasks:\n  a: [{run: echo, bogus: 1}]\n")
    result = devkit_here(["run", "--check", "--json"], cwd=tmp_path)
    assert result.returncode == 2
    found = {
        (d["file"], d["line"], d["col"], d["message"])
        for d in json.loads(result.stdout)["data"]["diagnostics"]
    }
    assert found == {
        ("db/tasks.yaml", 2, 7, "include cycle: devkit.yaml -> tasks.yaml -> devkit.yaml"),
        ("db/tasks.yaml", 6, 17, "undefined variable 'undefined'"),
        ("devkit.yaml", 4, 9, f"included recipe not found: {tmp_path / 'nope.yaml'}"),
        (
            "devkit.yaml",
            7,
            13,
            "unknown task 'db:bakup' in 'needs' of task 'all'; did you mean 'db:backup'?",
        ),
        ("devkit.yaml", 9, 19, "unknown step id 'size'"),  # step ids stay in their file
        ("web.yaml", 2, 19, "unknown key 'bogus' in a run step"),
    }


def test_an_included_files_timeout_applies_to_its_tasks(tmp_path: Path) -> None:
    write(tmp_path / "devkit.yaml", "includes:\n  slow: slow.yaml\ntasks:\n  a: [echo]\n")
    write(tmp_path / "slow.yaml", "timeout: 300ms\ntasks:\n  wait: [sleep 20]\n")
    result = devkit(["run", "slow:wait", "--json"], cwd=tmp_path, timeout=30)
    assert result.returncode != 0
    assert json.loads(result.stdout)["errors"][0]["details"]["timed_out"] is True
