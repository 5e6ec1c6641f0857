"""Up-to-date state with real devkit processes: concurrent writers keep every entry, a
folder that cannot hold state is a warning (never a failed run), and a task whose
commands, variables or environment changed is not up to date."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.proctools import wait_until
from tests.recipe.conftest import devkit

ROOT = Path(__file__).resolve().parents[2]


def _statuses(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return {task["name"]: task["status"] for task in json.loads(result.stdout)["data"]["tasks"]}


def _parallel_tasks(names: list[str], group: str, step: str) -> list[str]:
    lines = [f"  {group}:", "    parallel: true", f"    needs: [{', '.join(names)}]"]
    lines.append("    steps: [echo all]")
    for name in names:
        lines += [f"  {name}:", "    sources: [input.txt]", f"    steps: ['{step}']"]
    return lines


def test_twelve_parallel_tasks_with_sources_all_keep_their_state(
    recipe: Callable[..., Path], tmp_path: Path
) -> None:
    # Before: every task wrote the same `.tmp` name; the renames raced, exit 3.
    (tmp_path / "input.txt").write_text("v1")
    names = [f"t{i}" for i in range(12)]
    recipe("\n".join(["tasks:", *_parallel_tasks(names, "all", "true"), "default: all", ""]))
    first = devkit(["run", "--json"], cwd=tmp_path)
    assert set(_statuses(first).values()) == {"ok"}
    second = _statuses(devkit(["run", "--json"], cwd=tmp_path))
    assert [second[name] for name in names] == ["up_to_date"] * 12
    leftovers = [p.name for p in (tmp_path / ".devkit").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_two_devkit_processes_keep_each_others_state(
    recipe: Callable[..., Path], tmp_path: Path
) -> None:
    """Two processes, disjoint tasks of one recipe, all finishing at the same moment:
    each task marks that it started and waits for `go`, which the test creates once
    all twelve have started."""
    (tmp_path / "input.txt").write_text("v1")
    step = "touch started-$RANDOM$$; while [ ! -e go ]; do sleep 0.01; done"
    groups = {"left": [f"a{i}" for i in range(6)], "right": [f"b{i}" for i in range(6)]}
    lines = ["tasks:"]
    for group, names in groups.items():
        lines += _parallel_tasks(names, group, step)
    recipe("\n".join([*lines, ""]))
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "devkit", "run", group],
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for group in groups
    ]
    try:
        assert wait_until(lambda: len(list(tmp_path.glob("started-*"))) == 12, 60)
        (tmp_path / "go").touch()
        for process in processes:
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr
    finally:
        for process in processes:
            process.kill()
    state = json.loads((tmp_path / ".devkit" / "recipe-devkit.yaml.json").read_text())
    assert sorted(state) == sorted([*groups["left"], *groups["right"]])


def test_devkit_being_a_file_is_a_warning_and_state_falls_back(
    recipe: Callable[..., Path], tmp_path: Path
) -> None:
    (tmp_path / "input.txt").write_text("v1")
    (tmp_path / ".devkit").write_text("not a folder")
    recipe("tasks:\n  build:\n    sources: [input.txt]\n    steps: [echo built >> count]\n")
    state_home = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state_home)}
    first = devkit(["run", "--json"], cwd=tmp_path, env=env)
    assert _statuses(first) == {"build": "ok"}
    assert "cannot keep up-to-date state" in first.stderr
    assert f"kept in {state_home}/devkit/" in first.stderr
    assert "Traceback" not in first.stderr
    second = devkit(["run", "--json"], cwd=tmp_path, env=env)
    assert _statuses(second) == {"build": "up_to_date"}
    assert (tmp_path / "count").read_text() == "built\n"
    assert (tmp_path / ".devkit").read_text() == "not a folder"


def test_no_writable_state_anywhere_is_only_a_warning(
    recipe: Callable[..., Path], tmp_path: Path
) -> None:
    (tmp_path / "input.txt").write_text("v1")
    (tmp_path / ".devkit").write_text("not a folder")
    (tmp_path / "state").write_text("not a folder either")
    recipe("tasks:\n  build:\n    sources: [input.txt]\n    steps: [echo built >> count]\n")
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    for _ in range(2):
        result = devkit(["run", "--json"], cwd=tmp_path, env=env)
        assert _statuses(result) == {"build": "ok"}
        assert "the task will run again next time" in result.stderr
    assert (tmp_path / "count").read_text() == "built\nbuilt\n"


@pytest.fixture
def world_folder() -> Iterator[Path]:
    """A folder outside root's private tmp, which an unprivileged user can reach."""
    folder = Path(tempfile.mkdtemp(prefix="devkit-state-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_a_read_only_recipe_folder_keeps_state_in_xdg_state_home(world_folder: Path) -> None:
    # Root ignores file modes: run devkit as 'nobody', for whom the folder is read-only.
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run([*as_nobody, sys.executable, "-c", ""], capture_output=True).returncode:
        pytest.skip("the test's Python cannot run as an unprivileged user")
    project = world_folder / "project"
    project.mkdir(mode=0o755)
    (project / "input.txt").write_text("v1")
    (project / "devkit.yaml").write_text(
        "tasks:\n  build:\n    sources: [input.txt]\n    steps: [echo built]\n"
    )
    state_home = world_folder / "state"
    state_home.mkdir()
    state_home.chmod(0o777)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(state_home))
    env["XDG_STATE_HOME"] = str(state_home)
    command = [*as_nobody, sys.executable, "-m", "devkit", "run", "--json"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=project, env=env, capture_output=True, text=True, timeout=60
        )

    first = run()
    assert _statuses(first) == {"build": "ok"}, first.stderr
    assert "Permission denied" in first.stderr and "kept in" in first.stderr
    assert not (project / ".devkit").exists()
    assert _statuses(run()) == {"build": "up_to_date"}


FINGERPRINTED = """\
vars:
  level: "1"
tasks:
  build:
    sources: [input.txt]
    steps:
      - echo "level {{ level }} $MODE {{ run_dir }}" >> runs.txt
"""


def test_a_var_a_command_or_an_environment_value_makes_a_task_run_again(
    recipe: Callable[..., Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    (tmp_path / "input.txt").write_text("v1")
    recipe(FINGERPRINTED)

    def status(*args: str, env: dict[str, str] | None = None) -> str:
        result = devkit_here(["run", "--json", *args], cwd=tmp_path, env=env)
        return _statuses(result)["build"]

    assert status(env={"MODE": "fast"}) == "ok"
    # run_dir is new on every run: it does not make the task stale by itself.
    assert status() == "up_to_date"
    assert status("--var", "level=9") == "ok"  # before: skipped as up to date
    assert status("--var", "level=9") == "up_to_date"
    assert status() == "ok"  # back to level 1: that is not what ran last
    assert status(env={"MODE": "slow"}) == "ok"  # $MODE in the command changed
    assert status() == "up_to_date"
    recipe(FINGERPRINTED.replace("echo", "echo changed"))
    assert status() == "ok"  # the command itself changed
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    assert [line.split()[:3] for line in runs] == [
        ["level", "1", "fast"],
        ["level", "9", "fast"],
        ["level", "1", "fast"],
        ["level", "1", "slow"],
        ["changed", "level", "1"],
    ]


def test_deploy_yaml_and_deploy_yml_keep_separate_state(
    recipe: Callable[..., Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    (tmp_path / "input.txt").write_text("v1")
    text = "tasks:\n  build:\n    sources: [input.txt]\n    steps: [echo {name} >> runs.txt]\n"
    recipe(text.format(name="yaml"), "deploy.yaml")
    recipe(text.format(name="yml"), "deploy.yml")
    for name in ("deploy.yaml", "deploy.yml"):
        result = devkit_here(["run", name, "--json"], cwd=tmp_path)
        assert _statuses(result) == {"build": "ok"}
    assert (tmp_path / "runs.txt").read_text() == "yaml\nyml\n"
