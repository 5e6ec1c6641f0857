"""predict: what integrating would do, decided before anything is touched."""

from __future__ import annotations

from dataclasses import replace

from devkit.gitflow.conflicts import build_report, merge_with_base, predict_conflicts
from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.sync.model import Plan, Position, SyncOptions, SyncStopped
from devkit.gitflow.sync.overlap import tracked_overlap, untracked_in_the_way


def predict(g: GitRepo, position: Position, options: SyncOptions) -> Plan:
    """What integrating would do, decided before anything is touched: stops on a
    predicted conflict, on local changes in the way (unless autostash) and on untracked
    or ignored files that incoming files would overwrite."""
    if position.removed_upstream and options.mode != "rebase":
        raise _rewritten(position, options.mode)
    if position.ahead > 0 and options.mode == "ff-only":
        raise SyncStopped(
            f"'{position.branch}' and {position.upstream} have diverged "
            f"({position.ahead} ahead, {position.behind} behind)",
            code="diverged",
            hint="integrate explicitly: devkit sync --mode rebase (or --mode merge)",
        )
    action = "fast-forward" if position.ahead == 0 else options.mode
    fallback = None
    if action == "rebase" and _local_merges(g, position):
        # A rebase linearises merges and drops what was changed inside them (an evil
        # merge, a conflict resolution): merging keeps every local commit as it is.
        action = "merge"
        fallback = (
            "local commits include merges: merging instead of rebasing, "
            "so that the changes made in them are kept"
        )
        if position.removed_upstream:
            raise _rewritten(position, action)
    replay_after = position.fork_point if action == "rebase" else None
    incoming_tree = _predicted_tree(g, position, action, replay_after)
    changes, head_entries = _changed_paths(g, position.old, incoming_tree)
    overlapping = _local_work_in_the_way(g, position, changes, options)
    return Plan(
        action=action,
        autostash=bool(overlapping),
        expected_tree=None if action == "fast-forward" else incoming_tree,
        fallback=fallback,
        replay_after=replay_after,
        incoming=tuple(path for _, path in changes),
        incoming_head_entries=tuple(head_entries.items()),
    )


def find_upstream_rewrite(g: GitRepo, position: Position) -> Position:
    """The position with `fork_point` and `removed_upstream` set when the upstream no
    longer has commits that it had when last fetched and that the branch contains (a
    force-push that removed them, say a leaked secret). Found as `git pull --rebase`
    does: `git merge-base --fork-point` over the remote-tracking ref's reflog."""
    if position.ahead == 0:
        return position
    out = g.run(["merge-base", "--fork-point", position.tracking_ref, position.old], check=False)
    fork_point = out.text.strip() if out.ok else ""
    if not fork_point:
        return position  # no reflog to tell: every commit the upstream lacks is local
    count = g.text(["rev-list", "--count", fork_point, f"^{position.up_sha}", "--"])
    removed = int(count.strip() or "0")
    if removed == 0:
        return position
    return replace(position, fork_point=fork_point, removed_upstream=removed)


def _rewritten(position: Position, mode: str) -> SyncStopped:
    """A merge would bring back what the upstream removed; fast-forwarding cannot."""
    return SyncStopped(
        f"{position.upstream} was rewritten: it no longer has {position.removed_upstream} "
        f"commit(s) that '{position.branch}' has (a force-push removed them); "
        f"{'merging would bring them back' if mode == 'merge' else 'it cannot fast-forward'}"
        "; nothing was changed",
        code="upstream_rewritten",
        hint="devkit sync --mode rebase replays only your own commits (as git pull --rebase "
        f"does); to keep the removed ones, merge by hand: git merge {position.upstream}",
    )


def _local_work_in_the_way(
    g: GitRepo, position: Position, changes: list[tuple[str, str]], options: SyncOptions
) -> list[str]:
    """The tracked local changes that overlap incoming ones (carried over with
    autostash); stops on untracked files in the way first, since --autostash cannot
    help with those, then on overlapping changes without --autostash."""
    in_the_way = untracked_in_the_way(g, changes)
    if in_the_way:
        raise SyncStopped(
            f"untracked or ignored files would be overwritten by {position.upstream}; "
            "nothing was changed",
            code="untracked_overlap",
            hint="move them away (or add and commit them), then sync again",
            overlapping=in_the_way,
        )
    overlapping = tracked_overlap(position.status, changes)
    if overlapping and not options.autostash:
        raise SyncStopped(
            f"local changes touch {len(overlapping)} path(s) that {position.upstream} "
            "changes; nothing was changed",
            code="dirty_overlap",
            hint="commit or stash them, or pass --autostash",
            overlapping=overlapping,
        )
    return overlapping


def _local_merges(g: GitRepo, position: Position) -> bool:
    """Whether the local commits (those the upstream lacks) include a merge."""
    count = g.text(
        ["rev-list", "--count", "--min-parents=2", position.old, f"^{position.up_sha}", "--"]
    )
    return int(count.strip() or "0") > 0


def _predicted_tree(g: GitRepo, position: Position, action: str, replay_after: str | None) -> str:
    """The tree integrating would give (before local changes), or the upstream commit
    for a fast-forward; a predicted conflict stops the sync. Replaying only the commits
    after `replay_after` is a merge over that commit as the base."""
    if action == "fast-forward":
        return position.up_sha
    current = (position.branch, position.old)
    incoming = (position.upstream, position.up_sha)
    if replay_after is not None:
        outcome = merge_with_base(g, position.old, position.up_sha, replay_after)
        report = build_report(
            g,
            state="predicted",
            current=current,
            incoming=incoming,
            base=replay_after,
            outcome=outcome,
        )
    else:
        # The branch is at `old` (we hold the lock) and `upstream` is the upstream's name;
        # the report of a clean prediction is not shown, so it needs no merge base.
        report, outcome = predict_conflicts(
            g, current=current, incoming=incoming, names_resolve=True, current_is_head=True
        )
    if not report.clean:
        raise SyncStopped(
            f"merging {position.upstream} into '{position.branch}' would conflict in "
            f"{len(report.files)} file(s); nothing was changed",
            code="conflict_predicted",
            hint=f"see `devkit conflicts`; integrate by hand: git {action} {position.upstream}",
            conflicts=report,
        )
    return outcome.tree


def _changed_paths(
    g: GitRepo, old: str, new_tree: str
) -> tuple[list[tuple[str, str]], dict[str, tuple[str, str]]]:
    """(status letter, path) of what the incoming side changes, and {path: (mode,
    blob)} of those paths in `old` (the ones it has)."""
    raw = g.run(
        ["diff", "--raw", "-z", "--no-renames", "--no-abbrev", old, new_tree, "--"], strip=False
    ).text
    tokens = raw.split("\0")
    changes: list[tuple[str, str]] = []
    before: dict[str, tuple[str, str]] = {}
    # Each entry: ":old_mode new_mode old_blob new_blob LETTER" NUL path NUL.
    for header, path in zip(tokens[0:-1:2], tokens[1::2], strict=False):
        fields = header.split(" ")
        if not header.startswith(":") or len(fields) != 5:
            continue
        changes.append((fields[4][:1], path))
        if fields[0] != ":000000":
            before[path] = (fields[0][1:], fields[2])
    return changes, before
