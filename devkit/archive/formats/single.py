"""A single compressed file (.gz, .bz2, .xz, .zst, .lzma): one member, named after the
archive without its suffix."""

from __future__ import annotations

from pathlib import Path

from devkit.archive.decoders import Decoders
from devkit.archive.detect import single_output_name
from devkit.archive.formats.compressed import GuardedStream, open_decompressed
from devkit.archive.model import Entry
from devkit.archive.writer import TreeWriter


class SingleReader:
    def __init__(self, path: Path, *, compression: str, decoders: Decoders | None = None) -> None:
        self.path = path
        self.format = compression
        self._decoders = decoders
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
        if self._extract_natively(writer):
            return
        if not writer.admit(self.entry):
            return
        with self.path.open("rb") as raw, open_decompressed(raw, self.format) as stream:
            writer.add(self.entry, GuardedStream(stream, self.path))

    def _extract_natively(self, writer: TreeWriter) -> bool:
        """Decode with the native tool (formats.native); False when there is none or
        it did not vouch for the stream (then the file and its admission are
        forgotten, and the Python decoders decode and judge it)."""
        from devkit.archive.formats.native import NativeStream, NativeStreamFailed, native_command

        command = native_command(self.format, self._decoders) if self._decoders else None
        if command is None or self._decoders is None:
            return False
        if not writer.admit(self.entry):
            return True  # skipped: nothing to decode
        try:
            with NativeStream(self.path, command, self._decoders, None) as stream:
                writer.add(self.entry, stream)
                stream.finish()
        except NativeStreamFailed:
            writer.reset()
            return False
        return True

    def close(self) -> None:
        pass
