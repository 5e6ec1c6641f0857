"""A step's output for later steps: a `run:` step with `id: build` keeps its standard
output, and `{{ steps.build.stdout }}` is that text (trailing newlines stripped, like
`$(...)`). The step's output is still shown as it comes; stderr is shown, not kept.

Output is kept up to MAX_BYTES: a value that large belongs in a file, and a step
that prints more makes any later use of it an error rather than a truncated value.
Validation (validate.py) makes sure a reference names a step that runs before it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from devkit.recipe.vartypes import ValueShapeError

MAX_BYTES = 1024 * 1024


@dataclass
class Capture:
    """The stdout of one run of a step, as it comes (and passed on to `show`)."""

    show: Callable[[bytes], None]
    kept: bytearray
    overflow: bool = False

    def feed(self, data: bytes) -> None:
        if not self.overflow:
            if len(self.kept) + len(data) > MAX_BYTES:
                self.overflow = True
                self.kept.clear()
            else:
                self.kept.extend(data)
        self.show(data)


class StepOutputs:
    """The outputs of a run's steps with an `id`, by id (each step runs at most once
    per run: its task does). In a dry run nothing runs and a use shows a stand-in."""

    def __init__(self, *, dry_run: bool) -> None:
        self.dry_run = dry_run
        self._outputs: dict[str, Capture] = {}
        self._lock = threading.Lock()

    def capture(self, step_id: str, show: Callable[[bytes], None]) -> Capture:
        """Start keeping a step's stdout (a retry starts again)."""
        capture = Capture(show, bytearray())
        with self._lock:
            self._outputs[step_id] = capture
        return capture

    def stdout(self, step_id: str, label: str) -> str:
        if self.dry_run:
            return f"<stdout of step {step_id!r}>"
        with self._lock:
            capture = self._outputs.get(step_id)
        if capture is None:
            raise ValueShapeError(
                label, f"{{{{ {label} }}}}: step {step_id!r} has not run (skipped or failed)"
            )
        if capture.overflow:
            raise ValueShapeError(
                label,
                f"{{{{ {label} }}}}: step {step_id!r} printed more than"
                f" {MAX_BYTES // (1024 * 1024)} MiB; write large output to a file instead",
            )
        return bytes(capture.kept).decode("utf-8", "surrogateescape").rstrip("\n")


__all__ = ["MAX_BYTES", "Capture", "StepOutputs"]
