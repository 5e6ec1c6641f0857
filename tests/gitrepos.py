"""Real git repositories for tests, built and inspected with the `git` binary only.

Nothing here uses devkit, so a bug in devkit cannot hide in the test's own setup.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    process = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=full_env,
        timeout=60,
    )
    if check and process.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{process.stderr}")
    return process.stdout


def write(repo: Path, rel: str, content: str | bytes) -> Path:
    target = repo / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)
    return target


def commit(repo: Path, message: str, files: dict[str, str | bytes] | None = None) -> str:
    """Write files (if any), stage everything and commit; return the new SHA."""
    for rel, content in (files or {}).items():
        write(repo, rel, content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return head(repo)


def head(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref).strip()


@dataclass
class Remote:
    """A bare repository acting as the remote, plus helpers to clone it."""

    bare: Path
    root: Path

    def clone(self, name: str) -> Path:
        target = self.root / name
        git(self.root, "clone", "-q", str(self.bare), str(target))
        return target

    def remote_head(self, branch: str = "main") -> str:
        return git(self.bare, "rev-parse", f"refs/heads/{branch}").strip()


def make_remote(root: Path, files: dict[str, str | bytes] | None = None) -> Remote:
    """A bare remote whose main branch has one commit (with `files`)."""
    root.mkdir(parents=True, exist_ok=True)
    bare = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = root / "seed"
    git(root, "init", "-q", "-b", "main", str(seed))
    commit(seed, "initial", files or {"README.md": "hello\n"})
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "-q", "-u", "origin", "main")
    return Remote(bare=bare, root=root)


def push_from(remote: Remote, name: str, message: str, files: dict[str, str | bytes]) -> str:
    """Have a colleague (another clone) push one commit; return its SHA."""
    other = remote.root / name
    if not other.exists():
        remote.clone(name)
    else:
        git(other, "pull", "-q", "--rebase")
    sha = commit(other, message, files)
    git(other, "push", "-q", "origin", "HEAD:main")
    return sha


def _tree_hash(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == "." and ".git" in dirnames:
            dirnames.remove(".git")
        for name in sorted(
            filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        ):
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                files[rel] = "link:" + os.readlink(full)
            else:
                digest = hashlib.sha256(Path(full).read_bytes()).hexdigest()
                files[rel] = f"{oct(info.st_mode & 0o777)}:{digest}"
        for name in dirnames:
            if not os.listdir(os.path.join(dirpath, name)):
                files[os.path.normpath(os.path.join(rel_dir, name)) + "/"] = "empty-dir"
    return files


def fingerprint(repo: Path) -> dict[str, object]:
    """Everything a failed sync must leave exactly as it was: HEAD and the branch it is
    on, every local branch, the index (entries and stages), every file in the working
    tree (tracked, untracked and ignored, by content and mode), stashes, worktrees and
    in-progress operations."""
    git_dir = Path(git(repo, "rev-parse", "--absolute-git-dir").strip())
    return {
        "head": git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False).strip(),
        "symbolic_head": git(repo, "symbolic-ref", "-q", "HEAD", check=False).strip(),
        "branches": git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"),
        "index": git(repo, "ls-files", "-s", "-z"),
        "index_tree_status": git(repo, "diff", "--cached", "--name-status", "-z"),
        "files": _tree_hash(repo),
        "stash": git(repo, "stash", "list", check=False),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
        "in_progress": sorted(
            name
            for name in (
                "rebase-merge",
                "rebase-apply",
                "MERGE_HEAD",
                "CHERRY_PICK_HEAD",
                "REVERT_HEAD",
                "AUTO_MERGE",
            )
            if (git_dir / name).exists()
        ),
    }


def assert_unchanged(before: dict[str, object], repo: Path) -> None:
    after = fingerprint(repo)
    for key in before:
        assert after[key] == before[key], (
            f"{key} changed:\nbefore={before[key]!r}\nafter={after[key]!r}"
        )
