"""Secrets this process has learned stay out of everything it prints.

Masking each message where it is built leaks whatever path nobody thought of: the
`item` of a JSON record, an OSError raised from deep inside with a secret-derived path
in its text (the exit-3 line), a DEVKIT_DEBUG traceback. So the recipe runner registers
its masker here once, and the console applies every registered mask to every line, error
and JSON document it writes: one place at the output boundary, whatever code path made
the text. This is process-wide on purpose (a secret known to any part of the run is a
secret for all output); `scope()` in main() forgets the masks when the invocation ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

Mask = Callable[[str], str]

_masks: tuple[Mask, ...] = ()
_lock = threading.Lock()


def mask_everywhere(mask: Mask) -> None:
    """From now until the invocation ends, every text devkit prints passes `mask`."""
    global _masks
    with _lock:
        _masks = (*_masks, mask)


def active() -> bool:
    return bool(_masks)


def redact(text: str) -> str:
    for mask in _masks:
        text = mask(text)
    return text


def redact_data(value: Any) -> Any:
    """JSON-shaped data with every string (keys included) redacted; before
    serialisation, since json.dumps would escape a secret's quotes, newlines and
    non-ASCII characters into a form no mask matches."""
    if not _masks:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(key): redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))  # what json.dumps(default=str) would write


@contextlib.contextmanager
def scope() -> Iterator[None]:
    """One invocation: the masks registered inside are forgotten at its end (an
    in-process caller's next invocation has secrets of its own)."""
    global _masks
    saved = _masks
    try:
        yield
    finally:
        with _lock:
            _masks = saved


__all__ = ["active", "mask_everywhere", "redact", "redact_data", "scope"]
