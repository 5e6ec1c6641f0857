"""Compressed tars and files decoded by the native tool (`xz -dc -T0`, `zstd -dc`) in a
decoder process of its own, when it is on PATH.

Why: Python's lzma decodes on one thread where `xz -T0` decodes the blocks of a
multi-block stream in parallel (GNU `tar -xJf` runs exactly that); zstd's own CLI
decodes with less CPU and half the memory of the zstandard module fed in small
pieces. gzip and bzip2 stay in Python: measured with bench/extract.py's data, zlib
in devkit's decoding thread takes half the CPU of `gzip -dc` (whose inflate is its
own, slower one), and `bzip2 -dc` is the same libbz2 as Python's bz2 plus a pipe.
The decoder reads the archive file itself (its stdin is the file), so no compressed
byte passes through Python; how far it has read is the file offset the two processes
share, which gives the progress of the stream.

The verdict stays Python's: a decoder that exits with anything but 0 (a truncated or
damaged stream), or a stream that ends early for the tar parser, raises
`NativeStreamFailed`; the caller then decodes the archive again with the strict
Python decoders (formats.compressed.StrictStream), which decide what is damage and say
so in their own words. A damaged archive costs a second pass; an intact one is
decoded once, by the faster tool.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from devkit.archive.decoders import Decoder, Decoders

READ_SIZE = 1024 * 1024

# The tool and its arguments per compression: decompress to stdout, nothing else.
# xz (>= 5.4) decodes the blocks of a multi-block stream (xz -T, pixz) on every core
# with -T0, but only as many at once as fit in 64 MiB: a stream of big blocks (xz -9
# -T: 95 MB with two threads) decodes on one thread, in the memory Python's lzma
# would take (40 MB), within devkit's 100 MB target. An xz without these options
# exits at once, and the Python pass decodes the archive.
NATIVE_DECODERS: dict[str, tuple[str, ...]] = {
    "xz": ("xz", "-dc", "-T0", "--memlimit-mt-decompress=64MiB"),
    "zst": ("zstd", "-dcq"),
}


class NativeStreamFailed(Exception):
    """The native decoder did not vouch for every byte: decode again in Python."""


def native_command(compression: str | None, decoders: Decoders) -> list[str] | None:
    """The command that decodes `compression` on this machine, or None (no such tool
    on the caller's PATH, or a compression only the Python decoders handle)."""
    if compression is None:
        return None
    spec = NATIVE_DECODERS.get(compression)
    if spec is None:
        return None
    found = decoders.which(spec[0])
    return [found, *spec[1:]] if found else None


class NativeStream:
    """The decoded bytes of one compressed file, read from the native decoder's output
    in blocks (`get`). A context manager: leaving it stops the decoder's group."""

    def __init__(
        self,
        path: Path,
        command: list[str],
        decoders: Decoders,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self._file = path.open("rb")
        self._on_progress = on_progress
        self._reported = 0
        try:
            self._decoder: Decoder = decoders.start(
                command,
                name=Path(command[0]).name,
                stdin=self._file.fileno(),
                stderr=subprocess.DEVNULL,
            )
        except OSError as error:  # not runnable after all: the Python decoders will do
            self._file.close()
            raise NativeStreamFailed(str(error)) from error

    def get(self) -> bytes | None:
        """The next block of decoded data; None at the end of the decoder's output."""
        data = self._decoder.read_some(READ_SIZE)
        self._report()
        return data or None

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes of decoded data (a single compressed file's content)."""
        return self._decoder.read_some(size if size > 0 else READ_SIZE)

    def _report(self) -> None:
        if self._on_progress is None:
            return
        with contextlib.suppress(OSError):
            position = os.lseek(self._file.fileno(), 0, os.SEEK_CUR)
            if position > self._reported:
                self._on_progress(position - self._reported)
                self._reported = position

    def finish(self) -> None:
        """After the output ended: the decoder must have exited with 0."""
        code = self._decoder.finish()
        if code != 0:
            raise NativeStreamFailed(f"{self._decoder.name} exited with {code}")

    def __enter__(self) -> NativeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._decoder.close()
            self._decoder.__exit__(*exc)
        finally:
            self._file.close()
