"""A first Ctrl-C at a terminal says that devkit is stopping and how to force it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.proctools import wait_until
from tests.terminal import TerminalRun

RECIPE = """\
tasks:
  slow:
    steps:
      - run: |
          trap 'exit 0' INT
          touch {marker}
          while :; do sleep 0.05; done
"""


def test_first_ctrl_c_at_a_terminal_announces_the_stop(tmp_path: Path) -> None:
    marker = tmp_path / "started-stopnotice"
    recipe = tmp_path / "devkit.yaml"
    recipe.write_text(RECIPE.format(marker=marker))
    run = TerminalRun(["run", str(recipe)], cwd=tmp_path)
    wait_until(marker.exists, timeout=30)
    os.kill(run.process.pid, signal.SIGINT)
    exit_code, screen = run.finish()
    assert exit_code == 130
    assert b"devkit: stopping (Ctrl-C again to force)" in screen


def test_no_notice_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    marker = tmp_path / "started-stopnotice-pipe"
    recipe = tmp_path / "devkit.yaml"
    recipe.write_text(RECIPE.format(marker=marker))
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "run", str(recipe)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        start_new_session=True,
    )
    wait_until(marker.exists, timeout=30)
    os.kill(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert b"again to force" not in stderr
