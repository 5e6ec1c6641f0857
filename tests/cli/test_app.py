from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import typer
import typer.main

from devkit import __version__
from devkit.cli import COMMAND_MODULES, app, command_name
from tests.clirun import invoke, run_devkit

ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("git", "py7zr", "rarfile", "yaml", "rich", "pydantic")


def test_version_in_process_and_as_a_process() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"devkit {__version__}"
    process = run_devkit(["--version"])
    assert process.returncode == 0
    assert process.stdout.strip() == f"devkit {__version__}"


def test_help_works_through_python_dash_m() -> None:
    process = run_devkit(["--help"])
    assert process.returncode == 0
    assert "Usage" in process.stdout
    assert "Exit codes" in process.stdout


def test_unknown_command_is_one_line_and_exit_2() -> None:
    process = run_devkit(["nosuchcommand"])
    assert process.returncode == 2
    assert process.stdout == ""
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "nosuchcommand" in lines[0]
    assert "Traceback" not in process.stderr


def test_unknown_command_with_json_gives_one_envelope() -> None:
    process = run_devkit(["nosuchcommand", "--json"])
    assert process.returncode == 2
    doc = json.loads(process.stdout)
    assert doc["devkit"] == 1
    assert doc["ok"] is False
    assert doc["exit_code"] == 2
    assert doc["errors"][0]["code"] == "usage"


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = (
        "import sys, devkit.cli, devkit.__main__\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(','.join(loaded))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert process.stdout.strip() == "", f"heavy modules imported at start-up: {process.stdout}"


def _all_commands() -> list[tuple[str, str | None]]:
    """(name, help) of every command the root group offers, built the way a user's
    invocation builds them."""
    group = typer.main.get_command(app)
    ctx = group.make_context("devkit", ["--help"], resilient_parsing=True)
    commands = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"'devkit {name}' is listed but cannot be built"
        commands.append((name, command.help))
    return commands


def test_the_lazy_command_table_matches_what_the_modules_register() -> None:
    registered: dict[str, str] = {}
    for module_name in sorted(set(COMMAND_MODULES.values())):
        module = importlib.import_module(f"devkit.cli.{module_name}")
        commands = typer.Typer()
        module.register(commands)
        for info in commands.registered_commands:
            registered[command_name(info)] = module_name
    assert registered == COMMAND_MODULES


def test_running_one_command_builds_only_that_command() -> None:
    code = (
        "import sys\n"
        "from devkit.__main__ import main\n"
        "main(['stage', '--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('devkit.cli.')), file=sys.stderr)\n"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # examples: the help epilogs every built command gets (one small table).
    assert process.stderr.strip() == (
        "['devkit.cli.common', 'devkit.cli.examples', 'devkit.cli.git']"
    )


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, help_text in _all_commands():
        assert help_text and str(help_text).strip(), f"'devkit {name}' has no help text"
        assert f"devkit {name}" in readme, f"'devkit {name}' is missing from README.md"


def test_every_command_help_runs() -> None:
    for name, _ in _all_commands():
        result = invoke([*name.split(), "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_readme_documents_every_exit_code() -> None:
    from devkit.errors import ExitCode

    readme = (ROOT / "README.md").read_text()
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, f"exit code {int(code)} missing from README table"
