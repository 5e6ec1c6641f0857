"""Shell completion through the protocols bash, zsh and fish speak, in real processes.

bash is on every machine the suite runs on, so its script is also sourced into a real
bash and driven the way the shell drives it; zsh and fish get their protocol (the
environment variables their scripts set) checked directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clirun import run_devkit

RECIPE = """\
tasks:
  build:
    desc: Build the wheel
    steps: [{run: echo built}]
  deploy:
    steps: [{run: pwd}]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "devkit.yaml").write_text(RECIPE)
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    return tmp_path


def complete_bash(words: str, cwd: Path) -> list[str]:
    """What `devkit` answers when bash asks it to complete the last word of `words`."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_DEVKIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = run_devkit([], cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.split()


def test_bash_completes_commands_and_options(project: Path) -> None:
    assert complete_bash("devkit sy", project) == ["sync"]
    assert complete_bash("devkit ", project) == [
        "run",
        "extract",
        "init",
        "stage",
        "commit",
        "sync",
        "conflicts",
        "undo",
        "fleet",
        "config",
        "man",
    ]
    assert "--mode" in complete_bash("devkit sync --mo", project)
    assert "--max-bytes" in complete_bash("devkit extract --max", project)


def test_run_completes_task_names_of_the_nearest_recipe(project: Path) -> None:
    deep = project / "src" / "pkg"
    assert complete_bash("devkit run ", deep) == ["build", "deploy"]
    assert complete_bash("devkit run d", deep) == ["deploy"]
    assert complete_bash("devkit run build ", deep) == ["build", "deploy"]


def test_run_completes_the_tasks_of_a_named_recipe(tmp_path: Path) -> None:
    (tmp_path / "ops.yml").write_text(RECIPE.replace("deploy", "rollback"))
    assert complete_bash("devkit run ops.yml ", tmp_path) == ["build", "rollback"]
    # Without a recipe here or above, the recipe files of the folder are offered.
    assert complete_bash("devkit run o", tmp_path) == ["ops.yml"]


def test_completion_of_a_broken_recipe_offers_nothing(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text("tasks: [unclosed\n")
    assert complete_bash("devkit run ", tmp_path) == ["devkit.yaml"]


def test_zsh_and_fish_protocols(project: Path) -> None:
    zsh = run_devkit(
        [],
        cwd=project,
        env={"_DEVKIT_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "devkit run b"},
    )
    assert zsh.returncode == 0, zsh.stderr
    assert '"build":"Build the wheel"' in zsh.stdout
    assert "deploy" not in zsh.stdout
    fish = run_devkit(
        [],
        cwd=project,
        env={
            "_DEVKIT_COMPLETE": "complete_fish",
            "_TYPER_COMPLETE_ARGS": "devkit run ",
            "_TYPER_COMPLETE_FISH_ACTION": "get-args",
        },
    )
    assert fish.returncode == 0, fish.stderr
    assert fish.stdout.splitlines()[:2] == ["build\tBuild the wheel", "deploy"]


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o default -F _devkit_completion devkit"),
        ("zsh", "compdef _devkit_completion devkit"),
        ("fish", "complete --command devkit"),
    ],
)
def test_show_completion_prints_each_shells_script(shell: str, marker: str) -> None:
    # Typer's switch to name the shell instead of detecting the one devkit runs in.
    result = run_devkit(
        ["--show-completion", shell], env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    )
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout


def test_the_bash_script_completes_inside_a_real_bash(project: Path) -> None:
    # Run from bash, devkit detects it as the shell to complete for.
    script = subprocess.run(
        # `; true` keeps bash as devkit's parent (a lone command would be exec'd).
        ["bash", "-c", f"{sys.executable!s} -m devkit --show-completion; true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    driver = (
        script
        + "\nCOMP_WORDS=(devkit run de); COMP_CWORD=2; _devkit_completion devkit"
        + '\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", driver],
        cwd=project / "src",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["deploy"]


def test_install_completion_writes_to_the_users_bash_setup(tmp_path: Path) -> None:
    result = run_devkit(
        ["--install-completion", "bash"],
        env={"HOME": str(tmp_path), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
    )
    assert result.returncode == 0, result.stderr
    bashrc = (tmp_path / ".bashrc").read_text()
    assert ".bash_completions/devkit.sh" in bashrc
    assert "_devkit_completion" in (tmp_path / ".bash_completions" / "devkit.sh").read_text()


def test_run_without_a_recipe_uses_the_nearest_one_above(project: Path) -> None:
    result = run_devkit(["run", "deploy"], cwd=project / "src" / "pkg")
    assert result.returncode == 0, result.stderr
    # Steps run in the recipe's folder, wherever devkit was started.
    assert str(project) in result.stdout.split()


def test_run_without_any_recipe_says_where_it_looked(tmp_path: Path) -> None:
    result = run_devkit(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert "recipe not found" in result.stderr
    assert "parent" in result.stderr
