"""Options, members and results of extraction: small frozen dataclasses with to_json()."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from devkit.errors import InvalidInput

Kind = Literal["file", "dir", "symlink", "hardlink", "special"]

# Default bomb caps: generous for real data drops, far below what a bomb expands to.
# The byte cap is the hard limit on disk use.
DEFAULT_MAX_BYTES = 16 * 1024**3
# Legitimate data compresses far better than 200:1 (a zero-filled 1 GiB disk image as
# tar.xz is 6,866:1, logs 383:1 to 5,822:1), so the ratio cap waits until an extraction
# has written DEFAULT_RATIO_AFTER bytes: below that, any ratio passes and a bomb costs
# at most that much temporary disk. Past it, 2000 is above deflate's best (1,032:1:
# no zip or gzip can trip it) and far below what bombs of zeros reach with bzip2 or
# zstd; xz of zeros (~7,000:1) trips it, and so stops there rather than at the byte cap.
DEFAULT_MAX_RATIO = 2000.0
DEFAULT_RATIO_AFTER = 4 * 1024**3
DEFAULT_MAX_ENTRIES = 200_000
MAX_RECURSION_DEPTH = 3


@dataclass(frozen=True)
class ExtractOptions:
    """How to extract: every field has a safe default."""

    overwrite: bool = False
    password: str | None = None
    recursive: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    max_ratio: float = DEFAULT_MAX_RATIO
    # The ratio cap applies once the extraction has written more than this many bytes.
    ratio_after: int = DEFAULT_RATIO_AFTER
    max_entries: int = DEFAULT_MAX_ENTRIES
    skip_unsafe: bool = False
    # Create symlinks with absolute targets as they are (refused by default).
    keep_absolute_links: bool = False


@dataclass
class Entry:
    """One archive member as a format module reports it (internal, mutable for speed).

    `name` is the raw name from the archive (for reports); `path` is the normalised
    relative POSIX path, or None when the name itself is unsafe (`unsafe` says why).
    """

    name: str
    path: str | None
    kind: Kind
    size: int | None = None
    packed: int | None = None
    mtime: float | None = None
    mode: int | None = None
    link: str | None = None
    encrypted: bool = False
    unsafe: str | None = None
    ref: Any = None


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class ExtractResult:
    """What one archive became: the final path, counts, time and what was left out."""

    archive: str
    path: str
    format: str
    files: int
    dirs: int
    links: int
    bytes: int
    seconds: float
    wrapped: bool
    renamed: bool
    replaced: bool
    skipped: tuple[Skipped, ...] = ()
    nested: tuple[ExtractResult, ...] = field(default=())
    # What devkit changed on the way, for the user to know (a leading "/" removed).
    notes: tuple[str, ...] = ()
    dry_run: bool = False  # then `path` and the counts are where and what it would be

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "path": self.path,
            "format": self.format,
            "files": self.files,
            "dirs": self.dirs,
            "links": self.links,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "wrapped": self.wrapped,
            "renamed": self.renamed,
            "replaced": self.replaced,
            "skipped": [s.to_json() for s in self.skipped],
            "nested": [n.to_json() for n in self.nested],
            "notes": list(self.notes),
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class ListedMember:
    name: str
    kind: Kind
    size: int | None
    packed: int | None
    mtime: float | None
    link: str | None
    encrypted: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "packed": self.packed,
            "modified": iso_time(self.mtime),
            "link": self.link,
            "encrypted": self.encrypted,
        }


@dataclass(frozen=True)
class ArchiveListing:
    archive: str
    format: str
    members: tuple[ListedMember, ...]

    @property
    def total_size(self) -> int:
        return sum(m.size or 0 for m in self.members)

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "format": self.format,
            "count": len(self.members),
            "bytes": self.total_size,
            "members": [m.to_json() for m in self.members],
        }


def iso_time(mtime: float | None) -> str | None:
    if mtime is None:
        return None
    try:
        moment = datetime.fromtimestamp(mtime, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """Parse "1048576", "50M", "2G", "1.5GiB" (binary units) into bytes."""
    match = _SIZE.match(text)
    if not match:
        raise InvalidInput(
            f"not a size: {text!r}",
            code="invalid_size",
            hint="use plain bytes or a suffix K, M, G or T, e.g. 50M",
        )
    number, unit = match.group(1), match.group(2).upper()
    return int(float(number) * _UNITS[unit])
