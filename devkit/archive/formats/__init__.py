"""One module per format family. Each opens an archive and drives a TreeWriter."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from devkit.archive.decoders import Decoders
from devkit.archive.detect import Detected
from devkit.archive.model import Entry
from devkit.archive.writer import TreeWriter


class ArchiveReader(Protocol):
    format: str

    def listing(self) -> list[Entry] | None:
        """Members known before any data is read (None for streamed formats: tar)."""

    def members(self) -> list[Entry]:
        """All members (reads a streamed archive once)."""

    def packed_size(self) -> int:
        """Bytes of the archive on disk, every volume counted (for the ratio cap)."""

    def extract(self, writer: TreeWriter) -> None:
        """Feed every member in archive order to the writer."""

    def close(self) -> None: ...


def open_reader(
    detected: Detected,
    path: Path,
    *,
    password: str | None,
    decoders: Decoders,
    extracting: bool = False,
) -> ArchiveReader:
    """The reader for a detected format; 7z and rar start their decoders from `decoders`
    (`extracting`: a 7z's or a RAR's decoder at once, to start while the headers are read)."""
    fmt = detected.format
    if fmt == "zip":
        from devkit.archive.formats.zip import ZipReader

        return ZipReader(path, password=password, decoders=decoders)
    if fmt == "tar" or fmt.startswith("tar."):
        from devkit.archive.formats.tar import TarReader

        return TarReader(path, compression=fmt[4:] or None, decoders=decoders)
    if fmt == "7z":
        from devkit.archive.formats.sevenzip import SevenZipReader

        return SevenZipReader(
            path,
            password=password,
            decoders=decoders,
            offset=detected.offset,
            start_decoder=extracting,
        )
    if fmt == "rar":
        from devkit.archive.formats.rar import RarReader

        return RarReader(path, password=password, decoders=decoders, start_decoder=extracting)
    from devkit.archive.formats.single import SingleReader

    return SingleReader(path, compression=fmt, decoders=decoders)
