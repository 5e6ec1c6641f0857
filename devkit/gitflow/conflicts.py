"""Conflict reports: live (during a merge, rebase, cherry-pick or revert) or predicted.

Prediction uses `git merge-tree --write-tree`, which merges in memory and writes only
objects: the index and working tree are never touched. For a rebase, cherry-pick or
revert the merge base is not the commits' common ancestor, and git 2.39 has no
`merge-tree --merge-base`; two throw-away commits whose parent is the wanted base make
merge-tree use it (objects only, never referenced).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devkit.errors import InvalidInput, OperationFailed
from devkit.gitflow.gitcmd import BOOKKEEPING_IDENTITY, GitRepo, open_repo
from devkit.gitflow.journal import refuse_incomplete_sync
from devkit.gitflow.results import (
    CommitInfo,
    ConflictReport,
    ConflictSide,
    FileConflict,
    Hunk,
    SideRef,
)

_PRIORITY = {
    "file/directory": 0,
    "rename/rename": 1,
    "rename/delete": 2,
    "mode": 3,
    "binary": 4,
    "add/add": 5,
    "modify/delete": 6,
    "delete/modify": 6,
    "content": 7,
}
_STAGE_LINE = re.compile(r"^(\d{6}) ([0-9a-f]{40,64}) ([123])\t(.*)$", re.DOTALL)


@dataclass
class MergeOutcome:
    tree: str
    clean: bool
    # path -> stage -> (mode, oid)
    stages: dict[str, dict[int, tuple[str, str]]] = field(default_factory=dict)
    # (paths, type, message) as merge-tree reports them
    messages: list[tuple[list[str], str, str]] = field(default_factory=list)


def merge_tree(g: GitRepo, ours: str, theirs: str) -> MergeOutcome:
    """Merge two commits in memory (objects only) and parse what git reports."""
    out = g.run(
        ["merge-tree", "--write-tree", "-z", "--messages", ours, theirs], check=False, strip=False
    )
    if out.status not in (0, 1):
        raise OperationFailed(
            f"git merge-tree failed: {out.reason()}",
            code="merge_tree_failed",
            hint="merging unrelated histories is not supported",
        )
    tokens = out.text.split("\0")
    outcome = MergeOutcome(tree=tokens[0], clean=out.status == 0)
    index = 1
    while index < len(tokens) and (match := _STAGE_LINE.match(tokens[index])):
        mode, oid, stage, path = match.groups()
        outcome.stages.setdefault(path, {})[int(stage)] = (mode, oid)
        index += 1
    if index < len(tokens) and tokens[index] == "":
        index += 1
    while index < len(tokens) and tokens[index].isdigit():
        count = int(tokens[index])
        paths = tokens[index + 1 : index + 1 + count]
        kind, message = tokens[index + 1 + count], tokens[index + 2 + count]
        outcome.messages.append((paths, kind, message.strip()))
        index += 3 + count
    return outcome


def merge_with_base(g: GitRepo, ours: str, theirs: str, base: str) -> MergeOutcome:
    """A three-way merge of ours and theirs over an explicit base commit."""
    trees = [g.text(["rev-parse", f"{c}^{{tree}}"]).strip() for c in (ours, theirs)]
    made = [
        g.text(
            ["commit-tree", tree, "-p", base, "-m", "devkit merge probe"],
            env=BOOKKEEPING_IDENTITY,
        ).strip()
        for tree in trees
    ]
    return merge_tree(g, made[0], made[1])


def _message_type(kind: str, message: str) -> str:
    inner = kind[kind.find("(") + 1 : kind.rfind(")")] if "(" in kind else kind
    if inner == "contents":
        return "add/add" if message.startswith("CONFLICT (add/add)") else "content"
    if inner in ("distinct modes", "distinct types"):
        return "mode"
    return inner


def _classify(
    outcome: MergeOutcome, live_stages: dict[str, dict[int, tuple[str, str]]]
) -> list[tuple[str, str, str | None, str]]:
    """(path, type, original path, message) for every conflicted path."""
    stages = live_stages or outcome.stages
    found: dict[str, tuple[str, str | None, str]] = {}
    for paths, kind, message in outcome.messages:
        if not kind.startswith("CONFLICT"):
            continue
        ctype = _message_type(kind, message)
        original: str | None = None
        targets = list(paths)
        if ctype in ("rename/delete", "directory rename suggested") and len(paths) >= 2:
            # The second path is where the file was (rename/delete) or was added inside
            # the directory the other side renamed (directory rename suggested).
            targets, original = [paths[0]], paths[1]
        elif ctype == "rename/rename" and len(paths) >= 3:
            original = paths[0]
        elif ctype in ("file/directory", "mode") and len(paths) >= 2:
            original = paths[1] if paths[0] != paths[1] else None
            # Both the renamed-away path and the original belong to the conflict.
            targets = [paths[0], paths[1]]
        elif ctype == "modify/delete" and paths:
            present = stages.get(paths[0], {})
            ctype = "delete/modify" if 2 not in present else "modify/delete"
        for path in targets:
            if path not in stages and _stem(path) == path:
                continue
            orig = original if original != path else None
            current = found.get(path)
            if current is None or _PRIORITY.get(ctype, 9) < _PRIORITY.get(current[0], 9):
                found[path] = (ctype, orig, message)
    # Paths git renamed away (`fd~HEAD`) carry a side label that may differ between a
    # live merge and merge-tree; match them by the part before the `~`.
    by_stem = {_stem(p): v for p, v in found.items() if _stem(p) != p}
    results = []
    for path, entry in stages.items():
        fallback = by_stem.get(_stem(path)) if _stem(path) != path else None
        ctype, orig, message = found.get(path) or fallback or (_type_from_stages(entry), None, "")
        if 2 in entry and 3 in entry and entry[2][0] != entry[3][0] and entry[2][1] == entry[3][1]:
            ctype = "mode"
        results.append((path, ctype, orig, message))
    return sorted(results)


def _stem(path: str) -> str:
    head, sep, tail = path.rpartition("~")
    return head if sep and "/" not in tail else path


def _type_from_stages(entry: dict[int, tuple[str, str]]) -> str:
    have = set(entry)
    if have == {1, 2, 3}:
        return "content"
    if have == {2, 3}:
        return "add/add"
    if have == {1, 2}:
        return "modify/delete"
    if have == {1, 3}:
        return "delete/modify"
    return "content"


def _hunks(data: bytes) -> tuple[Hunk, ...]:
    hunks: list[Hunk] = []
    start: int | None = None
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.startswith(b"<<<<<<<") and start is None:
            start = number
        elif line.startswith(b">>>>>>>") and start is not None:
            hunks.append(Hunk(start, number))
            start = None
    return tuple(hunks)


def _blob(g: GitRepo, tree: str, path: str) -> bytes | None:
    out = g.run(["ls-tree", "-z", tree, "--", path], check=False, strip=False)
    fields = out.text.split("\0")[0].split(None, 3) if out.ok else []
    if len(fields) < 3 or fields[1] != "blob":
        return None
    return g.run(["cat-file", "blob", fields[2]], strip=False).stdout


def _is_binary(g: GitRepo, entry: dict[int, tuple[str, str]]) -> bool:
    for _mode, oid in entry.values():
        data = g.run(["cat-file", "blob", oid], check=False, strip=False).stdout[:8000]
        if b"\0" in data:
            return True
    return False


def _commits(g: GitRepo, base: str | None, tip: str, paths: list[str]) -> tuple[CommitInfo, ...]:
    revs = f"{base}..{tip}" if base else tip
    out = g.run(
        ["log", "--no-merges", "--format=%h%x1f%an%x1f%aI%x1f%s%x1e", revs, "--", *paths],
        check=False,
    )
    commits = []
    for record in out.text.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) == 4:
            commits.append(CommitInfo(*parts))
    return tuple(commits)


def _renames(g: GitRepo, base: str, tips: tuple[str, ...]) -> dict[str, str]:
    """New path -> path in `base`, for the files each tip renamed since `base` (git's
    rename detection, as the merge itself uses)."""
    found: dict[str, str] = {}
    for tip in tips:
        out = g.run(
            ["diff", "--name-status", "-z", "-M", "--diff-filter=R", base, tip, "--"],
            check=False,
            strip=False,
        )
        tokens = [t for t in out.text.split("\0") if t] if out.ok else []
        for index in range(0, len(tokens) - 2, 3):
            found.setdefault(tokens[index + 2], tokens[index + 1])
    return found


def ref_label(g: GitRepo, sha: str, *, prefer: str | None = None) -> str:
    """A ref name that points at `sha` (branches first), else its short SHA."""
    if prefer:
        return prefer
    out = g.run(
        [
            "for-each-ref",
            "--points-at",
            sha,
            "--format=%(refname:short)",
            "refs/heads",
            "refs/remotes",
            "refs/tags",
        ],
        check=False,
    )
    names = [n for n in out.text.splitlines() if n and not n.endswith("/HEAD")]
    return names[0] if names else sha[:7]


def _short(g: GitRepo, sha: str) -> str:
    return g.text(["rev-parse", "--short", sha]).strip()


def build_report(
    g: GitRepo,
    *,
    state: str,
    current: tuple[str, str],  # (label, full sha)
    incoming: tuple[str, str],
    base: str | None,
    outcome: MergeOutcome,
    live_stages: dict[str, dict[int, tuple[str, str]]] | None = None,
    worktree: Path | None = None,
) -> ConflictReport:
    files: list[FileConflict] = []
    stages = live_stages or {}
    renamed_from: dict[str, str] | None = None
    for path, ctype, found_original, message in _classify(outcome, stages):
        original = found_original
        if original is None and base is not None:
            # merge-tree reports a content conflict in a renamed file under its new name
            # only: find the name it had in the merge base from either side's renames.
            if renamed_from is None:
                renamed_from = _renames(g, base, (current[1], incoming[1]))
            original = renamed_from.get(path)
        entry = (stages or outcome.stages).get(path, {})
        if ctype in ("content", "add/add") and _is_binary(g, entry):
            ctype = "binary"
        hunks: tuple[Hunk, ...] = ()
        if ctype in ("content", "add/add"):
            if worktree is not None and (worktree / path).is_file():
                hunks = _hunks((worktree / path).read_bytes())
            else:
                data = _blob(g, outcome.tree, path)
                hunks = _hunks(data) if data else ()
        touched = [path] + ([original] if original else [])
        sides = tuple(
            ConflictSide(label, _short(g, sha), _commits(g, base, sha, touched))
            for label, sha in (current, incoming)
        )
        files.append(FileConflict(path, ctype, original, message, hunks, sides))

    def short(sha: str) -> str:
        return _short(g, sha) if files else sha[:7]

    return ConflictReport(
        repo=str(worktree or g.worktree),
        state=state,
        current=SideRef(current[0], short(current[1])),
        incoming=SideRef(incoming[0], short(incoming[1])),
        merge_base=short(base) if base else None,
        files=tuple(files),
    )


def _rev_arg(g: GitRepo, name: str, sha: str) -> str:
    """The name itself when it resolves to `sha` (merge-tree then labels paths such as
    `dir~main` with it, as `git merge` would), else the SHA."""
    if name and not name.startswith("-") and g.rev(name) == sha:
        return name
    return sha


def predict_conflicts(
    g: GitRepo,
    *,
    current: tuple[str, str],
    incoming: tuple[str, str],
    names_resolve: bool = False,
    current_is_head: bool = False,
) -> tuple[ConflictReport, MergeOutcome]:
    """What merging `incoming` into `current` would conflict on (nothing is touched).

    `names_resolve`: the caller knows both labels name exactly those commits.
    `current_is_head`: the caller knows HEAD is at `current` and only reads the report
    of a conflict (a clean one then names no merge base: one git command less)."""
    # `git merge` labels paths it renames away with `HEAD` for the checked-out side
    # (`dir~HEAD`) and with the name it was given for the other: so does the prediction.
    if current_is_head or g.rev("HEAD") == current[1]:
        ours = "HEAD"
    else:
        ours = current[0] if names_resolve else _rev_arg(g, current[0], current[1])
    theirs = incoming[0] if names_resolve else _rev_arg(g, incoming[0], incoming[1])
    outcome = merge_tree(g, ours, theirs)
    if current_is_head and outcome.clean:
        report = build_report(
            g, state="predicted", current=current, incoming=incoming, base=None, outcome=outcome
        )
        return report, outcome
    base_out = g.run(["merge-base", current[1], incoming[1]], check=False)
    base = base_out.text.strip() if base_out.ok and base_out.text.strip() else None
    report = build_report(
        g, state="predicted", current=current, incoming=incoming, base=base, outcome=outcome
    )
    return report, outcome


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _unmerged(g: GitRepo) -> dict[str, dict[int, tuple[str, str]]]:
    raw = g.run(["ls-files", "-u", "-z"], strip=False).text
    stages: dict[str, dict[int, tuple[str, str]]] = {}
    for line in raw.split("\0"):
        match = _STAGE_LINE.match(line)
        if match:
            mode, oid, stage, path = match.groups()
            stages.setdefault(path, {})[int(stage)] = (mode, oid)
    return stages


def live_report(
    g: GitRepo, *, current_label: str | None = None, incoming_label: str | None = None
) -> ConflictReport | None:
    """The conflicts of the merge, rebase, cherry-pick or revert under way, or None."""
    operation = g.operation_in_progress()
    if operation is None:
        return None
    head = g.rev("HEAD")
    if head is None:
        return None
    branch_out = g.run(["symbolic-ref", "--quiet", "--short", "HEAD"], check=False)
    branch = branch_out.text.strip() if branch_out.ok else None
    stages = _unmerged(g)
    base: str | None
    if operation == "merge":
        other = _read(g.git_dir / "MERGE_HEAD") or head
        other = other.splitlines()[0]
        base_out = g.run(["merge-base", head, other], check=False)
        base = base_out.text.strip() if base_out.ok else None
        # The same labels as the live merge, so renamed-away paths (`dir~HEAD`) match.
        outcome = merge_tree(g, "HEAD", "MERGE_HEAD")
        current = (current_label or branch or "HEAD", head)
        incoming = (incoming_label or ref_label(g, other), other)
    else:
        if operation == "rebase":
            picked = _read(g.git_dir / "REBASE_HEAD")
            head_name = _read(g.git_dir / "rebase-merge" / "head-name") or _read(
                g.git_dir / "rebase-apply" / "head-name"
            )
            onto = _read(g.git_dir / "rebase-merge" / "onto") or _read(
                g.git_dir / "rebase-apply" / "onto"
            )
            rebased = (head_name or "").removeprefix("refs/heads/")
            default_current = ref_label(g, onto) if onto else "HEAD"
            default_incoming: str | None = (
                rebased if rebased and rebased != "detached HEAD" else None
            )
        else:
            picked = _read(g.git_dir / f"{operation.upper().replace('-', '_')}_HEAD")
            default_current = branch or "HEAD"
            default_incoming = None
        if picked is None:
            return None
        picked_parent = g.rev(f"{picked}^")
        theirs: str | None
        if operation == "revert":
            base, theirs = picked, picked_parent
        else:
            base, theirs = picked_parent, picked
        if base is None or theirs is None:
            outcome = MergeOutcome(tree="", clean=not stages)
        else:
            outcome = merge_with_base(g, head, theirs, base)
        current = (current_label or default_current, head)
        incoming = (
            incoming_label or default_incoming or ref_label(g, picked),
            picked,
        )
    report = build_report(
        g,
        state=operation,
        current=current,
        incoming=incoming,
        base=base,
        outcome=outcome,
        live_stages=stages,
        worktree=g.worktree,
    )
    return report


def report_conflicts(
    repo: Path,
    *,
    target: str | None = None,
    fetch: bool = True,
    env: Mapping[str, str] | None = None,
) -> ConflictReport:
    """Live conflicts when a merge/rebase/cherry-pick/revert is under way; otherwise the
    conflicts that merging `target` (default: the upstream) into HEAD would cause.

    With the default target, the upstream's remote is fetched first (unless `fetch` is
    false): a prediction against what was fetched last week answers the wrong question.
    `env`: the environment of every git child (os.environ when None)."""
    g = open_repo(repo, env=env)
    refuse_incomplete_sync(g)
    live = live_report(g)
    if live is not None:
        return live
    head = g.rev("HEAD")
    if head is None:
        raise OperationFailed("the repository has no commits yet", code="no_commits")
    branch_out = g.run(["symbolic-ref", "--quiet", "--short", "HEAD"], check=False)
    branch = branch_out.text.strip() if branch_out.ok else "HEAD"
    if target is None:
        up = g.run(
            ["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"], check=False
        )
        if not up.ok:
            raise OperationFailed(
                f"'{branch}' has no upstream to compare with",
                code="no_upstream",
                hint="name a target: devkit conflicts origin/main",
            )
        target = up.text.strip()
        remote = g.config(f"branch.{branch}.remote")
        if fetch and remote and remote != ".":
            fetched = g.fetch(remote)
            if not fetched.ok:
                raise OperationFailed(
                    f"could not fetch from '{remote}': {fetched.reason()}",
                    code="fetch_failed",
                    hint="check the network, or pass --no-fetch to use what was fetched last",
                )
    if target.startswith("-"):
        raise InvalidInput(f"invalid target {target!r}", code="invalid_target")
    sha = g.rev(target)
    if sha is None:
        raise InvalidInput(
            f"'{target}' does not name a commit",
            code="unknown_target",
            hint="pass a branch, tag or commit (for example origin/main)",
        )
    report, _ = predict_conflicts(g, current=(branch, head), incoming=(target, sha))
    return report
