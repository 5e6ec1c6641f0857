"""Differential: sync refuses only where `git pull --ff-only` (or, for a branch with
commits of its own, `git pull --no-rebase`) refuses or would lose local work, and where
it proceeds it loses no byte and ends exactly where git does.

Each case is a (local state, remote change) pair around one path `x`: what the base
commit has there (nothing, a file, a directory `x/y`, a symlink), what the remote
changes it to, and what the user did locally (nothing, modified, deleted, an untracked
or ignored file, an untracked directory, an untracked file inside a tracked directory).
The same local repository is copied; git pulls in the copy, devkit syncs the original.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devkit.gitflow import sync_repositories
from tests.gitrepos import _tree_hash, assert_unchanged, fingerprint, git

KINDS = ("none", "file", "dir", "link")
LOCAL_STATES = {
    "none": ("clean", "untracked file", "untracked dir", "untracked x/y", "ignored file", "link"),
    "file": ("clean", "modified", "deleted", "staged deletion"),
    "dir": ("clean", "modified", "deleted", "untracked inside", "ignored inside"),
    "link": ("clean", "modified", "deleted"),
}


def put(root: Path, kind: str, variant: str) -> None:
    """Make `x` a `kind` (removing what was there)."""
    target = root / "x"
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if kind == "file":
        target.write_text(f"file {variant}\n")
    elif kind == "dir":
        target.mkdir()
        (target / "y").write_text(f"dir {variant}\n")
    elif kind == "link":
        os.symlink(f"target-{variant}", target)


def apply_local(clone: Path, base: str, state: str) -> None:
    if state == "modified":
        if base == "dir":
            (clone / "x" / "y").write_text("local edit\n")
        else:
            put(clone, base, "local")
    elif state == "deleted":
        put(clone, "none", "")
    elif state == "staged deletion":
        git(clone, "rm", "-q", "x")
    elif state in ("untracked file", "ignored file"):
        put(clone, "file", "local")
    elif state == "link":
        put(clone, "link", "local")
    elif state == "untracked dir":
        (clone / "x").mkdir()
        (clone / "x" / "z").write_text("mine\n")
    elif state == "untracked x/y":
        put(clone, "dir", "local")
    elif state in ("untracked inside", "ignored inside"):
        (clone / "x" / "z").write_text("mine\n")
    if state.startswith("ignored"):
        (clone / ".git" / "info" / "exclude").write_text("x\nz\n")


def cases() -> list[tuple[str, str, str]]:
    found = []
    for base, remote in itertools.product(KINDS, KINDS):
        if base == remote == "none":
            continue
        for state in LOCAL_STATES[base]:
            found.append((base, remote, state))
    return found


ALL = cases()
# The false refusals issue 10 found: file -> dir, dir -> file, a new file in an
# untracked directory, and an untracked file in the way (which must not be a
# dirty_overlap whose --autostash hint then fails).
ISSUE_CASES = [
    ("file", "dir", "clean"),
    ("dir", "file", "clean"),
    ("none", "dir", "untracked dir"),
    ("none", "file", "untracked file"),
]
# Every sixth case plus the issue's cases by default; every case under -m slow.
DEFAULT = [case for i, case in enumerate(ALL) if i % 6 == 0 or case in ISSUE_CASES]
SLOW = [case for case in ALL if case not in DEFAULT]


def build(
    root: Path, base: str, remote_kind: str, state: str, *, local_commit: bool = False
) -> tuple[Path, dict[str, str]]:
    """A bare remote at the changed commit and a local clone at the base commit (plus a
    commit of its own, `mine.txt`, if `local_commit`) with the local state applied; and
    the clone's files before that (a clean checkout)."""
    bare = root / "remote.git"
    seed = root / "seed"
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "init", "-q", "-b", "main", str(seed))
    (seed / "README.md").write_text("hi\n")
    put(seed, base, "base")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "base")
    git(seed, "push", "-q", str(bare), "main")
    local = root / "local"
    git(root, "clone", "-q", str(bare), str(local))
    put(seed, remote_kind, "remote")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "--allow-empty", "-m", "remote change")
    git(seed, "push", "-q", str(bare), "main")
    if local_commit:
        (local / "mine.txt").write_text("mine\n")
        git(local, "add", "mine.txt")
        git(local, "commit", "-q", "-m", "mine")
    pristine = _tree_hash(local)
    apply_local(local, base, state)
    return local, pristine


def lost_work(pristine: dict[str, str], before: dict[str, str], after: dict[str, str]) -> bool:
    """Whether a local change (anything that differs from the clean checkout: an edit, a
    deletion, an untracked or ignored file) is not in the result any more."""
    changed = {p for p in pristine.keys() | before.keys() if pristine.get(p) != before.get(p)}
    return any(before.get(p) != after.get(p) for p in changed)


# devkit's mode -> how git pulls the same way (merge: the branch has a commit of its own)
GIT_PULL = {"ff-only": ["--ff-only"], "merge": ["--no-rebase", "--no-edit"]}


def run_case(tmp_path: Path, base: str, remote_kind: str, state: str, mode: str) -> None:
    local, pristine = build(tmp_path, base, remote_kind, state, local_commit=mode == "merge")
    twin = tmp_path / "twin"
    shutil.copytree(local, twin, symlinks=True)
    before_files = _tree_hash(local)
    before = fingerprint(local)
    pulled = subprocess.run(
        ["git", "pull", "-q", *GIT_PULL[mode]], cwd=twin, capture_output=True, text=True
    )
    git_files = _tree_hash(twin)
    git_lost = pulled.returncode == 0 and lost_work(pristine, before_files, git_files)

    report = sync_repositories([local], mode=mode, push=False)
    result = report.repos[0]
    case = f"{base} -> {remote_kind}, local {state}: devkit {result.result} {result.error}"
    case += f"; git {pulled.returncode} {pulled.stderr.strip()!r} lost={git_lost}"
    if result.exit_code != 0:
        assert pulled.returncode != 0 or git_lost, "false refusal: " + case
        assert_unchanged(before, local)
        return
    assert result.result == ("merged" if mode == "merge" else "fast_forwarded"), case
    assert not lost_work(pristine, before_files, _tree_hash(local)), "lost work: " + case
    if pulled.returncode == 0:
        assert _tree_hash(local) == git_files, case
        assert git(local, "status", "--porcelain") == git(twin, "status", "--porcelain"), case
    else:
        # git merge refuses any staged change to a path the merge touches, even a
        # deletion the other side makes too; devkit may go on when nothing is lost.
        assert mode == "merge" and state == "staged deletion", case


@pytest.mark.parametrize(("base", "remote_kind", "state"), DEFAULT)
def test_sync_refuses_only_where_git_pull_ff_only_does(
    tmp_path: Path, base: str, remote_kind: str, state: str
) -> None:
    run_case(tmp_path, base, remote_kind, state, "ff-only")


@pytest.mark.slow
@pytest.mark.parametrize(("base", "remote_kind", "state"), SLOW)
def test_sync_refuses_only_where_git_pull_ff_only_does_every_case(
    tmp_path: Path, base: str, remote_kind: str, state: str
) -> None:
    run_case(tmp_path, base, remote_kind, state, "ff-only")


@pytest.mark.slow
@pytest.mark.parametrize(("base", "remote_kind", "state"), ALL)
def test_sync_merge_refuses_only_where_git_pull_merge_does_every_case(
    tmp_path: Path, base: str, remote_kind: str, state: str
) -> None:
    # The same pairs when the branch has a commit of its own: devkit merges in a scratch
    # worktree and moves with a two-tree read-tree; git pull merges in place.
    run_case(tmp_path, base, remote_kind, state, "merge")


def test_an_untracked_file_in_the_way_is_untracked_overlap_and_the_hint_works(
    tmp_path: Path,
) -> None:
    # The issue: an untracked file was reported as dirty_overlap with the hint
    # --autostash, and --autostash then failed as untracked_overlap.
    local, _ = build(tmp_path, "none", "file", "untracked file")
    (local / "README.md").write_text("hi\n\n\nmy edit\n")
    (tmp_path / "seed" / "README.md").write_text("theirs\n\n\nhi\n")
    git(tmp_path / "seed", "commit", "-q", "-am", "readme upstream")
    git(tmp_path / "seed", "push", "-q", str(tmp_path / "remote.git"), "main")
    before = fingerprint(local)
    for autostash in (False, True):
        result = sync_repositories([local], mode="ff-only", autostash=autostash).repos[0]
        assert result.error and result.error["code"] == "untracked_overlap", result
        assert result.overlapping == ("x",)
        assert "--autostash" not in (result.error["hint"] or "")
        assert_unchanged(before, local)
    (local / "x").rename(tmp_path / "moved-away")  # what the hint says
    result = sync_repositories([local], mode="ff-only").repos[0]
    assert result.error and result.error["code"] == "dirty_overlap", result
    assert "--autostash" in (result.error["hint"] or "")
    result = sync_repositories([local], mode="ff-only", autostash=True).repos[0]
    assert result.result == "fast_forwarded", result


@pytest.mark.parametrize(
    ("mode", "base", "remote_kind"), [("rebase", "file", "dir"), ("merge", "dir", "file")]
)
def test_a_file_directory_swap_upstream_integrates_with_local_commits(
    tmp_path: Path, mode: str, base: str, remote_kind: str
) -> None:
    local, _ = build(tmp_path, base, remote_kind, "clean")
    (local / "mine.txt").write_text("mine\n")
    git(local, "add", "mine.txt")
    git(local, "commit", "-q", "-m", "mine")
    result = sync_repositories([local], mode=mode, push=False).repos[0]
    assert result.exit_code == 0, result
    assert git(local, "status", "--porcelain") == ""
    expected = "dir remote\n" if remote_kind == "dir" else "file remote\n"
    assert (local / "x" / "y" if remote_kind == "dir" else local / "x").read_text() == expected
