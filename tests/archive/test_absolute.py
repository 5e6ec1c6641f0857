"""Leading "/" in member names is removed, as GNU tar and bsdtar do, with a note;
absolute symlink targets are refused by default, with a hint naming
--keep-absolute-links, which creates them as they are (a system backup)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.errors import UnsafeArchive
from tests.archive.conftest import corpus, needs_testdata, snapshot
from tests.clirun import run_devkit


def tar_of(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (kind "file"|"symlink"|"hardlink", name, data or target)."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value.encode()))
                continue
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = value
            tar.addfile(info)
    return path


def tree(root: Path) -> dict[str, str]:
    found = {}
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            full = Path(current) / name
            rel = str(full.relative_to(root))
            if full.is_symlink():
                found[rel] = "-> " + os.readlink(full)
            elif full.is_file():
                found[rel] = full.read_text()
            else:
                found[rel] = "dir"
    return found


def test_leading_slash_is_removed_with_a_note_like_gnu_tar(tmp_path: Path) -> None:
    archive = tar_of(
        tmp_path / "backup.tar",
        [
            ("file", "/etc/hosts", "127.0.0.1 localhost\n"),
            ("file", "//etc/motd", "hello\n"),
            ("hardlink", "/etc/hosts.bak", "/etc/hosts"),
        ],
    )
    reference = tmp_path / "gnu"
    reference.mkdir()
    subprocess.run(
        ["tar", "xf", str(archive), "-C", str(reference)], check=True, capture_output=True
    )
    (tmp_path / "dest").mkdir()
    before = snapshot(tmp_path / "dest")
    done = run_devkit(["extract", "backup.tar", "-C", "dest", "--json"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["data"]["results"]
    assert result["notes"] == [
        "removed the leading '/' from 3 member names, as GNU tar and bsdtar do:"
        " they were extracted inside the destination"
    ]
    assert tree(tmp_path / "dest") == {**before_tree(before), **tree(reference)}
    human = run_devkit(["extract", "backup.tar", "-C", "human"], cwd=tmp_path)
    assert human.returncode == 0 and "removed the leading '/' from 3" in human.stderr


def before_tree(state: dict[str, tuple[str, int, str]]) -> dict[str, str]:
    return {name: "dir" for name, (kind, _mode, _data) in state.items() if kind == "dir"}


@needs_testdata
def test_bsdtar_leading_slash_corpus_matches_gnu_tar(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "libarchive/bsdtar-test_leading_slash.tar")
    reference = tmp_path / "gnu"
    reference.mkdir()
    subprocess.run(
        ["tar", "xf", str(archive), "-C", str(reference)], check=True, capture_output=True
    )
    result = extract_archive(archive, dest=tmp_path / "out")
    assert result.notes and "leading '/'" in result.notes[0]
    got = Path(result.path) if result.wrapped else tmp_path / "out"
    assert tree(got) == tree(reference)


def system_backup(path: Path) -> Path:
    return tar_of(
        path,
        [
            ("file", "etc/hostname", "box\n"),
            ("symlink", "etc/localtime", "/usr/share/zoneinfo/Etc/UTC"),
            ("symlink", "etc/mtab", "/proc/self/mounts"),
        ],
    )


def test_absolute_link_targets_are_refused_with_a_hint_for_backups(tmp_path: Path) -> None:
    archive = system_backup(tmp_path / "etc.tar")
    with pytest.raises(UnsafeArchive) as refused:
        extract_archive(archive, dest=tmp_path / "out")
    assert "--keep-absolute-links" in (refused.value.hint or "")
    assert len(refused.value.unsafe) == 2
    assert not (tmp_path / "out").exists()


def test_keep_absolute_links_creates_them_as_they_are(tmp_path: Path) -> None:
    system_backup(tmp_path / "etc.tar")
    done = run_devkit(["extract", "etc.tar", "-C", "out", "--keep-absolute-links"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert os.readlink(tmp_path / "out" / "etc" / "localtime") == "/usr/share/zoneinfo/Etc/UTC"
    assert os.readlink(tmp_path / "out" / "etc" / "mtab") == "/proc/self/mounts"
    assert (tmp_path / "out" / "etc" / "hostname").read_text() == "box\n"


@pytest.mark.parametrize(
    "members",
    [
        # a member below an absolute link would be written through it
        [("symlink", "a/sys", "/tmp"), ("file", "a/sys/pwned-devkit.txt", "x")],
        # a relative link through an absolute one resolves outside
        [("symlink", "a/sys", "/tmp"), ("symlink", "a/via", "sys/x")],
    ],
)
def test_keep_absolute_links_never_writes_or_resolves_through_them(
    tmp_path: Path, members: list[tuple[str, str, str]]
) -> None:
    archive = tar_of(tmp_path / "evil.tar", members)
    with pytest.raises(UnsafeArchive):
        extract_archive(
            archive, dest=tmp_path / "out", options=ExtractOptions(keep_absolute_links=True)
        )
    assert not (tmp_path / "out").exists()
    assert not Path("/tmp/pwned-devkit.txt").exists()
