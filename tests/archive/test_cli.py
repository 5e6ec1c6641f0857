"""`devkit extract` through the CLI: in-process for output, real processes for exit
codes and Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.archive.conftest import TESTDATA, corpus, snapshot
from tests.clirun import invoke, run_devkit, start_devkit
from tests.proctools import wait_gone, wait_until


def small_tgz(path: Path, names: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in names.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_json_envelope(tmp_path: Path) -> None:
    archive = small_tgz(tmp_path / "pkg.tgz", {"pkg/a.txt": b"a\n", "pkg/b/c.txt": b"cc\n"})
    result = invoke(["extract", str(archive), "-C", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["command"] == "extract"
    (item,) = doc["data"]["results"]
    assert item["path"] == str(tmp_path / "out" / "pkg")
    assert item["format"] == "tar.gz" and item["files"] == 2 and item["bytes"] == 5
    assert set(item) >= {"seconds", "skipped", "wrapped", "renamed", "replaced", "nested"}
    assert (tmp_path / "out" / "pkg" / "b" / "c.txt").read_text() == "cc\n"


def test_human_output_and_no_progress_without_a_terminal(tmp_path: Path) -> None:
    archive = small_tgz(tmp_path / "loose.tgz", {"a.txt": b"a", "b.txt": b"b"})
    process = run_devkit(["extract", str(archive), "-C", str(tmp_path / "out")])
    assert process.returncode == 0, process.stderr
    assert "loose.tgz" in process.stdout and "tar.gz" in process.stdout
    assert "wrapped" in process.stderr
    assert "\r" not in process.stderr and "ETA" not in process.stderr
    assert (tmp_path / "out" / "loose" / "a.txt").read_text() == "a"


def test_list_json_and_table(tmp_path: Path) -> None:
    archive = tmp_path / "l.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("l/one.txt", "1")
        zf.writestr("l/dir/", "")
    result = invoke(["extract", str(archive), "--list", "--json"])
    assert result.exit_code == 0
    (listing,) = json.loads(result.stdout)["data"]["listings"]
    assert listing["format"] == "zip" and listing["count"] == 2
    assert {m["name"]: m["kind"] for m in listing["members"]} == {
        "l/one.txt": "file",
        "l/dir/": "dir",
    }
    table = invoke(["extract", str(archive), "--list"])
    assert "l/one.txt" in table.stdout and "modified" in table.stdout
    assert not (Path.cwd() / "l").exists()


def test_unknown_format_is_exit_2_and_says_what_it_is(tmp_path: Path) -> None:
    fake = tmp_path / "data.tar.gz"
    fake.write_text("just some text\n")
    process = run_devkit(["extract", str(fake), "-C", str(tmp_path), "--json"])
    assert process.returncode == 2
    doc = json.loads(process.stdout)
    assert doc["errors"][0]["code"] == "unknown_format"
    assert "plain text" in doc["errors"][0]["message"]
    human = run_devkit(["extract", str(fake), "-C", str(tmp_path)])
    assert human.returncode == 2 and len(human.stderr.strip().splitlines()) == 1
    assert "Traceback" not in human.stderr


def test_refusal_is_exit_1_and_lists_every_unsafe_member(tmp_path: Path) -> None:
    archive = small_tgz(tmp_path / "evil.tgz", {"../x": b"1", "ok/y": b"2", "C:/abs": b"3"})
    dest = tmp_path / "dest"
    dest.mkdir()
    before = snapshot(tmp_path)
    process = run_devkit(["extract", str(archive), "-C", str(dest), "--json"])
    assert process.returncode == 1
    doc = json.loads(process.stdout)
    error = doc["errors"][0]
    assert error["code"] == "unsafe_archive"
    assert {u["name"] for u in error["details"]["unsafe"]} == {"../x", "C:/abs"}
    assert snapshot(tmp_path) == before
    human = run_devkit(["extract", str(archive), "-C", str(dest)])
    assert human.returncode == 1
    assert (
        "'../x'" in human.stderr and "'C:/abs'" in human.stderr and "drive letter" in human.stderr
    )
    skipped = run_devkit(["extract", str(archive), "-C", str(dest), "--skip-unsafe", "--json"])
    assert skipped.returncode == 0
    (item,) = json.loads(skipped.stdout)["data"]["results"]
    assert {s["name"] for s in item["skipped"]} == {"../x", "C:/abs"}


def test_caps_from_the_command_line(tmp_path: Path) -> None:
    archive = small_tgz(tmp_path / "c.tgz", {f"c/{i}": b"x" * 1000 for i in range(20)})
    process = run_devkit(["extract", str(archive), "-C", str(tmp_path / "o"), "--max-bytes", "5K"])
    assert process.returncode == 1 and "--max-bytes" in process.stderr
    process = run_devkit(["extract", str(archive), "-C", str(tmp_path / "o"), "--max-entries", "5"])
    assert process.returncode == 1 and "--max-entries" in process.stderr
    assert not (tmp_path / "o").exists()
    bad = run_devkit(["extract", str(archive), "--max-bytes", "lots"])
    assert bad.returncode == 2 and "not a size" in bad.stderr


def test_parse_size() -> None:
    from devkit.archive import parse_size

    assert parse_size("1048576") == 1048576
    assert parse_size("50M") == 50 * 1024**2
    assert parse_size("2G") == 2 * 1024**3
    assert parse_size("1.5k") == 1536


@pytest.mark.skipif(TESTDATA is None, reason="shared test corpus (../shared/testdata) is absent")
def test_password_file_and_env(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar5-psw.rar")
    secret = tmp_path / "pw.txt"
    secret.write_text("password\n")
    by_file = run_devkit(
        ["extract", str(archive), "-C", str(tmp_path / "a"), "--password-file", str(secret)]
    )
    assert by_file.returncode == 0, by_file.stderr
    by_env = run_devkit(
        ["extract", str(archive), "-C", str(tmp_path / "b"), "--password-env", "PW"],
        env={"PW": "password"},
    )
    assert by_env.returncode == 0, by_env.stderr
    missing = run_devkit(["extract", str(archive), "-C", str(tmp_path / "c")])
    assert missing.returncode == 1 and "password" in missing.stderr
    assert not (tmp_path / "c").exists()
    both = run_devkit(
        ["extract", str(archive), "--password-file", str(secret), "--password-env", "PW"]
    )
    assert both.returncode == 2


def test_several_archives_report_each_and_exit_with_the_failure(tmp_path: Path) -> None:
    good = small_tgz(tmp_path / "good.tgz", {"good/a": b"a"})
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip at all")
    process = run_devkit(["extract", str(good), str(bad), "-C", str(tmp_path / "o"), "--json"])
    assert process.returncode == 2
    doc = json.loads(process.stdout)
    assert [r["format"] for r in doc["data"]["results"]] == ["tar.gz"]
    assert doc["errors"][0]["details"]["archive"] == str(bad)
    assert (tmp_path / "o" / "good" / "a").exists()


@pytest.mark.skipif(TESTDATA is None, reason="shared test corpus (../shared/testdata) is absent")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_the_rar_backend_decodes_removes_everything(
    tmp_path: Path, signum: int
) -> None:
    """SIGINT, SIGTERM or SIGHUP while the (hanging) RAR backend decodes: exit
    128 + signal, DEST as before, the backend stopped."""
    from devkit.archive.tools import bundled_7zz

    marker = f"dk-rar-{uuid.uuid4().hex[:12]}"
    started = tmp_path / "decoding"
    fake = tmp_path / "bin" / "7zz-slow"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\nif [ "$1" = i ]; then exec "{bundled_7zz()}" i; fi\n'
        f": > '{started}'\nexec '{sys.executable}' -c 'import time; time.sleep(60)' {marker}\n"
    )
    fake.chmod(0o755)
    archive = corpus(tmp_path, "rarfile/rar5-solid.rar")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("keep")
    before = snapshot(dest)
    env = dict(os.environ, DEVKIT_RAR_TOOLS=str(fake))
    proc = start_devkit(["extract", str(archive), "-C", str(dest)], env=env)
    assert wait_until(lambda: started.exists() or proc.poll() is not None, timeout=30)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err
    assert snapshot(dest) == before
    assert wait_gone(marker) == []


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a pseudo-terminal a progress bar is drawn there; stdout stays clean."""
    import pty

    archive = small_tgz(tmp_path / "p.tgz", {f"p/{i}.txt": os.urandom(2000) for i in range(50)})
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devkit", "extract", str(archive), "-C", str(tmp_path / "o")],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert "extracting p.tgz" in terminal
    assert "extracting" not in out.decode()


def test_content_decides_the_format_and_a_mismatch_is_noted(tmp_path: Path) -> None:
    real_tgz = small_tgz(tmp_path / "x.tgz", {"x/a.txt": b"a"})
    disguised = tmp_path / "x.zip"
    disguised.write_bytes(real_tgz.read_bytes())
    process = run_devkit(["extract", str(disguised), "-C", str(tmp_path / "o")])
    assert process.returncode == 0
    assert "the name suggests zip, the content is tar.gz" in process.stderr
    assert (tmp_path / "o" / "x" / "a.txt").read_text() == "a"
