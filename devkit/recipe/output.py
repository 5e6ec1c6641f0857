"""Everything a run shows: each line goes, masked, to the RunObserver and, with a
timestamp, to the optional --log file, one writer at a time (parallel tasks share
them). Core code: nothing here prints; the observer decides how a line looks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from devkit.recipe.mask import LineSplitter, Masker
from devkit.recipe.options import RunObserver
from devkit.recipe.report import StepRecord, TaskRecord

_MARKS = {"ok": "✓", "planned": "·", "skipped": "-"}


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


class Output:
    def __init__(self, observer: RunObserver, masker: Masker, log: TextIO | None) -> None:
        self.observer = observer
        self.masker = masker
        self.log = log
        self._lock = threading.RLock()

    def log_line(self, task: str | None, text: str) -> None:
        """A line for the log only (a check's output)."""
        if self.log is None:
            return
        stamp = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        prefix = f"[{task}] " if task else ""
        text = self.masker.text(text).replace("\n", "\n    ")
        with self._lock:
            self.log.write(f"{stamp} {prefix}{text}\n")
            self.log.flush()

    def note(self, task: str | None, text: str) -> None:
        text = self.masker.text(text)
        with self._lock:
            self.log_line(task, text)
            self.observer.note(task, text)

    def output(self, task: str, line: str) -> None:
        """A line of a step's output, already masked (by its LineStream)."""
        with self._lock:
            self.log_line(task, f"| {line}")
            self.observer.output(task, line)

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

    def lines(self, emit: Callable[[str], None]) -> LineStream:
        return LineStream(self.masker, emit)


class LineStream:
    """A process's output bytes in, masked complete lines out to `emit`; a secret split
    across two reads is still masked, and a partial line waits for its end."""

    def __init__(self, masker: Masker, emit: Callable[[str], None]) -> None:
        self._stream = masker.stream()
        self._lines = LineSplitter()
        self._emit = emit

    def feed(self, data: bytes) -> None:
        for line in self._lines.feed(self._stream.feed(data)):
            self._emit(line)

    def idle(self) -> None:
        """A prompt or a progress line without a newline: show it after a pause."""
        if self._lines.partial and not self._stream.pending:
            for line in self._lines.flush():
                self._emit(line)

    def close(self) -> None:
        for line in self._lines.feed(self._stream.flush()) + self._lines.flush():
            self._emit(line)


__all__ = ["LineStream", "Output", "fmt_seconds"]
