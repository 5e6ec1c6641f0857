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


class TrailingData(ValueError):
    """Something other than another member or zero padding follows a member's end."""


def damage_errors() -> tuple[type[BaseException], ...]:
    """What reading a damaged compressed stream raises, and nothing else: a devkit bug
    (a TypeError, an IndexError) must stay an internal error, never "damaged archive".
    bz2 reports bad data as OSError, which reading the file raises too."""
    import zstandard

    return (*STREAM_ERRORS, OSError, TrailingData, zstandard.ZstdError)


# Compressed input handed to a decoder per call. zstd's decoder has no output limit,
# so its input is fed in small pieces: one KiB expands to at most ~32 MiB.
INPUT_SIZE = 64 * 1024
ZSTD_INPUT_SIZE = 1024
_MAGIC = {"gz": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00", "zst": b"\x28\xb5\x2f\xfd"}


class TruncatedStream(EOFError):
    pass


def open_decompressed(raw: IO[bytes], compression: str) -> IO[bytes]:
    """A binary stream of the decompressed content of `raw` (concatenated members too)
    that fails unless every member ends where its format says (end marker, checksum,
    length) and nothing but zero padding follows the last one."""
    if compression not in ("gz", "bz2", "xz", "lzma", "zst"):
        raise ValueError(compression)
    return StrictStream(raw, compression)  # type: ignore[return-value]


def _new_decoder(compression: str) -> Any:
    if compression == "gz":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if compression == "bz2":
        return bz2.BZ2Decompressor()
    if compression == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if compression == "lzma":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


class StrictStream:
    """Decodes one compressed file member after member with the codecs' incremental
    decoders (Python's GzipFile, BZ2File and LZMAFile ignore what follows a member,
    and zstandard's stream reader takes a cut frame for a short one)."""

    def __init__(self, raw: IO[bytes], compression: str) -> None:
        self._raw = raw
        self._compression = compression
        self._decoder: Any = _new_decoder(compression)
        self._input = b""  # read from raw; from _input_pos on not yet decoded
        self._input_pos = 0
        self._raw_done = False
        self._output = b""  # decoded; from _output_pos on not yet returned
        self._output_pos = 0
        self._finished = False

    # -- input -------------------------------------------------------------------------

    def _more_input(self) -> bool:
        if self._raw_done:
            return False
        data = self._raw.read(INPUT_SIZE)
        if not data:
            self._raw_done = True
            return False
        self._input = self._input[self._input_pos :] + data
        self._input_pos = 0
        return True

    def _take_input(self, size: int) -> bytes:
        if self._input_pos >= len(self._input):
            self._input, self._input_pos = b"", 0
            self._more_input()
        start = self._input_pos
        self._input_pos = min(len(self._input), start + size)
        if start == 0 and self._input_pos == len(self._input):
            return self._input
        return self._input[start : self._input_pos]

    # -- decoding ----------------------------------------------------------------------

    def _decode(self, limit: int) -> bytes:
        """Some output (b"" when the decoder needed input it got, or a member ended)."""
        decoder = self._decoder
        if self._compression == "gz":
            data = decoder.unconsumed_tail or self._take_input(INPUT_SIZE)
            if not data:
                raise TruncatedStream("compressed data ends in the middle of a member")
            return decoder.decompress(data, limit)  # type: ignore[no-any-return]
        if self._compression == "zst":
            return self._decode_zstd(limit)
        data = b""
        if decoder.needs_input:
            data = self._take_input(INPUT_SIZE)
            if not data:
                raise TruncatedStream("compressed data ends in the middle of a member")
        return decoder.decompress(data, limit)  # type: ignore[no-any-return]

    def _decode_zstd(self, limit: int) -> bytes:
        """Up to about `limit` bytes of zstd output. Input still goes in one KiB at a
        time (the bound on each call's output), but the pieces are gathered up to
        `limit` or the frame's end: handing a reader a KiB at a time made tar.zst
        several times slower than tar.gz (bench/extract.py)."""
        decoder = self._decoder
        pieces: list[bytes] = []
        total = 0
        while total < limit and not decoder.eof:
            data = self._take_input(ZSTD_INPUT_SIZE)
            if not data:
                if pieces:
                    break  # the next call reports the cut
                raise TruncatedStream("compressed data ends in the middle of a frame")
            piece = decoder.decompress(data)
            pieces.append(piece)
            total += len(piece)
        return b"".join(pieces)

    def _next_member(self) -> None:
        """After a member's end: another member, zero padding up to the end, or an error."""
        self._input = self._decoder.unused_data + self._input[self._input_pos :]
        self._input_pos = 0
        while True:
            stripped = self._input.lstrip(b"\0")
            if stripped:
                break
            self._input = b""
            if not self._more_input():
                self._finished = True
                return
        magic = _MAGIC.get(self._compression)
        while magic and len(stripped) < len(magic) and self._more_input():
            stripped = self._input.lstrip(b"\0")
        if magic is None or not stripped.startswith(magic):
            raise TrailingData("unexpected data after the end of the compressed stream")
        self._input = stripped
        self._decoder = _new_decoder(self._compression)

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            pieces = []
            while piece := self.read(INPUT_SIZE * 16):
                pieces.append(piece)
            return b"".join(pieces)
        while self._output_pos >= len(self._output) and not self._finished and size:
            self._output, self._output_pos = self._decode(size), 0
            if self._decoder.eof:
                self._next_member()
        start = self._output_pos
        self._output_pos = min(len(self._output), start + size)
        if start == 0 and self._output_pos == len(self._output):
            return self._output
        return self._output[start : self._output_pos]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> StrictStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def corrupt(path: Path, error: BaseException) -> ArchiveCorrupt:
    return ArchiveCorrupt(
        f"{path.name} is damaged or truncated: {error}",
        hint="check the download (size, checksum) and try again",
        details={"archive": str(path)},
    )


class GuardedStream:
    """Wraps a decompressing stream: a decoding failure becomes ArchiveCorrupt, so that
    errors of the writer (a full disk) are never mistaken for a bad archive."""

    def __init__(self, stream: Any, path: Path) -> None:
        self._stream = stream
        self._path = path

    def read(self, size: int = -1, /) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except damage_errors() as error:
            raise corrupt(self._path, error) from error
        return data

    def close(self) -> None:
        self._stream.close()
