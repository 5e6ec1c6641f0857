"""Running devkit on a real pseudo-terminal, as a person at a terminal runs it."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class TerminalRun:
    """`python -m devkit ARGS` (or `argv` as given) with a pseudo-terminal as stdin,
    stdout and stderr."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        argv: Sequence[str] | None = None,
    ) -> None:
        self._master, slave = os.openpty()
        self.process = subprocess.Popen(
            list(argv) if argv is not None else [sys.executable, "-m", "devkit", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        os.close(slave)

    def type(self, text: str) -> None:
        """Keys typed at the terminal (they wait in its input until devkit reads)."""
        os.write(self._master, text.encode())

    def finish(self, timeout: float = 60) -> tuple[int, bytes]:
        """Read the screen until devkit exits: (exit code, every byte it wrote)."""
        output = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([self._master], [], [], 0.1)
                if ready:
                    try:
                        chunk = os.read(self._master, 65536)
                    except OSError:  # EIO: every holder of the terminal is gone
                        break
                    if not chunk:
                        break
                    output += chunk
                elif self.process.poll() is not None:
                    break
            return self.process.wait(timeout=max(1.0, deadline - time.monotonic())), output
        finally:
            os.close(self._master)
            if self.process.poll() is None:
                self.process.kill()
