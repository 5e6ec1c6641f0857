"""`devkit sync ~/src/*`: what a glob brings along that is not a repository."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clirun import run_devkit
from tests.gitrepos import make_remote, push_from


def test_strays_among_many_paths_are_skipped_with_a_note(tmp_path: Path) -> None:
    remote = make_remote(tmp_path / "server")
    src = tmp_path / "src"
    src.mkdir()
    clone = remote.clone("me")
    clone.rename(src / "app")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    (src / "notes.txt").write_text("a stray file\n")
    (src / "downloads").mkdir()
    paths = sorted(str(p) for p in src.iterdir())
    result = run_devkit(["sync", "--json", "--mode", "ff-only", *paths])
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    by_repo = {Path(r["repo"]).name: r for r in document["data"]["repos"]}
    assert by_repo["app"]["result"] == "fast_forwarded"
    for stray in ("notes.txt", "downloads"):
        assert by_repo[stray]["result"] == "skipped"
        assert by_repo[stray]["next_step"] == "not a git repository: skipped"
    assert document["data"]["summary"] == {"total": 3, "ok": 1, "skipped": 2, "failed": 0}
    assert document["errors"] == []


def test_a_single_path_that_is_not_a_repository_is_an_error(tmp_path: Path) -> None:
    result = run_devkit(["sync", str(tmp_path)])
    assert result.returncode == 2
    assert "not a git repository" in result.stderr
