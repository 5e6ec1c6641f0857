"""tar through the standard library's tarfile (stream mode: no seeking, one pass): the
member listing, and the extraction of what the lean reader (fasttar) hands over
(sparse files, volume headers, unusual fields). Imported only then: tarfile is a
millisecond of start-up that most extractions do without."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

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


class TarfileStream:
    """One pass over a tar with tarfile."""

    def __init__(
        self, path: Path, compression: str | None, on_progress: Callable[[int], None] | None
    ) -> None:
        self.path = path
        self.compression = compression
        self.on_progress = on_progress

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
        """Every member, read once."""
        archive, raw = self._open()
        with raw, archive:
            return [entry_for(info) for info in self._iterate(archive)]

    def extract(self, writer: TreeWriter) -> None:
        """Hand every member to the writer (what fasttar could not read)."""
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
