"""The README's cookbook entries, run as written (with local stand-ins for the
network): the checksum-checked download and the morning sync of every checkout."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.gitrepos import commit, git, make_remote, push_from

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def entry(title: str) -> str:
    """The text of the cookbook entry whose bold title starts with `title`."""
    start = README.index(f"**{title}")
    end = README.find("\n**", start + 2)
    return README[start : end if end != -1 else len(README)]


def block(text: str, language: str) -> str:
    match = re.search(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert match, f"no {language} block"
    return match.group(1)


def release(folder: Path) -> Path:
    archive = folder / "release-2026.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("release/data.csv")
        payload = b"a,b\n1,2\n"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (folder / "release-2026.tar.gz.sha256").write_text(f"{digest}  release-2026.tar.gz\n")
    return archive


@pytest.mark.skipif(shutil.which("curl") is None, reason="the recipe downloads with curl")
def test_the_checked_download_unpacks_a_good_file_and_stops_on_a_bad_one(
    tmp_path: Path,
) -> None:
    server = tmp_path / "server"
    server.mkdir()
    release(server)
    work = tmp_path / "work"
    work.mkdir()
    (work / "devkit.yaml").write_text(block(entry("A download checked"), "yaml"))
    url = f"--var=url=file://{server}/release-2026.tar.gz"
    good = run_devkit(["run", url], cwd=work)
    assert good.returncode == 0, good.stderr
    assert (work / "data" / "release" / "data.csv").read_bytes() == b"a,b\n1,2\n"
    # A damaged download: the checksum step fails and nothing is extracted.
    for name in ("release-2026.tar.gz", "release-2026.tar.gz.sha256"):
        (work / name).unlink()
    shutil.rmtree(work / "data")
    with (server / "release-2026.tar.gz").open("ab") as damaged:
        damaged.write(b"junk")
    bad = run_devkit(["run", url], cwd=work)
    assert bad.returncode != 0
    assert "sha256sum -c" in bad.stderr or "FAILED" in bad.stdout
    assert not (work / "data").exists()


def test_the_morning_sync_of_every_checkout(tmp_path: Path) -> None:
    text = entry("The morning sync")
    home = tmp_path / "home"
    config = home / ".config" / "devkit" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(block(text, "toml"))
    remote = make_remote(tmp_path / "server")
    src = home / "src"
    src.mkdir()
    for name in ("api", "web", "docs"):
        clone = remote.clone(name)
        clone.rename(src / name)
    commit(src / "api", "local work", {"local.txt": "mine\n"})
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    command = block(text, "sh").strip()
    assert command.startswith("devkit sync")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PATH": bin_dir + os.pathsep + os.environ["PATH"],
    }
    result = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["3 repositories (rebase): 3 ok, 0 skipped, 0 failed"]
    for name in ("api", "web", "docs"):
        assert (src / name / "theirs.txt").exists()
    assert git(src / "api", "log", "-1", "--format=%s").strip() == "local work"  # rebased
