"""Atomic orchestration: detect, check, extract into a private temp folder inside DEST,
then rename the result into place. On any failure (a refusal, a cap, a damaged archive,
SIGINT, SIGTERM or SIGHUP) the temp folder is removed and DEST looks exactly as before;
after SIGKILL the next extraction into the same DEST removes what was left (see
devkit.archive.staging)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devkit import process
from devkit.archive.decoders import Decoders
from devkit.archive.detect import _ARCHIVE_SUFFIX, archive_stem, detect
from devkit.archive.errors import CapExceeded, UnknownFormat
from devkit.archive.formats import ArchiveReader, open_reader
from devkit.archive.model import (
    MAX_RECURSION_DEPTH,
    ArchiveListing,
    Entry,
    ExtractOptions,
    ExtractResult,
    ListedMember,
    Skipped,
)
from devkit.archive.staging import TEMP_PREFIX, Staging, remove_stale
from devkit.archive.writer import Budget, Layout, TreeWriter, current_umask, human_size
from devkit.errors import Interrupted, InvalidInput, OperationFailed

_SINGLE_FORMATS = ("gz", "bz2", "xz", "zst", "lzma")
Progress = Callable[[int], None]
Total = Callable[[int | None], None]


@dataclass
class _Extraction:
    """What one call of extract_archive shares with the archives nested in it."""

    options: ExtractOptions
    budget: Budget
    decoders: Decoders
    signals_at_start: int
    placed: str | None = None  # the final path, once the result is in DEST


def _check_archive_path(archive: Path) -> None:
    if not archive.exists():
        raise InvalidInput(
            f"{archive} does not exist", code="not_found", hint="check the path and try again"
        )
    if not archive.is_file():
        raise InvalidInput(f"{archive} is not a file", code="not_a_file", hint="pass an archive")
    if not os.access(archive, os.R_OK):
        raise InvalidInput(
            f"{archive} is not readable", code="not_readable", hint="check its permissions"
        )


def _precheck(
    entries: list[Entry], *, run: _Extraction, archive_size: int, stem: str
) -> TreeWriter:
    """Validate the whole member list before the first byte is written; the dry writer
    that did it knows the tree the members make."""
    options, budget = run.options, run.budget
    dry = TreeWriter(
        "",
        options=options,
        budget=Budget(budget.max_bytes, budget.max_entries, entries=budget.entries),
        archive_size=archive_size,
        umask=0,  # the dry run creates nothing
        signals_at_start=run.signals_at_start,
    )
    for entry in entries:
        if dry.admit(entry):
            dry.record(entry)
    if not options.skip_unsafe:
        if dry.links:  # the layout (a pass over every path) only places symlinks
            dry.check_links(dry.layout(stem))
        dry.raise_if_unsafe()
    declared = sum(entry.size or 0 for entry in entries if entry.kind == "file")
    if budget.written + declared > budget.max_bytes:
        raise CapExceeded(
            f"the archive declares {human_size(declared)}, more than the byte cap of"
            f" {human_size(budget.max_bytes)}",
            code="max_bytes",
            hint="raise the cap with --max-bytes SIZE",
            details={"cap": "max_bytes", "limit": budget.max_bytes},
        )
    if budget.written + declared > options.ratio_after and declared > (
        options.max_ratio * max(archive_size, 1)
    ):
        raise CapExceeded(
            f"the archive declares {human_size(declared)}, more than {options.max_ratio:g}x its"
            f" size, past {human_size(options.ratio_after)} (the expansion-ratio cap)",
            code="max_ratio",
            hint="raise the cap with --max-ratio N or --ratio-after SIZE",
            details={"cap": "max_ratio", "limit": options.max_ratio, "after": options.ratio_after},
        )
    return dry


def _numbered(name: str, number: int, is_file: bool) -> str:
    if is_file and "." in name.strip("."):
        stem, dot, suffix = name.rpartition(".")
        return f"{stem}-{number}{dot}{suffix}"
    return f"{name}-{number}"


def _place(
    layout: Layout, *, dest: Path, tmp: str, overwrite: bool, is_file: bool
) -> tuple[Path, bool, bool]:
    """Rename the finished tree to DEST/name (or name-1, ...); returns (path, renamed,
    replaced). The name is reserved first (mkdir/O_EXCL) and the rename then atomically
    replaces that empty reservation, so an existing entry is never merged into."""
    target = dest / layout.name
    if overwrite:
        return target, False, _replace(layout.source, target, aside=os.path.join(tmp, "replaced"))
    number = 0
    while True:
        candidate = dest / (layout.name if number == 0 else _numbered(layout.name, number, is_file))
        try:
            if is_file:
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            else:
                os.mkdir(candidate, 0o700)
        except FileExistsError:
            number += 1
            continue
        try:
            os.rename(layout.source, candidate)
        except BaseException:
            if is_file:
                os.unlink(candidate)
            else:
                os.rmdir(candidate)
            raise
        return candidate, number > 0, False


def _replace(source: str, target: Path, *, aside: str) -> bool:
    """Rename `source` to `target`, moving an existing `target` to `aside` first (and
    back if the rename fails); True when something was replaced."""
    if not os.path.lexists(target):
        os.rename(source, target)
        return False
    info = os.lstat(target)
    if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IWUSR:
        # A folder moves to another parent only if its '..' may be rewritten.
        os.chmod(target, info.st_mode | stat.S_IWUSR)
    os.rename(target, aside)
    try:
        os.rename(source, target)
    except BaseException:
        os.rename(aside, target)
        if stat.S_ISDIR(info.st_mode):
            os.chmod(target, stat.S_IMODE(info.st_mode))
        raise
    return True


def _nested_candidates(writer: TreeWriter) -> list[str]:
    return sorted(
        path
        for path, kind in writer.kinds.items()
        if kind == "file" and _ARCHIVE_SUFFIX.search(path.rsplit("/", 1)[-1])
    )


def _extract_nested(writer: TreeWriter, *, run: _Extraction, depth: int) -> list[ExtractResult]:
    results = []
    for path in _nested_candidates(writer):
        full = Path(writer.root) / path
        try:
            detect(full)
        except UnknownFormat:
            continue
        result = _extract_one(
            full,
            dest=full.parent,
            run=run,
            overwrite=False,
            depth=depth + 1,
            on_progress=None,
            on_total=None,
        )
        relative = os.path.relpath(result.path, writer.root)
        writer.kinds[relative] = "dir" if os.path.isdir(result.path) else "file"
        results.append(result)
    return results


def _rebase(result: ExtractResult, old: str, new: str) -> ExtractResult:
    """Nested results name paths inside the temp folder: point them at the final tree."""
    relative = os.path.relpath(result.path, old)
    return dataclasses.replace(
        result,
        path=os.path.normpath(os.path.join(new, relative)),
        archive=os.path.normpath(os.path.join(new, os.path.relpath(result.archive, old))),
        nested=tuple(_rebase(inner, old, new) for inner in result.nested),
    )


def _check_members(
    reader: ArchiveReader,
    archive: Path,
    *,
    run: _Extraction,
    size: int,
    stem: str,
    on_progress: Progress | None,
    on_total: Total | None,
) -> Progress | None:
    """Check the member list where the format has one before writing, announce the
    expected total; returns the writer's progress callback (None: the reader reports)."""
    listing = reader.listing()
    if listing is None:
        # Streamed (tar): progress is archive bytes read, reported by the reader.
        reader.on_progress = on_progress  # type: ignore[attr-defined]
        if on_total is not None:
            on_total(archive.stat().st_size)
        return None
    _precheck(listing, run=run, archive_size=size, stem=stem)
    if on_total is not None:
        on_total(sum(entry.size or 0 for entry in listing) or None)
    return on_progress


def _layout(
    writer: TreeWriter, *, fmt: str, archive: Path, stem: str, nested: bool = False
) -> Layout:
    # A single compressed file whose content was an archive extracted with --recursive
    # is two things now (the file and its folder): laid out like any multi-member tree.
    if fmt not in _SINGLE_FORMATS or nested:
        return writer.layout(stem)
    name = next(iter(p for p in writer.kinds if p), None)
    if name is None:  # skipped
        raise OperationFailed(f"nothing to extract from {archive.name}")
    return Layout(source=os.path.join(writer.root, name), name=name, wrapped=False)


def _extract_one(
    archive: Path,
    *,
    dest: Path,
    run: _Extraction,
    overwrite: bool,
    depth: int,
    on_progress: Progress | None,
    on_total: Total | None,
) -> ExtractResult:
    started = time.monotonic()
    fmt = detect(archive)
    stem = archive_stem(archive)
    reader = open_reader(
        fmt, archive, password=run.options.password, decoders=run.decoders, extracting=True
    )
    staging: Staging | None = None
    try:
        size = reader.packed_size()
        progress = _check_members(
            reader,
            archive,
            run=run,
            size=size,
            stem=stem,
            on_progress=on_progress,
            on_total=on_total,
        )
        with process.critical():  # a signal must not come between creating and owning it
            staging = Staging(str(dest))
        payload = os.path.join(staging.path, "payload")
        os.mkdir(payload, 0o700)
        writer = TreeWriter(
            payload,
            options=run.options,
            budget=run.budget,
            archive_size=size,
            umask=current_umask(probe_folder=staging.path),
            signals_at_start=run.signals_at_start,
            on_progress=progress,
        )
        reader.extract(writer)
        reader.close()
        writer.raise_if_unsafe()
        layout = _layout(writer, fmt=fmt.format, archive=archive, stem=stem)
        nested: list[ExtractResult] = []
        if run.options.recursive and depth < MAX_RECURSION_DEPTH:
            nested = _extract_nested(writer, run=run, depth=depth)
            layout = _layout(
                writer, fmt=fmt.format, archive=archive, stem=stem, nested=bool(nested)
            )
        top_mode = writer.finish(layout, nested=bool(nested))
        single = fmt.format in _SINGLE_FORMATS and not nested
        with process.critical():  # the rename into DEST, and knowing that it happened
            final, renamed, replaced = _place(
                layout, dest=dest, tmp=staging.path, overwrite=overwrite, is_file=single
            )
            if depth == 0:
                run.placed = str(final)
            if top_mode is not None:
                with contextlib.suppress(OSError):
                    os.chmod(final, top_mode)
        return ExtractResult(
            archive=str(archive),
            path=str(final),
            format=fmt.format,
            files=writer.files + writer.hardlinks,
            dirs=writer.dirs,
            links=writer.symlinks,
            bytes=writer.written,
            seconds=time.monotonic() - started,
            wrapped=layout.wrapped,
            renamed=renamed,
            replaced=replaced,
            skipped=tuple(writer.skipped),
            nested=tuple(_rebase(result, layout.source, str(final)) for result in nested),
            notes=tuple(writer.notes),
        )
    finally:
        with contextlib.suppress(Exception):
            reader.close()
        if staging is not None:
            with process.critical():
                staging.remove()


def _prepare_dest(dest: Path) -> list[Path]:
    """Check DEST, creating it and its missing parents (as `mkdir -p`); the folders
    created here, deepest first, so that a failure can remove them again."""
    if dest.exists():
        if not dest.is_dir():
            raise InvalidInput(
                f"the destination {dest} is not a folder",
                code="bad_destination",
                hint="pass -C DIR",
            )
        return []
    missing = []
    folder = dest.absolute()
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                if folder.is_dir():  # "a/.." once "a" exists
                    continue
                raise
            created.append(folder)
    except OSError as error:
        _remove_created(created[::-1])
        raise InvalidInput(
            f"cannot create the destination {dest}: {error.strerror}",
            code="bad_destination",
            hint="check the path and the permissions of its existing parent",
        ) from error
    return created[::-1]


def _remove_created(created: list[Path]) -> None:
    """rmdir what _prepare_dest made (deepest first); rmdir leaves anything else."""
    for folder in created:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _interrupted(caught: BaseException, archive: Path, placed: str | None) -> Interrupted:
    signum = getattr(caught, "signum", signal.SIGINT)
    name = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
    if placed is not None:
        return Interrupted.from_signal(
            caught,
            message=f"interrupted{name} after {archive.name} was extracted to {placed}",
            hint="the extracted tree is complete",
            details={"path": placed},
        )
    return Interrupted.from_signal(
        caught,
        message=f"interrupted{name}: nothing was extracted from {archive.name}",
        hint="run the command again to extract it",
    )


def extract_archive(
    archive: Path,
    *,
    dest: Path,
    options: ExtractOptions = ExtractOptions(),  # noqa: B008 - frozen, so safe as a default
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int | None], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> ExtractResult:
    """Extract `archive` into `dest` safely and atomically.

    `on_progress` receives increments of progress and `on_total` (once) the expected
    total in the same unit: bytes written, or for tar streams, archive bytes read.
    `env` (default: os.environ as it is now) is where decoders are looked up (PATH,
    DEVKIT_7ZZ, DEVKIT_RAR_TOOLS), their stall limit (DEVKIT_TOOL_TIMEOUT) and their
    environment. Raises DevkitError subclasses; on any failure, SIGINT, SIGTERM and
    SIGHUP included, `dest` is left as it was. Temp folders that a killed extraction
    left in `dest` are removed first.
    """
    archive = Path(archive)
    dest = Path(dest)
    signals = process.signal_count()  # only a signal after this one interrupts us
    run = _Extraction(
        options=options,
        budget=Budget(options.max_bytes, options.max_entries),
        decoders=Decoders(os.environ if env is None else env, signals_at_start=signals),
        signals_at_start=signals,
    )
    _check_archive_path(archive)
    created = _prepare_dest(dest)
    try:
        remove_stale(str(dest))
        return _extract_one(
            archive,
            dest=dest,
            run=run,
            overwrite=options.overwrite,
            depth=0,
            on_progress=on_progress,
            on_total=on_total,
        )
    except BaseException as error:
        if created and run.placed is None:
            # Empty again by now (our temp folder is gone): rmdir leaves anything else.
            _remove_created(created)
        if isinstance(error, KeyboardInterrupt):
            raise _interrupted(error, archive, run.placed) from None
        if isinstance(error, OSError):
            raise _write_failed(error, dest) from error
        raise


def plan_extraction(
    archive: Path,
    *,
    dest: Path,
    options: ExtractOptions = ExtractOptions(),  # noqa: B008 - frozen, so safe as a default
    env: Mapping[str, str] | None = None,
) -> ExtractResult:
    """`--dry-run`: every check that needs no decoding (names, links, caps on what the
    archive declares, encryption) and where the tree would land; nothing is written,
    DEST is not even created. Damaged data, which only decoding finds, is not caught."""
    archive, dest = Path(archive), Path(dest)
    started = time.monotonic()
    _check_archive_path(archive)
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(f"{dest} exists and is not a folder", code="dest_not_a_folder")
    signals = process.signal_count()
    run = _Extraction(
        options=options,
        budget=Budget(options.max_bytes, options.max_entries),
        decoders=Decoders(os.environ if env is None else env, signals_at_start=signals),
        signals_at_start=signals,
    )
    fmt, stem = detect(archive), archive_stem(archive)
    try:
        reader = open_reader(fmt, archive, password=options.password, decoders=run.decoders)
        try:
            size, entries = reader.packed_size(), reader.members()
        finally:
            reader.close()
    except KeyboardInterrupt as caught:
        raise Interrupted.from_signal(caught) from None
    dry = _precheck(entries, run=run, archive_size=size, stem=stem)
    single = fmt.format in _SINGLE_FORMATS
    layout = _layout(dry, fmt=fmt.format, archive=archive, stem=stem)
    target, number = dest / layout.name, 0
    while not options.overwrite and os.path.lexists(target):
        number += 1
        target = dest / _numbered(layout.name, number, single)
    kinds = list(dry.kinds.values())
    return ExtractResult(
        archive=str(archive),
        path=str(target),
        format=fmt.format,
        files=kinds.count("file"),
        dirs=kinds.count("dir"),
        links=kinds.count("symlink"),
        bytes=sum(entry.size or 0 for entry in entries if entry.kind == "file"),
        seconds=time.monotonic() - started,
        wrapped=layout.wrapped,
        renamed=number > 0,
        replaced=options.overwrite and os.path.lexists(target),
        skipped=tuple(dry.skipped),
        notes=tuple(dry.notes),
        dry_run=True,
    )


def _write_failed(error: OSError, dest: Path) -> OperationFailed:
    where = error.filename or dest
    return OperationFailed(
        f"cannot write {where}: {error.strerror or error}; nothing was extracted",
        code="write_failed",
        hint="check free space, permissions and name lengths in the destination",
    )


def list_archive(
    archive: Path, *, password: str | None = None, env: Mapping[str, str] | None = None
) -> ArchiveListing:
    """The members of `archive` (name, kind, size, packed size, time) without extracting.
    `env` as for extract_archive (a RAR's compressed comments need its backend)."""
    archive = Path(archive)
    _check_archive_path(archive)
    detected = detect(archive)
    decoders = Decoders(os.environ if env is None else env, signals_at_start=process.signal_count())
    try:
        reader = open_reader(detected, archive, password=password, decoders=decoders)
        try:
            entries = reader.members()
        finally:
            reader.close()
    except KeyboardInterrupt as caught:
        raise Interrupted.from_signal(caught) from None
    return ArchiveListing(
        archive=str(archive),
        format=detected.format,
        members=tuple(
            ListedMember(
                name=entry.name,
                kind=entry.kind,
                size=entry.size,
                packed=entry.packed,
                mtime=entry.mtime,
                link=entry.link,
                encrypted=entry.encrypted,
            )
            for entry in entries
        ),
    )


__all__ = [
    "TEMP_PREFIX",
    "Skipped",
    "current_umask",
    "extract_archive",
    "list_archive",
    "plan_extraction",
]
