"""Members cut from one decoder's output stream (`7zz e -so`), for the 7z and RAR
readers: each member is the next `size` bytes; a stream that ends early is damage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from devkit.archive.formats.compressed import corrupt
from devkit.archive.writer import CHUNK

# Sees every byte of a member as it passes (a checksum), or nothing.
OnData = Callable[[bytes], object] | None


class DecodedStream(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def read_some(self, size: int, /) -> bytes: ...

    def start_read_ahead(self) -> None: ...

    def end_read_ahead(self) -> None: ...


def ended_early(path: Path, label: str) -> Exception:
    return corrupt(path, EOFError(f"{label} data ended early"))


class MemberSlice:
    """One member's part of the stream, read by the writer in pieces."""

    def __init__(
        self, stream: DecodedStream, size: int, path: Path, label: str, on_data: OnData = None
    ) -> None:
        self._stream = stream
        self._path = path
        self._label = label
        self._on_data = on_data
        self.left = size
        if size > CHUNK:
            # Reading the pipe ahead overlaps the checksum and the write of megabytes.
            stream.start_read_ahead()

    def read(self, size: int = -1, /) -> bytes:
        if not self.left:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self._stream.read_some(want)
        if not data:
            raise ended_early(self._path, self._label)
        self.left -= len(data)
        if not self.left:
            self._stream.end_read_ahead()
        if self._on_data is not None:
            self._on_data(data)
        return data


def read_exactly(stream: DecodedStream, size: int, path: Path, label: str) -> bytes:
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise ended_early(path, label)
    return data


def discard(
    stream: DecodedStream, size: int, path: Path, label: str, on_data: OnData = None
) -> None:
    """Read past a member that is not written (skipped, refused, an old version)."""
    if size > CHUNK:
        stream.start_read_ahead()
    while size:
        data = stream.read_some(min(size, CHUNK))
        if not data:
            raise ended_early(path, label)
        if on_data is not None:
            on_data(data)
        size -= len(data)
    stream.end_read_ahead()
