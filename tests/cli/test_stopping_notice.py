"""A first Ctrl-C at a terminal says that devkit is stopping and how to force it."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.proctools import wait_until

RECIPE = """\
tasks:
  slow:
    steps:
      - run: |
          trap 'exit 0' INT
          touch {marker}
          while :; do sleep 0.05; done
"""


def read_until_exit(master: int, process: subprocess.Popen[bytes], limit: float) -> bytes:
    output = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal is gone
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    return output


def test_first_ctrl_c_at_a_terminal_announces_the_stop(tmp_path: Path) -> None:
    marker = tmp_path / "started-stopnotice"
    recipe = tmp_path / "devkit.yaml"
    recipe.write_text(RECIPE.format(marker=marker))
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "run", str(recipe)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        start_new_session=True,
    )
    os.close(slave)
    try:
        wait_until(marker.exists, timeout=30)
        os.kill(process.pid, signal.SIGINT)
        output = read_until_exit(master, process, limit=30)
        assert process.wait(timeout=30) == 130
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    assert b"devkit: stopping (Ctrl-C again to force)" in output


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
