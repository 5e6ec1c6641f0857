"""devkit conflicts: every conflict type, predicted and live, on real repositories."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.errors import DevkitError
from devkit.gitflow import report_conflicts
from devkit.gitflow.results import ConflictReport, FileConflict
from tests.clirun import run_devkit
from tests.gitrepos import (
    assert_unchanged,
    commit,
    fingerprint,
    git,
    make_remote,
    push_from,
    write,
)

BINARY_BASE = b"\x00\x01base"


def _rm(repo: Path, rel: str) -> None:
    git(repo, "rm", "-q", "--", rel)


def _mv(repo: Path, src: str, dst: str) -> None:
    git(repo, "mv", "--", src, dst)


def _to_dir(repo: Path, rel: str) -> None:
    _rm(repo, rel)
    write(repo, f"{rel}/inner.txt", "inside\n")


def _exec(repo: Path, rel: str, content: str) -> None:
    write(repo, rel, content)
    os.chmod(repo / rel, 0o755)


Change = Callable[[Path], None]

# name: (base files, change on main, change on other, expected path, original path)
SCENARIOS: dict[str, tuple[dict[str, str | bytes], Change, Change, str, str | None]] = {
    "content": (
        {"app.txt": "1\n2\n3\n4\n5\n"},
        lambda r: write(r, "app.txt", "1\nMAIN\n3\n4\n5\n"),
        lambda r: write(r, "app.txt", "1\nOTHER\n3\n4\n5\n"),
        "app.txt",
        None,
    ),
    "add/add": (
        {},
        lambda r: write(r, "new.txt", "from main\n"),
        lambda r: write(r, "new.txt", "from other\n"),
        "new.txt",
        None,
    ),
    "modify/delete": (
        {"f.txt": "base\n"},
        lambda r: write(r, "f.txt", "modified on main\n"),
        lambda r: _rm(r, "f.txt"),
        "f.txt",
        None,
    ),
    "delete/modify": (
        {"f.txt": "base\n"},
        lambda r: _rm(r, "f.txt"),
        lambda r: write(r, "f.txt", "modified on other\n"),
        "f.txt",
        None,
    ),
    "rename/delete": (
        {"old.txt": "a\nb\nc\n"},
        lambda r: _rm(r, "old.txt"),
        lambda r: _mv(r, "old.txt", "renamed.txt"),
        "renamed.txt",
        "old.txt",
    ),
    "rename/rename": (
        {"orig.txt": "p\nq\nr\n"},
        lambda r: _mv(r, "orig.txt", "on_main.txt"),
        lambda r: _mv(r, "orig.txt", "on_other.txt"),
        "on_main.txt",
        "orig.txt",
    ),
    "file/directory": (
        {"fd": "a file\n"},
        lambda r: write(r, "fd", "changed file\n"),
        lambda r: _to_dir(r, "fd"),
        "fd~",
        "fd",
    ),
    "rename+modify": (  # a content conflict in a file one side renamed
        {"a.txt": "".join(f"{n}\n" for n in range(1, 21))},
        lambda r: (
            _mv(r, "a.txt", "b.txt"),
            write(r, "b.txt", (r / "b.txt").read_text().replace("5\n", "five main\n", 1)),
        ),
        lambda r: write(r, "a.txt", (r / "a.txt").read_text().replace("5\n", "five other\n", 1)),
        "b.txt",
        "a.txt",
    ),
    "directory rename suggested": (  # other adds a file in the directory main renames
        {"d/one.txt": "1\n", "d/two.txt": "2\n"},
        lambda r: _mv(r, "d", "e"),
        lambda r: write(r, "d/new.txt", "new\n"),
        "e/new.txt",
        "d/new.txt",
    ),
    "binary": (
        {"blob.bin": BINARY_BASE},
        lambda r: write(r, "blob.bin", b"\x00\x02main"),
        lambda r: write(r, "blob.bin", b"\x00\x03other"),
        "blob.bin",
        None,
    ),
    "mode": (
        {},
        lambda r: write(r, "run.sh", "echo hi\n"),
        lambda r: _exec(r, "run.sh", "echo hi\n"),
        "run.sh",
        None,
    ),
}


TYPE_OF = {"rename+modify": "content"}  # scenario names that are not the type's


def build(tmp_path: Path, name: str) -> Path:
    base, on_main, on_other, _, _ = SCENARIOS[name]
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    commit(repo, "base", {"keep.txt": "keep\n", **base})
    git(repo, "switch", "-q", "-c", "other")
    on_other(repo)
    commit(repo, f"other side of {name}")
    git(repo, "switch", "-q", "main")
    on_main(repo)
    commit(repo, f"main side of {name}")
    return repo


def find(report: ConflictReport, name: str) -> FileConflict:
    expected = SCENARIOS[name][3]
    matches = [f for f in report.files if f.path == expected or f.path.startswith(expected + "~")]
    if expected.endswith("~"):
        matches = [f for f in report.files if f.path.startswith(expected)]
    assert matches, [f.path for f in report.files]
    return matches[0]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_predicted_conflict_types(tmp_path: Path, name: str) -> None:
    repo = build(tmp_path, name)
    write(repo, "untracked.txt", "u\n")
    before = fingerprint(repo)
    report = report_conflicts(repo, target="other")
    assert_unchanged(before, repo)
    assert report.state == "predicted" and report.exit_code == 1
    item = find(report, name)
    assert item.type == TYPE_OF.get(name, name)
    assert item.original_path == SCENARIOS[name][4]
    assert report.merge_base == git(repo, "rev-parse", "--short", "main~1").strip()
    assert [s.ref for s in item.sides] == ["main", "other"]
    assert report.current.ref == "main" and report.incoming.ref == "other"
    main_subjects = [c.subject for s in item.sides[:1] for c in s.commits]
    other_subjects = [c.subject for s in item.sides[1:] for c in s.commits]
    if name not in ("add/add", "mode", "directory rename suggested"):
        assert f"main side of {name}" in main_subjects
        assert f"other side of {name}" in other_subjects
    if name == "content":
        assert [(h.start, h.end) for h in item.hunks] == [(2, 6)]
    # The paths are those a real `git merge` leaves unmerged (`fd~HEAD`, not `fd~main`).
    git(repo, "merge", "--no-edit", "other", check=False)
    live = set(git(repo, "diff", "--name-only", "--diff-filter=U").split())
    assert {f.path for f in report.files} == live


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_live_merge_conflict_types(tmp_path: Path, name: str) -> None:
    repo = build(tmp_path, name)
    git(repo, "merge", "--no-edit", "other", check=False)
    assert (repo / ".git" / "MERGE_HEAD").exists()
    report = report_conflicts(repo)
    assert report.state == "merge" and report.exit_code == 1
    item = find(report, name)
    assert item.type == TYPE_OF.get(name, name)
    assert item.original_path == SCENARIOS[name][4]
    assert report.current.ref == "main" and report.incoming.ref == "other"
    if name == "content":
        assert [(h.start, h.end) for h in item.hunks] == [(2, 6)]


def test_live_rebase_labels_sides_by_ref_not_ours_theirs(tmp_path: Path) -> None:
    repo = build(tmp_path, "content")
    git(repo, "rebase", "other", check=False)
    report = report_conflicts(repo)
    assert report.state == "rebase"
    (item,) = report.files
    assert item.type == "content"
    # During a rebase HEAD is the branch being rebased onto.
    assert report.current.ref == "other"
    assert report.incoming.ref == "main"
    assert item.sides[1].commits[0].subject == "main side of content"


def test_live_cherry_pick(tmp_path: Path) -> None:
    repo = build(tmp_path, "modify/delete")
    git(repo, "cherry-pick", "other", check=False)
    report = report_conflicts(repo)
    assert report.state == "cherry-pick"
    (item,) = report.files
    assert (item.path, item.type) == ("f.txt", "modify/delete")


def test_clean_prediction_exit_0(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    commit(repo, "base", {"a.txt": "a\n"})
    git(repo, "switch", "-q", "-c", "other")
    commit(repo, "other", {"b.txt": "b\n"})
    git(repo, "switch", "-q", "main")
    commit(repo, "main", {"c.txt": "c\n"})
    report = report_conflicts(repo, target="other")
    assert report.clean and report.exit_code == 0
    assert report.merge_base == git(repo, "rev-parse", "--short", "main~1").strip()


def test_default_target_is_the_upstream_and_missing_upstream_is_clear(tmp_path: Path) -> None:
    repo = build(tmp_path, "content")
    with pytest.raises(DevkitError) as caught:
        report_conflicts(repo)
    assert caught.value.code == "no_upstream"
    git(repo, "branch", "--set-upstream-to=other")
    assert report_conflicts(repo).exit_code == 1


def test_option_like_or_unknown_target_is_invalid_input(tmp_path: Path) -> None:
    repo = build(tmp_path, "content")
    for target in ("--output=/tmp/x", "nosuchbranch"):
        with pytest.raises(DevkitError) as caught:
            report_conflicts(repo, target=target)
        assert caught.value.exit_code == 2


def test_cli_conflicts_json_shape_and_exit_codes(tmp_path: Path) -> None:
    repo = build(tmp_path, "content")
    process = run_devkit(["conflicts", "other", "--json"], cwd=repo)
    assert process.returncode == 1
    doc = json.loads(process.stdout)
    assert doc["command"] == "conflicts" and doc["exit_code"] == 1
    data = doc["data"]
    assert set(data) == {"repo", "state", "current", "incoming", "merge_base", "clean", "files"}
    assert set(data["current"]) == {"ref", "sha"}
    (item,) = data["files"]
    assert set(item) == {"path", "type", "original_path", "message", "hunks", "sides"}
    assert item["hunks"] == [{"start": 2, "end": 6}]
    human = run_devkit(["conflicts", "other"], cwd=repo)
    assert human.returncode == 1 and "app.txt" in human.stdout and "content" in human.stdout
    clean = run_devkit(["conflicts", "main"], cwd=repo)
    assert clean.returncode == 0 and "no conflicts" in clean.stdout


def test_default_target_fetches_the_upstream_first_unless_no_fetch(tmp_path: Path) -> None:
    remote = make_remote(tmp_path, {"app.txt": "one\n"})
    mine = remote.clone("mine")
    push_from(remote, "colleague", "theirs", {"app.txt": "theirs\n"})
    commit(mine, "ours", {"app.txt": "ours\n"})
    before = fingerprint(mine)
    stale = run_devkit(["conflicts", "--no-fetch"], cwd=mine)
    assert stale.returncode == 0, stale.stderr
    fresh = report_conflicts(mine)
    assert fresh.exit_code == 1
    assert [(f.path, f.type) for f in fresh.files] == [("app.txt", "content")]
    assert git(mine, "rev-parse", "origin/main").strip() == remote.remote_head()
    assert_unchanged(before, mine)


def test_unreachable_upstream_is_a_clear_failure(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    mine = remote.clone("mine")
    git(mine, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    process = run_devkit(["conflicts"], cwd=mine)
    assert process.returncode == 1
    assert "could not fetch" in process.stderr and "--no-fetch" in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1
