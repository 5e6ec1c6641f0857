"""devkit's half of the file maker (file_maker.py is the other): small files created
by a second process while devkit reads and checks the next members.

On a tmpfs, creating a small file (open, write, utime, close) costs as much as all
of devkit's reading and checking of its member, and a thread cannot overlap the two
(the GIL hand-offs around each short system call cost more than they save). A
process can: devkit keeps every check and all the bookkeeping, and hands the maker
batches of files to create, each at a path new to the tree in a folder devkit made.
A batch for which the pipe has no room is created by devkit itself, so the two
processes share the work by how fast each goes (bench/extract.py: plain tar on
/dev/shm 0.29 s -> 0.23 s, GNU tar 0.19 s).

Whoever touches a path the maker may not have created yet (an earlier member that a
later one replaces, the target of a hard link, the folders' modes at the end) first
calls `sync`, which returns once every file sent is made, or raises the maker's first
failure as the OSError devkit would have met itself.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import subprocess
import sys
from collections.abc import Callable

from devkit import process
from devkit.archive import file_maker
from devkit.archive.file_maker import (
    CHMOD_FLAG,
    FRAME,
    HAS_MTIME_FLAG,
    REQUEST,
    failure_error,
    make_files,
)

# Files are sent in batches of about this many bytes: a few hundred small files.
BATCH_BYTES = 256 * 1024
# The requests pipe is widened to this (Linux's limit for unprivileged users).
PIPE_BYTES = 1024 * 1024
_F_SETPIPE_SZ = 1031
_DEFAULT_PIPE_BYTES = 65536
# How often a wait for the maker looks at signals.
SIGNAL_CHECK_MS = 100
# A maker that does not exit this long after its input ended is stopped.
EXIT_WAIT_SECONDS = 5.0


class FileMaker:
    """A running file maker. `start` it, `create` files, then `close` it (every file
    made, or the first failure raised); on any other way out, `abort` it."""

    def __init__(self, child: process.Child, signals_at_start: int) -> None:
        self._child = child
        self._signals_at_start = signals_at_start
        proc = child.proc
        assert proc.stdin is not None and proc.stdout is not None
        self._requests = proc.stdin.fileno()
        self._answers = proc.stdout.fileno()
        self._pipe_bytes = _DEFAULT_PIPE_BYTES
        self._queued = _queued_reader()
        with contextlib.suppress(OSError):
            import fcntl

            self._pipe_bytes = fcntl.fcntl(self._requests, _F_SETPIPE_SZ, PIPE_BYTES)
        # A few batches must fit in the pipe, or every one would be made here.
        self._batch_bytes = min(BATCH_BYTES, self._pipe_bytes // 4)
        self._batch = bytearray()
        self._ended = False  # its input closed, or it ended on its own
        self._stopped = False
        # Until the maker says it runs (b"R"), devkit makes every batch itself: a maker
        # still starting up (~15 ms) must not hold up an archive that ends meanwhile.
        self._is_ready = False
        self._answer_poll = select.poll()
        self._answer_poll.register(self._answers, select.POLLIN | select.POLLHUP | select.POLLERR)

    @classmethod
    def start(cls, signals_at_start: int) -> FileMaker | None:
        """A new maker, or None when no process can be started (devkit then creates
        every file itself, as it would without one)."""
        script = file_maker.__file__
        frozen = getattr(sys, "frozen", False)
        if frozen or not sys.executable or not script or not os.path.isfile(script):
            return None  # no interpreter to run a script with, or no script file
        try:
            child = process.Child(
                [sys.executable, "-I", "-S", script],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                grace=1.0,
            )
        except OSError:
            return None
        return cls(child, signals_at_start)

    def create(
        self, full_path: str, data: memoryview, mode: int, mtime: float | None, *, chmod: bool
    ) -> None:
        """Create a file at `full_path` (new, in an existing folder), now or later."""
        path = os.fsencode(full_path)
        flags = mode | (CHMOD_FLAG if chmod else 0) | (0 if mtime is None else HAS_MTIME_FLAG)
        batch = self._batch
        batch += FRAME.pack(len(path), flags, mtime or 0.0, len(data))
        batch += path
        batch += data
        if len(batch) >= self._batch_bytes:
            self._send()

    def _send(self) -> None:
        batch, self._batch = self._batch, bytearray()
        if not batch:
            return
        if not self.ready() or self.room() < len(batch) + REQUEST.size:
            # The maker is still starting or behind: this batch is quicker made here.
            make_files(memoryview(batch))
            return
        self._write(REQUEST.pack(b"B", len(batch)))
        self._write(batch)

    def ready(self) -> bool:
        """Whether the maker runs and takes batches (False while it starts up, and for
        good if it ended before that: devkit then makes every file itself)."""
        if not self._is_ready and not self._ended and self._answer_poll.poll(0):
            answer = os.read(self._answers, 1)
            self._is_ready = answer == b"R"
            self._ended = not self._is_ready
        return self._is_ready

    def room(self) -> int:
        """How many bytes the requests pipe can take without waiting for the maker."""
        return self._pipe_bytes - self._queued(self._requests)

    def _write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._requests, view) :]
        except BrokenPipeError:
            raise self._failure() from None

    def sync(self) -> None:
        """Return once every file created so far is made; raise the first failure."""
        self._send()
        if not self._is_ready:
            return  # nothing was sent: devkit made every file itself
        self._write(REQUEST.pack(b"S", 0))
        answer = self._read(1)
        if answer != b"K":
            raise self._failure(answer)

    def _read(self, size: int) -> bytes:
        """`size` bytes of answers (fewer if the maker exited), with signal checks."""
        data = b""
        while len(data) < size:
            process.raise_if_interrupted(self._signals_at_start)
            if not self._answer_poll.poll(SIGNAL_CHECK_MS):
                continue
            more = os.read(self._answers, size - len(data))
            if not more:
                break
            data += more
        return data

    def _failure(self, answer: bytes | None = None) -> OSError:
        """What stopped the maker: its own failure, or its unexpected end."""
        if answer is None:
            answer = self._read(1)
        if answer == b"E":
            head = self._read(REQUEST.size - 1)
            if len(head) == REQUEST.size - 1:
                _, length = REQUEST.unpack(b"E" + head)
                return failure_error(self._read(length))
        process.raise_if_interrupted(self._signals_at_start)
        try:  # its pipes are closed: it has exited or is about to
            code: int | None = self._child.proc.wait(timeout=EXIT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        how = f" (exit status {code})" if code is not None and code >= 0 else ""
        if code is not None and code < 0:
            how = f" (signal {-code})"
        return OSError(errno.EIO, f"the file maker process stopped unexpectedly{how}")

    def close(self) -> None:
        """Every file made (or the first failure raised), and the maker gone."""
        self.sync()
        if self._is_ready:
            proc = self._child.proc
            assert proc.stdin is not None
            proc.stdin.close()  # the end of its input: it exits
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=EXIT_WAIT_SECONDS)
        # One still starting has nothing to do: no need to wait for its start-up.
        self.abort()

    def abort(self) -> None:
        """Stop the maker now, whatever it was doing (it leaves no process behind; the
        files it made are the caller's to remove). Nothing to do after `close`."""
        if not self._stopped:
            self._ended = self._stopped = True
            self._child.__exit__(None, None, None)


def _queued_reader() -> Callable[[int], int]:
    """A function giving how many bytes wait in a pipe (0 where it cannot be read,
    so that every batch goes to the maker)."""
    try:
        import fcntl
        import termios

        request = termios.FIONREAD
    except (ImportError, AttributeError):
        return lambda fd: 0
    buffer = bytearray(4)

    def queued(fd: int) -> int:
        try:
            fcntl.ioctl(fd, request, buffer)
        except OSError:
            return 0
        return int.from_bytes(buffer, sys.byteorder)

    return queued
