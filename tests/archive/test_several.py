"""Several archives, extracted or listed: every one is handled, each failure is an
error of the result, and the exit code is the worst one (as in `sync`), not the first."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.clirun import run_devkit


def good_tgz(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("good/a.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"a\n"))
    return path


def damaged_tgz(path: Path) -> Path:
    data = good_tgz(path).read_bytes()
    path.write_bytes(data[:-12])  # exit 1: truncated
    return path


def setup(folder: Path) -> list[str]:
    damaged_tgz(folder / "damaged.tgz")  # exit 1
    (folder / "text.zip").write_text("not an archive\n")  # exit 2
    good_tgz(folder / "good.tgz")
    return ["damaged.tgz", "text.zip", "good.tgz"]


def test_list_goes_on_after_an_unreadable_archive(tmp_path: Path) -> None:
    names = ["text.zip", "good.tgz", "missing.7z"]
    setup(tmp_path)
    done = run_devkit(["extract", "--list", *names, "--json"], cwd=tmp_path)
    assert done.returncode == 2
    doc = json.loads(done.stdout)
    assert [listing["archive"] for listing in doc["data"]["listings"]] == ["good.tgz"]
    assert [error["details"]["archive"] for error in doc["errors"]] == ["text.zip", "missing.7z"]
    human = run_devkit(["extract", "--list", *names], cwd=tmp_path)
    assert human.returncode == 2 and "good/a.txt" in human.stdout


def test_the_exit_code_is_the_worst_not_the_first(tmp_path: Path) -> None:
    names = setup(tmp_path)
    done = run_devkit(["extract", *names, "-C", "out", "--json"], cwd=tmp_path)
    assert done.returncode == 2  # damaged (1) came first, not an archive (2) is worse
    doc = json.loads(done.stdout)
    assert [error["code"] for error in doc["errors"]] == ["corrupt_archive", "unknown_format"]
    assert (tmp_path / "out" / "good" / "a.txt").read_text() == "a\n"
    listed = run_devkit(["extract", "--list", *names], cwd=tmp_path)
    assert listed.returncode == 2
