"""Safe, atomic extraction of zip, tar (gz, bz2, xz, zst, lzma), single compressed
files, 7z and rar. Importing this package loads no format library (py7zr, rarfile,
zstandard are imported inside the format modules when an archive needs them)."""

from __future__ import annotations

from devkit.archive.extract import extract_archive, list_archive
from devkit.archive.model import (
    ArchiveListing,
    ExtractOptions,
    ExtractResult,
    ListedMember,
    Skipped,
    parse_size,
)

__all__ = [
    "ArchiveListing",
    "ExtractOptions",
    "ExtractResult",
    "ListedMember",
    "Skipped",
    "extract_archive",
    "list_archive",
    "parse_size",
]
