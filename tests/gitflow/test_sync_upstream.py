"""sync and what the server did to the upstream: a branch never published, a branch
deleted there (a merged pull request), history rewritten there (a force-push).

Expected behaviour follows git-town (push-new-branches off by default; a branch whose
tracking branch is gone is reported, with a warning when it holds unshipped commits)
and `git pull --rebase` (replay only the commits since the fork point)."""

from __future__ import annotations

import json
import shutil
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


# -- the upstream was rewritten: a force-push removed a commit ------------------------------


def leaked_secret(remote: Remote, *, local_work: bool, upstream_moves_on: bool) -> Path:
    """A clone that fetched a commit with a secret, which a maintainer then removed from
    main with a force-push (main back to its parent, plus a new commit if
    `upstream_moves_on`); the clone may have committed on top of the secret."""
    clone = remote.clone("me")
    maintainer = remote.clone("maintainer")
    commit(maintainer, "oops", {"secret.env": "TOKEN=hunter2\n"})
    git(maintainer, "push", "-q")
    git(clone, "pull", "-q", "--ff-only")
    if local_work:
        commit(clone, "mine", {"mine.txt": "m\n"})
    git(maintainer, "reset", "-q", "--hard", "HEAD~1")
    if upstream_moves_on:
        commit(maintainer, "theirs", {"theirs.txt": "t\n"})
    git(maintainer, "push", "-q", "--force", "origin", "main")
    return clone


def secret_anywhere(remote: Remote, clone: Path) -> list[str]:
    where = []
    for repo, ref in ((remote.bare, "refs/heads/main"), (clone, "HEAD")):
        if git(repo, "log", "--format=%s", ref, "--", "secret.env").strip():
            where.append(str(repo))
    return where


@pytest.mark.parametrize("upstream_moves_on", [True, False])
def test_rebase_does_not_replay_or_push_a_commit_the_upstream_removed(
    remote: Remote, upstream_moves_on: bool
) -> None:
    clone = leaked_secret(remote, local_work=True, upstream_moves_on=upstream_moves_on)
    twin = remote.root / "twin"
    shutil.copytree(clone, twin, symlinks=True)  # reflogs included
    git(twin, "pull", "-q", "--rebase")  # git's answer, before devkit pushes anything
    result = sync_one(clone, mode="rebase")
    assert (result.result, result.exit_code, result.pushed) == ("rebased", 0, True), result
    assert secret_anywhere(remote, clone) == []
    assert git(clone, "log", "--format=%s", "HEAD").split("\n")[0] == "mine"
    assert remote.remote_head() == head(clone)
    assert any("rewritten" in line for line in result.log), result.log
    # The same tree and the same commits as `git pull --rebase` (fork point) gives.
    assert git(clone, "rev-parse", "HEAD^{tree}") == git(twin, "rev-parse", "HEAD^{tree}")
    assert git(clone, "log", "--format=%s") == git(twin, "log", "--format=%s")


def test_dry_run_says_the_upstream_was_rewritten(remote: Remote) -> None:
    clone = leaked_secret(remote, local_work=True, upstream_moves_on=True)
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase", dry_run=True)
    assert result.result == "would_rebase", result
    assert any("rewritten" in line for line in result.log), result.log
    assert_unchanged(before, clone)


def test_rebase_with_only_the_removed_commit_follows_the_upstream(remote: Remote) -> None:
    clone = leaked_secret(remote, local_work=False, upstream_moves_on=False)
    result = sync_one(clone, mode="rebase")
    assert (result.result, result.exit_code) == ("rebased", 0), result
    assert head(clone) == remote.remote_head()
    assert not (clone / "secret.env").exists()
    assert secret_anywhere(remote, clone) == []


@pytest.mark.parametrize("mode", ["merge", "ff-only"])
def test_merge_and_ff_only_refuse_to_bring_back_removed_commits(remote: Remote, mode: str) -> None:
    # `git pull` (merge) would merge the removed commit back and push it on the next
    # push; devkit refuses and says what happened.
    clone = leaked_secret(remote, local_work=True, upstream_moves_on=True)
    before = fingerprint(clone)
    remote_before = remote.remote_head()
    result = sync_one(clone, mode=mode)
    assert result.exit_code == 1 and result.error, result
    assert result.error["code"] == "upstream_rewritten"
    assert "--mode rebase" in (result.error["hint"] or "")
    assert remote.remote_head() == remote_before
    assert_unchanged(before, clone)


# -- an unborn branch ------------------------------------------------------------------


@pytest.mark.parametrize("remote_has_the_branch", [True, False])
def test_an_unborn_branch_is_no_commits(remote: Remote, remote_has_the_branch: bool) -> None:
    local = remote.root / "fresh"
    git(remote.root, "init", "-q", "-b", "main" if remote_has_the_branch else "other", str(local))
    git(local, "remote", "add", "origin", str(remote.bare))
    out = run_devkit(["sync", "--json"], cwd=local)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    error = json.loads(out.stdout)["errors"][0]
    assert error["code"] == "no_commits", error
    assert git(local, "config", "--get-regexp", "^branch\\.", check=False) == ""


def test_the_unshipped_warning_shows_among_many_repositories(remote: Remote) -> None:
    # Among several repositories only those needing attention show their log: a branch
    # whose upstream is gone with work no remote has is one of them.
    clone = published_feature(remote)
    git(clone, "push", "-q", "origin", "--delete", "feature")
    other = remote.clone("other")
    out = run_devkit(["sync", str(clone), str(other)])
    assert out.returncode == 0, out.stderr
    assert "warning: 1 commit(s) of 'feature' are on no remote branch" in out.stdout + out.stderr
