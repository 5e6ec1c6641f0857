"""sync never loses a change: local merges are kept, and every integration must end at
the tree `git merge-tree` predicts, or nothing moves. Real repositories, asserted with
the git binary."""

from __future__ import annotations

import random
from pathlib import Path

from devkit.gitflow import sync_repositories
from devkit.gitflow.results import RepoSyncResult
from tests.gitrepos import (
    Remote,
    assert_unchanged,
    commit,
    fingerprint,
    git,
    head,
    make_remote,
    push_from,
    write,
)


def sync_one(repo: Path, **kwargs: object) -> RepoSyncResult:
    report = sync_repositories([repo], **kwargs)  # type: ignore[arg-type]
    return report.repos[0]


def predicted_tree(repo: Path, ours: str, theirs: str) -> str:
    return git(repo, "merge-tree", "--write-tree", ours, theirs).splitlines()[0].strip()


def tree_of(repo: Path, rev: str) -> str:
    return git(repo, "rev-parse", f"{rev}^{{tree}}").strip()


def evil_merge(clone: Path) -> str:
    """A local --no-ff merge whose commit carries a manual fix; returns the merge."""
    git(clone, "switch", "-q", "-c", "feature")
    commit(clone, "feature work", {"feature.txt": "feature\n"})
    git(clone, "switch", "-q", "main")
    commit(clone, "main work", {"main.txt": "main\n"})
    git(clone, "merge", "-q", "--no-ff", "--no-commit", "feature")
    write(clone, "fix.txt", "the manual fix\n")
    git(clone, "add", "fix.txt")
    git(clone, "commit", "-q", "-m", "merge feature, with a fix")
    return head(clone)


def test_rebase_with_a_local_merge_merges_instead_and_keeps_the_fix(remote: Remote) -> None:
    clone = remote.clone("me")
    merge = evil_merge(clone)
    theirs = push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    git(clone, "fetch", "-q")
    expected = predicted_tree(clone, merge, theirs)

    result = sync_one(clone, mode="rebase")

    assert (result.result, result.exit_code, result.pushed) == ("merged", 0, True)
    assert any("merging instead of rebasing" in line for line in result.log)
    new = head(clone)
    assert tree_of(clone, new) == expected
    assert (clone / "fix.txt").read_text() == "the manual fix\n"
    # The local merge itself is kept, and so is the fix, on the remote too.
    git(clone, "merge-base", "--is-ancestor", merge, new)
    assert remote.remote_head() == new
    assert git(remote.bare, "show", "main:fix.txt") == "the manual fix\n"
    assert git(remote.bare, "show", "main:theirs.txt") == "t\n"


def test_why_not_rebase_merges_git_itself_loses_the_fix(remote: Remote) -> None:
    # The reason sync merges instead: `git rebase --rebase-merges` re-does the merge
    # from its parents and drops what was changed inside the merge commit.
    clone = remote.clone("me")
    evil_merge(clone)
    theirs = push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    git(clone, "fetch", "-q")
    git(clone, "rebase", "-q", "--rebase-merges", "origin/main")
    assert git(clone, "rev-list", "--min-parents=2", "--count", f"{theirs}..HEAD").strip() == "1"
    assert not (clone / "fix.txt").exists()


def test_dry_run_says_it_would_merge_when_local_commits_include_a_merge(remote: Remote) -> None:
    clone = remote.clone("me")
    evil_merge(clone)
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    before = fingerprint(clone)
    result = sync_one(clone, mode="rebase", dry_run=True)
    assert result.result == "would_merge"
    assert any("merging instead of rebasing" in line for line in result.log)
    assert_unchanged(before, clone)


def test_a_rebase_that_would_drop_an_upstream_change_is_refused(remote: Remote) -> None:
    # Upstream adds a line; locally the same line was added, then removed again. A merge
    # keeps upstream's line (the local side's net change is nothing); `git rebase` skips
    # the first local commit as already applied and replays the removal, dropping it.
    base = "a\nb\nc\n"
    added = "a\nX\nb\nc\n"
    push_from(remote, "colleague", "setup", {"f.txt": base})
    clone = remote.clone("me")
    old_remote = push_from(remote, "colleague", "add X", {"f.txt": added})
    commit(clone, "add X too", {"f.txt": added})
    commit(clone, "remove X again", {"f.txt": base})
    before = fingerprint(clone)

    result = sync_one(clone, mode="rebase")

    assert result.exit_code == 1
    assert result.error is not None and result.error["code"] == "integration_mismatch"
    assert "f.txt" in result.overlapping
    assert_unchanged(before, clone)
    assert remote.remote_head() == old_remote
    assert git(clone, "for-each-ref", "refs/devkit/") == ""
    assert git(clone, "worktree", "list", "--porcelain").count("worktree ") == 1
    # Merging keeps both sides, and passes the same check.
    merged = sync_one(clone, mode="merge")
    assert (merged.result, merged.exit_code) == ("merged", 0)
    assert (clone / "f.txt").read_text() == added


# -- random small linear histories: whenever sync says "rebased", the tree is the merge --


LINES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def random_edit(rng: random.Random, current: dict[str, list[str]]) -> dict[str, str | bytes]:
    name = rng.choice([*sorted(current), "new.txt"])
    lines = list(current.get(name, []))
    kind = rng.choice(["add", "change", "remove", "revert-ish"])
    if kind == "add" or not lines:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(LINES))
    elif kind == "change":
        lines[rng.randrange(len(lines))] = rng.choice(LINES)
    elif kind == "remove":
        del lines[rng.randrange(len(lines))]
    else:
        lines = sorted(lines)
    current[name] = lines
    return {name: "".join(line + "\n" for line in lines)}


def read_files(repo: Path) -> dict[str, list[str]]:
    return {
        p.name: p.read_text().splitlines()
        for p in sorted(repo.iterdir())
        if p.is_file() and p.suffix == ".txt"
    }


def test_random_linear_histories_rebase_only_when_it_equals_the_merge(tmp_path: Path) -> None:
    outcomes: dict[str, int] = {}
    for seed in range(8):
        rng = random.Random(seed)
        remote = make_remote(
            tmp_path / f"net{seed}", {f"f{i}.txt": "one\ntwo\nthree\n" for i in range(3)}
        )
        clone = remote.clone("me")
        mine = read_files(clone)
        for n in range(rng.randint(1, 4)):
            commit(clone, f"mine {n}", random_edit(rng, mine))
        other = remote.clone("colleague")
        theirs = read_files(other)
        for n in range(rng.randint(1, 4)):
            commit(other, f"theirs {n}", random_edit(rng, theirs))
        git(other, "push", "-q", "origin", "main")
        old, up = head(clone), head(other)
        git(clone, "fetch", "-q")
        prediction = git(clone, "merge-tree", "--write-tree", old, up, check=False)
        before = fingerprint(clone)

        result = sync_one(clone, mode="rebase", push=False)

        outcomes[result.result] = outcomes.get(result.result, 0) + 1
        if result.result == "rebased":
            assert tree_of(clone, "HEAD") == prediction.splitlines()[0], seed
            assert git(clone, "rev-list", "--min-parents=2", "--count", "HEAD").strip() == "0"
        else:
            assert result.result == "failed", seed
            assert result.error is not None
            assert result.error["code"] in {"conflict_predicted", "integration_mismatch"}, seed
            assert_unchanged(before, clone)
    assert outcomes.get("rebased", 0) >= 2, outcomes
