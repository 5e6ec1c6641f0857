"""Decompressing readers for gz, bz2, xz, zst and raw lzma streams."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from devkit.archive.errors import ArchiveCorrupt

STREAM_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
)


def open_decompressed(raw: IO[bytes], compression: str) -> IO[bytes]:
    """A binary stream of the decompressed content of `raw` (concatenated members too)."""
    if compression == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "bz2":
        return bz2.BZ2File(raw, "rb")
    if compression == "xz":
        return lzma.LZMAFile(raw, "rb", format=lzma.FORMAT_XZ)
    if compression == "lzma":
        return lzma.LZMAFile(raw, "rb", format=lzma.FORMAT_ALONE)
    if compression == "zst":
        import zstandard

        reader: Any = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return reader  # type: ignore[no-any-return]
    raise ValueError(compression)


class CountingFile:
    """The compressed file, reporting how far it has been read (progress of streams)."""

    def __init__(self, raw: IO[bytes], on_progress: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_progress = on_progress

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        if self._on_progress is not None and data:
            self._on_progress(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if self._on_progress is not None and count:
            self._on_progress(count)
        return int(count or 0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return self._raw.closed


def is_stream_error(error: BaseException) -> bool:
    return isinstance(error, STREAM_ERRORS) or type(error).__name__.startswith("Zstd")


def corrupt(path: Path, error: BaseException) -> ArchiveCorrupt:
    return ArchiveCorrupt(
        f"{path.name} is damaged or truncated: {error}",
        hint="check the download (size, checksum) and try again",
        details={"archive": str(path)},
    )


class GuardedStream:
    """Wraps a decompressing stream: any decoding failure becomes ArchiveCorrupt, so
    that errors of the writer (a full disk) are never mistaken for a bad archive."""

    def __init__(self, stream: Any, path: Path) -> None:
        self._stream = stream
        self._path = path

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except Exception as error:
            raise corrupt(self._path, error) from error
        return data

    def close(self) -> None:
        self._stream.close()
