"""How `devkit run` lays out its lines for a terminal, a pipe or a log, and what
NO_COLOR and FORCE_COLOR change (colour only, never the layout)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.terminal import TerminalRun

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
# Foreground colours (30-37, 90-97) and rich's 256/true-colour forms.
COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-7]|9[0-7]|38;[25];[0-9;]+)m")
RECIPE = """\
tasks:
  greet:
    steps:
      - name: say hello
        run: echo hello
"""


SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def no_colour_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite sets NO_COLOR for every test; these tests choose for themselves."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    (tmp_path / "devkit.yaml").write_text(RECIPE)
    return tmp_path


def plain_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def test_piped_output_stamps_only_the_step_lines(recipe: Path) -> None:
    result = run_devkit(["run"], cwd=recipe, env=plain_env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "▶ greet"
    assert STAMP.match(lines[1]) and lines[1].endswith("  • say hello")
    assert lines[2] == "    hello"  # the step's own output, untouched
    assert STAMP.match(lines[3]) and "✓ say hello" in lines[3]
    assert "[greet]" not in result.stdout  # one task at a time needs no tag


def test_timestamps_flag_stamps_every_run_line(recipe: Path) -> None:
    result = run_devkit(["run", "--timestamps"], cwd=recipe, env=plain_env())
    assert result.returncode == 0, result.stderr
    run_lines = result.stdout.splitlines()[:4]
    assert all(STAMP.match(line) for line in run_lines), run_lines
    assert run_lines[2].endswith("    hello")


def test_parallel_tasks_tag_their_lines(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text(
        "tasks:\n  a: [echo from-a]\n  b: [echo from-b]\n"
        "  all:\n    needs: [a, b]\n    parallel: true\n    steps: [echo done]\n"
    )
    result = run_devkit(["run", "all"], cwd=tmp_path, env=plain_env())
    assert result.returncode == 0, result.stderr
    assert "    [a] from-a" in result.stdout.splitlines()
    assert "    [b] from-b" in result.stdout.splitlines()


def test_no_color_on_a_terminal_keeps_the_terminal_layout(recipe: Path) -> None:
    exit_code, screen = TerminalRun(["run"], cwd=recipe, env=plain_env(NO_COLOR="1")).finish()
    text = screen.decode()
    assert exit_code == 0, text
    assert "hello" in text
    assert not COLOUR.search(text)
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text)  # no pipe timestamps


def test_a_terminal_is_coloured_by_default(recipe: Path) -> None:
    exit_code, screen = TerminalRun(["run"], cwd=recipe, env=plain_env()).finish()
    assert exit_code == 0
    assert COLOUR.search(screen.decode())


def test_force_color_colours_a_pipe_and_keeps_its_layout(recipe: Path) -> None:
    result = run_devkit(["run"], cwd=recipe, env=plain_env(FORCE_COLOR="1"))
    assert result.returncode == 0, result.stderr
    assert COLOUR.search(result.stdout)
    lines = SGR.sub("", result.stdout).splitlines()
    assert any(STAMP.match(line) and "say hello" in line for line in lines)
    assert "\x1b[?25l" not in result.stdout  # no spinner: nothing redraws in a pipe


def test_no_color_beats_force_color(recipe: Path) -> None:
    result = run_devkit(["run"], cwd=recipe, env=plain_env(FORCE_COLOR="1", NO_COLOR="1"))
    assert result.returncode == 0, result.stderr
    assert not COLOUR.search(result.stdout)


def test_no_color_keeps_rich_help_on_a_terminal(tmp_path: Path) -> None:
    exit_code, screen = TerminalRun(
        ["sync", "--help"], cwd=tmp_path, env=plain_env(NO_COLOR="1")
    ).finish()
    text = screen.decode()
    assert exit_code == 0
    assert "╭─ Options" in SGR.sub("", text)  # the same panels as with colour
    assert not COLOUR.search(text)


def test_terminal_help_skips_markdown_and_syntax_highlighting(tmp_path: Path) -> None:
    """Typer's rich help imports rich.markdown and rich.traceback, which bring
    markdown_it and pygments (half the time of a terminal --help); devkit never uses
    them, and a later import still gets the real modules."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        "from devkit.__main__ import main\n"
        "main(['sync', '--help'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('markdown_it', 'pygments'))\n"
        "import rich.markdown\n"
        "real = hasattr(rich.markdown, 'MarkdownContext')\n"
        "print('PROBE', heavy, real)\n"
    )
    run = TerminalRun([], cwd=tmp_path, env=plain_env(), argv=[sys.executable, str(probe)])
    exit_code, screen = run.finish()
    text = SGR.sub("", screen.decode())
    assert exit_code == 0, text
    assert "╭─ Options" in text
    assert "PROBE [] True" in text
