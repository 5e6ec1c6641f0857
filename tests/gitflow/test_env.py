"""`env=`: every public git flow takes the environment its git children start with and
reads its settings from; os.environ is neither read nor changed when one is given."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.errors import OperationFailed
from devkit.gitflow import (
    create_commit,
    init_repository,
    report_conflicts,
    stage_paths,
    sync_repositories,
    undo_last_sync,
)
from tests.gitrepos import Remote, commit, git, head, push_from, write

LOGGING_GIT = """#!/bin/sh
echo "$*" >> "{log}"
exec {real} "$@"
"""


@pytest.fixture
def logged_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """An environment whose PATH starts with a `git` that logs every call; os.environ
    must look the same afterwards."""
    import shutil

    real = shutil.which("git")
    bin_dir = tmp_path / "logging-bin"
    bin_dir.mkdir()
    log = tmp_path / "git-calls.log"
    script = bin_dir / "git"
    script.write_text(LOGGING_GIT.format(log=log, real=real))
    script.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    yield env, log
    assert {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"} == before


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_every_flow_runs_git_from_the_given_environment(
    remote: Remote, tmp_path: Path, logged_env: tuple[dict[str, str], Path]
) -> None:
    env, log = logged_env
    fresh = tmp_path / "fresh"
    write(fresh, "a.txt", "a\n")
    init_repository(fresh, env=env)
    assert any(c.startswith("init ") for c in calls(log))
    write(fresh, "b.txt", "b\n")
    stage_paths(fresh, ["b.txt"], env=env)
    create_commit(fresh, message="b", env=env)
    assert git(fresh, "log", "-1", "--format=%s").strip() == "b"

    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    before = len(calls(log))
    result = sync_repositories([clone], mode="rebase", env=env).repos[0]
    assert result.result == "rebased", result.error
    assert any(c.startswith("fetch ") for c in calls(log)[before:])
    assert any(c.startswith("push ") for c in calls(log)[before:])
    report_conflicts(clone, env=env)
    undone = undo_last_sync(clone, env=env)
    assert undone.restored_head == result.old_head
    # The wrapper saw the git calls of every flow; nothing spawned git behind its back.
    assert {c.split()[0] for c in calls(log) if c.strip()} >= {"init", "add", "commit", "fetch"}


def test_network_settings_come_from_env_not_os_environ(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = remote.clone("me")
    hanging = tmp_path / "hanging-ssh"
    hanging.write_text("#!/bin/sh\nsleep 30\n")
    hanging.chmod(0o755)
    git(clone, "remote", "set-url", "origin", f"ssh://example.invalid{remote.bare}")
    # os.environ says "wait five minutes"; the given env says one second.
    monkeypatch.setenv("DEVKIT_GIT_TIMEOUT", "300")
    env = {**os.environ, "DEVKIT_GIT_TIMEOUT": "1", "GIT_SSH_COMMAND": str(hanging)}
    start = time.monotonic()
    result = sync_repositories([clone], mode="rebase", env=env).repos[0]
    assert time.monotonic() - start < 15
    assert result.error and result.error["code"] == "git_timeout", result.error
    assert "within 1 s" in result.error["message"]
    with pytest.raises(OperationFailed) as caught:
        report_conflicts(clone, env=env)
    assert caught.value.code == "git_timeout"


def test_identity_and_stage_limit_come_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))  # no user.name anywhere
    repo = tmp_path / "repo"
    write(repo, "a.txt", "a\n")
    with pytest.raises(OperationFailed) as caught:
        init_repository(repo)
    assert caught.value.code == "missing_identity"
    who = {
        "GIT_AUTHOR_NAME": "Env Author",
        "GIT_AUTHOR_EMAIL": "env@example.com",
        "GIT_COMMITTER_NAME": "Env Author",
        "GIT_COMMITTER_EMAIL": "env@example.com",
    }
    env = {**os.environ, **who, "DEVKIT_STAGE_MAX_BYTES": "10"}
    init_repository(repo, env=env)
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Env Author <env@example.com>"
    write(repo, "big.txt", "x" * 100)
    refused = stage_paths(repo, ["big.txt"], env=env)
    assert [r.reason for r in refused.refused] == ["too_large"]
    assert stage_paths(repo, ["big.txt"]).refused == ()  # os.environ: the 5 MiB default
    created = create_commit(repo, message="big", env=env)
    assert git(repo, "log", "-1", "--format=%an").strip() == "Env Author"
    assert created.sha == head(repo)
