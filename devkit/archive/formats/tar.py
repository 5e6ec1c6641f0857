"""tar, plain or compressed, read as one stream (tarfile's stream mode: no seeking, one
pass). Members are checked by the writer as they arrive; the layout is decided once the
whole member list is known, before anything lands in DEST."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from devkit.archive.decoders import Decoders
from devkit.archive.errors import ArchiveCorrupt
from devkit.archive.formats.compressed import (
    CountingFile,
    GuardedStream,
    corrupt,
    open_decompressed,
)
from devkit.archive.model import Entry, Kind
from devkit.archive.safety import member_path
from devkit.archive.writer import TreeWriter


def _kind(info: tarfile.TarInfo) -> Kind:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    return "special"


class _StrictTarInfo(tarfile.TarInfo):
    """tarfile ends the archive quietly at a header with a bad checksum or a header cut
    short, dropping every later member; GNU tar calls both errors. Only a zero block
    or the clean end of the data ends the archive here."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> _StrictTarInfo:
        try:
            return super().fromtarfile(tarfile_)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as error:  # type: ignore[attr-defined]
            raise tarfile.ReadError(f"bad tar header at byte {tarfile_.offset}: {error}") from None


def entry_for(info: tarfile.TarInfo) -> Entry:
    kind = _kind(info)
    path, reason = member_path(info.name, kind, backslash_is_separator=False)
    return Entry(
        name=info.name,
        path=path,
        kind=kind,
        size=info.size if kind == "file" else 0,
        packed=None,
        mtime=float(info.mtime),
        mode=info.mode,
        link=info.linkname if kind in ("symlink", "hardlink") else None,
        unsafe=reason,
    )


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

    def _open(self) -> tuple[tarfile.TarFile, IO[bytes]]:
        raw: Any = CountingFile(self.path.open("rb"), self.on_progress)
        if self.compression:
            raw = open_decompressed(raw, self.compression)
        try:
            stream = GuardedStream(raw, self.path)
            archive = tarfile.open(fileobj=stream, mode="r|", tarinfo=_StrictTarInfo)  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.TarError as error:
            raw.close()
            raise corrupt(self.path, error) from error
        return archive, raw

    def _iterate(self, archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        while True:
            try:
                info = archive.next()
            except tarfile.TarError as error:
                raise corrupt(self.path, error) from error
            if info is None:
                return
            yield info

    def members(self) -> list[Entry]:
        archive, raw = self._open()
        with raw, archive:
            return [entry_for(info) for info in self._iterate(archive)]

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
        archive, raw = self._open()
        with raw, archive:
            for info in self._iterate(archive):
                entry = entry_for(info)
                if not writer.admit(entry):
                    continue
                if entry.kind == "file":
                    try:
                        source = archive.extractfile(info)
                    except tarfile.TarError as error:
                        raise corrupt(self.path, error) from error
                    data = _TarData(source, self.path) if source else None
                    sparse: Any = info.sparse  # typeshed says bytes: it is (offset, length)s
                    if data is not None and sparse is not None:
                        data.segments = list(sparse)  # written sparse, as by GNU tar
                    writer.add(entry, data)
                else:
                    writer.add(entry)
            # Read to the end so that the compressed stream's checksum is verified
            # (tarfile stops at the end-of-archive blocks, before gzip's CRC).
            drain = GuardedStream(raw, self.path)
            while drain.read(1024 * 1024):
                pass

    def close(self) -> None:
        pass


class _TarData:
    """A member's data; tarfile raises ReadError on a truncated member."""

    def __init__(self, source: IO[bytes], path: Path) -> None:
        self._source = source
        self._path = path
        # A sparse member's data stretches, (offset, length); the rest reads as zeros.
        self.segments: list[tuple[int, int]] | None = None

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._source.read(size)
        except tarfile.TarError as error:
            raise corrupt(self._path, error) from error
