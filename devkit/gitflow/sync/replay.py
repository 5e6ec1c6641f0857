"""A rebase computed from objects alone: each local commit is replayed with `git
merge-tree` and written with `git commit-tree`, with no checkout at all.

`git rebase` in a scratch worktree first checks out every file of the repository
(20,000 files: most of a second) to replay a commit or two. Here each commit C (parent
P) is merged onto the new tip T over the base P, as a cherry-pick does: git 2.39's
merge-tree has no `--merge-base`, so a throw-away commit with T's tree and parent P
makes P the merge base (the first commit needs none when P is an upstream commit: P
is then already the only merge base of T and C). The result keeps C's author, author
date and message byte for byte; the committer is whoever runs the sync, now, as with
`git rebase`. It follows `git rebase`'s defaults: commits whose change the upstream
already has are skipped (`--cherry-mark`, unless they started empty), commits that
start empty are kept, and commits that become empty are dropped.

Only objects are written, so a kill at any instant leaves nothing to clean. Whenever
this could differ from what `git rebase` does (a hook rebase would run, a setting that
changes how it commits, a header such as `encoding`, a conflict on one commit, any git
failure), `replay_rebase` returns None and the caller runs the real `git rebase` in a
scratch worktree, which also words conflicts and hook refusals.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from devkit.errors import OperationFailed
from devkit.gitflow.conflicts import merge_tree
from devkit.gitflow.gitcmd import BOOKKEEPING_IDENTITY, GitRepo

# Hooks that `git rebase` (or the checkout and commits it makes) runs: with any of
# them the real rebase runs, so that they do.
_REBASE_HOOKS = (
    "pre-rebase",
    "post-checkout",
    "prepare-commit-msg",
    "commit-msg",
    "pre-commit",
    "post-commit",
    "post-rewrite",
    "reference-transaction",
)
# Settings under which `git rebase` commits differently from `git commit-tree`: any
# value of the first, a true one of the second.
_REBASE_SETTINGS = ("core.hooksPath", "commit.cleanup", "i18n.commitEncoding", "rebase.backend")
_REBASE_SWITCHES = ("commit.gpgSign", "rebase.autoSquash", "rebase.rebaseMerges")
_FALSE = ("false", "no", "off", "0")
_AUTHOR = re.compile(rb"^author (.*) <([^<>]*)> (\d+) ([+-]\d{4})$")
_PLAIN_HEADERS = (b"tree", b"parent", b"author", b"committer", b"gpgsig", b"gpgsig-sha256")


@dataclass(frozen=True)
class _Commit:
    tree: str
    parents: tuple[str, ...]
    author: tuple[str, str, str] | None  # name, email, "@<seconds> <zone>"
    message: bytes
    plain: bool  # no header beyond tree, parents, author, committer and signature


def replay_rebase(g: GitRepo, *, old: str, onto: str, upstream: str) -> str | None:
    """The tip `git rebase --onto ONTO UPSTREAM OLD` would make, or None when only a
    real `git rebase` can promise that (see the module docstring)."""
    if _rebase_needs_git(g):
        return None
    listing = g.run(
        [
            "rev-list",
            "--cherry-mark",
            "--right-only",
            "--reverse",
            "--topo-order",
            "--parents",
            f"{upstream}...{old}",
            "--",
        ],
        check=False,
    )
    if not listing.ok:
        return None
    picks: list[tuple[bool, str, str]] = []  # (already upstream, commit, parent)
    for line in listing.text.split():
        if line[:1] in "+=>":
            picks.append((line[0] == "=", line[1:], ""))
        elif picks and not picks[-1][2]:
            picks[-1] = (picks[-1][0], picks[-1][1], line)
        else:
            return None  # a second parent: not a linear history
    if any(not parent for _, _, parent in picks):
        return None
    commits = _read_commits(g, [onto, *(c for _, c, _ in picks), *(p for _, _, p in picks)])
    if commits is None:
        return None
    # Parents outside the listing are commits the upstream has (when it is `onto`):
    # for the first pick such a parent is already the merge base, no probe needed.
    based_on_onto = upstream == onto
    return _replay(g, onto, picks, commits, based_on_onto=based_on_onto)


def _rebase_needs_git(g: GitRepo) -> bool:
    if any(g.config(key) is not None for key in _REBASE_SETTINGS):
        return True
    switches = (g.config(key) for key in _REBASE_SWITCHES)
    if any(value is not None and value.lower() not in _FALSE for value in switches):
        return True  # (a key without a value is true)
    hooks = g.common_dir / "hooks"
    return any(os.access(hooks / name, os.X_OK) for name in _REBASE_HOOKS)


def _replay(
    g: GitRepo,
    onto: str,
    picks: list[tuple[bool, str, str]],
    commits: dict[str, _Commit],
    *,
    based_on_onto: bool,
) -> str | None:
    listed = {sha for _, sha, _ in picks}
    tip, tip_tree = onto, commits[onto].tree
    for already_upstream, sha, parent in picks:
        commit = commits[sha]
        if not commit.plain or commit.author is None:
            return None
        started_empty = commit.tree == commits[parent].tree
        if already_upstream and not started_empty:
            continue  # the upstream has this change (rebase skips it)
        if parent == tip:
            tip, tip_tree = sha, commit.tree  # unchanged base: rebase keeps the commit
            continue
        # On `onto` itself, with a parent the upstream has, that parent is the only
        # merge base of `onto` and the commit: merge-tree needs no probe to use it.
        direct = onto if tip == onto and based_on_onto and parent not in listed else None
        tree = tip_tree if started_empty else _picked_tree(g, tip_tree, parent, sha, direct=direct)
        if tree is None:
            return None
        if tree == tip_tree and not started_empty:
            continue  # became empty: rebase drops it
        made = _commit(g, tree, tip, commit)
        if made is None:
            return None
        tip, tip_tree = made, tree
    return tip


def _picked_tree(
    g: GitRepo, tip_tree: str, parent: str, sha: str, *, direct: str | None
) -> str | None:
    """The tree of cherry-picking `sha` onto a tip with `tip_tree` (None: a conflict).
    `direct`: the tip itself, when its merge base with `sha` is already `parent`."""
    ours = direct
    if ours is None:
        probe = g.run(
            ["commit-tree", tip_tree, "-p", parent, "-m", "devkit rebase probe"],
            check=False,
            env=BOOKKEEPING_IDENTITY,
        )
        if not probe.ok:
            return None
        ours = probe.text.strip()
    try:
        outcome = merge_tree(g, ours, sha)
    except OperationFailed:
        return None
    return outcome.tree if outcome.clean else None


def _commit(g: GitRepo, tree: str, parent: str, original: _Commit) -> str | None:
    assert original.author is not None
    name, email, date = original.author
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
    out = g.run(
        ["commit-tree", tree, "-p", parent, "-F", "-"],
        check=False,
        env=env,
        input=original.message,
    )
    return out.text.strip() if out.ok else None


def _read_commits(g: GitRepo, shas: list[str]) -> dict[str, _Commit] | None:
    """The commits, parsed from one `git cat-file --batch`."""
    wanted = list(dict.fromkeys(shas))
    out = g.run(
        ["cat-file", "--batch"],
        check=False,
        strip=False,
        input="".join(f"{s}\n" for s in wanted).encode(),
    )
    if not out.ok:
        return None
    data, at, found = out.stdout, 0, {}
    for sha in wanted:
        end = data.find(b"\n", at)
        header = data[at:end].split()
        if len(header) != 3 or header[1] != b"commit":
            return None
        size = int(header[2])
        found[sha] = _parse_commit(data[end + 1 : end + 1 + size])
        at = end + 1 + size + 1
    return found


def _parse_commit(raw: bytes) -> _Commit:
    head, _, message = raw.partition(b"\n\n")
    tree, parents, author, plain = "", [], None, True
    for line in head.split(b"\n"):
        if line.startswith(b" "):
            continue  # the continuation of a multi-line header (a signature)
        key = line.partition(b" ")[0]
        plain = plain and key in _PLAIN_HEADERS
        if key == b"tree":
            tree = line[5:].decode()
        elif key == b"parent":
            parents.append(line[7:].decode())
        elif key == b"author" and (match := _AUTHOR.match(line)):
            name, email, seconds, zone = (
                part.decode("utf-8", "surrogateescape") for part in match.groups()
            )
            if name and email:
                author = (name, email, f"@{seconds} {zone}")
    return _Commit(tree, tuple(parents), author, message, plain)
