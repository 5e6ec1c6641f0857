"""sync pushes where plain `git push` would, and refuses where it would refuse.

Differential: for each configuration two identical setups are built (a fork `origin`
and an `upstream`, both local bare repositories; `main` tracks an upstream branch),
one is synced by devkit and the other pushed with `git push`, and the refs each
remote ends up with are compared, with the git binary."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devkit.gitflow import sync_repositories
from devkit.gitflow.results import RepoSyncResult
from tests.clirun import run_devkit
from tests.gitrepos import commit, git, head

Config = tuple[tuple[str, str], ...]


def build(root: Path, *, tracks: str, config: Config) -> Path:
    """`upstream` and `origin` (a fork) with main, trunk and topic at one commit; a
    clone whose main tracks upstream/<tracks> and is one commit ahead of it."""
    root.mkdir(parents=True)
    seed = root / "seed"
    git(root, "init", "-q", "-b", "main", str(seed))
    commit(seed, "initial", {"README.md": "hello\n"})
    git(seed, "branch", "trunk")
    git(seed, "branch", "topic")
    for name in ("upstream", "origin"):
        git(root, "init", "-q", "--bare", str(root / f"{name}.git"))
        git(seed, "push", "-q", str(root / f"{name}.git"), "main", "trunk", "topic")
    local = root / "local"
    git(root, "clone", "-q", "-o", "upstream", str(root / "upstream.git"), str(local))
    git(local, "remote", "add", "origin", str(root / "origin.git"))
    git(local, "fetch", "-q", "origin")
    git(local, "branch", "-q", f"--set-upstream-to=upstream/{tracks}", "main")
    for key, value in config:
        git(local, "config", "--add", key, value)
    commit(local, "wip", {"wip.txt": "local work in progress\n"})
    return local


def where_head_went(local: Path) -> set[tuple[str, str]]:
    """(remote, ref) of every branch on either remote that now holds the local HEAD."""
    tip = head(local)
    found = set()
    for name in ("upstream", "origin"):
        refs = git(
            local.parent / f"{name}.git", "for-each-ref", "--format=%(objectname) %(refname)"
        )
        found |= {
            (name, ref) for sha, ref in (line.split() for line in refs.splitlines()) if sha == tip
        }
    return found


def sync_one(repo: Path, **kwargs: object) -> RepoSyncResult:
    return sync_repositories([repo], **kwargs).repos[0]  # type: ignore[arg-type]


CASES: dict[str, tuple[str, Config]] = {
    "default": ("main", ()),
    "pushDefault fork (the issue)": ("main", (("remote.pushDefault", "origin"),)),
    "branch pushRemote fork": ("main", (("branch.main.pushRemote", "origin"),)),
    "pushRemote beats pushDefault": (
        "main",
        (("remote.pushDefault", "origin"), ("branch.main.pushRemote", "upstream")),
    ),
    "current to fork": ("main", (("push.default", "current"), ("remote.pushDefault", "origin"))),
    "upstream to fork refused": (
        "main",
        (("push.default", "upstream"), ("remote.pushDefault", "origin")),
    ),
    "upstream mode": ("trunk", (("push.default", "upstream"),)),
    "tracking (old name of upstream)": ("trunk", (("push.default", "tracking"),)),
    "simple, other name refused": ("trunk", ()),
    "simple, other name, fork": ("trunk", (("remote.pushDefault", "origin"),)),
    "current, other name": ("trunk", (("push.default", "current"),)),
    "nothing refused": ("main", (("push.default", "nothing"),)),
    "matching to fork": ("main", (("push.default", "matching"), ("remote.pushDefault", "origin"))),
    "remote push refspec": (
        "main",
        (
            ("remote.pushDefault", "origin"),
            ("remote.origin.push", "refs/heads/main:refs/heads/topic"),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sync_pushes_where_git_push_would(tmp_path: Path, case: str) -> None:
    tracks, config = CASES[case]
    with_git = build(tmp_path / "git", tracks=tracks, config=config)
    with_devkit = build(tmp_path / "devkit", tracks=tracks, config=config)
    plain = subprocess.run(
        ["git", "push", "--porcelain"], cwd=with_git, capture_output=True, text=True, check=False
    )
    before = where_head_went(with_devkit)

    result = sync_one(with_devkit, mode="rebase")

    if plain.returncode != 0:
        assert result.exit_code == 1, result
        assert result.error is not None and result.error["code"] == "push_refused"
        assert where_head_went(with_devkit) == before == set()
        assert where_head_went(with_git) == set()
    else:
        assert (result.result, result.exit_code, result.pushed) == ("pushed", 0, True), result
        assert where_head_went(with_devkit) == where_head_went(with_git) != set()


def test_the_issue_fork_workflow_diverged_rebases_onto_upstream_and_pushes_to_the_fork(
    tmp_path: Path,
) -> None:
    local = build(tmp_path / "devkit", tracks="main", config=(("remote.pushDefault", "origin"),))
    colleague = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(tmp_path / "devkit" / "upstream.git"), str(colleague))
    theirs = commit(colleague, "upstream moves on", {"theirs.txt": "t\n"})
    git(colleague, "push", "-q", "origin", "main")

    result = sync_one(local, mode="rebase")

    assert (result.result, result.exit_code, result.pushed) == ("rebased", 0, True), result
    upstream = tmp_path / "devkit" / "upstream.git"
    fork = tmp_path / "devkit" / "origin.git"
    assert head(upstream, "refs/heads/main") == theirs  # upstream untouched
    assert head(fork, "refs/heads/main") == head(local)  # the WIP went to the fork
    assert git(local, "rev-parse", "HEAD~1").strip() == theirs


def test_a_refused_push_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    local = build(tmp_path / "r", tracks="main", config=(("push.default", "nothing"),))
    before = head(local)
    out = run_devkit(["sync", "--mode", "rebase"], cwd=local)
    assert out.returncode == 1
    assert "push.default" in out.stderr and "Traceback" not in out.stderr
    assert head(local) == before
    assert where_head_went(local) == set()
    # --no-push still syncs.
    assert run_devkit(["sync", "--mode", "rebase", "--no-push"], cwd=local).returncode == 0


def test_fork_with_the_wip_pushed_before_gets_the_rebased_wip(tmp_path: Path) -> None:
    # The WIP was pushed to the fork earlier; after rebasing onto upstream it is no
    # fast-forward of the fork's main, and replaces it under a lease on what the fork
    # was known to hold (part of the branch's history before the rebase).
    local = build(tmp_path / "devkit", tracks="main", config=(("remote.pushDefault", "origin"),))
    git(local, "push", "-q", "origin", "main")
    colleague = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(tmp_path / "devkit" / "upstream.git"), str(colleague))
    theirs = commit(colleague, "upstream moves on", {"theirs.txt": "t\n"})
    git(colleague, "push", "-q", "origin", "main")

    result = sync_one(local, mode="rebase")

    assert (result.result, result.exit_code, result.pushed) == ("rebased", 0, True), result
    fork = tmp_path / "devkit" / "origin.git"
    assert head(fork, "refs/heads/main") == head(local)
    assert git(local, "rev-parse", "HEAD~1").strip() == theirs
    assert head(tmp_path / "devkit" / "upstream.git", "refs/heads/main") == theirs


def test_fork_that_moved_on_its_own_is_not_overwritten(tmp_path: Path) -> None:
    local = build(tmp_path / "devkit", tracks="main", config=(("remote.pushDefault", "origin"),))
    fork = tmp_path / "devkit" / "origin.git"
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(fork), str(other))
    someone = commit(other, "someone else's work on the fork", {"other.txt": "o\n"})
    git(other, "push", "-q", "origin", "main")
    git(local, "fetch", "-q", "origin")
    colleague = tmp_path / "colleague"
    git(tmp_path, "clone", "-q", str(tmp_path / "devkit" / "upstream.git"), str(colleague))
    commit(colleague, "upstream moves on", {"theirs.txt": "t\n"})
    git(colleague, "push", "-q", "origin", "main")
    before = head(local)

    result = sync_one(local, mode="rebase")

    assert result.exit_code == 1 and result.error is not None
    assert result.error["code"] == "push_rejected"
    assert head(fork, "refs/heads/main") == someone
    assert head(local) == before  # the sync was rolled back


@pytest.mark.parametrize(
    "config", [(("remote.pushDefault", "origin"),), (("branch.feature.pushRemote", "origin"),)]
)
def test_branch_whose_upstream_is_missing_goes_to_the_fork_like_git_push(
    tmp_path: Path, config: Config
) -> None:
    # feature tracks upstream/feature, which upstream does not have; git push sends it to
    # the push remote's feature, and so does sync (keeping the configured upstream).
    results = {}
    for who in ("git", "devkit"):
        local = build(tmp_path / who, tracks="main", config=config)
        git(local, "switch", "-q", "-c", "feature")
        git(local, "config", "branch.feature.remote", "upstream")
        git(local, "config", "branch.feature.merge", "refs/heads/feature")
        commit(local, "feature work", {"feature.txt": "f\n"})
        if who == "git":
            git(local, "push", "-q")
        else:
            result = sync_one(local, mode="rebase", publish=True)
            assert (result.result, result.exit_code, result.pushed) == ("pushed", 0, True), result
            assert git(local, "config", "branch.feature.remote").strip() == "upstream"
        results[who] = where_head_went(local)
    assert results["devkit"] == results["git"] == {("origin", "refs/heads/feature")}
