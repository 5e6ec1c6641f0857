"""-q (only problems and the summary) and -v (the per-step log too), on every command."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from devkit.cli import COMMAND_MODULES
from tests.clirun import run_devkit
from tests.gitrepos import git, make_remote, push_from


@pytest.mark.parametrize("name", list(COMMAND_MODULES))
def test_every_command_takes_quiet_and_verbose(name: str) -> None:
    result = run_devkit([name, "--help"])
    assert result.returncode == 0
    assert "-q, --quiet" in result.stdout
    assert "-v, --verbose" in result.stdout


def test_quiet_run_prints_the_summary_only(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text("tasks:\n  t: [echo one, echo two]\n")
    result = run_devkit(["run", "-q"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [result.stdout.splitlines()[0]]
    assert result.stdout.startswith("✓ devkit.yaml: 1 task(s) done")
    assert result.stderr == ""


def test_quiet_run_shows_the_failed_steps_output(tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text(
        "tasks:\n  t:\n    - echo fine\n    - name: breaks\n"
        "      run: 'for i in $(seq 1 300); do echo line-$i; done; exit 7'\n"
    )
    result = run_devkit(["run", "-q"], cwd=tmp_path)
    assert result.returncode == 7
    lines = result.stdout.splitlines()
    assert "fine" not in result.stdout
    assert any("✗ breaks failed (exit 7)" in line for line in lines)
    assert "    line-300" in lines and "    line-101" in lines  # the last 200 lines
    assert "    line-100" not in lines
    assert "step 'breaks' in task 't' failed" in result.stderr


def test_sync_of_many_repositories_shows_only_those_needing_attention(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "server")
    clones = [remote.clone(f"repo{i}") for i in range(3)]
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    git(clones[2], "remote", "set-url", "origin", str(tmp_path / "missing.git"))
    paths = [str(c) for c in clones]

    normal = run_devkit(["sync", "--mode", "ff-only", *paths])
    assert normal.returncode == 1
    assert f"{clones[2]}:" in normal.stdout.splitlines()  # the failed one's log
    assert f"{clones[0]}:" not in normal.stdout.splitlines()  # clean ones: the table only
    assert normal.stdout.count("fast_forwarded") == 2  # the table rows
    assert normal.stdout.rstrip().endswith("3 repositories (ff-only): 2 ok, 0 skipped, 1 failed")

    verbose = run_devkit(["sync", "-v", "--mode", "ff-only", *paths])
    assert f"{clones[0]}:" in verbose.stdout.splitlines()  # every repository's log
    assert len(verbose.stdout.splitlines()) > len(normal.stdout.splitlines())

    quiet = run_devkit(["sync", "-q", "--mode", "ff-only", *paths])
    assert quiet.returncode == 1
    assert quiet.stdout.splitlines() == ["3 repositories (ff-only): 2 ok, 0 skipped, 1 failed"]
    assert str(clones[2]) in quiet.stderr  # the problem, on stderr as always


def test_quiet_extract_says_only_the_outcome(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    archive = tmp_path / "loose.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "a.txt", arcname="a.txt")
        tar.add(tmp_path / "b.txt", arcname="b.txt")
    out = tmp_path / "out"
    normal = run_devkit(["extract", str(archive), "-C", str(out)])
    assert "wrapped" in normal.stderr
    quiet = run_devkit(["extract", "-q", str(archive), "-C", str(tmp_path / "out2")])
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert len(quiet.stdout.splitlines()) == 1 and quiet.stdout.startswith("✓ ")
