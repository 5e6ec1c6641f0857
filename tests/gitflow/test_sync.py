"""devkit sync against real repositories: a bare remote and clones, asserted with git."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devkit.gitflow import sync_repositories
from devkit.gitflow.results import RepoSyncResult
from tests.clirun import invoke, run_devkit
from tests.gitrepos import (
    Remote,
    assert_unchanged,
    commit,
    fingerprint,
    git,
    head,
    push_from,
    write,
)


def sync_one(repo: Path, **kwargs: object) -> RepoSyncResult:
    report = sync_repositories([repo], **kwargs)  # type: ignore[arg-type]
    assert len(report.repos) == 1
    assert report.exit_code == report.repos[0].exit_code
    return report.repos[0]


def hook(repo: Path, name: str, script: str) -> None:
    path = repo / ".git" / "hooks" / name if (repo / ".git").is_dir() else repo / "hooks" / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


# -- the normal paths ---------------------------------------------------------------


def test_up_to_date(remote: Remote) -> None:
    clone = remote.clone("me")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert (result.result, result.state, result.exit_code) == ("up_to_date", "up_to_date", 0)
    assert_unchanged(before, clone)


def test_ahead_pushes(remote: Remote) -> None:
    clone = remote.clone("me")
    sha = commit(clone, "mine", {"mine.txt": "x\n"})
    result = sync_one(clone, mode="ff-only")
    assert (result.result, result.ahead, result.behind, result.pushed) == ("pushed", 1, 0, True)
    assert remote.remote_head() == sha


def test_ahead_with_no_push_reports_and_does_not_push(remote: Remote) -> None:
    clone = remote.clone("me")
    commit(clone, "mine", {"mine.txt": "x\n"})
    before_remote = remote.remote_head()
    result = sync_one(clone, mode="rebase", push=False)
    assert result.result == "ahead" and result.exit_code == 0
    assert remote.remote_head() == before_remote


def test_behind_fast_forwards_and_keeps_unrelated_local_work(remote: Remote) -> None:
    clone = remote.clone("me")
    theirs = push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    write(clone, "README.md", "my edit\n")  # unstaged change to a path upstream leaves alone
    write(clone, "staged.txt", "staged\n")
    git(clone, "add", "staged.txt")
    write(clone, "notes.txt", "untracked\n")
    result = sync_one(clone, mode="ff-only")
    assert result.result == "fast_forwarded" and result.exit_code == 0
    assert head(clone) == theirs
    assert (clone / "README.md").read_text() == "my edit\n"
    assert (clone / "notes.txt").read_text() == "untracked\n"
    assert "A  staged.txt" in git(clone, "status", "--short")
    assert (clone / "theirs.txt").read_text() == "t\n"


def test_diverged_rebase_is_linear_and_pushed(remote: Remote) -> None:
    clone = remote.clone("me")
    theirs = push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    write(clone, "scratch.txt", "local work\n")
    result = sync_one(clone, mode="rebase")
    assert (result.result, result.state, result.ahead, result.behind) == (
        "rebased",
        "diverged",
        1,
        1,
    )
    assert git(clone, "rev-parse", "HEAD~1").strip() == theirs
    assert remote.remote_head() == head(clone)
    assert git(clone, "log", "-1", "--format=%s").strip() == "mine"
    assert (clone / "scratch.txt").read_text() == "local work\n"
    assert git(clone, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_diverged_merge_makes_a_merge_commit(remote: Remote) -> None:
    clone = remote.clone("me")
    theirs = push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    mine = commit(clone, "mine", {"mine.txt": "m\n"})
    result = sync_one(clone, mode="merge")
    assert result.result == "merged"
    parents = git(clone, "log", "-1", "--format=%P").split()
    assert parents == [mine, theirs]
    assert remote.remote_head() == head(clone)


def test_diverged_in_ff_only_mode_fails_and_changes_nothing(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    before = fingerprint(clone)
    result = sync_one(clone, mode="ff-only")
    assert result.exit_code == 1 and result.error and result.error["code"] == "diverged"
    assert "--mode rebase" in (result.next_step or "")
    assert_unchanged(before, clone)


def test_default_mode_without_a_terminal_is_ff_only(remote: Remote) -> None:
    clone = remote.clone("me")
    report = sync_repositories([clone], interactive=False)
    assert report.mode == "ff-only"
    assert sync_repositories([clone], interactive=True).mode == "rebase"


# -- dirty trees ----------------------------------------------------------------------


def test_dirty_tree_overlapping_incoming_stops_with_the_files(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    write(clone, "app.txt", "1\n2\n3\n4\nMINE\n")
    write(clone, "untracked.txt", "u\n")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "dirty_overlap"
    assert result.overlapping == ("app.txt",)
    assert_unchanged(before, clone)


def test_dirty_tree_not_overlapping_rebase_keeps_changes_in_place(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    write(clone, "README.md", "edited, unstaged\n")
    write(clone, "new.txt", "staged\n")
    git(clone, "add", "new.txt")
    result = sync_one(clone, mode="rebase")
    assert result.result == "rebased", result.error
    assert (clone / "README.md").read_text() == "edited, unstaged\n"
    status = git(clone, "status", "--porcelain")
    assert " M README.md" in status and "A  new.txt" in status


def test_autostash_carries_overlapping_changes_that_reapply(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    write(clone, "app.txt", "1\n2\n3\n4\nMINE\n")
    result = sync_one(clone, mode="ff-only", autostash=True)
    assert result.result == "fast_forwarded", result.error
    assert (clone / "app.txt").read_text() == "1\nTHEIRS\n3\n4\nMINE\n"
    assert git(clone, "stash", "list") == ""


def test_autostash_that_cannot_reapply_fails_and_changes_nothing(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    write(clone, "app.txt", "1\nMINE\n3\n4\n5\n")
    write(clone, "other.txt", "untracked\n")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase", autostash=True)
    assert result.exit_code == 1
    assert result.error and result.error["code"] == "autostash_conflict"
    assert result.conflicts is not None
    assert [f.path for f in result.conflicts.files] == ["app.txt"]
    assert_unchanged(before, clone)
    assert git(clone, "for-each-ref", "refs/devkit") == ""


# -- conflicts --------------------------------------------------------------------------


def test_predicted_conflict_stops_before_anything_changes(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    commit(clone, "mine", {"app.txt": "1\nMINE\n3\n4\n5\n"})
    write(clone, "untracked.txt", "keep me\n")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "conflict_predicted"
    assert result.conflicts is not None
    (conflict,) = result.conflicts.files
    assert (conflict.path, conflict.type) == ("app.txt", "content")
    assert conflict.hunks and conflict.hunks[0].start == 2
    assert [s.ref for s in conflict.sides] == ["main", "origin/main"]
    assert conflict.sides[0].commits[0].subject == "mine"
    assert conflict.sides[1].commits[0].subject == "theirs"
    assert_unchanged(before, clone)


def test_rebase_conflicting_on_a_later_commit_is_rolled_back(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    # Commit 1 changes line 2, commit 2 puts it back: the whole branch merges cleanly,
    # but replaying commit 1 conflicts.
    commit(clone, "change line 2", {"app.txt": "1\nMINE\n3\n4\n5\n"})
    commit(clone, "restore line 2", {"app.txt": "1\n2\n3\n4\n5\n", "extra.txt": "e\n"})
    write(clone, "wip.txt", "untracked work\n")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "conflict", result.error
    assert result.conflicts is not None and result.conflicts.state == "rebase"
    assert [f.path for f in result.conflicts.files] == ["app.txt"]
    assert result.conflicts.current.ref == "origin/main"
    assert result.conflicts.incoming.ref == "main"
    assert_unchanged(before, clone)
    assert not list((clone / ".git" / "worktrees").glob("*"))


# -- upstream and HEAD oddities ------------------------------------------------------------


def test_no_upstream_tracks_the_remote_branch_of_the_same_name(remote: Remote) -> None:
    clone = remote.clone("me")
    git(clone, "branch", "--unset-upstream")
    theirs = push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    result = sync_one(clone, mode="ff-only")
    assert result.result == "fast_forwarded"
    assert git(clone, "rev-parse", "--abbrev-ref", "main@{upstream}").strip() == "origin/main"
    assert head(clone) == theirs


def test_no_upstream_publishes_a_new_branch_with_upstream_when_asked(remote: Remote) -> None:
    clone = remote.clone("me")
    git(clone, "switch", "-q", "-c", "feature")
    sha = commit(clone, "feature work", {"f.txt": "f\n"})
    result = sync_one(clone, mode="rebase", publish=True)
    assert result.result == "published" and result.pushed
    assert remote.remote_head("feature") == sha
    assert git(clone, "config", "branch.feature.remote").strip() == "origin"


@pytest.mark.parametrize("push", [True, False])
def test_a_new_branch_is_reported_not_published_without_publish(remote: Remote, push: bool) -> None:
    # git-town's push-new-branches is off by default: creating a branch on the server
    # is the user's decision, so a plain sync (or --no-push) only says how to do it.
    clone = remote.clone("me")
    git(clone, "switch", "-q", "-c", "feature")
    commit(clone, "feature work", {"f.txt": "f\n"})
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase", push=push)
    assert (result.result, result.state, result.exit_code) == ("not_published", "no_upstream", 0)
    assert result.next_step and "--publish" in result.next_step
    assert git(remote.bare, "branch", "--list", "feature") == ""
    assert_unchanged(before, clone)


def test_detached_head_is_skipped_with_a_reason(remote: Remote) -> None:
    clone = remote.clone("me")
    git(clone, "switch", "-q", "--detach", "HEAD")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.result == "skipped" and result.exit_code == 0
    assert "detached" in " ".join(result.log)
    assert_unchanged(before, clone)


def test_operation_in_progress_is_refused(remote: Remote) -> None:
    clone = remote.clone("me")
    git(clone, "switch", "-q", "-c", "side")
    commit(clone, "side", {"app.txt": "side\n"})
    git(clone, "switch", "-q", "main")
    commit(clone, "main", {"app.txt": "main\n"})
    git(clone, "merge", "side", check=False)
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "operation_in_progress"
    assert_unchanged(before, clone)


# -- the remote misbehaves --------------------------------------------------------------------


def test_remote_refusing_the_push_is_a_failure_and_local_is_restored(remote: Remote) -> None:
    clone = remote.clone("me")
    hook(remote.bare, "pre-receive", "echo 'protected branch' >&2\nexit 1\n")
    push_from_ok = remote.root / "colleague"
    remote.clone("colleague")
    commit(push_from_ok, "theirs", {"theirs.txt": "t\n"})
    (remote.bare / "hooks" / "pre-receive").rename(remote.bare / "hooks" / "off")
    git(push_from_ok, "push", "-q", "origin", "HEAD:main")
    (remote.bare / "hooks" / "off").rename(remote.bare / "hooks" / "pre-receive")
    commit(clone, "mine", {"mine.txt": "m\n"})
    write(clone, "README.md", "dirty\n")
    before = fingerprint(clone)
    remote_before = remote.remote_head()
    result = sync_one(clone, mode="rebase")
    assert result.exit_code == 1 and not result.pushed
    assert result.error and result.error["code"] == "push_rejected"
    assert_unchanged(before, clone)
    assert remote.remote_head() == remote_before


def test_unreachable_remote_is_reported_and_nothing_changes(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone("me")
    commit(clone, "mine", {"mine.txt": "m\n"})
    git(clone, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "fetch_failed"
    assert_unchanged(before, clone)


def test_rejected_lease_when_someone_pushes_during_the_sync(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    racer = remote.clone("racer")
    commit(racer, "racing", {"race.txt": "r\n"})
    # The racer pushes after devkit fetched and rebased, just before devkit's push.
    hook(
        clone,
        "pre-push",
        "unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE\n"
        f"cd '{racer}' && git pull -q --rebase && git push -q origin HEAD:main\n",
    )
    commit(clone, "mine", {"mine.txt": "m\n"})
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "push_rejected", result.error
    assert_unchanged(before, clone)
    assert remote.remote_head() == head(racer)
    log = git(remote.bare, "log", "--format=%s", "main")
    assert "mine" not in log.split("\n")


def test_hostile_remote_url_is_refused_and_never_run(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone("me")
    marker = tmp_path / "pwned"
    git(clone, "config", "protocol.ext.allow", "always")
    git(clone, "remote", "set-url", "origin", f"ext::sh -c touch% {marker}")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "unsafe_remote"
    assert result.exit_code == 2
    assert not marker.exists()
    assert_unchanged(before, clone)


# -- many repositories, concurrency ------------------------------------------------------------


def test_ten_repositories_in_parallel_one_failing(remote: Remote, tmp_path: Path) -> None:
    clones = [remote.clone(f"r{i}") for i in range(10)]
    theirs = push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    git(clones[3], "remote", "set-url", "origin", str(tmp_path / "missing.git"))
    before_bad = fingerprint(clones[3])
    report = sync_repositories(clones, mode="ff-only", jobs=4)
    assert report.exit_code == 1
    assert report.summary() == {"total": 10, "ok": 9, "skipped": 0, "failed": 1}
    for index, (clone, result) in enumerate(zip(clones, report.repos, strict=True)):
        assert result.repo == str(clone)
        if index == 3:
            assert result.error and result.error["code"] == "fetch_failed"
        else:
            assert result.result == "fast_forwarded" and head(clone) == theirs
    assert_unchanged(before_bad, clones[3])


def test_second_concurrent_sync_waits_then_fails_clearly(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone("me")
    commit(clone, "mine", {"mine.txt": "m\n"})
    started = tmp_path / "started"
    hook(clone, "pre-push", f"touch '{started}'\nsleep 2\n")
    first = subprocess.Popen(
        [sys.executable, "-m", "devkit", "sync", "--mode", "rebase", "--json", str(clone)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline and first.poll() is None, first.stderr
            time.sleep(0.05)
        second = sync_one(clone, mode="rebase", env={**os.environ, "DEVKIT_LOCK_WAIT": "0.5"})
        assert second.error and second.error["code"] == "locked"
        assert "another devkit" in second.error["message"]
    finally:
        out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    assert json.loads(out)["data"]["repos"][0]["result"] == "pushed"


# -- dry run, CLI and JSON --------------------------------------------------------------------


def test_dry_run_changes_nothing(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    before = fingerprint(clone)
    remote_before = remote.remote_head()
    result = sync_one(clone, mode="rebase", dry_run=True)
    assert result.result == "would_rebase" and result.exit_code == 0
    assert_unchanged(before, clone)
    assert remote.remote_head() == remote_before


def test_cli_sync_json_shape_is_pinned(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"app.txt": "1\nTHEIRS\n3\n4\n5\n"})
    commit(clone, "mine", {"app.txt": "1\nMINE\n3\n4\n5\n"})
    process = run_devkit(["sync", "--mode", "rebase", "--json", str(clone)])
    assert process.returncode == 1
    doc = json.loads(process.stdout)
    assert doc["command"] == "sync" and doc["ok"] is False and doc["exit_code"] == 1
    data = doc["data"]
    assert set(data) == {"mode", "push", "dry_run", "summary", "repos"}
    assert set(data["summary"]) == {"total", "ok", "skipped", "failed"}
    (repo,) = data["repos"]
    assert set(repo) == {
        "repo", "mode", "branch", "upstream", "state", "ahead", "behind", "result", "ok",
        "exit_code", "pushed", "old_head", "new_head", "snapshot", "next_step", "error",
        "overlapping", "conflicts", "log",
    }  # fmt: skip
    assert repo["error"]["code"] == "conflict_predicted"
    conflicts = repo["conflicts"]
    assert set(conflicts) == {
        "repo",
        "state",
        "current",
        "incoming",
        "merge_base",
        "clean",
        "files",
    }
    (item,) = conflicts["files"]
    assert set(item) == {"path", "type", "original_path", "message", "hunks", "sides"}
    assert set(item["sides"][0]) == {"ref", "sha", "commits"}
    assert set(item["sides"][0]["commits"][0]) == {"sha", "author", "date", "subject"}


def test_cli_sync_human_output_ends_with_table_and_summary(remote: Remote, tmp_path: Path) -> None:
    good = remote.clone("good")
    bad = remote.clone("bad")
    git(bad, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    result = invoke(["sync", "--mode", "ff-only", str(good), str(bad)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "2 repositories (ff-only): 1 ok, 0 skipped, 1 failed"
    assert any(line.startswith("repo") and "ahead/behind" in line for line in lines)
    assert "Traceback" not in result.output


def test_not_a_repository_is_exit_2(tmp_path: Path) -> None:
    process = run_devkit(["sync", str(tmp_path)])
    assert process.returncode == 2
    assert "not a git repository" in process.stdout + process.stderr


@pytest.mark.parametrize("mode", ["sideways"])
def test_unknown_mode_is_a_usage_error(tmp_path: Path, mode: str) -> None:
    process = run_devkit(["sync", "--mode", mode, str(tmp_path)])
    assert process.returncode == 2
    assert "unknown sync mode" in process.stderr


@pytest.mark.slow
def test_ctrl_c_during_push_restores_the_repository(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    write(clone, "wip.txt", "untracked work\n")
    started = tmp_path / "pushing"
    hook(clone, "pre-push", f"touch '{started}'\nsleep 3\nexit 1\n")
    before = fingerprint(clone)
    process = subprocess.Popen(
        [sys.executable, "-m", "devkit", "sync", "--mode", "rebase", str(clone)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline and process.poll() is None, process.stderr
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert_unchanged(before, clone)
    assert git(clone, "for-each-ref", "refs/devkit") == ""


def test_a_remote_that_never_answers_times_out(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = remote.clone("me")
    wrapper = tmp_path / "hanging-ssh"
    wrapper.write_text("#!/bin/sh\nsleep 30\n")
    wrapper.chmod(0o755)
    git(clone, "remote", "set-url", "origin", f"ssh://example.invalid{remote.bare}")
    monkeypatch.setenv("GIT_SSH_COMMAND", str(wrapper))
    monkeypatch.setenv("DEVKIT_GIT_TIMEOUT", "1")
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase")
    assert result.error and result.error["code"] == "git_timeout"
    assert_unchanged(before, clone)


@pytest.mark.parametrize("ignored", [False, True])
def test_incoming_file_where_an_untracked_or_ignored_file_sits(
    remote: Remote, ignored: bool
) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {".env": "THEIRS=1\n"})
    if ignored:
        write(clone, ".git/info/exclude", ".env\n")
    write(clone, ".env", "MY_SECRET=1\n")
    before = fingerprint(clone)
    result = sync_one(clone, mode="ff-only", autostash=True)
    assert result.error and result.error["code"] == "untracked_overlap"
    assert result.overlapping == (".env",)
    assert_unchanged(before, clone)
    assert (clone / ".env").read_text() == "MY_SECRET=1\n"
