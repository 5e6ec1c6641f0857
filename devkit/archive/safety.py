"""Member policy: which names and links are safe, decided without touching the disk.

Every format module normalises names through `normalize_name`; the writer checks each
member against what it has already created (`TreeState`), so no path is resolved on the
filesystem and nothing is ever written through a symlink.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence

_DRIVE = re.compile(r"^[A-Za-z]:")
# A name that normalize_name returns as it is under either backslash rule: components
# of anything but "/", backslash and NUL, none empty, "." or "..", no drive letter in
# front. Most members' names are such; one match costs a quarter of normalising.
_PLAIN_NAME = re.compile(
    r"(?![A-Za-z]:)(?!\.\.?(?:/|\Z))[^/\\\x00]+(?:/(?!\.\.?(?:/|\Z))[^/\\\x00]+)*"
)
MAX_LINK_HOPS = 64


def normalize_name(raw: str, *, backslash_is_separator: bool) -> tuple[str | None, str | None]:
    """Return (relative POSIX path, None) or (None, reason) for an unsafe name.

    "" is returned for the archive root ("./"), which callers ignore. A leading "/" is
    removed, as GNU tar and bsdtar do ("/etc/hosts" becomes "etc/hosts" inside DEST;
    `lost_leading_slash` tells the writer to say so).
    """
    if "\x00" in raw:
        return None, "NUL byte in name"
    name = raw.replace("\\", "/") if backslash_is_separator else raw
    if _DRIVE.match(name):
        return None, "drive letter in name"
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None, "'..' in path escapes the destination"
    return "/".join(parts), None


def plain_names(names: Sequence[str]) -> bool:
    """Whether `member_path` returns every one of `names` as it is, whatever the kind
    and the backslash rule: no NUL, backslash or colon, no empty, "." or ".." component
    (a component starting with a dot sends them all to the full check). Answered by a
    few searches of the names joined (a match per name cost 2 ms per 8,000); False
    says only that some name needs `member_path`."""
    if not names:
        return True
    joined = "\x00".join(names)
    return (
        joined != ""  # one empty name
        and joined.count("\x00") == len(names) - 1
        and not joined.startswith(("\x00", "/", "."))
        and not joined.endswith(("\x00", "/"))
        and not any(
            part in joined
            for part in ("\x00\x00", "\\", ":", "//", "/\x00", "\x00/", "/.", "\x00.")
        )
    )


def lost_leading_slash(raw: str, path: str | None) -> bool:
    """Whether normalising the raw name `raw` into `path` removed a leading "/" (or a
    leading backslash where backslash is a separator: then `path` does not keep it)."""
    return path is not None and raw[:1] in ("/", "\\") and not path.startswith(raw[0])


def member_path(
    raw: str, kind: str, *, backslash_is_separator: bool
) -> tuple[str | None, str | None]:
    """`normalize_name` for an archive member: only a directory may name the root."""
    if _PLAIN_NAME.fullmatch(raw):
        return raw, None
    path, reason = normalize_name(raw, backslash_is_separator=backslash_is_separator)
    if path == "" and kind != "dir" and reason is None:
        return None, "empty name"
    return path, reason


ABSOLUTE_TARGET = "absolute symlink target"


def link_target_problem(link_path: str, target: str, *, keep_absolute: bool = False) -> str | None:
    """A symlink target's own problems (absolute, NUL, lexical escape). With
    `keep_absolute`, an absolute target is kept as it is: it names a file of this
    machine (a system backup restored elsewhere), not a place in DEST."""
    if not target:
        return "empty symlink target"
    if "\x00" in target:
        return "NUL byte in symlink target"
    if _DRIVE.match(target):
        return f"{ABSOLUTE_TARGET} {target!r}"
    if target.startswith("/"):
        return None if keep_absolute else f"{ABSOLUTE_TARGET} {target!r}"
    depth = link_path.count("/")  # components of the link's directory
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                return f"symlink target {target!r} points outside the extracted tree"
        else:
            depth += 1
    return None


def resolves_inside(
    link_path: str,
    target: str,
    *,
    kinds: Mapping[str, str],
    links: Mapping[str, str],
    root: str,
) -> bool:
    """Follow `target` from the link's folder through the tree's own symlinks (all of
    them known: nothing else exists in the private temp tree) and say whether every
    step stays inside `root` ("" for the whole tree). Components that do not exist
    are walked lexically, which is stricter than the kernel."""
    base = len(root.split("/")) if root else 0
    stack = link_path.split("/")[:-1]
    todo = deque(target.split("/"))
    hops = 0
    while todo:
        part = todo.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if len(stack) <= base:
                return False
            stack.pop()
            continue
        stack.append(part)
        here = "/".join(stack)
        if kinds.get(here) == "symlink":
            hops += 1
            if hops > MAX_LINK_HOPS:
                return False
            next_target = links[here]
            if next_target.startswith("/"):
                return False
            stack.pop()
            todo.extendleft(reversed(next_target.split("/")))
    return True


class OnDisk(Mapping[str, str]):
    """A tree as it is on disk, seen through the two mappings `resolves_inside` takes:
    `kinds` says "symlink" for a symlink (nothing for anything else) and `links` gives
    its target. With --recursive the tree holds what nested archives added, which the
    outer archive's own bookkeeping never saw (a folder filled later with `up -> .`)."""

    def __init__(self, root: str) -> None:
        self._root = root

    def __getitem__(self, path: str) -> str:
        try:
            return os.readlink(f"{self._root}/{path}")
        except OSError:
            raise KeyError(path) from None

    def get(self, path: str, default: object = None) -> str | None:  # type: ignore[override]
        return "symlink" if os.path.islink(f"{self._root}/{path}") else None

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0
