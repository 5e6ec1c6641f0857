"""Step labels and confirm: questions show the values a person must judge, with
secrets masked, not the placeholders."""

from __future__ import annotations

import os
from pathlib import Path

from tests.clirun import run_devkit
from tests.terminal import TerminalRun

RECIPE = """\
vars:
  target: /srv/app one
secrets: [TOKEN]
tasks:
  deploy:
    confirm: "Deploy to {{ target }} with {{ env.TOKEN }}?"
    steps:
      - run: echo "{{ target }}" {{ env.TOKEN }}
      - for: [web, worker]
        run: echo restart {{ item }}
      - extract: "{{ target }}/missing.tar.gz"
        to: out
"""


def test_step_lines_show_values_and_mask_secrets(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text(RECIPE)
    result = run_devkit(["run", "-y"], cwd=tmp_path, env={"TOKEN": "tok-123456"})
    lines = result.stdout.splitlines()
    assert any(line.endswith('• echo "/srv/app one" ***') for line in lines), lines
    assert any(line.endswith("• echo restart web") for line in lines), lines
    assert any(line.endswith("• extract: /srv/app one/missing.tar.gz") for line in lines)
    assert "{{" not in result.stdout + result.stderr
    assert "tok-123456" not in result.stdout + result.stderr


def test_the_confirm_question_shows_values(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text(RECIPE)
    run = TerminalRun(["run"], cwd=tmp_path, env={**os.environ, "TOKEN": "tok-123456"})
    run.type("n\n")
    exit_code, screen = run.finish()
    text = screen.decode(errors="replace")
    assert exit_code == 1, text
    assert "Deploy to /srv/app one with ***? [y/N]" in text
    assert "tok-123456" not in text
