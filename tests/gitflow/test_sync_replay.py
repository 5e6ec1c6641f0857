"""A rebase sync replays the local commits from objects alone (merge-tree and
commit-tree, no checkout) and must make exactly the commits `git pull --rebase` makes;
wherever `git rebase` would do more (a hook), the real rebase runs. Asserted with the
git binary against a twin repository that plain git rebased."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.clirun import run_devkit
from tests.gitrepos import Remote, commit, git, push_from, write

# Everything of a commit but its committer date and its parents' ids (both differ
# between two rebases run a second apart).
LOG_FORMAT = "%an%x00%ae%x00%ad%x00%aI%x00%cn%x00%ce%x00%T%x00%B%x1e"


def _logging_git(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `git` appends its arguments to a file, a line a call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "git.log"
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{shutil.which("git")}" "$@"\n')
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def _local_history(repo: Path) -> list[str]:
    return git(repo, "log", f"--format={LOG_FORMAT}", "origin/main..HEAD").split("\x1e")


def _diverged_with_every_kind_of_commit(remote: Remote) -> Path:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"shared.txt": "same\n", "theirs.txt": "t\n"})
    push_from(remote, "colleague", "theirs again", {"other.txt": "o\n"})
    # The upstream already has this change (the same patch): rebase skips it.
    commit(clone, "picked from a colleague", {"shared.txt": "same\n"})
    write(clone, "mine.txt", "m\n")
    git(clone, "add", "mine.txt")
    git(
        clone,
        "-c",
        "user.name=Ann O'Neil",
        "-c",
        "user.email=ann@example.com",
        "commit",
        "-q",
        "--cleanup=verbatim",
        "--date=2001-02-03T04:05:06+05:30",
        "-m",
        "mine  \n\n  body with spaces  \n",
    )
    commit(clone, "an empty commit is kept")  # (`commit` allows empty ones)
    # Not the same patch as either upstream commit, but nothing once they are in:
    # rebase drops it.
    commit(clone, "both files", {"theirs.txt": "t\n", "other.txt": "o\n"})
    commit(clone, "last", {"last.txt": "l\n"})
    return clone


def test_a_rebase_sync_makes_the_commits_git_pull_rebase_makes(
    remote: Remote, tmp_path: Path
) -> None:
    clone = _diverged_with_every_kind_of_commit(remote)
    twin = tmp_path / "twin"
    shutil.copytree(clone, twin, symlinks=True)
    git(twin, "pull", "-q", "--rebase")
    env, log = _logging_git(tmp_path)
    done = run_devkit(["sync", "--mode", "rebase", "--no-push", "--json"], cwd=clone, env=env)
    assert done.returncode == 0, done.stdout
    calls = log.read_text()
    assert " rebase --no-autostash" not in calls and "worktree add" not in calls, calls
    assert "merge-tree --write-tree" in calls and "commit-tree" in calls
    assert git(clone, "rev-parse", "HEAD^{tree}") == git(twin, "rev-parse", "HEAD^{tree}")
    assert _local_history(clone) == _local_history(twin)
    subjects = git(clone, "log", "--format=%s", "origin/main..HEAD").split()
    assert " ".join(subjects) == "last an empty commit is kept mine", subjects
    raw = git(clone, "cat-file", "commit", "HEAD~2")
    assert raw.endswith("\n\nmine  \n\n  body with spaces  \n")  # byte for byte
    assert "author Ann O'Neil <ann@example.com> 981153306 +0530" in raw
    assert git(clone, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_rebase_hook_makes_sync_run_the_real_rebase(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    marker = tmp_path / "post-rewrite ran"
    hook = clone / ".git" / "hooks" / "post-rewrite"
    hook.write_text(f"#!/bin/sh\ncat > '{marker}'\n")
    hook.chmod(0o755)
    env, log = _logging_git(tmp_path)
    done = run_devkit(["sync", "--mode", "rebase", "--no-push", "--json"], cwd=clone, env=env)
    assert done.returncode == 0, done.stdout
    assert " rebase --no-autostash" in log.read_text()
    assert marker.exists()  # git rebase ran the user's hook, as git pull --rebase would
    assert git(clone, "log", "--format=%s", "-2").split() == ["mine", "theirs"]


def test_commit_gpgsign_makes_sync_run_the_real_rebase(remote: Remote, tmp_path: Path) -> None:
    """commit-tree would not sign (it ignores commit.gpgSign); git rebase signs, so
    its refusal to go on unsigned must reach the user, as in merge mode."""
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    gpg = tmp_path / "fake-gpg"
    gpg.write_text("#!/bin/sh\necho 'gpg: signing failed: No secret key' >&2\nexit 2\n")
    gpg.chmod(0o755)
    git(clone, "config", "commit.gpgsign", "true")
    git(clone, "config", "gpg.program", str(gpg))
    before = git(clone, "rev-parse", "HEAD")
    done = run_devkit(["sync", "--mode", "rebase", "--no-push", "--json"], cwd=clone)
    assert done.returncode == 1, done.stdout
    error = json.loads(done.stdout)["errors"][0]
    assert error["code"] == "integrate_failed"
    assert "gpg failed to sign the data" in error["message"]
    assert git(clone, "rev-parse", "HEAD") == before
