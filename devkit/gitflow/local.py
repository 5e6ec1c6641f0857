"""init, stage and commit: the local half of the git flows."""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from devkit import process
from devkit.errors import InvalidInput, OperationFailed
from devkit.gitflow.gitcmd import (
    GitRepo,
    check_git_version,
    environment,
    open_repo,
    run_git,
    unsafe_url_reason,
)
from devkit.gitflow.journal import refuse_incomplete_sync
from devkit.gitflow.results import CommitResult, InitResult, Refusal, StageResult
from devkit.gitflow.templates import GITIGNORE_TEMPLATES, render_templates

DEFAULT_MAX_BYTES = 5 * 1024 * 1024


def max_stage_bytes(env: Mapping[str, str]) -> int:
    """The largest file `stage` takes without --force (DEVKIT_STAGE_MAX_BYTES)."""
    try:
        return int(env.get("DEVKIT_STAGE_MAX_BYTES", DEFAULT_MAX_BYTES))
    except ValueError:
        return DEFAULT_MAX_BYTES


# -- identity -------------------------------------------------------------------------


def require_identity(g: GitRepo) -> None:
    """Fail before committing when git has no user name or email configured."""
    name = g.env.get("GIT_AUTHOR_NAME") or g.config("user.name")
    email = g.env.get("GIT_AUTHOR_EMAIL") or g.env.get("EMAIL") or g.config("user.email")
    missing = [what for what, value in (("name", name), ("email", email)) if not value]
    if missing:
        raise OperationFailed(
            f"git does not know who you are (no user {' or '.join(missing)})",
            code="missing_identity",
            hint='run: git config --global user.name "Your Name" && '
            'git config --global user.email "you@example.com"',
            details={
                "commands": [
                    'git config --global user.name "Your Name"',
                    'git config --global user.email "you@example.com"',
                ]
            },
        )


# -- init -----------------------------------------------------------------------------


def init_repository(
    path: Path,
    *,
    remote: str | None = None,
    branch: str = "main",
    gitignore: Sequence[str] = (),
    commit: bool = True,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
) -> InitResult:
    """Create a repository (or adopt an existing one without touching its history).

    `env`: the environment of every git child, and where the identity is read from
    (os.environ when None). `dry_run`: the same checks, then what would be created,
    written and set, and nothing done."""
    names = _checked_init_arguments(remote=remote, branch=branch, gitignore=gitignore)
    base = environment(env)
    check_git_version(base)
    path = path.absolute()
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"{path} exists and is not a directory", code="not_a_directory")
    created = not (path / ".git").exists()
    if dry_run:
        return _planned_init(path, created, branch, remote, names, base)
    if created:
        path.mkdir(parents=True, exist_ok=True)
        made = run_git(
            ["init", "--quiet", f"--initial-branch={branch}", "--", str(path)], cwd=path, env=base
        )
        if not made.ok:
            raise OperationFailed(f"git init failed: {made.last_error_line()}", code="init_failed")
    g = open_repo(path, env=base, search_parents=False)
    status = g.status()
    if status.oid is None and status.head != branch:
        # Unborn branch: naming it changes no history.
        g.run(["symbolic-ref", "HEAD", f"refs/heads/{branch}"])
    current_branch = branch if status.oid is None else (status.head or "HEAD")
    written = _write_gitignore(g.worktree / ".gitignore", names)
    if remote is not None:
        _add_remote(g, remote)
    return InitResult(
        path=str(g.worktree),
        created=created,
        branch=current_branch,
        remote=remote,
        gitignore_written=tuple(written),
        commit=_first_commit(g) if commit and status.oid is None else None,
    )


def _planned_init(
    path: Path,
    created: bool,
    branch: str,
    remote: str | None,
    names: list[str],
    env: Mapping[str, str],
) -> InitResult:
    """What init_repository would do, found without writing anything."""
    current_branch = branch
    if not created:
        g = open_repo(path, env=env, search_parents=False)
        oid, head = g.status().oid, g.status().head
        current_branch = branch if oid is None else (head or "HEAD")
        if remote is not None:
            _check_remote(g, remote)
    templates = _missing_templates(path / ".gitignore", names)
    return InitResult(str(path), created, current_branch, remote, tuple(templates), None, True)


def _checked_init_arguments(
    *, remote: str | None, branch: str, gitignore: Sequence[str]
) -> list[str]:
    """Refuse bad arguments before anything is created; the template names to write."""
    names = [n.strip().lower() for n in gitignore if n.strip()]
    unknown = [n for n in names if n not in GITIGNORE_TEMPLATES]
    if unknown:
        raise InvalidInput(
            f"unknown .gitignore template(s): {', '.join(unknown)}",
            code="unknown_template",
            hint="choose from: " + ", ".join(sorted(GITIGNORE_TEMPLATES)),
        )
    if remote is not None and (reason := unsafe_url_reason(remote)):
        raise InvalidInput(
            f"refusing remote URL {remote!r}: {reason}",
            code="unsafe_remote",
            hint="pass an https://, ssh:// or scp-style (user@host:path) URL, or a path",
        )
    if not branch or branch.startswith("-") or not _valid_branch(branch):
        raise InvalidInput(f"invalid branch name {branch!r}", code="invalid_branch")
    return names


def _first_commit(g: GitRepo) -> str | None:
    """Commit everything in a new repository; its short SHA (None: nothing to commit)."""
    status = g.status(untracked="all")
    if not status.entries:
        return None
    require_identity(g)
    candidates = [e.path for e in status.entries if e.kind in "12?"]
    refused = check_paths(g.worktree, candidates, limit=max_stage_bytes(g.env))
    if refused:
        raise OperationFailed(
            "the repository is ready, but the first commit was not made: "
            + "; ".join(f"{r.path} ({r.detail})" for r in refused[:5]),
            code="refused_paths",
            hint="remove or ignore those files, or pass --no-commit and stage by hand",
            details={"refused": [r.to_json() for r in refused]},
        )
    g.run(["add", "-A", "--", "."])
    out = g.run(["commit", "--quiet", "-m", "Initial commit"], check=False)
    if not out.ok:
        raise OperationFailed(
            f"the first commit failed: {out.last_error_line()}",
            code="commit_failed",
            hint="fix the problem (a commit hook?) and run devkit commit",
        )
    return g.text(["rev-parse", "--short", "HEAD"]).strip()


def _valid_branch(name: str) -> bool:
    return (
        bool(re.fullmatch(r"[A-Za-z0-9._/-]+", name))
        and ".." not in name
        and not name.endswith((".lock", "/", "."))
    )


def _missing_templates(target: Path, names: list[str]) -> list[str]:
    """The templates `target` does not have yet (devkit marks each it writes)."""
    existing = target.read_text() if target.exists() else ""
    return [n for n in dict.fromkeys(names) if f"# devkit: {n}\n" not in existing]


def _write_gitignore(target: Path, names: list[str]) -> list[str]:
    missing = _missing_templates(target, names)
    if not missing:
        return []
    existing = target.read_text() if target.exists() else ""
    prefix = existing if not existing or existing.endswith("\n") else existing + "\n"
    separator = "\n" if prefix else ""
    target.write_text(prefix + separator + render_templates(missing))
    return missing


def _check_remote(g: GitRepo, url: str) -> bool:
    """Whether 'origin' is already `url`; a different 'origin' is refused."""
    if "origin" not in g.text(["remote"]).split():
        return False
    current = g.remote_url("origin")
    if current == url:
        return True
    raise OperationFailed(
        f"remote 'origin' already exists with URL {current!r}",
        code="remote_exists",
        hint=f"change it with git remote set-url origin {url}",
    )


def _add_remote(g: GitRepo, url: str) -> None:
    if not _check_remote(g, url):
        g.run(["remote", "add", "--", "origin", url])


# -- stage ----------------------------------------------------------------------------

_MARKER_START = re.compile(rb"^<{7}( |$)", re.MULTILINE)
_MARKER_MIDDLE = re.compile(rb"^={7}$", re.MULTILINE)
_MARKER_END = re.compile(rb"^>{7}( |$)", re.MULTILINE)
# Documentation that shows conflict markers does so in fenced code blocks.
_MARKDOWN = re.compile(r"\.(?:md|markdown|mdx|mkd)$", re.IGNORECASE)
_FENCED_BLOCK = re.compile(rb"^ {0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}\1[ \t]*$|\Z)", re.M | re.S)


def check_paths(worktree: Path, paths: Sequence[str], *, limit: int) -> list[Refusal]:
    """Files that should not be staged: conflict markers, likely secrets, bigger than
    `limit` bytes."""
    from devkit.gitflow.secretscan import detect_secret

    refused: list[Refusal] = []
    for rel in paths:
        target = os.path.join(worktree, rel)
        # One lstat: symlinks, directories (submodules) and vanished paths are skipped.
        try:
            info = os.lstat(target)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        size = info.st_size
        data = b""
        if size <= limit:
            with open(target, "rb") as handle:
                data = handle.read()
        secret = detect_secret(rel, data)
        if secret is not None:
            refused.append(Refusal(rel, "secret", secret.detail()))
        elif size > limit:
            refused.append(
                Refusal(rel, "too_large", f"{size} bytes is over the {limit}-byte limit")
            )
        elif _has_conflict_markers(rel, data):
            refused.append(Refusal(rel, "conflict_markers", "it still contains conflict markers"))
    return refused


def _has_conflict_markers(rel: str, data: bytes) -> bool:
    if b"\0" in data[:8000]:
        return False
    if _MARKDOWN.search(rel):
        data = _FENCED_BLOCK.sub(b"", data)
    return bool(
        _MARKER_START.search(data) and _MARKER_MIDDLE.search(data) and _MARKER_END.search(data)
    )


def _pathspecs(g: GitRepo, base: Path, paths: Sequence[str]) -> list[str]:
    """Literal pathspecs (no glob magic) relative to the worktree root; relative paths
    are taken relative to `base` (the directory the caller named, the CLI's cwd)."""
    specs = []
    root = os.path.realpath(g.worktree)
    for raw in paths:
        absolute = os.path.realpath(os.path.join(base.absolute(), raw))
        rel = os.path.relpath(absolute, root)
        if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
            raise InvalidInput(f"{raw} is outside the repository {g.worktree}", code="outside_repo")
        specs.append(":(literal)" + ("." if rel == "." else rel))
    return specs


@contextmanager
def _index_transaction(g: GitRepo) -> Iterator[tuple[dict[str, str], Callable[[], None]]]:
    """git's own lockfile protocol for the index, with git doing the staging.

    Take `index.lock` (as every git command that writes the index does) so no other
    git process writes the index meanwhile, and let `git add` work on a private copy
    of the index (GIT_INDEX_FILE). `commit()` renames the copy over the index
    atomically; leaving without it discards the copy, so a refused or dry-run stage
    leaves the index byte-for-byte as it was. A repository with no index yet (right
    after `git init`) gets no copy: git treats a missing index file as empty, but an
    empty file as corrupt."""
    index = g.git_dir / "index"
    lock = g.git_dir / "index.lock"
    scratch = g.git_dir / "devkit-index"
    locked = done = False

    def commit() -> None:
        nonlocal done
        with process.critical():
            os.replace(scratch, index)
            done = True

    try:
        # A signal must not land between taking the lock and knowing it was taken:
        # a stale index.lock stops every git command in the repository.
        with process.critical():
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise OperationFailed(
                    "another git process is using the index (.git/index.lock exists)",
                    code="index_locked",
                    hint="wait for it to finish; if none is running, remove .git/index.lock",
                ) from None
            os.close(fd)
            locked = True
        scratch.unlink(missing_ok=True)
        if index.exists():
            shutil.copyfile(index, scratch)
        yield {"GIT_INDEX_FILE": str(scratch)}, commit
    finally:
        if not done:
            scratch.unlink(missing_ok=True)
        if locked:
            lock.unlink(missing_ok=True)


def stage_paths(
    repo: Path,
    paths: Sequence[str] = (),
    *,
    all_changes: bool = False,
    dry_run: bool = False,
    force: bool = False,
    env: Mapping[str, str] | None = None,
) -> StageResult:
    """Stage paths (or all changes); refuse conflict markers, secrets and big files
    (DEVKIT_STAGE_MAX_BYTES in `env`) unless `force`. Nothing is staged when anything
    is refused. `env`: the environment of every git child (os.environ when None)."""
    if not paths and not all_changes:
        raise InvalidInput("name the paths to stage, or pass --all", code="nothing_to_stage")
    g = open_repo(repo, env=env)
    refuse_incomplete_sync(g)
    specs = _pathspecs(g, Path(repo), paths) if paths else ["."]
    with _index_transaction(g) as (env, commit):
        # What `git add` changed is the index (a private copy) against HEAD before and
        # after: two cheap NUL-separated diffs, with one scan of the work tree (git add's
        # own), so any file name is read exactly.
        before = _staged_blobs(g, env)
        g.run(["add", "-A", "--", *specs], env=env)
        after = _staged_blobs(g, env)
        added = [
            path for path, (letter, blob) in after.items() if before.get(path) != (letter, blob)
        ]
        checked = [path for path in added if after[path][0] in "AMT"]
        refused = tuple(check_paths(g.worktree, checked, limit=max_stage_bytes(g.env)))
        staged = tuple((letter, path) for path, (letter, _) in after.items())
        if dry_run:
            return StageResult(str(g.worktree), True, staged, refused, force)
        if refused and not force:
            return StageResult(str(g.worktree), False, (), refused, force)
        commit()
    return StageResult(str(g.worktree), False, staged, refused, force)


_RAW_DIFF = ("--raw", "-z", "--no-renames", "--no-abbrev", "--no-ext-diff")


def _staged_blobs(g: GitRepo, env: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Path -> (status letter, blob in the index) of everything staged (the index
    against HEAD, or against nothing before the first commit); "U": unmerged."""
    return _parse_raw_diff(g.run(["diff", "--cached", *_RAW_DIFF], strip=False, env=env).text)


def _parse_raw_diff(raw: str) -> dict[str, tuple[str, str]]:
    tokens = raw.split("\0")
    found: dict[str, tuple[str, str]] = {}
    # Each entry: ":old_mode new_mode old_blob new_blob LETTER" NUL path NUL.
    for header, path in zip(tokens[0:-1:2], tokens[1::2], strict=False):
        fields = header.split(" ")
        if header.startswith(":") and len(fields) == 5:
            found[path] = (fields[4][:1], fields[3])
    return found


# -- commit ---------------------------------------------------------------------------


def create_commit(
    repo: Path,
    *,
    message: str,
    all_changes: bool = False,
    allow_empty: bool = False,
    dry_run: bool = False,
    env: Mapping[str, str] | None = None,
) -> CommitResult:
    """Commit through the git CLI (hooks and signing apply). `env`: the environment of
    every git child, identity included (os.environ when None). `dry_run`: every check,
    then the files the commit would hold, and nothing written (hooks do not run)."""
    if not message.strip():
        raise InvalidInput("the commit message is empty", code="empty_message", hint="pass -m")
    g = open_repo(repo, env=env)
    refuse_incomplete_sync(g)
    branch = _current_branch(g)
    if branch is None:
        raise OperationFailed(
            "HEAD is detached: a commit here would belong to no branch",
            code="detached_head",
            hint="create a branch first: git switch -c NAME",
        )
    pending = _pending_changes(g, all_changes=all_changes)
    unmerged = sorted(path for path, (letter, _) in pending.items() if letter == "U")
    if unmerged:
        raise OperationFailed(
            f"{len(unmerged)} file(s) still have unresolved conflicts: " + ", ".join(unmerged[:5]),
            code="unresolved_conflicts",
            hint="resolve them, then devkit stage those files",
        )
    merging = g.operation_in_progress() == "merge"
    if not (pending or allow_empty or merging):
        raise OperationFailed(
            "nothing is staged to commit",
            code="nothing_staged",
            hint="stage changes with devkit stage PATHS (or --all), or pass --all",
        )
    require_identity(g)
    if dry_run:
        first_line = message.strip().splitlines()[0]
        would = tuple(sorted(pending))
        return CommitResult(str(g.worktree), branch, "", "", first_line, len(would), True, would)
    args = ["commit", "--quiet", "-m", message]
    if all_changes:
        args.append("--all")
    if allow_empty:
        args.append("--allow-empty")
    out = g.run(args, check=False)
    if not out.ok:
        raise OperationFailed(
            f"git commit failed: {out.last_error_line()}",
            code="commit_failed",
            hint="a commit hook or signing may have refused it; see the message",
            details={"stderr": out.stderr[-2000:]},
        )
    shown = g.run(
        ["log", "-1", "-z", "--format=%H%x1f%h%x1f%s%x1f", "--name-only", "HEAD"],
        strip=False,
    ).text
    sha, short, summary, files = shown.split("\x1f", 3)
    changed = [p for p in files.lstrip("\0\n").split("\0") if p]
    return CommitResult(
        repo=str(g.worktree),
        branch=branch,
        sha=sha,
        short_sha=short,
        summary=summary,
        files_changed=len(changed),
    )


def _current_branch(g: GitRepo) -> str | None:
    """The branch HEAD names, None when detached. Read from HEAD itself (a file of one
    line), asking git only for the reftable format, whose HEAD file is a stub."""
    try:
        head = (g.git_dir / "HEAD").read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        head = ""
    head = head.strip()
    if head.startswith("ref: refs/heads/") and head != "ref: refs/heads/.invalid":
        return head.removeprefix("ref: refs/heads/")
    if head.startswith("ref: ") or not head:
        on = g.run(["symbolic-ref", "--quiet", "HEAD"], check=False).text.strip()
        return on.removeprefix("refs/heads/") if on.startswith("refs/heads/") else None
    return None


def _pending_changes(g: GitRepo, *, all_changes: bool) -> dict[str, tuple[str, str]]:
    """What `git commit` (with --all: `git commit -a`) would commit, unmerged paths
    ("U") included: index against HEAD, with --all tracked work-tree files too. One
    diff, which reads the work tree only with --all."""
    if all_changes:
        out = g.run(["diff", "HEAD", *_RAW_DIFF, "--"], check=False, strip=False)
        if out.ok:
            return _parse_raw_diff(out.text)
    return _staged_blobs(g)
