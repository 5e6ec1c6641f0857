"""Format detection from content: magic bytes, a peek inside compressed streams for a
tar header, and a scan for archives behind a self-extractor stub. The file name is
only a hint (for the raw .lzma format, which has no magic, and for naming output)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from devkit.archive.errors import UnknownFormat

RAR4 = b"Rar!\x1a\x07\x00"
RAR5 = b"Rar!\x1a\x07\x01\x00"
SEVEN = b"7z\xbc\xaf\x27\x1c"
ZSTD = b"\x28\xb5\x2f\xfd"
XZ = b"\xfd7zXZ\x00"
GZIP = b"\x1f\x8b"
BZIP2 = b"BZh"
SFX_SCAN_BYTES = 4 * 1024 * 1024
COMPRESSIONS = ("gz", "bz2", "xz", "zst", "lzma")

_ARCHIVE_SUFFIX = re.compile(
    r"(\.(tar\.(gz|bz2|xz|zst|zstd|lzma|z)|tgz|tbz2?|txz|tzst|tlz|tar|zip|jar|7z(\.\d{3})?"
    r"|part\d+\.rar|rar|r\d\d|sfx|exe|gz|bz2|xz|zst|zstd|lzma))+$",
    re.IGNORECASE,
)
_SINGLE_SUFFIX = re.compile(r"\.(gz|gzip|z|bz2|bzip2|xz|zst|zstd|lzma)$", re.IGNORECASE)


@dataclass(frozen=True)
class Detected:
    format: str  # zip, tar, tar.gz, ..., gz, bz2, xz, zst, lzma, 7z, rar
    offset: int = 0  # where the archive starts (self-extractors)


_NAME_HINTS = (
    (r"\.(tar\.gz|tgz)$", "tar.gz"),
    (r"\.(tar\.bz2|tbz2?)$", "tar.bz2"),
    (r"\.(tar\.xz|txz)$", "tar.xz"),
    (r"\.(tar\.zst|tzst)$", "tar.zst"),
    (r"\.(tar\.lzma|tlz)$", "tar.lzma"),
    (r"\.tar$", "tar"),
    (r"\.(zip|jar)$", "zip"),
    (r"\.7z(\.\d{3})?$", "7z"),
    (r"\.(rar|r\d\d)$", "rar"),
    (r"\.gz$", "gz"),
    (r"\.bz2$", "bz2"),
    (r"\.xz$", "xz"),
    (r"\.zst$", "zst"),
    (r"\.lzma$", "lzma"),
)


def format_from_name(path: Path) -> str | None:
    """The format the file name suggests (only a hint; the content decides)."""
    for pattern, fmt in _NAME_HINTS:
        if re.search(pattern, path.name, re.IGNORECASE):
            return fmt
    return None


def archive_stem(path: Path) -> str:
    """The archive's name without its archive suffixes ("data.tar.gz" -> "data")."""
    stem = _ARCHIVE_SUFFIX.sub("", path.name)
    return stem or "archive"


def single_output_name(path: Path) -> str:
    """The output of a single compressed file: the name without the compression
    suffix, never the name stored in a gzip header."""
    name = _SINGLE_SUFFIX.sub("", path.name)
    return name if name and name != path.name else f"{path.name}.out"


def _is_tar_header(block: bytes) -> bool:
    if len(block) < 512:
        return False
    if block[257:262] == b"ustar":
        return True
    try:
        stored = int(block[148:156].split(b"\x00", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == computed and block[0] != 0


def _named_tar(path: Path) -> bool:
    return (format_from_name(path) or "").startswith("tar")


def _is_empty_tar(block: bytes, path: Path) -> bool:
    """A tar with no members is only its zero end blocks: no content tells it from
    zeros, so the name decides (what `tar x` makes of it: nothing)."""
    return _named_tar(path) and len(block) == 512 and not block.strip(b"\0")


def _peek(fmt: str, path: Path) -> bytes:
    """The first decompressed bytes of a compressed stream ("" if it will not decode)."""
    import bz2
    import gzip
    import lzma

    from devkit.archive.formats.compressed import damage_errors  # formats imports detect

    try:
        if fmt == "gz":
            with gzip.open(path) as stream:
                return stream.read(512)
        if fmt == "bz2":
            with bz2.open(path) as stream:
                return stream.read(512)
        if fmt == "xz":
            with lzma.open(path, format=lzma.FORMAT_XZ) as stream:
                return stream.read(512)
        if fmt == "lzma":
            with lzma.open(path, format=lzma.FORMAT_ALONE) as stream:
                return stream.read(512)
        if fmt == "zst":
            import zstandard

            with path.open("rb") as raw:
                reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
                return reader.read(512)
    except ValueError:  # the stdlib openers' verdict on some bad headers
        return b""
    except damage_errors():
        return b""
    return b""


def _looks_like_lzma_alone(head: bytes, path: Path) -> bool:
    if len(head) < 13 or head[0] >= 9 * 5 * 5:
        return False
    dict_size = int.from_bytes(head[1:5], "little")
    odd_dict = dict_size & (dict_size - 1) and dict_size != 0xFFFFFFFF
    # A dictionary size that is not a power of two is only plausible for a .lzma name.
    if odd_dict and not re.search(r"\.(lzma|tlz)$", path.name, re.IGNORECASE):
        return False
    return bool(_peek("lzma", path))


def describe(head: bytes) -> str:
    """A short description of content that is not an archive."""
    if not head:
        return "an empty file"
    signatures = [
        (b"%PDF", "a PDF document"),
        (b"\x7fELF", "an ELF executable"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"MZ", "a Windows executable"),
        (b"{", "JSON or text"),
        (b"<", "XML/HTML or text"),
    ]
    for magic, text in signatures:
        if head.startswith(magic):
            return text
    try:
        text = head[:4096].decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if all(ch.isprintable() or ch in "\r\n\t\f" for ch in text):
            return "plain text"
    return "unrecognised binary data (starts with " + head[:8].hex(" ") + ")"


def _compression(head: bytes, path: Path) -> str | None:
    """The compression whose magic bytes start the file (lzma: a plausible header)."""
    for magic, name in ((GZIP, "gz"), (XZ, "xz"), (ZSTD, "zst")):
        if head.startswith(magic):
            return name
    if head.startswith(BZIP2) and head[3:4].isdigit():
        return "bz2"
    if _looks_like_lzma_alone(head, path):
        return "lzma"
    return None


def _behind_stub(head: bytes) -> Detected | None:
    """An archive behind an executable stub (a self-extractor)."""
    for magic, fmt in ((RAR5, "rar"), (RAR4, "rar"), (SEVEN, "7z")):
        offset = head.find(magic, 1)
        if offset > 0:
            return Detected(fmt, offset)
    return None


def detect(path: Path) -> Detected:
    """Identify the archive format of `path` from its content."""
    with path.open("rb") as stream:
        head = stream.read(SFX_SCAN_BYTES)
    if head.startswith((RAR4, RAR5)):
        return Detected("rar")
    if head.startswith(SEVEN):
        return Detected("7z")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return Detected("zip")
    compression = _compression(head, path)
    if compression is not None:
        inner = _peek(compression, path)
        # A .tar.* name whose content is no tar is a damaged tar (tar x fails), not a
        # single file to write out as name.tar.
        is_tar = _is_tar_header(inner) or _named_tar(path)
        return Detected(f"tar.{compression}" if is_tar else compression)
    if _is_tar_header(head[:512]) or _is_empty_tar(head[:512], path):
        return Detected("tar")
    stub = _behind_stub(head)
    if stub is not None:
        return stub
    import zipfile  # a zip behind a prefix this far down: rare, and the import is not free

    if zipfile.is_zipfile(path):
        return Detected("zip")
    raise UnknownFormat(
        f"{path.name} is not an archive devkit can extract: the content is {describe(head)}",
        hint="supported: zip, tar (gz, bz2, xz, zst, lzma), gz, bz2, xz, zst, 7z, rar",
        details={"archive": str(path)},
    )
