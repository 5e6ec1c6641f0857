"""`devkit extract --dry-run`: the checks that need no decoding, and where the tree
would land; nothing written, DEST not even created."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

from tests.clirun import run_devkit


def add(tar: tarfile.TarFile, name: str, data: bytes = b"x", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def test_dry_run_says_where_and_what_and_writes_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "release.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add(tar, "app/a.txt", b"aaaa")
        add(tar, "app/sub/b.txt", b"bb")
    dest = tmp_path / "deep" / "dest"
    result = run_devkit(["extract", str(archive), "-C", str(dest), "--dry-run", "--json"])
    assert result.returncode == 0, result.stderr
    (planned,) = json.loads(result.stdout)["data"]["results"]
    assert planned["dry_run"] is True
    assert planned["path"] == str(dest / "app") and planned["wrapped"] is False
    assert (planned["files"], planned["bytes"]) == (2, 6)
    assert not (tmp_path / "deep").exists()


def test_dry_run_names_the_numbered_target_when_the_name_is_taken(tmp_path: Path) -> None:
    archive = tmp_path / "loose.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("one.txt", "1")
        zf.writestr("two.txt", "2")
    (tmp_path / "loose").mkdir()
    result = run_devkit(["extract", str(archive), "-C", str(tmp_path), "--dry-run", "--json"])
    (planned,) = json.loads(result.stdout)["data"]["results"]
    assert planned["path"] == str(tmp_path / "loose-1")
    assert planned["wrapped"] is True and planned["renamed"] is True
    assert not (tmp_path / "loose-1").exists()


def test_dry_run_refuses_what_extraction_would_refuse(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        add(tar, "ok.txt")
        add(tar, "../escape.txt")
    result = run_devkit(["extract", str(archive), "-C", str(tmp_path / "d"), "--dry-run"])
    assert result.returncode == 1
    assert "unsafe" in result.stderr
    bomb = tmp_path / "big.tar"
    with tarfile.open(bomb, "w") as tar:
        add(tar, "top/a.bin", b"z" * 4096)
    capped = run_devkit(
        ["extract", str(bomb), "-C", str(tmp_path / "d"), "--dry-run", "--max-bytes", "1K"]
    )
    assert capped.returncode != 0 and "byte cap" in capped.stderr
    assert not (tmp_path / "d").exists()
