"""tar.xz and tar.zst are decoded by the native tool when it is on PATH (xz -T0, zstd
in a process of their own), by Python's decoders when it is not, and the verdict on a
damaged stream is always the strict Python decoders': a native decoder that fails is
overruled by a second, Python pass. gzip and bzip2 streams stay in Python (faster)."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.errors import ArchiveCorrupt
from tests.archive.conftest import temp_folders
from tests.archive.test_unprivileged import as_nobody, read_only_tree

TOOLS = {"gz": "gzip", "bz2": "bzip2", "xz": "xz", "zst": "zstd"}
NATIVE = ["xz", "zst"]
needs_tools = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in TOOLS.values()),
    reason="gzip, bzip2, xz and zstd are needed",
)
pytestmark = needs_tools


def source_tree(root: Path) -> dict[str, bytes]:
    """Small and large members (the large ones are streamed, not sliced)."""
    files = {f"top/d{index % 3}/f{index:03}.txt": os.urandom(index * 37) for index in range(40)}
    files["top/big.bin"] = os.urandom(1024 * 1024 + 5)
    files["top/zeros.bin"] = bytes(1536 * 1024)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def compressed_tar(tmp_path: Path, suffix: str) -> tuple[Path, dict[str, bytes]]:
    """A tar made by GNU tar and compressed by the real tool (xz: several blocks)."""
    src = tmp_path / "src"
    src.mkdir()
    files = source_tree(src)
    plain = tmp_path / "plain.tar"
    subprocess.run(["tar", "-cf", str(plain), "top"], cwd=src, check=True)
    archive = tmp_path / f"data.tar.{suffix}"
    extra = ["-T2", "--block-size=512KiB"] if suffix == "xz" else []
    with archive.open("wb") as out:
        subprocess.run([TOOLS[suffix], "-c", *extra, str(plain)], stdout=out, check=True)
    plain.unlink()
    return archive, files


def tree_of(root: Path) -> dict[str, bytes]:
    found = {}
    for current, _dirs, names in os.walk(root):
        for name in names:
            full = Path(current) / name
            found[str(full.relative_to(root))] = full.read_bytes()
    return found


def wrapper_path(tmp_path: Path, body: str) -> dict[str, str]:
    """An env whose PATH holds only wrappers named like the four tools: each logs its
    name and arguments to tmp_path/calls, then runs `body` ($real is the real tool)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in TOOLS.values():
        real = shutil.which(tool)
        script = folder / tool
        script.write_text(f'#!/bin/sh\nreal={real}\necho "{tool} $*" >> {tmp_path}/calls\n{body}\n')
        script.chmod(0o755)
    return {**os.environ, "PATH": str(folder)}


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("suffix", NATIVE)
def test_the_native_tool_decodes_and_every_byte_is_right(tmp_path: Path, suffix: str) -> None:
    archive, files = compressed_tar(tmp_path, suffix)
    env = wrapper_path(tmp_path, 'exec "$real" "$@"')
    progress: list[int] = []
    result = extract_archive(archive, dest=tmp_path / "out", env=env, on_progress=progress.append)
    (call,) = calls(tmp_path)
    assert call.startswith(f"{TOOLS[suffix]} -dc")
    assert tree_of(tmp_path / "out") == files
    assert result.files == len(files)
    # Progress is the archive read, as with the Python decoders: all of it.
    assert sum(progress) == archive.stat().st_size


@pytest.mark.parametrize("suffix", NATIVE)
def test_without_the_native_tool_python_decodes_the_same_tree(tmp_path: Path, suffix: str) -> None:
    archive, files = compressed_tar(tmp_path, suffix)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    extract_archive(archive, dest=tmp_path / "out", env=env)
    assert tree_of(tmp_path / "out") == files
    # ... and a cut stream is still an error, DEST untouched.
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size - 50])
    (tmp_path / "cut").mkdir()
    with pytest.raises(ArchiveCorrupt):
        extract_archive(archive, dest=tmp_path / "cut", env=env)
    assert list((tmp_path / "cut").iterdir()) == []


@pytest.mark.parametrize("suffix", NATIVE)
def test_a_cut_stream_fails_with_the_native_tool_too(tmp_path: Path, suffix: str) -> None:
    """Cut inside the members and cut after the tar's end (only the stream's own end
    and checksum are missing): both are damage, DEST stays empty."""
    archive, _files = compressed_tar(tmp_path, suffix)
    whole = archive.read_bytes()
    env = wrapper_path(tmp_path, 'exec "$real" "$@"')
    for keep in (len(whole) // 2, len(whole) - 8):
        archive.write_bytes(whole[:keep])
        dest = tmp_path / f"cut{keep}"
        dest.mkdir()
        with pytest.raises(ArchiveCorrupt):
            extract_archive(archive, dest=dest, env=env)
        assert list(dest.iterdir()) == []
        assert temp_folders(dest) == []
    assert calls(tmp_path)[0].split()[0] == TOOLS[suffix]


@pytest.mark.parametrize("suffix", NATIVE)
def test_a_native_decoder_that_fails_is_overruled_by_the_python_pass(
    tmp_path: Path, suffix: str
) -> None:
    """A decoder that gives up half way (exit 1) does not make the extraction fail or
    short: the Python decoders decide, and the stream is intact."""
    archive, files = compressed_tar(tmp_path, suffix)
    env = wrapper_path(tmp_path, '"$real" "$@" | head -c 1000000\nexit 1')
    extract_archive(archive, dest=tmp_path / "out", env=env)
    assert calls(tmp_path)  # the native pass ran
    assert tree_of(tmp_path / "out") == files


@pytest.mark.parametrize("suffix", ["gz", "bz2"])
def test_gzip_and_bzip2_streams_stay_in_python(tmp_path: Path, suffix: str) -> None:
    """zlib in devkit's decoding thread beats `gzip -dc`; `bzip2 -dc` is the same
    libbz2 as Python's bz2 (bench/extract.py): neither tool is started."""
    archive, files = compressed_tar(tmp_path, suffix)
    env = wrapper_path(tmp_path, 'exec "$real" "$@"')
    extract_archive(archive, dest=tmp_path / "out", env=env)
    assert calls(tmp_path) == []
    assert tree_of(tmp_path / "out") == files


def test_zero_padding_that_xz_rejects_passes_garbage_fails(tmp_path: Path) -> None:
    """xz accepts zero padding only in multiples of four bytes; the Python pass that
    overrules its failure accepts any, as devkit always did. Garbage stays damage."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        info = tarfile.TarInfo("t/a.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    env = wrapper_path(tmp_path, 'exec "$real" "$@"')
    padded = tmp_path / "padded.tar.xz"
    padded.write_bytes(buffer.getvalue() + bytes(10))
    result = extract_archive(padded, dest=tmp_path / "out", env=env)
    assert (Path(result.path) / "a.txt").read_bytes() == b"hello"
    assert calls(tmp_path) == ["xz -dc -T0 --memlimit-mt-decompress=64MiB"]
    assert subprocess.run(["xz", "-t", str(padded)], capture_output=True).returncode != 0
    bad = tmp_path / "bad.tar.xz"
    bad.write_bytes(buffer.getvalue() + b"garbage!")
    with pytest.raises(ArchiveCorrupt):
        extract_archive(bad, dest=tmp_path / "bad", env=env, options=ExtractOptions())


@pytest.mark.parametrize("suffix", NATIVE)
def test_the_native_path_as_an_unprivileged_user(
    request: pytest.FixtureRequest, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a user other than root (CI runs as root): the decoder reads the archive
    through devkit's descriptor, and read-only modes still land only at the end."""
    shared: Path = request.getfixturevalue("shared")  # a folder nobody may write
    plain = read_only_tree(shared / "ro.tar.gz")
    archive = shared / f"ro.tar.{suffix}"
    with archive.open("wb") as out:
        data = gzip.decompress(plain.read_bytes())
        subprocess.run([TOOLS[suffix], "-c"], input=data, stdout=out, check=True)
    archive.chmod(0o644)
    wrappers = shared / "bin"
    wrappers.mkdir(mode=0o755)
    script = wrappers / TOOLS[suffix]
    real = shutil.which(TOOLS[suffix])
    script.write_text(f'#!/bin/sh\necho "$*" >> {shared}/calls\nexec {real} "$@"\n')
    script.chmod(0o755)
    (shared / "out").mkdir()
    (shared / "out").chmod(0o777)
    monkeypatch.setenv("PATH", f"{wrappers}:{os.environ['PATH']}")
    done = as_nobody(["extract", str(archive), "-C", str(shared / "out")], shared)
    assert done.returncode == 0, done.stderr
    assert (shared / "calls").read_text().startswith("-dc")
    top = shared / "out" / "top"
    assert (top / "a.txt").read_bytes() == b"a\n"
    assert (top / "sub" / "b.txt").read_bytes() == b"b\n"
    assert stat.S_IMODE(top.stat().st_mode) == 0o555


@pytest.mark.parametrize("suffix", NATIVE)
def test_a_single_compressed_file_native_python_and_cut(tmp_path: Path, suffix: str) -> None:
    """A lone .xz or .zst: decoded by the tool when on PATH, by Python without it, and
    a cut file is an error either way."""
    data = os.urandom(300_000) + bytes(2_000_000)
    archive = tmp_path / f"blob.bin.{suffix}"
    compressed = subprocess.run([TOOLS[suffix], "-c"], input=data, capture_output=True)
    archive.write_bytes(compressed.stdout)
    env = wrapper_path(tmp_path, 'exec "$real" "$@"')
    result = extract_archive(archive, dest=tmp_path / "native", env=env)
    assert Path(result.path).read_bytes() == data
    (call,) = calls(tmp_path)
    assert call.startswith(f"{TOOLS[suffix]} -dc")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = extract_archive(archive, dest=tmp_path / "python", env={"PATH": str(empty)})
    assert Path(result.path).read_bytes() == data
    archive.write_bytes(archive.read_bytes()[:-20])
    for name, where in (("native-cut", env), ("python-cut", {"PATH": str(empty)})):
        (tmp_path / name).mkdir()
        with pytest.raises(ArchiveCorrupt):
            extract_archive(archive, dest=tmp_path / name, env=where)
        assert list((tmp_path / name).iterdir()) == []
