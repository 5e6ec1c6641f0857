"""`devkit extract`: safe, atomic extraction (and --list) of every common archive format."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devkit.cli.common import JsonOption, interrupted, received_signal, run_command
from devkit.console import CommandResult, Console, printable
from devkit.errors import DevkitError, Interrupted, InvalidInput

if TYPE_CHECKING:
    from devkit.archive import ArchiveListing, ExtractOptions, ExtractResult

_STREAMED = ("tar",)


def _password(password_file: Path | None, password_env: str | None) -> str | None:
    if password_file is not None and password_env is not None:
        raise InvalidInput(
            "--password-file and --password-env are mutually exclusive",
            code="usage",
            hint="pass only one of them",
        )
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(
                f"cannot read the password file {password_file}: {error.strerror}",
                code="bad_password_file",
                hint="check the path and its permissions",
            ) from error
        return text.splitlines()[0] if text.splitlines() else ""
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise InvalidInput(
                f"the environment variable {password_env} is not set",
                code="bad_password_env",
                hint=f"export {password_env}=... or use --password-file FILE",
            )
        return value
    return None


def _report(console: Console, result: ExtractResult, prefix: str = "") -> None:
    from devkit.archive.writer import human_size

    where = os.path.relpath(result.path) if not os.path.isabs(result.archive) else result.path
    took = "nothing written (--dry-run)" if result.dry_run else f"{result.seconds:.2f} s"
    would = "would extract " if result.dry_run else ""
    console.outcome(
        True,
        printable(
            f"{prefix}{would}{result.archive} -> {where} ({result.format}, {result.files} files,"
            f" {human_size(result.bytes)}, {took})"
        ),
    )
    from devkit.archive.detect import format_from_name

    hinted = format_from_name(Path(result.archive))
    if hinted and hinted != result.format:
        console.info(
            printable(f"  note: the name suggests {hinted}, the content is {result.format}")
        )
    if result.renamed:
        console.info(printable(f"  the name was taken, so it went to {result.path}"))
    if result.replaced:
        console.info(printable(f"  replaced the existing {result.path} (--overwrite)"))
    if result.wrapped:
        console.info("  members were not under one folder, so they were wrapped in one")
    for note in result.notes:
        console.warn(printable(note))
    for skipped in result.skipped:
        console.warn(printable(f"skipped {skipped.name!r}: {skipped.reason}"))
    for nested in result.nested:
        _report(console, nested, prefix=prefix + "  nested: ")


def _list(console: Console, listing: ArchiveListing) -> None:
    from devkit.archive.model import iso_time

    rows = [
        [
            member.name + (f" -> {member.link}" if member.link else ""),
            member.kind,
            "" if member.size is None else str(member.size),
            "" if member.packed is None else str(member.packed),
            iso_time(member.mtime) or "",
        ]
        for member in listing.members
    ]
    console.table(
        ["name", "kind", "size", "packed", "modified"],
        rows,
        title=f"{listing.archive} ({listing.format}, {len(listing.members)} members)",
    )


def _extract_with_progress(
    console: Console, archive: Path, dest: Path, options: ExtractOptions, *, dry_run: bool
) -> ExtractResult:
    from devkit.archive.errors import UnsafeArchive
    from devkit.archive.extract import plan_extraction

    try:
        if dry_run:
            return plan_extraction(archive, dest=dest, options=options)
        return _extract(console, archive, dest, options)
    except UnsafeArchive as refusal:
        for item in refusal.unsafe:
            console.warn(printable(f"unsafe member {item['name']!r}: {item['reason']}"))
        raise


def _extract(console: Console, archive: Path, dest: Path, options: ExtractOptions) -> ExtractResult:
    from devkit.archive import extract_archive, list_archive

    if not console.interactive_stderr or console.json_mode:
        return extract_archive(archive, dest=dest, options=options)
    from devkit.archive.detect import detect

    fmt = detect(archive).format
    if fmt.startswith(_STREAMED):
        total: int | None = archive.stat().st_size
    else:
        total = list_archive(archive, password=options.password).total_size or None
    with console.progress(f"extracting {archive.name}", total, unit="bytes") as bar:
        return extract_archive(archive, dest=dest, options=options, on_progress=bar.advance)


def register(app: typer.Typer) -> None:
    @app.command()
    def extract(
        archives: Annotated[
            list[Path],
            typer.Argument(
                metavar="ARCHIVE...", help="Archive files (format detected from content)."
            ),
        ],
        dest: Annotated[
            Path,
            typer.Option(
                "-C",
                "--dest",
                metavar="DEST",
                show_default=False,
                help="Destination folder, created with its parents (default: the current one;"
                " -C as in tar).",
            ),
        ] = Path("."),
        list_only: Annotated[
            bool, typer.Option("--list", help="List the members; extract nothing.")
        ] = False,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Replace an existing target instead of name-1.")
        ] = False,
        password_file: Annotated[
            Path | None,
            typer.Option(
                "--password-file",
                metavar="FILE",
                help="Read the password from the file's first line.",
            ),
        ] = None,
        password_env: Annotated[
            str | None,
            typer.Option(
                "--password-env",
                metavar="VAR",
                help="Read the password from this environment variable.",
            ),
        ] = None,
        recursive: Annotated[
            bool, typer.Option("--recursive", help="Also extract archives inside (depth <= 3).")
        ] = False,
        max_bytes: Annotated[
            str | None,
            typer.Option(
                "--max-bytes",
                metavar="SIZE",
                help="Hard cap on bytes written (e.g. 50M, 2G; default 16G).",
            ),
        ] = None,
        max_ratio: Annotated[
            float | None,
            typer.Option(
                "--max-ratio",
                metavar="N",
                help="Cap on bytes written / archive size, checked past --ratio-after"
                " (default 2000: above deflate's best, 1032:1).",
            ),
        ] = None,
        ratio_after: Annotated[
            str | None,
            typer.Option(
                "--ratio-after",
                metavar="SIZE",
                help="Apply --max-ratio only once this much was written (default 4G:"
                " zero-filled images and logs compress past 5000:1; a bomb costs at most"
                " this much temporary disk).",
            ),
        ] = None,
        max_entries: Annotated[
            int | None,
            typer.Option(
                "--max-entries", metavar="N", help="Cap on the number of members (default 200000)."
            ),
        ] = None,
        skip_unsafe: Annotated[
            bool,
            typer.Option("--skip-unsafe", help="Extract the safe members; list what was skipped."),
        ] = False,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="Check names, links and declared sizes and say where it would go;"
                " write nothing (damaged data is found only by extracting).",
            ),
        ] = False,
        keep_absolute_links: Annotated[
            bool,
            typer.Option(
                "--keep-absolute-links",
                help="Create symlinks with absolute targets as they are (a system backup);"
                " refused by default: they point at this machine, not into DEST.",
            ),
        ] = False,
        json_output: JsonOption = False,
    ) -> CommandResult:
        """Extract archives safely: zip, tar.*, gz/bz2/xz/zst, 7z, rar.

        Never writes outside the destination, never leaves half a tree: members land in
        one folder (wrapped if they are not under one), an unsafe member refuses the
        whole archive, caps stop bombs, and a failure leaves DEST as it was.
        """

        def body(console: Console) -> CommandResult:
            from devkit.archive import ExtractOptions, list_archive, parse_size
            from devkit.config import load_config

            settings = load_config()

            password = _password(password_file, password_env)
            if list_only:

                def list_one(archive: Path) -> dict[str, Any]:
                    listing = list_archive(archive, password=password)
                    _list(console, listing)
                    return listing.to_json()

                if len(archives) == 1:
                    return CommandResult("extract", {"listings": [list_one(archives[0])]})
                return _each(archives, list_one, key="listings")
            if max_ratio is not None and max_ratio <= 0:
                raise InvalidInput("--max-ratio must be positive", code="usage", hint="e.g. 500")
            if max_entries is not None and max_entries <= 0:
                raise InvalidInput("--max-entries must be positive", code="usage", hint="e.g. 1000")
            options = ExtractOptions(
                overwrite=overwrite,
                password=password,
                recursive=recursive,
                max_bytes=settings.value(
                    "extract.max_bytes", parse_size(max_bytes) if max_bytes is not None else None
                ),
                max_ratio=settings.value("extract.max_ratio", max_ratio),
                ratio_after=settings.value(
                    "extract.ratio_after",
                    parse_size(ratio_after) if ratio_after is not None else None,
                ),
                max_entries=settings.value("extract.max_entries", max_entries),
                skip_unsafe=skip_unsafe,
                keep_absolute_links=keep_absolute_links,
            )

            def extract_one(archive: Path) -> dict[str, Any]:
                result = _extract_with_progress(console, archive, dest, options, dry_run=dry_run)
                _report(console, result)
                return result.to_json()

            if len(archives) == 1:
                return CommandResult("extract", {"results": [extract_one(archives[0])]})
            return _each(archives, extract_one, key="results")

        return run_command("extract", json_mode=json_output, body=body)


def _each(
    archives: list[Path], handle: Callable[[Path], dict[str, Any]], *, key: str
) -> CommandResult:
    """Several archives (extracted or listed): each one that fails is an error of the
    result and the others are still handled; the exit code is the worst one, as in
    `sync` (the highest). An interruption stops the rest and its exit code (128 +
    signal) wins."""
    results: list[dict[str, Any]] = []
    errors: list[DevkitError] = []
    for archive in archives:
        try:
            result = handle(archive)
        except KeyboardInterrupt as interrupt:
            errors.append(interrupted(interrupt))
            break
        except DevkitError as error:
            error = received_signal(error)
            error.details.setdefault("archive", str(archive))
            errors.append(error)
            if isinstance(error, Interrupted):
                break
            continue
        results.append(result)
    stopped = [error for error in errors if isinstance(error, Interrupted)]
    worst = max((int(error.exit_code) for error in errors), default=0)
    return CommandResult(
        "extract",
        {key: results},
        errors=tuple(errors),
        exit_code=int(stopped[0].exit_code) if stopped else worst,
    )
