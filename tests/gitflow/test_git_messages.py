"""A failed git command keeps git's own reason: the line that says why ("does not appear
to be a git repository", "ssh: connect to host ...", "gpg failed to sign the data"),
not only the generic last `fatal:` line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.gitrepos import Remote, commit, git, push_from


def sync_error(repo: Path, *args: str) -> tuple[dict[str, object], str]:
    out = run_devkit(["sync", "--json", *args], cwd=repo)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    doc = json.loads(out.stdout)
    return doc["errors"][0], out.stdout


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("/nonexistent/remote.git", "does not appear to be a git repository"),
        ("ssh://127.0.0.1:1/remote.git", "ssh: connect to host 127.0.0.1 port 1"),
    ],
)
def test_fetch_failure_keeps_the_cause(remote: Remote, url: str, cause: str) -> None:
    clone = remote.clone("me")
    git(clone, "remote", "set-url", "origin", url)
    error, _ = sync_error(clone, "--mode", "ff-only")
    assert error["code"] == "fetch_failed"
    assert cause in str(error["message"])
    assert "Could not read from remote repository" in str(error["message"])


def failing_gpg(tmp_path: Path) -> Path:
    script = tmp_path / "fake-gpg"
    script.write_text("#!/bin/sh\necho 'gpg: signing failed: No secret key' >&2\nexit 2\n")
    script.chmod(0o755)
    return script


def test_commit_keeps_gpg_failure(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone("me")
    git(clone, "config", "commit.gpgsign", "true")
    git(clone, "config", "gpg.program", str(failing_gpg(tmp_path)))
    (clone / "new.txt").write_text("new\n")
    git(clone, "add", "new.txt")
    out = run_devkit(["commit", "-m", "signed"], cwd=clone)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "gpg failed to sign the data" in out.stderr


def test_sync_merge_keeps_gpg_failure(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    git(clone, "config", "commit.gpgsign", "true")
    git(clone, "config", "gpg.program", str(failing_gpg(tmp_path)))
    error, _ = sync_error(clone, "--mode", "merge")
    assert error["code"] == "integrate_failed"
    assert "gpg failed to sign the data" in str(error["message"])
