"""Repositories to interrupt a sync in, built once per test module (with the git binary
only) and copied for each test."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.gitrepos import Remote, commit, git, make_remote, write
from tests.gitrepos import push_from as colleague_pushes


def diverged(root: Path, *, overlapping: bool, ahead: bool = True) -> Path:
    """A bare remote and a clone one commit behind (and, `ahead`, one ahead), with
    local work: a staged file, an unstaged edit (overlapping the incoming change or
    not) and untracked files."""
    remote = make_remote(root, {"README.md": "hello\n", "app.txt": "1\n2\n3\n4\n5\n"})
    clone = remote.clone("me")
    incoming = {"app.txt": "1\nTHEIRS\n3\n4\n5\n"} if overlapping else {"theirs.txt": "t\n"}
    colleague_pushes(remote, "colleague", "theirs", incoming)
    if ahead:
        commit(clone, "mine", {"mine.txt": "m\n"})
    if overlapping:
        write(clone, "app.txt", "1\n2\n3\n4\nMINE\n")
    else:
        write(clone, "README.md", "edited, unstaged\n")
    write(clone, "staged.txt", "staged\n")
    git(clone, "add", "staged.txt")
    write(clone, "wip.txt", "untracked work\n")
    write(clone, "notes/deep.txt", "untracked in a directory\n")
    return root


def build_templates(factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Call from a module-scoped fixture. Module fixtures run before the autouse
    isolation of tests/conftest.py, so this isolates itself."""
    base = factory.mktemp("templates")
    config = base / "gitconfig"
    config.write_text(
        "[user]\n\tname = Devkit Tester\n\temail = tester@example.com\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
        "[commit]\n\tgpgsign = false\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(base))
        patch.setenv("GIT_CONFIG_GLOBAL", str(config))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for variable in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            patch.delenv(variable, raising=False)
        return {
            "plain": diverged(base / "plain", overlapping=False),
            "overlap": diverged(base / "overlap", overlapping=True),
            "behind": diverged(base / "behind", overlapping=True, ahead=False),
        }


def copy_scenario(template: Path, tmp_path: Path) -> tuple[Path, Remote]:
    root = tmp_path / f"net-{uuid.uuid4().hex[:6]}"
    shutil.copytree(template, root, symlinks=True)
    clone = root / "me"
    git(clone, "remote", "set-url", "origin", str(root / "remote.git"))
    git(root / "colleague", "remote", "set-url", "origin", str(root / "remote.git"))
    return clone, Remote(bare=root / "remote.git", root=root)
