"""Hostile archives made here: every refusal leaves DEST unchanged and nothing outside."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.errors import ArchiveCorrupt, CapExceeded, UnsafeArchive
from devkit.archive.safety import normalize_name
from tests.archive.conftest import snapshot


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"data\n", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1_600_000_000
    tar.addfile(info, io.BytesIO(data))


def add_link(tar: tarfile.TarFile, name: str, target: str, *, hard: bool = False) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def make_tar(path: Path, build) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        build(tar)
    return path


def assert_refused_cleanly(sandbox: dict[str, Path], archive: Path, **options) -> UnsafeArchive:
    before = snapshot(sandbox["root"])
    with pytest.raises(UnsafeArchive) as refused:
        extract_archive(archive, dest=sandbox["dest"], options=ExtractOptions(**options))
    assert snapshot(sandbox["root"]) == before
    assert not list(sandbox["work"].parent.glob("**/pwned*"))
    return refused.value


HOSTILE_TARS = {
    "dotdot": lambda t: add_file(t, "../pwned.txt"),
    "nested_dotdot": lambda t: add_file(t, "a/../../pwned.txt"),
    "symlink_escape": lambda t: add_link(t, "a/out", "../../.."),
    "absolute_symlink": lambda t: add_link(t, "a/etc", "/etc"),
    "write_through_symlink": lambda t: (add_link(t, "a/up", "."), add_file(t, "a/up/x")),
    "hardlink_outside": lambda t: add_link(t, "a/h", "../../sentinel.txt", hard=True),
    "hardlink_absolute": lambda t: add_link(t, "a/h", "/etc/passwd", hard=True),
    "dir_over_file": lambda t: (add_file(t, "a/x"), add_dir(t, "a/x")),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_hostile_tar_is_refused_and_dest_unchanged(sandbox, case: str) -> None:
    archive = make_tar(sandbox["work"] / f"{case}.tar.gz", HOSTILE_TARS[case])
    error = assert_refused_cleanly(sandbox, archive)
    assert error.unsafe and error.unsafe[0]["reason"]
    assert error.exit_code == 1


def test_symlink_then_write_through_it_is_refused(sandbox) -> None:
    """rar5-evil-symlink-traversal in tar form: a link to .. then a file through it."""

    def build(tar: tarfile.TarFile) -> None:
        add_link(tar, "up", "..")
        add_file(tar, "up/pwned.txt")

    error = assert_refused_cleanly(sandbox, make_tar(sandbox["work"] / "evil.tgz", build))
    names = {item["name"] for item in error.unsafe}
    assert names == {"up", "up/pwned.txt"}  # every unsafe member is named


def test_chained_symlinks_that_escape_together_are_refused(sandbox) -> None:
    """Each link alone stays inside; followed through each other they leave the tree."""

    def build(tar: tarfile.TarFile) -> None:
        add_dir(tar, "top")
        add_dir(tar, "top/a")
        add_dir(tar, "top/a/b")
        add_link(tar, "top/a/b/l1", "../..")  # -> top
        add_link(tar, "top/l2", "a/b/l1/..")  # -> top/.. : outside top

    assert_refused_cleanly(sandbox, make_tar(sandbox["work"] / "chain.tgz", build))


def test_link_created_later_cannot_redirect_an_earlier_one(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_dir(tar, "top")
        add_link(tar, "top/early", "x/../..")  # lexically inside (top/..? no: escapes)
        add_link(tar, "top/x", ".")

    assert_refused_cleanly(sandbox, make_tar(sandbox["work"] / "late.tgz", build))


def test_existing_symlink_in_dest_is_never_followed(sandbox) -> None:
    outside = sandbox["root"] / "elsewhere"
    outside.mkdir()
    os.symlink(outside, sandbox["dest"] / "proj")

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "proj/file.txt")

    archive = make_tar(sandbox["work"] / "proj.tgz", build)
    result = extract_archive(archive, dest=sandbox["dest"])
    assert result.path == str(sandbox["dest"] / "proj-1")
    assert os.listdir(outside) == []
    assert (sandbox["dest"] / "proj-1" / "file.txt").is_file()
    # --overwrite replaces the link itself, never writes through it
    extract_archive(archive, dest=sandbox["dest"], options=ExtractOptions(overwrite=True))
    assert not (sandbox["dest"] / "proj").is_symlink()
    assert os.listdir(outside) == []


def test_skip_unsafe_extracts_the_rest_and_lists_what_it_skipped(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "pkg/ok.txt", b"fine\n")
        add_file(tar, "../pwned.txt")
        add_link(tar, "pkg/out", "/etc/passwd")
        add_link(tar, "pkg/in", "ok.txt")

    archive = make_tar(sandbox["work"] / "mixed.tgz", build)
    result = extract_archive(
        archive, dest=sandbox["dest"], options=ExtractOptions(skip_unsafe=True)
    )
    out = sandbox["dest"] / "pkg"
    assert (out / "ok.txt").read_text() == "fine\n"
    assert os.readlink(out / "in") == "ok.txt"
    assert not os.path.lexists(out / "out")
    skipped = {s.name: s.reason for s in result.skipped}
    assert "../pwned.txt" in skipped and "pkg/out" in skipped
    assert "absolute" in skipped["pkg/out"]
    assert not (sandbox["root"] / "pwned.txt").exists()


def test_special_files_are_skipped_and_special_bits_dropped(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "pkg/suid", b"#!/bin/sh\n", mode=0o6755)
        add_file(tar, "pkg/sticky", b"x", mode=0o1777)
        fifo = tarfile.TarInfo("pkg/fifo")
        fifo.type = tarfile.FIFOTYPE
        tar.addfile(fifo)
        dev = tarfile.TarInfo("pkg/null")
        dev.type = tarfile.CHRTYPE
        dev.devmajor, dev.devminor = 1, 3
        tar.addfile(dev)

    old = os.umask(0o027)
    try:
        archive = make_tar(sandbox["work"] / "special.tgz", build)
        result = extract_archive(archive, dest=sandbox["dest"])
    finally:
        os.umask(old)
    out = sandbox["dest"] / "pkg"
    assert stat.S_IMODE((out / "suid").stat().st_mode) == 0o750
    assert stat.S_IMODE((out / "sticky").stat().st_mode) == 0o750
    assert not os.path.lexists(out / "fifo") and not os.path.lexists(out / "null")
    assert {s.name for s in result.skipped} == {"pkg/fifo", "pkg/null"}


def test_read_only_folder_still_extracts_and_modes_are_applied_last(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_dir(tar, "ro", mode=0o555)
        add_file(tar, "ro/inside.txt", b"in\n", mode=0o444)

    archive = make_tar(sandbox["work"] / "ro.tgz", build)
    extract_archive(archive, dest=sandbox["dest"])
    assert (sandbox["dest"] / "ro" / "inside.txt").read_text() == "in\n"
    assert stat.S_IMODE((sandbox["dest"] / "ro").stat().st_mode) == 0o555
    # A read-only folder can be renamed into place and replaced (also without root).
    again = extract_archive(archive, dest=sandbox["dest"])
    assert again.path == str(sandbox["dest"] / "ro-1")
    replaced = extract_archive(
        archive, dest=sandbox["dest"], options=ExtractOptions(overwrite=True)
    )
    assert replaced.replaced and replaced.path == str(sandbox["dest"] / "ro")
    assert stat.S_IMODE((sandbox["dest"] / "ro").stat().st_mode) == 0o555
    assert sorted(os.listdir(sandbox["dest"])) == ["existing.txt", "ro", "ro-1"]


def test_duplicates_last_member_wins_and_hard_links_are_not_written_through(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "d/a.txt", b"first\n")
        add_link(tar, "d/twin", "d/a.txt", hard=True)
        add_file(tar, "d/a.txt", b"second\n")

    archive = make_tar(sandbox["work"] / "dups.tgz", build)
    result = extract_archive(archive, dest=sandbox["dest"])
    out = sandbox["dest"] / "d"
    assert (out / "a.txt").read_text() == "second\n"
    assert (out / "twin").read_text() == "first\n"
    assert any("duplicate" in s.reason for s in result.skipped)


def test_tarbomb_is_wrapped_in_a_folder_named_after_the_archive(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "one.txt")
        add_file(tar, "two/three.txt")

    archive = make_tar(sandbox["work"] / "bomb.tar.gz", build)
    result = extract_archive(archive, dest=sandbox["dest"])
    assert result.wrapped and result.path == str(sandbox["dest"] / "bomb")
    assert sorted(os.listdir(sandbox["dest"])) == ["bomb", "existing.txt"]
    assert stat.S_IMODE((sandbox["dest"] / "bomb").stat().st_mode) == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_zip_backslash_names_and_drive_letters(sandbox) -> None:
    archive = sandbox["work"] / "win.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pkg\\sub\\ok.txt", "ok")
        zf.writestr("..\\..\\pwned.txt", "bad")
        zf.writestr("C:/pwned.txt", "bad")
    error = assert_refused_cleanly(sandbox, archive)
    reasons = {item["name"]: item["reason"] for item in error.unsafe}
    assert "escapes" in reasons["..\\..\\pwned.txt"]
    assert "drive letter" in reasons["C:/pwned.txt"]
    result = extract_archive(
        archive, dest=sandbox["dest"], options=ExtractOptions(skip_unsafe=True)
    )
    assert (Path(result.path) / "sub" / "ok.txt").read_text() == "ok"


def test_zip_symlink_escape_is_refused(sandbox) -> None:
    archive = sandbox["work"] / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("pkg/evil")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../../etc")
        zf.writestr("pkg/evil/pwned.txt", "bad")
    assert_refused_cleanly(sandbox, archive)


def test_names_with_nul_bytes_and_other_unsafe_names_are_refused() -> None:
    assert normalize_name("a\x00b", backslash_is_separator=False)[1] == "NUL byte in name"
    assert normalize_name("/etc/x", backslash_is_separator=False) == ("etc/x", None)
    assert normalize_name("\\etc\\x", backslash_is_separator=True) == ("etc/x", None)
    assert normalize_name("D:\\x", backslash_is_separator=True)[1] == "drive letter in name"
    assert normalize_name("./a//b/./c", backslash_is_separator=False) == ("a/b/c", None)
    assert normalize_name("a\\b", backslash_is_separator=False) == ("a\\b", None)


def test_control_characters_in_names_are_escaped_when_printed(sandbox) -> None:
    from tests.clirun import invoke

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "pkg/\x1b[31mred\x07.txt")
        add_file(tar, "pkg/\x1b]0;title\x07")

    archive = make_tar(sandbox["work"] / "esc.tgz", build)
    result = invoke(["extract", str(archive), "--list"])
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\\x1b" in result.stdout


def test_byte_cap_counts_bytes_written_and_removes_everything(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "big/a.bin", b"\0" * 3_000_000)

    archive = make_tar(sandbox["work"] / "big.tgz", build)
    before = snapshot(sandbox["root"])
    with pytest.raises(CapExceeded) as hit:
        extract_archive(
            archive,
            dest=sandbox["dest"],
            options=ExtractOptions(max_bytes=1_000_000, max_ratio=1e9),
        )
    assert hit.value.code == "max_bytes" and "--max-bytes" in (hit.value.hint or "")
    assert snapshot(sandbox["root"]) == before


def test_ratio_cap_stops_a_bomb_once_past_ratio_after(sandbox) -> None:
    """A zero stream (xz: ~6,800:1) stops as soon as the extraction has written more
    than ratio_after (here 2 MiB instead of the default 4 GiB) and more than 2000x the
    archive's size: never all of its 20 MB."""
    import lzma

    archive = sandbox["work"] / "zeros.xz"
    archive.write_bytes(lzma.compress(b"\0" * 20_000_000))
    before = snapshot(sandbox["root"])
    written: list[int] = []
    with pytest.raises(CapExceeded) as hit:
        extract_archive(
            archive,
            dest=sandbox["dest"],
            options=ExtractOptions(ratio_after=2 * 1024**2),
            on_progress=written.append,
        )
    assert hit.value.code == "max_ratio" and "--ratio-after" in (hit.value.hint or "")
    # Stopped at the first piece past both thresholds (progress counts accepted pieces).
    assert sum(written) <= max(2 * 1024**2, 2000 * archive.stat().st_size) < 20_000_000
    assert snapshot(sandbox["root"]) == before
    extract_archive(archive, dest=sandbox["dest"], options=ExtractOptions(max_ratio=1e6))
    assert (sandbox["dest"] / "zeros").stat().st_size == 20_000_000


def test_zip_declared_sizes_are_checked_before_writing(sandbox) -> None:
    archive = sandbox["work"] / "declared.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("z/zeros.bin", b"\0" * 5_000_000)
    before = snapshot(sandbox["root"])
    with pytest.raises(CapExceeded) as hit:
        extract_archive(archive, dest=sandbox["dest"], options=ExtractOptions(max_bytes=1000))
    assert "declares" in hit.value.message
    assert snapshot(sandbox["root"]) == before


def test_entry_cap(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        for index in range(50):
            add_file(tar, f"many/{index}.txt")

    archive = make_tar(sandbox["work"] / "many.tgz", build)
    before = snapshot(sandbox["root"])
    with pytest.raises(CapExceeded) as hit:
        extract_archive(archive, dest=sandbox["dest"], options=ExtractOptions(max_entries=10))
    assert hit.value.code == "max_entries"
    assert snapshot(sandbox["root"]) == before


def test_truncated_and_corrupt_archives_leave_dest_unchanged(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        for index in range(20):
            add_file(tar, f"t/{index}.bin", os.urandom(20_000))

    whole = make_tar(sandbox["work"] / "whole.tgz", build).read_bytes()
    truncated = sandbox["work"] / "truncated.tgz"
    truncated.write_bytes(whole[: len(whole) // 2])
    corrupt = sandbox["work"] / "corrupt.tgz"
    corrupt.write_bytes(whole[:200] + bytes(b ^ 0xFF for b in whole[200:400]) + whole[400:])
    zip_path = sandbox["work"] / "cut.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("z/a.bin", os.urandom(50_000))
    zip_path.write_bytes(zip_path.read_bytes()[:30_000])
    before = snapshot(sandbox["root"])
    for archive in (truncated, corrupt, zip_path):
        with pytest.raises((ArchiveCorrupt,)):
            extract_archive(archive, dest=sandbox["dest"])
        assert snapshot(sandbox["root"]) == before, archive.name


def test_zip_crc_mismatch_is_corrupt(sandbox) -> None:
    archive = sandbox["work"] / "crc.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("c/a.txt", b"hello world\n" * 10)
    data = bytearray(archive.read_bytes())
    offset = data.index(b"hello world")
    data[offset] ^= 0x01
    archive.write_bytes(bytes(data))
    before = snapshot(sandbox["root"])
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=sandbox["dest"])
    assert snapshot(sandbox["root"]) == before


def test_overwrite_replaces_and_default_renames(sandbox) -> None:
    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "app/new.txt", b"new\n")

    (sandbox["dest"] / "app").mkdir()
    (sandbox["dest"] / "app" / "old.txt").write_text("old\n")
    archive = make_tar(sandbox["work"] / "app.tgz", build)
    first = extract_archive(archive, dest=sandbox["dest"])
    second = extract_archive(archive, dest=sandbox["dest"])
    assert (first.path, second.path) == (
        str(sandbox["dest"] / "app-1"),
        str(sandbox["dest"] / "app-2"),
    )
    assert (sandbox["dest"] / "app" / "old.txt").exists()
    replaced = extract_archive(
        archive, dest=sandbox["dest"], options=ExtractOptions(overwrite=True)
    )
    assert replaced.replaced and replaced.path == str(sandbox["dest"] / "app")
    assert sorted(os.listdir(sandbox["dest"] / "app")) == ["new.txt"]
    assert not [p for p in os.listdir(sandbox["dest"]) if p.startswith(".devkit")]


def test_a_name_the_filesystem_rejects_is_a_clean_failure(sandbox) -> None:
    from devkit.errors import OperationFailed

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "pkg/ok.txt")
        add_file(tar, "pkg/" + "n" * 300)  # longer than NAME_MAX

    archive = make_tar(sandbox["work"] / "long.tgz", build)
    before = snapshot(sandbox["root"])
    with pytest.raises(OperationFailed) as error:
        extract_archive(archive, dest=sandbox["dest"])
    assert error.value.code == "write_failed"
    assert snapshot(sandbox["root"]) == before


def _outer_with_nested_self_link(work: Path, target: str) -> Path:
    """top/inner.tar holds `inner/up -> .` (safe inside it); the outer link top/esc
    goes through inner/up, which the outer archive only knows as a missing folder."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add_file(tar, "inner/keep.txt")
        add_link(tar, "inner/up", ".")
    data = inner.getvalue()

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "top/inner.tar", data)
        add_link(tar, "top/esc", target)

    return make_tar(work / "outer.tar.gz", build)


def test_recursive_links_are_checked_against_the_final_tree(sandbox) -> None:
    """Lexically top/inner/up/up/../../../sentinel.txt is top/sentinel.txt; on disk,
    with up -> ., each '..' climbs one real level: out of DEST to the sentinel."""
    archive = _outer_with_nested_self_link(sandbox["work"], "inner/up/up/../../../sentinel.txt")
    refused = assert_refused_cleanly(sandbox, archive, recursive=True)
    assert refused.unsafe[0]["name"] == "top/esc"
    # --skip-unsafe drops that link and keeps the rest.
    result = extract_archive(
        archive, dest=sandbox["dest"], options=ExtractOptions(recursive=True, skip_unsafe=True)
    )
    top = Path(result.path)
    assert not os.path.lexists(top / "esc")
    assert (top / "inner" / "keep.txt").read_text() == "data\n"
    assert os.readlink(top / "inner" / "up") == "."
    assert any(s.name == "top/esc" for s in result.skipped)


def test_recursive_links_that_stay_inside_the_final_tree_are_kept(sandbox) -> None:
    archive = _outer_with_nested_self_link(sandbox["work"], "inner/up/up/keep.txt")
    result = extract_archive(archive, dest=sandbox["dest"], options=ExtractOptions(recursive=True))
    assert (Path(result.path) / "esc").read_text() == "data\n"
