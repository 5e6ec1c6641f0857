"""Helpers for the archive tests: the shared real-world corpus and tree snapshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def testdata_dir() -> Path | None:
    candidates = []
    if os.environ.get("DEVKIT_TESTDATA"):
        candidates.append(Path(os.environ["DEVKIT_TESTDATA"]))
    candidates += [ROOT.parent / "shared" / "testdata", Path("/work/shared/testdata")]
    for candidate in candidates:
        if (candidate / "MANIFEST.md").is_file():
            return candidate
    return None


TESTDATA = testdata_dir()
needs_testdata = pytest.mark.skipif(
    TESTDATA is None, reason="shared test corpus (../shared/testdata) is absent"
)


def corpus(tmp_path: Path, relative: str, *siblings: str) -> Path:
    """Copy one corpus file (and named sibling volumes) into its own folder, because
    some tools treat digit-differing siblings as volumes of one set."""
    assert TESTDATA is not None
    folder = tmp_path / "in" / Path(relative).stem
    folder.mkdir(parents=True, exist_ok=True)
    source = TESTDATA / relative
    shutil.copy(source, folder / source.name)
    for name in siblings:
        shutil.copy(source.parent / name, folder / name)
    return folder / source.name


def snapshot(folder: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry below folder: kind, mode and content (or link target)."""
    state: dict[str, tuple[str, int, str]] = {}
    for current, dirs, files in os.walk(folder):
        for name in dirs + files:
            full = Path(current) / name
            rel = str(full.relative_to(folder))
            info = full.lstat()
            if full.is_symlink():
                state[rel] = ("link", info.st_mode, os.readlink(full))
            elif full.is_dir():
                state[rel] = ("dir", info.st_mode, "")
            else:
                state[rel] = ("file", info.st_mode, full.read_bytes().hex())
    return state


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, Path]:
    """A folder with DEST inside, a sentinel outside it, and a place for archives."""
    outside = tmp_path / "sandbox"
    dest = outside / "dest"
    dest.mkdir(parents=True)
    (dest / "existing.txt").write_text("keep me\n")
    (outside / "sentinel.txt").write_text("outside\n")
    work = tmp_path / "work"
    work.mkdir()
    return {"root": outside, "dest": dest, "work": work}
