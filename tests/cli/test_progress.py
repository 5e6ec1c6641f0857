"""Progress bars count what the command works on: repositories for sync."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.gitrepos import make_remote


def test_sync_progress_counts_repositories_not_bytes(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "net")
    repos = [str(remote.clone(name)) for name in ("one", "two")]
    master, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "sync", "--mode", "ff-only", *repos],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: devkit has exited and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout, _ = process.communicate(timeout=60)
    os.close(master)
    assert process.returncode == 0, stdout
    terminal = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert re.search(r"syncing .* [0-2]/2 repositories", terminal), terminal
    assert "B/s" not in terminal and "bytes" not in terminal
    assert "syncing" not in stdout.decode()  # the bar stays on stderr
