"""A single compressed file (.gz, .bz2, .xz, .zst, .lzma): one member, named after the
archive without its suffix."""

from __future__ import annotations

from pathlib import Path

from devkit.archive.detect import single_output_name
from devkit.archive.formats.compressed import GuardedStream, open_decompressed
from devkit.archive.model import Entry
from devkit.archive.writer import TreeWriter


class SingleReader:
    def __init__(self, path: Path, *, compression: str) -> None:
        self.path = path
        self.format = compression
        stat = path.stat()
        self.entry = Entry(
            name=single_output_name(path),
            path=single_output_name(path),
            kind="file",
            size=None,
            packed=stat.st_size,
            mtime=stat.st_mtime,
            mode=None,
        )

    def listing(self) -> list[Entry] | None:
        return [self.entry]

    def members(self) -> list[Entry]:
        return [self.entry]

    def packed_size(self) -> int:
        return self.path.stat().st_size

    def extract(self, writer: TreeWriter) -> None:
        if not writer.admit(self.entry):
            return
        with self.path.open("rb") as raw, open_decompressed(raw, self.format) as stream:
            writer.add(self.entry, GuardedStream(stream, self.path))

    def close(self) -> None:
        pass
