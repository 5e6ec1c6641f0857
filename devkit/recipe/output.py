"""Everything a run shows: each line goes, masked, to the RunObserver and, with a
timestamp, to the optional --log file, one writer at a time (parallel tasks share
them). A step's output streams through in blocks and pieces (LineStream), in constant
memory. Core code: nothing here prints; the observer decides how a line looks."""

from __future__ import annotations

import codecs
import collections
import contextlib
import functools
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from devkit.recipe.mask import Masker
from devkit.recipe.options import RunObserver
from devkit.recipe.report import StepRecord, TaskRecord

_MARKS = {"ok": "✓", "planned": "·", "skipped": "-"}
# A line longer than this (in characters) is passed on in pieces: memory stays flat
# whatever a step writes without a newline.
LINE_PIECE = 64 * 1024
# Output beyond this many bytes from one step makes devkit tune the allocator.
BULK_OUTPUT = 4 << 20
# A failed step's last output lines, in its record (the error's `output_tail`), each
# cut to TAIL_LINE_CHARS: enough to see why, small whatever the step printed.
TAIL_LINES = 20
TAIL_LINE_CHARS = 4096


@functools.cache
def keep_freed_memory() -> None:
    """Stop glibc from handing freed memory back to the kernel at once.

    Streaming allocates and frees blocks of 64-100 KiB many times a second; by default
    glibc gives the top of the heap back (brk) whenever more than 128 KiB is free, and
    the next block faults the same pages in again: a third of devkit's CPU time on a
    big output went to those page faults. Keeping up to 32 MiB (and serving blocks
    under 4 MiB from the heap) leaves peak memory where it was. Elsewhere (musl,
    macOS) this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        m_trim_threshold, m_mmap_threshold = -1, -3
        mallopt(m_trim_threshold, 32 << 20)
        mallopt(m_mmap_threshold, 4 << 20)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


class Output:
    def __init__(self, observer: RunObserver, masker: Masker, log: TextIO | None) -> None:
        self.observer = observer
        self.masker = masker
        self.log = log
        self._lock = threading.RLock()
        self._log_open: str | None = None  # the task whose output line the log left open
        # Each task's last output lines (its running step's), and whether the last
        # one is unfinished (a long line arrives in pieces).
        self._tails: dict[str, tuple[collections.deque[str], list[bool]]] = {}

    def log_line(self, task: str | None, text: str) -> None:
        """A line for the log only (a check's output)."""
        if self.log is None:
            return
        stamp = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        prefix = f"[{task}] " if task else ""
        text = self.masker.text(text).replace("\n", "\n    ")
        with self._lock:
            self.log.write(f"{self._close_log_line()}{stamp} {prefix}{text}\n")
            self.log.flush()

    def _close_log_line(self) -> str:
        """The newline that ends a step's unfinished output line before other text."""
        if self._log_open is None:
            return ""
        self._log_open = None
        return "\n"

    def _log_output(self, task: str, text: str, end: bool, mark: str = "| ") -> None:
        """Output in the log: each line stamped and marked `[task] | ` (a check's
        output `[task]   `); a piece of a long line continues the line the previous
        piece began."""
        if self.log is None:
            return
        with self._lock:
            head = f"{datetime.now():%Y-%m-%dT%H:%M:%S} [{task}] {mark}"
            start = "" if self._log_open == task else self._close_log_line() + head
            self.log.write(start + text.replace("\n", "\n" + head) + ("\n" if end else ""))
            self.log.flush()
            self._log_open = None if end else task

    def note(self, task: str | None, text: str) -> None:
        text = self.masker.text(text)
        with self._lock:
            self.log_line(task, text)
            self.observer.note(task, text)

    def output(self, task: str, text: str, *, end: bool = True) -> None:
        """Lines of a step's output (or, with `end` False, the start of a line that the
        next call continues), already masked by its LineStream."""
        with self._lock:
            self._log_output(task, text, end)
            self._keep_tail(task, text, end)
            self.observer.output(task, text, end=end)

    def _keep_tail(self, task: str, text: str, end: bool) -> None:
        lines, state = self._tails.setdefault(task, (collections.deque(maxlen=TAIL_LINES), [False]))
        pieces = text.rsplit("\n", TAIL_LINES)  # only the end of a big block is read
        if state[0] and lines:  # the previous piece's line goes on
            lines[-1] = (lines[-1] + pieces.pop(0))[:TAIL_LINE_CHARS]
        lines.extend(piece[:TAIL_LINE_CHARS] for piece in pieces)
        state[0] = not end

    def tail(self, task: str) -> tuple[str, ...]:
        """The last output lines (masked) of the step `task` runs or last ran."""
        with self._lock:
            kept = self._tails.get(task)
            return tuple(kept[0]) if kept else ()

    def task_started(self, task: str) -> None:
        with self._lock:
            self.log_line(task, "task started")
            self.observer.task_started(task)

    def task_finished(self, record: TaskRecord) -> None:
        with self._lock:
            self.log_line(
                record.name,
                f"task {record.status}" + (f": {record.message}" if record.message else ""),
            )
            self.observer.task_finished(record)

    def step_started(self, task: str, label: str, command: str) -> None:
        with self._lock:
            self._tails.pop(task, None)
            self.log_line(task, f"▶ {label}: {command}")
            self.observer.step_started(task, label)

    def step_finished(self, record: StepRecord) -> None:
        mark = _MARKS.get(record.status, "✗")
        with self._lock:
            self.log_line(
                record.task,
                f"{mark} {record.name} {record.status} "
                f"(exit {record.exit_code}, {fmt_seconds(record.duration)})"
                + (f": {record.message}" if record.message else ""),
            )
            self.observer.step_finished(record)

    def confirm(self, question: str) -> bool:
        with self._lock:
            return self.observer.confirm(self.masker.text(question))

    def lines(self, task: str) -> LineStream:
        """A stream of a step's output bytes into `output` for `task`."""
        return LineStream(self.masker, lambda text, end: self.output(task, text, end=end))

    def check_lines(self, task: str) -> LineStream:
        """A stream of a check's output bytes into the log only."""
        return LineStream(self.masker, lambda text, end: self._log_output(task, text, end, "  "))


class LineStream:
    """A process's output bytes in, masked text out to `emit(text, end)`, in constant
    memory whatever the line length.

    Each chunk's complete lines go out together, as one text (without its last newline,
    `end` True): a per-line call would cap throughput at a few MB/s. A line longer than
    LINE_PIECE characters is passed on in pieces (`end` False: the line goes on in the
    next call), and so is an unfinished line after a pause (a prompt). Masking happens on
    the bytes, before decoding, so a secret split across reads is still found."""

    def __init__(self, masker: Masker, emit: Callable[[str, bool], None]) -> None:
        self._stream = masker.stream()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._emit = emit
        self._partial: list[str] = []  # the unfinished line, in pieces
        self._partial_length = 0
        self._open = False  # a piece of the current line has gone out
        self._volume = 0

    def feed(self, data: bytes) -> None:
        self._volume += len(data)
        if self._volume > BULK_OUTPUT:
            keep_freed_memory()
        self._take(self._decoder.decode(self._stream.feed(data)))

    def idle(self) -> None:
        """A prompt or a progress line without a newline: show it after a pause."""
        self._take(self._decoder.decode(self._stream.release()))
        self._send_partial()

    def close(self) -> None:
        self._take(self._decoder.decode(self._stream.flush(), final=True))
        if self._partial or self._open:
            self._send("".join(self._partial), True)
            self._partial, self._partial_length = [], 0

    def _take(self, text: str) -> None:
        if not text:
            return
        last = text.rfind("\n")
        if last == -1:
            self._partial.append(text)
            self._partial_length += len(text)
        else:
            self._send("".join(self._partial) + text[:last], True)
            rest = text[last + 1 :]
            self._partial, self._partial_length = ([rest], len(rest)) if rest else ([], 0)
        if self._partial_length >= LINE_PIECE:
            self._send_partial()

    def _send_partial(self) -> None:
        if self._partial:
            self._send("".join(self._partial), False)
            self._partial, self._partial_length = [], 0

    def _send(self, text: str, end: bool) -> None:
        self._open = not end
        self._emit(text, end)


__all__ = ["LineStream", "Output", "fmt_seconds"]
