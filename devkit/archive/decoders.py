"""The decoder processes of one extraction (7zz for 7z data, the RAR backend).

Each decoder starts through devkit.process: it leads its own process group, a signal
to devkit reaches the group, leaving a block stops the whole group, and a guard stops
it if devkit is SIGKILLed. Its output is read here with two watches no plain pipe read
has: the stall limit (DEVKIT_TOOL_TIMEOUT seconds without a byte: the group is
stopped and DecoderStalled says so) and signals (an extraction in a worker thread,
where the signal handler cannot raise, stops with InterruptSignal all the same).

While a big member is read, the output is read ahead in a thread (ReadAhead): the
pipe is drained while devkit checksums and writes the previous megabytes, so the
decoder waits less on a full pipe and devkit less on an empty one when a core is
free. The thread only reads; every check stays with the reader of the Decoder.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO, Any

from devkit import process
from devkit.archive.errors import DecoderStalled, PasswordError
from devkit.archive.tools import Tool, rar_tool, rar_tool_to_try, sevenzip_tool, stall_timeout

# A decoder that ignores SIGTERM gets SIGKILL this much later.
DECODER_GRACE = 2.0
# How often a wait for output looks at signals (a worker thread has no other way).
SIGNAL_CHECK_SECONDS = 0.1
READ_SIZE = 1024 * 1024
# How many pieces of output the read-ahead thread may hold before it waits for the
# reader: with the pipe's megabyte, at most ~5 MiB in flight per decoder.
READ_AHEAD_PIECES = 4
# Linux: a larger pipe means fewer wake-ups per megabyte of decoded data.
_F_SETPIPE_SZ = 1031
# A password line must fit in a pipe's buffer (64 KiB on Linux; POSIX promises 4 KiB)
# so that it is written before the decoder starts and the write can never block.
MAX_PASSWORD_BYTES = 4000


def password_input(password: str) -> int:
    """The read end of a pipe that holds `password` as one line: the decoder's stdin.

    A password is never put on a command line (`-p<password>`), because every user of
    the machine can read /proc/*/cmdline. 7-Zip reads the password from stdin when no
    -p is given and stdin is not a terminal (checked with 7zz 26.03); a pipe whose write
    end is already closed holds it for exactly that one read and leaves no file behind.
    """
    line = password.encode("utf-8") + b"\n"
    if "\n" in password or "\r" in password or len(line) > MAX_PASSWORD_BYTES:
        raise PasswordError(
            "the password contains a line break or is longer than"
            f" {MAX_PASSWORD_BYTES - 1} bytes, so it cannot be handed to the decoder",
            code="bad_password",
            hint="use a password of one line",
        )
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, line)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end


class Decoders:
    """Where one extraction finds its decoders and how it runs them: the caller's
    environment (PATH, DEVKIT_7ZZ, DEVKIT_RAR_TOOLS, DEVKIT_TOOL_TIMEOUT; also the
    decoders' own environment) and the signal count when the extraction started."""

    def __init__(self, env: Mapping[str, str], *, signals_at_start: int) -> None:
        self.env = dict(env)
        self.signals_at_start = signals_at_start
        self.stall_timeout = stall_timeout(self.env)

    def sevenzip(self) -> str | None:
        return sevenzip_tool(self.env)

    def which(self, name: str) -> str | None:
        """A program on the caller's PATH (a native stream decoder), or None."""
        return shutil.which(name, path=self.env.get("PATH", os.defpath))

    def rar(self, *, needs_password: bool = False) -> Tool | None:
        return rar_tool(self.env, needs_password=needs_password)

    def rar_to_try(self) -> str | None:
        """The 7-Zip to start a RAR decoder on while its check runs (rar_tool_to_try)."""
        return rar_tool_to_try(self.env)

    def raise_if_interrupted(self) -> None:
        process.raise_if_interrupted(self.signals_at_start)

    def start(
        self,
        argv: Sequence[str],
        *,
        name: str,
        stderr: int | IO[Any] = subprocess.STDOUT,
        password: str | None = None,
        stdin: int | None = None,
    ) -> Decoder:
        """Start a decoder whose stdout is read through the returned Decoder (a context
        manager: leaving it stops whatever is left of the process group). A `password`
        reaches it on stdin (see password_input), never in `argv`; without one, `stdin`
        (a descriptor the caller keeps open and closes) is its input, or nothing."""
        self.raise_if_interrupted()
        if password is not None:
            stdin = password_input(password)
        elif stdin is None:
            stdin = subprocess.DEVNULL
        try:
            child = process.Child(
                argv,
                env=self.env,
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=stderr,
                grace=DECODER_GRACE,
            )
        finally:
            if password is not None:
                os.close(stdin)
        return Decoder(child, name=name, decoders=self)


def sevenzip_stream_command(
    tool: str, archive: object, *, password: str | None, type_switch: str | None = None
) -> list[str]:
    """`7zz e -so`: every member of `archive`, decoded in order to stdout, for devkit to
    split; `type_switch` names the format (-trar5) where 7zz should not guess it."""
    command = [tool, "e", "-so", "-bd", "-bb0", "-y", *([type_switch] if type_switch else [])]
    # Without -p, 7zz reads the password from stdin; "-p" alone means "none".
    command += [] if password is not None else ["-p"]
    return [*command, "--", str(archive)]


# Output pieces (up to a megabyte each) that a decoder started early (DecoderRun) may
# decode ahead while devkit reads and checks an archive's headers: at most 32 MiB.
EARLY_PIECES = 32


class DecoderRun:
    """A decoder started with a file of its own for its messages (so no thread drains
    them, and nothing is left behind), and the command it runs."""

    def __init__(self, decoder: Decoder, messages: IO[bytes], command: list[str]) -> None:
        self.decoder = decoder
        self.messages = messages
        self.command = command

    @classmethod
    def start(
        cls, decoders: Decoders, command: list[str], *, name: str, password: str | None
    ) -> DecoderRun:
        """Start `command` (OSError when it cannot run)."""
        import tempfile  # only archives with a decoder: tar's start-up does without

        messages = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the run
        try:
            decoder = decoders.start(command, name=name, stderr=messages, password=password)
        except BaseException:
            messages.close()
            raise
        return cls(decoder, messages, command)

    def read_ahead_early(self) -> None:
        """Take the output in a thread (EARLY_PIECES at most) until the data is read:
        an archive's reader starts its decoder before it reads the headers, so that the
        decoder starts up and decodes on one core while devkit checks the members on
        the other. The pipe alone holds a megabyte, a few milliseconds of decoding."""
        self.decoder.start_read_ahead(pieces=EARLY_PIECES)

    def close(self) -> None:
        """Stop a run whose output was never read (the extraction stopped before it)."""
        try:
            with self.decoder:
                pass
        finally:
            self.messages.close()


class ReadAhead:
    """A thread that moves a decoder's output from the pipe into a short queue of
    pieces (READ_AHEAD_PIECES, one more when it is stopped mid-read), for one reader
    to `take`. The end of the output is an empty piece; a failed read is handed over
    as its exception. `stop` ends the thread at once (a byte on a wake-up pipe ends
    its wait for output) and returns the pieces not taken; it must come before the
    output pipe is closed, so that the thread never reads a reused descriptor."""

    def __init__(self, fd: int, name: str, pieces: int = READ_AHEAD_PIECES) -> None:
        # Non-blocking: the thread waits for output in poll, where `stop` can wake it.
        os.set_blocking(fd, False)
        self._fd = fd
        self._limit = pieces
        self._pieces: deque[bytes | OSError] = deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name=f"read-ahead {name}", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            self._close_wake()
            raise

    def _run(self) -> None:
        fd, pieces, changed = self._fd, self._pieces, self._changed
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        poller.register(self._wake_read, select.POLLIN)
        while True:
            piece: bytes | OSError
            try:
                piece = os.read(fd, READ_SIZE)
            except BlockingIOError:
                if self._stopping:
                    return
                poller.poll()
                continue
            except OSError as error:
                piece = error
            with changed:
                while len(pieces) >= self._limit and not self._stopping:
                    changed.wait()
                # Kept even when stopping: the reader gets every byte read.
                pieces.append(piece)
                changed.notify()
                if self._stopping:
                    return
            if not piece or isinstance(piece, OSError):
                return

    def take(self, timeout: float) -> bytes | None:
        """The next piece (b"" at the end of the output), or None if none came within
        `timeout` seconds; a failed read raises its error here, in the reader's thread."""
        with self._changed:
            if not self._pieces:
                self._changed.wait(timeout)
                if not self._pieces:
                    return None
            piece = self._pieces.popleft()
            self._changed.notify()
        if isinstance(piece, OSError):
            raise piece
        return piece

    def stop(self) -> deque[bytes | OSError]:
        """End the thread; the pieces it read that were not taken, in order."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"!")
        self._thread.join()
        self._close_wake()
        return self._pieces

    def _close_wake(self) -> None:
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)


class Decoder:
    """A running decoder and its output, read with the stall limit and signal checks.

    `read` returns up to `size` bytes, fewer only at the end of the output."""

    def __init__(self, child: process.Child, *, name: str, decoders: Decoders) -> None:
        self.child = child
        self.name = name
        self._decoders = decoders
        stdout = child.proc.stdout
        assert stdout is not None
        self._pipe = stdout
        self._fd = stdout.fileno()
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(self._fd, _F_SETPIPE_SZ, READ_SIZE)
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        self._data = b""
        self._view = memoryview(self._data)  # of _data, for read_view's slices
        self._pos = 0
        self._ahead: ReadAhead | None = None
        # Pieces a stopped read-ahead thread had read and the reader had not taken yet.
        self._read_ahead: deque[bytes | OSError] = deque()
        self.eof = False
        self.closed = False
        self.stalled = False
        # Where the decoder's messages went, when the caller gave it a file of its own.
        self.messages: IO[bytes] | None = None

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.child.proc

    # -- reading -------------------------------------------------------------------------

    def start_read_ahead(self, pieces: int = READ_AHEAD_PIECES) -> None:
        """Read the output ahead in a thread (see ReadAhead) until end_read_ahead: for
        a reader about to stream megabytes, whose checksum and writes then overlap
        the reading. (Not for small members: there the GIL hand-offs cost more.)"""
        if self._ahead is None and not self.eof and not self.closed:
            self._ahead = ReadAhead(self._fd, self.name, pieces)

    def end_read_ahead(self) -> None:
        """Stop the thread; what it read ahead is still read first."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            self._read_ahead.extend(ahead.stop())

    def _next_piece(self) -> bytes:
        """The next piece of output (b"" at its end), waited for with the stall limit
        and signal checks."""
        if self._read_ahead:
            queued = self._read_ahead.popleft()
            if isinstance(queued, OSError):
                raise queued
            return queued
        limit = self._decoders.stall_timeout
        deadline = time.monotonic() + limit
        ahead = self._ahead
        while True:
            if ahead is not None:
                piece = ahead.take(0.0)
                if piece is not None:
                    return piece
            self._decoders.raise_if_interrupted()
            left = deadline - time.monotonic()
            if left <= 0:
                self.stalled = True
                self.child.stop()
                raise DecoderStalled(
                    f"the decoder {self.name} produced no output for {limit:g} s"
                    " (DEVKIT_TOOL_TIMEOUT), so devkit stopped it",
                    hint="raise DEVKIT_TOOL_TIMEOUT (seconds) for very slow archives",
                    details={"decoder": self.name, "timeout": limit},
                )
            wait = min(left, SIGNAL_CHECK_SECONDS)
            if ahead is not None:
                piece = ahead.take(wait)
                if piece is not None:
                    return piece
            elif self._poller.poll(wait * 1000):
                # Non-blocking once a read-ahead thread had it: poll said it is ready.
                with contextlib.suppress(BlockingIOError):
                    return os.read(self._fd, READ_SIZE)

    def _fill(self) -> bool:
        """Read the next piece of output into the buffer; False at its end."""
        if self.eof:
            return False
        more = self._next_piece()
        if not more:
            self.eof = True
            # Output that ends because a signal stopped the decoder is an interruption.
            self._decoders.raise_if_interrupted()
            return False
        self._data = more
        self._view = memoryview(more)
        self._pos = 0
        return True

    def _take(self, limit: int) -> bytes:
        """Up to `limit` bytes (all that is buffered when negative); b"" at the end."""
        if self._pos >= len(self._data) and not self._fill():
            return b""
        start = self._pos
        self._pos = len(self._data) if limit < 0 else min(start + limit, len(self._data))
        return self._data[start : self._pos]

    def read(self, size: int = -1, /) -> bytes:
        pieces = []
        wanted = size
        while wanted:
            piece = self._take(wanted)
            if not piece:
                break
            pieces.append(piece)
            if wanted > 0:
                wanted -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def read_view(self, size: int, /) -> memoryview:
        """`size` bytes (fewer only at the end of the output) as a memoryview: for a
        small member, a slice of the piece in the buffer (immutable bytes, so the
        slice keeps its bytes), with no copy and none of read's list and join."""
        start = self._pos
        stop = start + size
        if stop <= len(self._data):
            self._pos = stop
            return self._view[start:stop]
        return memoryview(self.read(size))

    def read_some(self, size: int, /) -> bytes:
        """Up to `size` bytes, fewer whenever the pipe had fewer (b"" only at the end):
        for streaming copies, which `read` would cost a join of pieces, one copy more."""
        return self._take(size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        piece = self._take(len(view))
        view[: len(piece)] = piece
        return len(piece)

    # -- the end ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the output (a decoder still writing gets SIGPIPE); whatever is left of
        the group is stopped when the block ends."""
        self.closed = True
        self.end_read_ahead()
        with contextlib.suppress(OSError):
            self._pipe.close()

    def finish(self) -> int:
        """Wait for the decoder to exit once its output has ended; its exit status
        (128 + signal when a signal ended it). One that lingers past the stall limit
        is stopped (DecoderStalled)."""
        code = self.proc.poll()
        deadline = time.monotonic() + self._decoders.stall_timeout
        while code is None:
            self._decoders.raise_if_interrupted()
            try:
                code = self.proc.wait(timeout=SIGNAL_CHECK_SECONDS)
            except subprocess.TimeoutExpired:
                if time.monotonic() < deadline:
                    continue
                self.stalled = True
                self.child.stop()
                limit = self._decoders.stall_timeout
                raise DecoderStalled(
                    f"the decoder {self.name} did not exit within {limit:g} s of its output"
                    " ending (DEVKIT_TOOL_TIMEOUT), so devkit stopped it",
                    hint="raise DEVKIT_TOOL_TIMEOUT (seconds) for very slow archives",
                    details={"decoder": self.name},
                ) from None
        return 128 - code if code < 0 else code

    def message_text(self, limit: int = 4096) -> str:
        """What the decoder wrote to its message file (its stderr), if it has one."""
        if self.messages is None:
            return ""
        try:
            self.messages.seek(0)
            return self.messages.read(limit).decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def __enter__(self) -> Decoder:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.end_read_ahead()
            self.child.__exit__(*exc)
        finally:
            if self.messages is not None:
                self.messages.close()
