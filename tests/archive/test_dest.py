"""DEST is created with its missing parents (as `mkdir -p`), from the CLI and from a
recipe's `to:`; a failure removes again every folder it created."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tests.clirun import run_devkit


def small_zip(path: Path) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pkg/a.txt", "a\n")
    path.write_bytes(buffer.getvalue())
    return path


def test_dest_parents_are_created(tmp_path: Path) -> None:
    small_zip(tmp_path / "a.zip")
    done = run_devkit(["extract", "a.zip", "-C", "x/y/z"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x" / "y" / "z" / "pkg" / "a.txt").read_text() == "a\n"


def test_a_failure_removes_the_parents_it_created(tmp_path: Path) -> None:
    archive = small_zip(tmp_path / "bad.zip")
    data = bytearray(archive.read_bytes())
    data[data.find(b"a\n")] ^= 0xFF  # the CRC no longer matches
    archive.write_bytes(bytes(data))
    (tmp_path / "x").mkdir()
    done = run_devkit(["extract", "bad.zip", "-C", "x/y/z"], cwd=tmp_path)
    assert done.returncode == 1 and "damaged" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "x"]
    assert list((tmp_path / "x").iterdir()) == []


def test_a_destination_below_a_file_is_a_usage_error(tmp_path: Path) -> None:
    small_zip(tmp_path / "a.zip")
    (tmp_path / "file").write_text("not a folder\n")
    done = run_devkit(["extract", "a.zip", "-C", "file/sub"], cwd=tmp_path)
    assert done.returncode == 2 and "cannot create the destination" in done.stderr


def test_recipe_extract_to_creates_parents(tmp_path: Path) -> None:
    small_zip(tmp_path / "a.zip")
    (tmp_path / "devkit.yaml").write_text(
        "tasks:\n  t:\n    - extract: a.zip\n      to: build/deps/out\n"
    )
    done = run_devkit(["run", "t"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "build" / "deps" / "out" / "pkg" / "a.txt").read_text() == "a\n"
