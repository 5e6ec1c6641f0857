"""Task locks (`lock:`): an exclusive flock on a file, held until every process of
the task is gone.

The lock's descriptor is passed to every process the task starts (steps, `if:` and
`requires:` checks, and the processes of tasks it runs with `task:` steps), so the
open file that holds the flock is shared by devkit and all of them. The kernel
releases the flock only when the last of them closes it: devkit closing its copy at
the end of the task releases nothing while a step's leftover still runs, and after
devkit is SIGKILLed the lock stays held until the last process of the task exits.
Nothing ever unlocks explicitly (LOCK_UN would release it for every holder).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from devkit.errors import DevkitError, Interrupted, OperationFailed
from devkit.recipe import signals
from devkit.recipe.context import TaskFailure, TaskFrame


@contextlib.contextmanager
def task_lock(frame: TaskFrame) -> Iterator[tuple[int, ...]]:
    """Hold the task's lock, if it has one; the descriptors its processes inherit."""
    lock = frame.task.lock
    if lock is None or frame.run.options.dry_run:
        yield ()
        return
    path = frame.path(frame.render(lock.path))
    try:
        stream = acquire(
            path,
            wait=lock.wait,
            interrupted=signals.interrupted,
            on_wait=lambda text: frame.run.out.note(frame.name, text),
        )
    except Interrupted:
        raise TaskFailure("interrupted", signals.exit_code(), interrupted=True) from None
    except DevkitError as error:
        raise TaskFailure(error.message, int(error.exit_code), hint=error.hint) from None
    with stream:
        yield (stream.fileno(),)


def acquire(
    path: Path,
    *,
    wait: float,
    interrupted: Callable[[], bool],
    on_wait: Callable[[str], None],
) -> IO[str]:
    """The open lock file, flocked; wait up to `wait` seconds for another holder.
    Raises OperationFailed (held) or Interrupted (a signal arrived while waiting)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    stream: IO[str] = path.open("a+", encoding="utf-8")
    try:
        deadline = time.monotonic() + wait
        announced = False
        while True:
            try:
                fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if time.monotonic() >= deadline:
                    raise OperationFailed(
                        f"lock {path} is held by another run{holder}",
                        code="locked",
                        hint="wait for the other run to finish, or give the lock a 'wait:'",
                    ) from None
                if not announced:
                    on_wait(f"waiting for lock {path}{holder}")
                    announced = True
                if interrupted():
                    raise Interrupted() from None
                time.sleep(0.1)
        stream.seek(0)
        stream.truncate()
        stream.write(f"{os.getpid()}\n")
        stream.flush()
    except BaseException:
        stream.close()
        raise
    return stream


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        pid = int(path.read_text(encoding="utf-8").strip() or "0")
        if pid:
            return f" (pid {pid})"
    return ""


__all__ = ["acquire", "task_lock"]
