"""tar, plain or compressed, read as one stream: by fasttar (the lean reader, fed by
the native decoder where there is one), or by tarfile (formats.tarfile_stream) for what
fasttar hands over. Members are checked by the writer as they arrive; the layout is
decided once the whole member list is known, before anything lands in DEST."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devkit.archive.decoders import Decoders
from devkit.archive.errors import ArchiveCorrupt
from devkit.archive.model import Entry
from devkit.archive.writer import TreeWriter


class TarReader:
    def __init__(
        self, path: Path, *, compression: str | None, decoders: Decoders | None = None
    ) -> None:
        self.path = path
        self.compression = compression
        self._decoders = decoders
        self.format = f"tar.{compression}" if compression else "tar"
        # Streams report progress as compressed bytes read (the total is the file size).
        self.on_progress: Callable[[int], None] | None = None

    def listing(self) -> list[Entry] | None:
        return None

    def packed_size(self) -> int:
        return self.path.stat().st_size

    def members(self) -> list[Entry]:
        from devkit.archive.formats.tarfile_stream import TarfileStream

        return TarfileStream(self.path, self.compression, self.on_progress).members()

    def extract(self, writer: TreeWriter) -> None:
        from devkit.archive.formats.fasttar import FastTar, UseTarfile

        try:
            native = self._extract_natively(writer)
            if native == "done":
                return
            # After a failed native pass, progress was reported once already.
            on_progress = None if native == "failed" else self.on_progress
            FastTar(self.path, self.compression).extract(writer, on_progress)
            return
        except UseTarfile:
            writer.reset()
        self._extract_with_tarfile(writer)

    def _extract_natively(self, writer: TreeWriter) -> str:
        """Extract with the stream decoded by the native tool (formats.native): "done",
        "untried" (no tool for it), or "failed": the tool did not vouch for the stream,
        so what it wrote is forgotten and the Python decoders are to judge it."""
        from devkit.archive.formats.fasttar import FastTar
        from devkit.archive.formats.native import NativeStream, NativeStreamFailed, native_command

        if self._decoders is None:
            return "untried"
        command = native_command(self.compression, self._decoders)
        if command is None:
            return "untried"
        try:
            with NativeStream(self.path, command, self._decoders, self.on_progress) as stream:
                FastTar(self.path, self.compression).extract_from(stream, writer)
                stream.finish()
        except (NativeStreamFailed, ArchiveCorrupt):
            writer.reset()
            return "failed"
        return "done"

    def _extract_with_tarfile(self, writer: TreeWriter) -> None:
        from devkit.archive.formats.tarfile_stream import TarfileStream

        TarfileStream(self.path, self.compression, self.on_progress).extract(writer)

    def close(self) -> None:
        pass
