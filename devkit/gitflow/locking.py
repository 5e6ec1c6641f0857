"""One devkit operation per repository at a time (an advisory lock in the git dir)."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devkit import process
from devkit.errors import OperationFailed

DEFAULT_LOCK_WAIT = 3.0


def lock_wait_seconds(env: Mapping[str, str]) -> float:
    """How long to wait for another devkit in the same repository (DEVKIT_LOCK_WAIT)."""
    try:
        return float(env.get("DEVKIT_LOCK_WAIT", DEFAULT_LOCK_WAIT))
    except ValueError:
        return DEFAULT_LOCK_WAIT


@contextmanager
def repository_lock(common_dir: Path, *, wait: float) -> Iterator[None]:
    """Hold `<git dir>/devkit.lock`; wait up to `wait` seconds for another holder, then
    fail clearly.

    flock locks belong to the open file, so the kernel releases them when a holder
    dies: a crashed devkit never leaves a stale lock behind.
    """
    path = common_dir / "devkit.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OperationFailed(
                        "another devkit sync or undo is running in this repository",
                        code="locked",
                        hint="wait for it to finish, then run the command again",
                    ) from None
                # A worker thread sees an interruption only where it looks for one.
                process.raise_if_interrupted()
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
