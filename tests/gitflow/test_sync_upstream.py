"""sync and what the server did to the upstream: a branch never published, a branch
deleted there (a merged pull request), history rewritten there (a force-push).

Expected behaviour follows git-town (push-new-branches off by default; a branch whose
tracking branch is gone is reported, with a warning when it holds unshipped commits)
and `git pull --rebase` (replay only the commits since the fork point)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.gitflow import sync_repositories
from devkit.gitflow.results import RepoSyncResult
from tests.clirun import run_devkit
from tests.gitrepos import Remote, assert_unchanged, commit, fingerprint, git, head

MODES = ["rebase", "merge", "ff-only"]


def sync_one(repo: Path, **kwargs: object) -> RepoSyncResult:
    report = sync_repositories([repo], **kwargs)  # type: ignore[arg-type]
    return report.repos[0]


def remote_branches(remote: Remote) -> set[str]:
    out = git(remote.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads")
    return set(out.split())


def published_feature(remote: Remote, name: str = "me") -> Path:
    """A clone on branch `feature`, pushed with -u (so it tracks origin/feature)."""
    clone = remote.clone(name)
    git(clone, "switch", "-q", "-c", "feature")
    commit(clone, "feature work", {"f.txt": "f\n"})
    git(clone, "push", "-q", "-u", "origin", "feature")
    return clone


# -- publishing is asked for ---------------------------------------------------------


def test_cli_publish_short_option_publishes_and_tracks(remote: Remote) -> None:
    clone = remote.clone("me")
    git(clone, "switch", "-q", "-c", "feature")
    sha = commit(clone, "feature work", {"f.txt": "f\n"})
    plain = run_devkit(["sync", "--mode", "rebase", "--json"], cwd=clone)
    assert plain.returncode == 0, plain.stderr
    repo = json.loads(plain.stdout)["data"]["repos"][0]
    assert (repo["result"], repo["pushed"]) == ("not_published", False)
    assert "feature" not in remote_branches(remote)

    published = run_devkit(["sync", "-u"], cwd=clone)
    assert published.returncode == 0, published.stderr
    assert remote.remote_head("feature") == sha
    assert git(clone, "rev-parse", "--abbrev-ref", "feature@{upstream}").strip() == (
        "origin/feature"
    )


def test_publish_with_no_push_is_a_usage_error(remote: Remote) -> None:
    clone = remote.clone("me")
    out = run_devkit(["sync", "--publish", "--no-push"], cwd=clone)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "--no-push" in out.stderr


# -- the upstream branch was deleted on the server -------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_deleted_upstream_is_reported_gone_and_never_recreated(remote: Remote, mode: str) -> None:
    clone = published_feature(remote)
    commit(clone, "more work after the merge", {"g.txt": "g\n"})
    git(clone, "push", "-q", "origin", "--delete", "feature")  # as a merged PR's button would
    git(clone, "update-ref", "refs/remotes/origin/feature", "HEAD~1")  # not yet fetched
    before = fingerprint(clone)
    result = sync_one(clone, mode=mode)
    assert (result.result, result.state, result.exit_code) == ("upstream_gone", "upstream_gone", 0)
    assert "feature" not in remote_branches(remote)
    warning = [line for line in result.log if line.startswith("warning:")]
    assert warning and "2 commit(s)" in warning[0], result.log
    assert result.next_step and "--publish" in result.next_step
    assert_unchanged(before, clone)


def test_a_deleted_upstream_whose_work_is_merged_gives_no_warning(remote: Remote) -> None:
    clone = published_feature(remote)
    # The pull request is squash-merged: main gets one new commit with the same change,
    # the branch's own commits end up on no remote branch.
    other = remote.clone("maintainer")
    git(other, "fetch", "-q", "origin", "feature")
    git(other, "merge", "-q", "--squash", "origin/feature")
    git(other, "commit", "-q", "-m", "feature (#1)")
    git(other, "push", "-q", "origin", "main", ":feature")
    result = sync_one(clone, mode="rebase")
    assert (result.result, result.exit_code) == ("upstream_gone", 0)
    assert not [line for line in result.log if line.startswith("warning:")], result.log
    assert result.next_step and "git branch -D feature" in result.next_step
    assert "feature" not in remote_branches(remote)


def test_publish_recreates_a_deleted_upstream(remote: Remote) -> None:
    clone = published_feature(remote)
    git(clone, "push", "-q", "origin", "--delete", "feature")
    result = sync_one(clone, mode="ff-only", publish=True)
    assert (result.result, result.pushed) == ("published", True)
    assert remote.remote_head("feature") == head(clone)
