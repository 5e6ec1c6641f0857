"""Round trips: archives of every format built here, extracted, compared with the source."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive, list_archive

MTIME = 1_600_000_000
UMASK = 0o022


@pytest.fixture(autouse=True)
def fixed_umask():
    old = os.umask(UMASK)
    yield
    os.umask(old)


def make_tree(base: Path) -> Path:
    """proj/ with text, an executable, random data, a symlink and an empty folder."""
    root = base / "proj"
    (root / "bin").mkdir(parents=True)
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_text("alpha\n" * 100)
    (root / "bin" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "bin" / "run.sh", 0o755)
    (root / "sub" / "deep" / "c.bin").write_bytes(random.Random(7).randbytes(200_000))
    os.symlink("../a.txt", root / "sub" / "link")
    for path in [*root.rglob("*"), root]:
        if not path.is_symlink():
            os.utime(path, (MTIME, MTIME))
    return root


def assert_same_tree(source: Path, extracted: Path, *, mtime_slack: float = 0) -> None:
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        target = extracted / rel
        assert os.path.lexists(target), rel
        if path.is_symlink():
            assert target.is_symlink() and os.readlink(target) == os.readlink(path), rel
        elif path.is_dir():
            assert target.is_dir(), rel
        else:
            assert target.read_bytes() == path.read_bytes(), rel
            assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(path.stat().st_mode), rel
            if mtime_slack:
                assert abs(target.stat().st_mtime - MTIME) <= mtime_slack, rel
            else:
                assert int(target.stat().st_mtime) == MTIME, rel
    extra = {p.relative_to(extracted) for p in extracted.rglob("*")} - {
        p.relative_to(source) for p in source.rglob("*")
    }
    assert not extra


TAR_MODES = {"tar": "w", "tar.gz": "w:gz", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}


@pytest.mark.parametrize("fmt", sorted(TAR_MODES))
def test_tar_round_trip(tmp_path: Path, fmt: str) -> None:
    source = make_tree(tmp_path / "src")
    archive = tmp_path / f"proj.{fmt}"
    with tarfile.open(archive, TAR_MODES[fmt]) as tar:
        tar.add(source, arcname="proj")
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.format == fmt
    assert result.path == str(tmp_path / "out" / "proj")
    assert not result.wrapped
    assert result.files == 3 and result.links == 1
    assert_same_tree(source, tmp_path / "out" / "proj")


def _tar_bytes(source: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(source, arcname="proj")
    return buffer.getvalue()


def test_tar_zst_and_tar_lzma_round_trip(tmp_path: Path) -> None:
    import zstandard

    source = make_tree(tmp_path / "src")
    raw = _tar_bytes(source)
    (tmp_path / "p.tzst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    (tmp_path / "p.tar.lzma").write_bytes(lzma.compress(raw, format=lzma.FORMAT_ALONE))
    for name, fmt in (("p.tzst", "tar.zst"), ("p.tar.lzma", "tar.lzma")):
        out = tmp_path / f"out-{fmt}"
        result = extract_archive(tmp_path / name, dest=out)
        assert result.format == fmt
        assert_same_tree(source, out / "proj")


def _zip_tree(source: Path, archive: Path, method: int) -> None:
    with zipfile.ZipFile(archive, "w", compression=method) as zf:
        for path in sorted([source, *source.rglob("*")]):
            arcname = "proj/" + str(path.relative_to(source)) if path != source else "proj"
            if path.is_symlink():
                info = zipfile.ZipInfo(arcname, date_time=(2020, 9, 13, 12, 26, 40))
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, os.readlink(path))
            else:
                zf.write(path, arcname)


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_zip_round_trip_keeps_modes_and_symlinks(tmp_path: Path, method: int) -> None:
    source = make_tree(tmp_path / "src")
    archive = tmp_path / "proj.zip"
    _zip_tree(source, archive, method)
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.format == "zip"
    out = tmp_path / "out" / "proj"
    # zip stores local time with 2-second precision.
    assert_same_tree(source, out, mtime_slack=2)
    assert (out / "empty").is_dir()


def test_zip_crypto_password(tmp_path: Path) -> None:
    """ZipCrypto archives cannot be written by zipfile; the libarchive corpus has one
    (password 12345678), so this builds the negative cases from it when present."""
    from tests.archive.conftest import TESTDATA, corpus

    if TESTDATA is None:
        pytest.skip("shared test corpus (../shared/testdata) is absent")
    archive = corpus(tmp_path, "libarchive/test_read_format_zip_traditional_encryption_data.zip")
    result = extract_archive(
        archive, dest=tmp_path / "ok", options=ExtractOptions(password="12345678")
    )
    assert result.files >= 1
    assert any(p.is_file() and p.stat().st_size for p in Path(result.path).rglob("*"))


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".gz", gzip.compress),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
        (".lzma", lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE)),
    ],
)
def test_single_compressed_file_is_named_after_the_archive(
    tmp_path: Path, suffix: str, compress
) -> None:
    data = b"line\n" * 1000
    archive = tmp_path / f"notes.txt{suffix}"
    archive.write_bytes(compress(data))
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.path == str(tmp_path / "out" / "notes.txt")
    assert (tmp_path / "out" / "notes.txt").read_bytes() == data
    assert stat.S_IMODE((tmp_path / "out" / "notes.txt").stat().st_mode) == 0o644


def test_gzip_header_name_is_ignored(tmp_path: Path) -> None:
    archive = tmp_path / "report.csv.gz"
    with (
        open(archive, "wb") as raw,
        gzip.GzipFile(filename="../../etc/evil", mode="wb", fileobj=raw) as gz,
    ):
        gz.write(b"a,b\n")
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.path == str(tmp_path / "out" / "report.csv")
    assert sorted(os.listdir(tmp_path / "out")) == ["report.csv"]


def test_single_zst_and_name_clash(tmp_path: Path) -> None:
    import zstandard

    archive = tmp_path / "data.csv.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(b"x,y\n"))
    out = tmp_path / "out"
    first = extract_archive(archive, dest=out)
    second = extract_archive(archive, dest=out)
    assert first.path == str(out / "data.csv") and not first.renamed
    assert second.path == str(out / "data-1.csv") and second.renamed
    assert (out / "data-1.csv").read_bytes() == b"x,y\n"


def test_7z_round_trip(tmp_path: Path) -> None:
    import py7zr

    source = make_tree(tmp_path / "src")
    archive = tmp_path / "proj.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.writeall(source, "proj")
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.format == "7z"
    assert_same_tree(source, tmp_path / "out" / "proj")


def test_7z_non_solid_with_empty_files(tmp_path: Path) -> None:
    import py7zr

    files = {f"many/f{i:03d}.txt": (b"x" * (i % 5)) for i in range(60)}
    archive = tmp_path / "many.7z"
    with py7zr.SevenZipFile(archive, "w", filters=[{"id": py7zr.FILTER_LZMA2}]) as z:
        for name, data in files.items():
            z.writestr(data, name)
    extract_archive(archive, dest=tmp_path / "out")
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data


def test_7z_encrypted_with_and_without_password(tmp_path: Path) -> None:
    import py7zr

    archive = tmp_path / "secret.7z"
    with py7zr.SevenZipFile(archive, "w", password="pw", header_encryption=True) as z:
        z.writestr(b"top secret\n", "s/secret.txt")
    from devkit.archive.errors import PasswordError

    with pytest.raises(PasswordError) as missing:
        extract_archive(archive, dest=tmp_path / "a")
    assert missing.value.code == "password_required"
    with pytest.raises(PasswordError) as wrong:
        extract_archive(archive, dest=tmp_path / "b", options=ExtractOptions(password="nope"))
    assert wrong.value.code == "wrong_password"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    extract_archive(archive, dest=tmp_path / "c", options=ExtractOptions(password="pw"))
    assert (tmp_path / "c" / "s" / "secret.txt").read_bytes() == b"top secret\n"


def test_7z_data_encrypted_headers_clear_wrong_password(tmp_path: Path) -> None:
    import py7zr

    from devkit.archive.errors import PasswordError

    archive = tmp_path / "data.7z"
    with py7zr.SevenZipFile(archive, "w", password="pw") as z:
        z.writestr(b"payload\n" * 100, "d/p.txt")
    assert list_archive(archive).members[0].name == "d/p.txt"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PasswordError) as wrong:
        extract_archive(archive, dest=out, options=ExtractOptions(password="nope"))
    assert wrong.value.code == "wrong_password"
    assert os.listdir(out) == []


def test_7z_multivolume(tmp_path: Path) -> None:
    import multivolumefile
    import py7zr

    data = random.Random(3).randbytes(300_000)
    with (
        multivolumefile.open(tmp_path / "vol.7z", mode="wb", volume=100_000) as target,
        py7zr.SevenZipFile(target, "w") as z,
    ):
        z.writestr(data, "vol/blob.bin")
    assert (tmp_path / "vol.7z.0002").exists() or (tmp_path / "vol.7z.002").exists()
    first = next(p for p in tmp_path.iterdir() if p.name.endswith((".0001", ".001")))
    if first.name.endswith(".0001"):
        for part in sorted(tmp_path.glob("vol.7z.0*")):
            part.rename(tmp_path / f"vol.7z.{int(part.suffix[1:]):03d}")
        first = tmp_path / "vol.7z.001"
    result = extract_archive(first, dest=tmp_path / "out")
    assert result.format == "7z"
    assert (tmp_path / "out" / "vol" / "blob.bin").read_bytes() == data


def test_list_archive_reports_members(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    archive = tmp_path / "proj.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname="proj")
    listing = list_archive(archive)
    kinds = {m.name: m.kind for m in listing.members}
    assert kinds["proj/sub/link"] == "symlink"
    assert kinds["proj/a.txt"] == "file"
    assert kinds["proj/empty"] == "dir"
    doc = listing.to_json()
    assert doc["format"] == "tar.gz" and doc["count"] == len(listing.members)
    assert not (tmp_path / "proj").exists()


def test_recursive_extracts_nested_archives(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("inner/readme.txt", "nested\n")
    outer = tmp_path / "outer.tar.gz"
    with tarfile.open(outer, "w:gz") as tar:
        info = tarfile.TarInfo("outer/bundle.zip")
        info.size = len(inner.getvalue())
        tar.addfile(info, io.BytesIO(inner.getvalue()))
    result = extract_archive(outer, dest=tmp_path / "out", options=ExtractOptions(recursive=True))
    assert (tmp_path / "out" / "outer" / "inner" / "readme.txt").read_text() == "nested\n"
    assert (tmp_path / "out" / "outer" / "bundle.zip").is_file()
    assert len(result.nested) == 1 and result.nested[0].format == "zip"
    assert result.nested[0].path == str(tmp_path / "out" / "outer" / "inner")
    assert result.nested[0].archive == str(tmp_path / "out" / "outer" / "bundle.zip")
    plain = extract_archive(outer, dest=tmp_path / "plain")
    assert not (tmp_path / "plain" / "outer" / "inner").exists()
    assert plain.nested == ()


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_long_names_links_and_utf8_in_every_tar_dialect(tmp_path: Path, fmt: int) -> None:
    """Long names (pax records, GNU ././@LongLink, ustar prefix) through the fast reader."""
    deep = "pkg/" + "/".join(["segment-" + "x" * 30] * 3) + "/file.txt"
    long_target = "../" + "y" * 90 + "-target.txt"
    unicode_name = "pkg/naïve-名前.txt"
    archive = tmp_path / "long.tar.xz"
    with tarfile.open(archive, "w:xz", format=fmt) as tar:
        for name, data in ((deep, b"deep\n"), (unicode_name, b"utf8\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            info.mode = 0o640
            tar.addfile(info, io.BytesIO(data))
        if fmt != tarfile.USTAR_FORMAT:  # ustar cannot store a 100+ char link target
            link = tarfile.TarInfo("pkg/sub/" + "z" * 10)
            link.type = tarfile.SYMTYPE
            link.linkname = long_target.replace("../", "")
            tar.addfile(link)
    result = extract_archive(archive, dest=tmp_path / "out")
    out = tmp_path / "out"
    assert (out / deep).read_bytes() == b"deep\n"
    assert stat.S_IMODE((out / deep).stat().st_mode) == 0o640
    assert int((out / deep).stat().st_mtime) == MTIME
    assert (out / unicode_name).read_bytes() == b"utf8\n"
    if fmt != tarfile.USTAR_FORMAT:
        assert os.readlink(out / "pkg/sub" / ("z" * 10)) == long_target.replace("../", "")
    assert result.files == 2


def test_tar_big_member_streams_across_blocks(tmp_path: Path) -> None:
    data = random.Random(5).randbytes(3 * 1024 * 1024 + 123)
    archive = tmp_path / "big.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("big/blob.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        small = tarfile.TarInfo("big/after.txt")
        small.size = 6
        tar.addfile(small, io.BytesIO(b"after\n"))
    extract_archive(archive, dest=tmp_path / "out")
    assert (tmp_path / "out" / "big" / "blob.bin").read_bytes() == data
    assert (tmp_path / "out" / "big" / "after.txt").read_bytes() == b"after\n"


@pytest.mark.slow  # tarfile reads the 100 MB of holes out as zeros in Python
def test_unusual_tar_falls_back_to_tarfile(tmp_path: Path) -> None:
    """GNU sparse members are left to tarfile; the result is the same tree."""
    from tests.archive.conftest import TESTDATA, corpus

    if TESTDATA is None:
        pytest.skip("shared test corpus (../shared/testdata) is absent")
    archive = corpus(tmp_path, "libarchive/test_read_format_gtar_sparse_1_17_posix10.tar")
    # holes are written out as zeros, far beyond the default ratio for a 10 KB archive
    result = extract_archive(archive, dest=tmp_path / "out", options=ExtractOptions(max_ratio=1e6))
    with tarfile.open(archive) as tar:
        expected = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]
    root = Path(result.path) if result.wrapped else tmp_path / "out"
    for name, data in expected.items():
        assert (root / name).read_bytes() == data


def test_7z_symlink_escape_is_refused(tmp_path: Path) -> None:
    import py7zr

    from devkit.archive.errors import UnsafeArchive

    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink("../outside.txt", src / "evil")  # py7zr only stores links that resolve
    (src / "ok.txt").write_text("ok")
    archive = tmp_path / "evil.7z"
    with py7zr.SevenZipFile(archive, "w") as z:
        z.write(src / "ok.txt", "pkg/ok.txt")
        z.write(src / "evil", "pkg/evil")
    out = tmp_path / "out"
    with pytest.raises(UnsafeArchive):
        extract_archive(archive, dest=out)
    assert not out.exists()
    result = extract_archive(archive, dest=out, options=ExtractOptions(skip_unsafe=True))
    assert (out / "pkg" / "ok.txt").read_text() == "ok"
    assert not os.path.lexists(out / "pkg" / "evil")
    assert [s.name for s in result.skipped] == ["pkg/evil"]


def test_zip_deflate64_made_by_7zip(tmp_path: Path) -> None:
    """zipfile cannot decode deflate64; devkit does (inflate64), CRC checked."""
    from devkit.archive.tools import bundled_7zz

    source = tmp_path / "d64"
    source.mkdir()
    payload = (b"deflate64 " * 50_000) + random.Random(9).randbytes(100_000)
    (source / "data.bin").write_bytes(payload)
    archive = tmp_path / "d64.zip"
    tool = bundled_7zz()
    assert tool
    import subprocess

    subprocess.run(
        [tool, "a", "-tzip", "-mm=Deflate64", str(archive), "d64"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with zipfile.ZipFile(archive) as zf:
        assert zf.infolist()[-1].compress_type == 9
    extract_archive(archive, dest=tmp_path / "out")
    assert (tmp_path / "out" / "d64" / "data.bin").read_bytes() == payload
    # a flipped byte in the compressed data is caught (inflate error or CRC)
    from devkit.archive.errors import ArchiveCorrupt

    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0xFF
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorrupt):
        extract_archive(broken, dest=tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_7z_behind_a_self_extractor_stub(tmp_path: Path) -> None:
    import py7zr

    plain = tmp_path / "plain.7z"
    with py7zr.SevenZipFile(plain, "w") as z:
        z.writestr(b"inside\n", "sfx/inside.txt")
    stub = bytes(b for b in random.Random(11).randbytes(6000) if b not in b"7zPKR")
    archive = tmp_path / "setup.exe"
    archive.write_bytes(b"MZ" + stub + plain.read_bytes())
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.format == "7z"
    assert (tmp_path / "out" / "sfx" / "inside.txt").read_bytes() == b"inside\n"
