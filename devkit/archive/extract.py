"""Atomic orchestration: detect, check, extract into a private temp folder inside DEST,
then rename the result into place. On any failure (a refusal, a cap, a damaged archive,
Ctrl-C) the temp folder is removed and DEST looks exactly as before."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devkit.archive.detect import _ARCHIVE_SUFFIX, Detected, archive_stem, detect
from devkit.archive.errors import CapExceeded, UnknownFormat
from devkit.archive.formats import ArchiveReader, open_reader
from devkit.archive.model import (
    MAX_RECURSION_DEPTH,
    RATIO_FLOOR,
    ArchiveListing,
    Entry,
    ExtractOptions,
    ExtractResult,
    ListedMember,
    Skipped,
)
from devkit.archive.writer import Budget, Layout, TreeWriter, current_umask, human_size
from devkit.errors import Interrupted, InvalidInput, OperationFailed

TEMP_PREFIX = ".devkit-extract-"


def _archive_size(path: Path, detected: Detected) -> int:
    if detected.format == "7z":
        from devkit.archive.formats.sevenzip import volume_sizes

        return volume_sizes(path)
    if detected.format == "rar":
        try:
            import rarfile

            return sum(Path(v).stat().st_size for v in rarfile.RarFile(str(path)).volumelist())
        except Exception:
            return path.stat().st_size
    return path.stat().st_size


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
    entries: list[Entry], *, options: ExtractOptions, budget: Budget, archive_size: int, stem: str
) -> None:
    """Validate the whole member list before the first byte is written."""
    dry = TreeWriter(
        "",
        options=options,
        budget=Budget(budget.max_bytes, budget.max_entries, entries=budget.entries),
        archive_size=archive_size,
    )
    for entry in entries:
        if dry.admit(entry):
            dry.record(entry)
    if not options.skip_unsafe:
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
    if declared > RATIO_FLOOR and declared > options.max_ratio * max(archive_size, 1):
        raise CapExceeded(
            f"the archive declares {human_size(declared)}, more than {options.max_ratio:g}x its"
            " size (the expansion-ratio cap)",
            code="max_ratio",
            hint="raise the cap with --max-ratio N",
            details={"cap": "max_ratio", "limit": options.max_ratio},
        )


def _remove_tree(path: str) -> None:
    """rmtree that also removes read-only folders (their modes came from the archive)."""

    def retry(function: Callable[..., object], failed: str, _info: object) -> None:
        parent = os.path.dirname(failed)
        try:
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, stat.S_IRWXU)
            function(failed)
        except OSError:
            pass

    import shutil

    if os.path.lexists(path):
        for folder, dirs, _files in os.walk(path):
            for name in dirs:
                full = os.path.join(folder, name)
                if not os.path.islink(full):
                    with contextlib.suppress(OSError):
                        os.chmod(full, stat.S_IRWXU)
        shutil.rmtree(path, onerror=retry)


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
        replaced = os.path.lexists(target)
        if replaced:
            os.rename(target, os.path.join(tmp, "replaced"))
        os.rename(layout.source, target)
        return target, False, replaced
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


def _nested_candidates(writer: TreeWriter) -> list[str]:
    return sorted(
        path
        for path, kind in writer.kinds.items()
        if kind == "file" and _ARCHIVE_SUFFIX.search(path.rsplit("/", 1)[-1])
    )


def _extract_nested(
    writer: TreeWriter, *, options: ExtractOptions, budget: Budget, depth: int
) -> list[ExtractResult]:
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
            options=ExtractOptions(
                overwrite=False,
                password=options.password,
                recursive=True,
                max_bytes=options.max_bytes,
                max_ratio=options.max_ratio,
                max_entries=options.max_entries,
                skip_unsafe=options.skip_unsafe,
            ),
            budget=budget,
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


def _extract_one(
    archive: Path,
    *,
    dest: Path,
    options: ExtractOptions,
    budget: Budget,
    depth: int,
    on_progress: Callable[[int], None] | None,
    on_total: Callable[[int | None], None] | None,
) -> ExtractResult:
    started = time.monotonic()
    detected = detect(archive)
    size = _archive_size(archive, detected)
    stem = archive_stem(archive)
    reader: ArchiveReader = open_reader(detected, archive, password=options.password)
    tmp: str | None = None
    try:
        listing = reader.listing()
        writer_progress = on_progress
        if listing is not None:
            _precheck(listing, options=options, budget=budget, archive_size=size, stem=stem)
            if on_total is not None:
                on_total(sum(entry.size or 0 for entry in listing) or None)
        else:
            writer_progress = None
            reader.on_progress = on_progress  # type: ignore[attr-defined]
            if on_total is not None:
                on_total(archive.stat().st_size)
        tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=dest)
        payload = os.path.join(tmp, "payload")
        os.mkdir(payload, 0o700)
        writer = TreeWriter(
            payload,
            options=options,
            budget=budget,
            archive_size=size,
            on_progress=writer_progress,
        )
        reader.extract(writer)
        reader.close()
        writer.raise_if_unsafe()
        single = detected.format in ("gz", "bz2", "xz", "zst", "lzma")
        if single:
            name = next(iter(p for p in writer.kinds if p), None)
            if name is None:  # skipped
                raise OperationFailed(f"nothing to extract from {archive.name}")
            layout = Layout(source=os.path.join(payload, name), name=name, wrapped=False)
        else:
            layout = writer.layout(stem)
        nested: list[ExtractResult] = []
        if options.recursive and depth < MAX_RECURSION_DEPTH:
            nested = _extract_nested(writer, options=options, budget=budget, depth=depth)
            if not single:
                layout = writer.layout(stem)
        writer.finish(layout)
        final, renamed, replaced = _place(
            layout, dest=dest, tmp=tmp, overwrite=options.overwrite, is_file=single
        )
        nested = [_rebase(result, layout.source, str(final)) for result in nested]
        return ExtractResult(
            archive=str(archive),
            path=str(final),
            format=detected.format,
            files=writer.files + writer.hardlinks,
            dirs=writer.dirs,
            links=writer.symlinks,
            bytes=writer.written,
            seconds=time.monotonic() - started,
            wrapped=layout.wrapped,
            renamed=renamed,
            replaced=replaced,
            skipped=tuple(writer.skipped),
            nested=tuple(nested),
        )
    finally:
        with contextlib.suppress(Exception):
            reader.close()
        if tmp is not None:
            _remove_tree(tmp)


def extract_archive(
    archive: Path,
    *,
    dest: Path,
    options: ExtractOptions = ExtractOptions(),  # noqa: B008 - frozen, so safe as a default
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int | None], None] | None = None,
) -> ExtractResult:
    """Extract `archive` into `dest` safely and atomically.

    `on_progress` receives increments of progress and `on_total` (once) the expected
    total in the same unit: bytes written, or for tar streams, archive bytes read.
    Raises DevkitError subclasses; on any failure `dest` is left as it was.
    """
    archive = Path(archive)
    dest = Path(dest)
    _check_archive_path(archive)
    created = False
    if not dest.exists():
        try:
            dest.mkdir()
        except OSError as error:
            raise InvalidInput(
                f"cannot create the destination {dest}: {error.strerror}",
                code="bad_destination",
                hint="create its parent folder first",
            ) from error
        created = True
    elif not dest.is_dir():
        raise InvalidInput(
            f"the destination {dest} is not a folder", code="bad_destination", hint="pass -C DIR"
        )
    budget = Budget(options.max_bytes, options.max_entries)
    try:
        return _extract_one(
            archive,
            dest=dest,
            options=options,
            budget=budget,
            depth=0,
            on_progress=on_progress,
            on_total=on_total,
        )
    except KeyboardInterrupt:
        if created:
            _remove_tree(str(dest))
        raise Interrupted(
            f"interrupted: nothing was extracted from {archive.name}",
            hint="run the command again to extract it",
        ) from None
    except OSError as error:
        if created:
            _remove_tree(str(dest))
        where = error.filename or dest
        raise OperationFailed(
            f"cannot write {where}: {error.strerror or error}; nothing was extracted",
            code="write_failed",
            hint="check free space, permissions and name lengths in the destination",
        ) from error
    except BaseException:
        if created:
            _remove_tree(str(dest))
        raise


def list_archive(archive: Path, *, password: str | None = None) -> ArchiveListing:
    """The members of `archive` (name, kind, size, packed size, time) without extracting."""
    archive = Path(archive)
    _check_archive_path(archive)
    detected = detect(archive)
    reader = open_reader(detected, archive, password=password)
    try:
        entries = reader.members()
    finally:
        reader.close()
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


__all__ = ["Skipped", "current_umask", "extract_archive", "list_archive"]
