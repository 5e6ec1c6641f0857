"""A damaged archive is exit 1 ("damaged or truncated"); a devkit bug is exit 3. So
no decoding path catches every exception and calls it damage."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from devkit.archive.errors import ArchiveCorrupt
from devkit.archive.formats.compressed import GuardedStream
from tests.clirun import run_devkit

ARCHIVE_CODE = Path(__file__).resolve().parents[2] / "devkit" / "archive"


def zipcrypto_member_at_the_very_end(path: Path) -> Path:
    """An encrypted member whose local header sits in the archive comment, 3 bytes of
    data before the end of the file: zipfile's read of the 12-byte encryption header
    comes back short (it raised IndexError: exit 3)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("top/a.txt", b"hello")
    data = bytearray(buffer.getvalue())
    data[6] |= 1  # encrypted, local header
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1  # encrypted, central directory
    end = data.find(b"PK\x05\x06")
    local = bytes(data[: 30 + len("top/a.txt")]) + b"abc"
    struct.pack_into("<I", data, central + 42, end + 22)
    data[end + 20 : end + 22] = struct.pack("<H", len(local))
    path.write_bytes(bytes(data[: end + 22]) + local)
    return path


def test_a_crafted_zipcrypto_member_is_damage_not_a_crash(tmp_path: Path) -> None:
    archive = zipcrypto_member_at_the_very_end(tmp_path / "crafted.zip")
    (tmp_path / "pw").write_text("password\n")
    done = run_devkit(
        ["extract", str(archive), "-C", str(tmp_path / "out"), "--password-file", "pw"],
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert "damaged or truncated" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_zipcrypto_member_shorter_than_its_header_is_damage(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("top/a.txt", b"hello")
    data = bytearray(buffer.getvalue())
    data[6] |= 1
    data[data.find(b"PK\x01\x02") + 8] |= 1
    (tmp_path / "short.zip").write_bytes(bytes(data))
    (tmp_path / "pw").write_text("password\n")
    done = run_devkit(["extract", "short.zip", "-C", "out", "--password-file", "pw"], cwd=tmp_path)
    assert done.returncode == 1 and "shorter than its encryption header" in done.stderr


class _Raises:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, size: int = -1, /) -> bytes:
        raise self.error


def test_decoding_damage_is_corrupt_but_a_bug_is_not(tmp_path: Path) -> None:
    with pytest.raises(ArchiveCorrupt):
        GuardedStream(_Raises(zlib.error("invalid distance")), tmp_path / "a.gz").read(1)
    with pytest.raises(TypeError):
        GuardedStream(_Raises(TypeError("a devkit bug")), tmp_path / "a.gz").read(1)


def test_no_archive_code_calls_every_exception_damage() -> None:
    found = [
        f"{path.relative_to(ARCHIVE_CODE)}:{number}"
        for path in sorted(ARCHIVE_CODE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        # (except BaseException blocks there clean up and re-raise, or hand it on)
        if re.search(r"except\s*\(?[\w., ]*\bException\b", line)
    ]
    assert found == []
