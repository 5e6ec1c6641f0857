"""Parse one `git status --porcelain=v2 -z --branch` into a small typed value."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StatusEntry:
    kind: str  # "1" changed, "2" renamed/copied, "u" unmerged, "?" untracked, "!" ignored
    xy: str  # index and worktree status letters ("." = unchanged); "??" for untracked
    path: str
    orig_path: str | None = None

    @property
    def staged(self) -> bool:
        return self.kind in "12" and self.xy[0] != "."

    @property
    def unstaged(self) -> bool:
        return self.kind in "12" and self.xy[1] != "."


@dataclass(frozen=True)
class RepoStatus:
    oid: str | None  # None before the first commit
    head: str | None  # branch name, None when detached
    upstream: str | None
    ahead: int | None
    behind: int | None
    entries: tuple[StatusEntry, ...] = field(default_factory=tuple)

    @property
    def detached(self) -> bool:
        return self.head is None

    @property
    def unmerged(self) -> list[str]:
        return [e.path for e in self.entries if e.kind == "u"]

    @property
    def untracked(self) -> list[str]:
        return [e.path for e in self.entries if e.kind == "?"]

    @property
    def staged(self) -> list[str]:
        return [e.path for e in self.entries if e.staged]

    @property
    def changed_paths(self) -> list[str]:
        """Every path with local work: tracked changes (both sides of renames) and
        untracked files or directories (a trailing '/' marks a directory)."""
        paths: list[str] = []
        for entry in self.entries:
            if entry.kind == "!":
                continue
            paths.append(entry.path)
            if entry.orig_path:
                paths.append(entry.orig_path)
        return paths

    @property
    def dirty(self) -> bool:
        return any(e.kind != "!" for e in self.entries)


def parse_status(raw: bytes) -> RepoStatus:
    tokens = raw.decode("utf-8", "surrogateescape").split("\0")
    oid: str | None = None
    head: str | None = None
    upstream: str | None = None
    ahead: int | None = None
    behind: int | None = None
    entries: list[StatusEntry] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token:
            continue
        if token.startswith("# "):
            key, _, value = token[2:].partition(" ")
            if key == "branch.oid":
                oid = None if value == "(initial)" else value
            elif key == "branch.head":
                head = None if value == "(detached)" else value
            elif key == "branch.upstream":
                upstream = value
            elif key == "branch.ab":
                plus, minus = value.split()
                ahead, behind = int(plus), -int(minus)
            continue
        kind = token[0]
        if kind == "1":
            parts = token.split(" ", 8)
            entries.append(StatusEntry("1", parts[1], parts[8]))
        elif kind == "2":
            parts = token.split(" ", 9)
            orig = tokens[index] if index < len(tokens) else None
            index += 1
            entries.append(StatusEntry("2", parts[1], parts[9], orig))
        elif kind == "u":
            parts = token.split(" ", 10)
            entries.append(StatusEntry("u", parts[1], parts[10]))
        elif kind in "?!":
            entries.append(StatusEntry(kind, kind * 2, token[2:]))
    return RepoStatus(oid, head, upstream, ahead, behind, tuple(entries))


def paths_overlap(first: str, second: str) -> bool:
    """True when two repository paths are the same or one contains the other."""
    a, b = first.rstrip("/"), second.rstrip("/")
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")
