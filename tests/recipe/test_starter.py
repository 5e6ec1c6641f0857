"""`devkit run --init`: a starter recipe that validates and runs as written, and whose
commented-out examples validate too once switched on."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.clirun import run_devkit


def test_init_writes_a_runnable_recipe_and_the_schema(tmp_path: Path) -> None:
    result = run_devkit(["run", "--init"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    recipe = (tmp_path / "devkit.yaml").read_text()
    assert recipe.startswith("# yaml-language-server: $schema=.devkit-schema.json\n")
    schema = json.loads((tmp_path / ".devkit-schema.json").read_text())
    assert schema["properties"]["tasks"]
    assert run_devkit(["run", "--check"], cwd=tmp_path).returncode == 0
    ran = run_devkit(["run"], cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert f"hello from {tmp_path}" in ran.stdout
    assert run_devkit(["run", "check"], cwd=tmp_path).returncode == 0


def test_the_commented_examples_are_valid_when_switched_on(tmp_path: Path) -> None:
    assert run_devkit(["run", "--init"], cwd=tmp_path).returncode == 0
    recipe = tmp_path / "devkit.yaml"
    head, tasks = recipe.read_text().split("\ntasks:\n")
    head = re.sub(r"(?m)^# (env:|dotenv:|secrets:|  PYTHONUNBUFFERED:)", r"\1", head)
    tasks = re.sub(r"(?m)^  # ?", "  ", tasks)
    recipe.write_text(head + "\ntasks:\n" + tasks)
    (tmp_path / "deploy.sh").write_text("#!/bin/sh\necho deployed\n")
    result = run_devkit(["run", "--check"], cwd=tmp_path, env={"API_TOKEN": "t0ken-value"})
    assert result.returncode == 0, result.stderr
    assert "6 tasks" in result.stdout


def test_init_never_overwrites_a_recipe(tmp_path: Path) -> None:
    (tmp_path / "devkit.yml").write_text("tasks: {a: [echo mine]}\n")
    result = run_devkit(["run", "--init"], cwd=tmp_path)
    assert result.returncode == 2
    assert "a recipe already exists" in result.stderr
    assert (tmp_path / "devkit.yml").read_text() == "tasks: {a: [echo mine]}\n"
    assert not (tmp_path / "devkit.yaml").exists()
