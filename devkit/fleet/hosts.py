"""Host patterns: Ansible's range syntax for naming many hosts, and `--limit` patterns.

Ranges are inclusive, keep their zero padding, may count letters and take a stride:
`web[01:12].example.com`, `db-[a:c]`, `node[0:20:5]`; a name may hold several ranges
(all combinations, in order). A `--hosts` value is a comma-separated list of them.

`--limit` selects from the hosts a run has: terms separated by commas or colons, each a
host or group name, a glob (`web*`), or a regular expression after `~`; a term starting
with `!` removes hosts, one starting with `&` keeps only hosts that also match it.
"""

from __future__ import annotations

import fnmatch
import re
import string
from collections.abc import Iterable, Mapping, Sequence

from devkit.errors import InvalidInput

# A host name is passed to ssh as its destination: nothing that ssh could read as an
# option (a leading '-') or that a shell would act on, and no whitespace.
_HOST = re.compile(r"[A-Za-z0-9_.@:%\[\]-]+")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
MAX_HOSTS = 100_000


class HostPatternError(InvalidInput):
    """A host list or pattern cannot be read (exit 2)."""

    default_code = "invalid_hosts"


def expand_hosts(text: str) -> list[str]:
    """Every host a `--hosts` value names, in order, without duplicates."""
    hosts: list[str] = []
    for item in split_list(text):
        for host in expand_pattern(item):
            if host not in hosts:
                hosts.append(host)
    if not hosts:
        raise HostPatternError("no hosts given", hint="name at least one host, e.g. web1,web2")
    return hosts


def split_list(text: str) -> list[str]:
    """Comma-separated items; commas inside a range's brackets do not split."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += char
    items.append(current.strip())
    return [item for item in items if item]


def expand_pattern(pattern: str) -> list[str]:
    """All names of one pattern such as `web[01:03].example.com`."""
    if pattern.startswith("-") or not _HOST.fullmatch(pattern):
        raise HostPatternError(
            f"invalid host name {pattern!r}",
            hint="use letters, digits and . _ - @ : (a name may not start with '-')",
        )
    names = _expand(pattern, pattern)
    if len(names) > MAX_HOSTS:
        raise HostPatternError(f"{pattern!r} names more than {MAX_HOSTS} hosts")
    return names


def _expand(text: str, pattern: str) -> list[str]:
    match = _RANGE.search(text)
    if match is None:
        if "[" in text or "]" in text:
            raise HostPatternError(f"unbalanced '[' or ']' in {pattern!r}")
        return [text]
    head, tail = text[: match.start()], text[match.end() :]
    values = _range_values(match.group(1), pattern)
    rest = _expand(tail, pattern) if tail else [""]
    if len(values) * len(rest) > MAX_HOSTS:
        raise HostPatternError(f"{pattern!r} names more than {MAX_HOSTS} hosts")
    return [f"{head}{value}{end}" for value in values for end in rest]


def _range_values(spec: str, pattern: str) -> list[str]:
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise HostPatternError(
            f"invalid range [{spec}] in {pattern!r}",
            hint="write [START:END] or [START:END:STRIDE], e.g. web[01:12]",
        )
    start, end = parts[0], parts[1]
    stride = _stride(parts[2] if len(parts) == 3 else "1", spec, pattern)
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") and len(start) > 1 else 0
        first, last = int(start), int(end)
        _check_order(first, last, spec, pattern)
        return [str(n).zfill(width) for n in range(first, last + 1, stride)]
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        if start.islower() != end.islower():
            raise HostPatternError(f"range [{spec}] in {pattern!r} mixes lower and upper case")
        _check_order(ord(start), ord(end), spec, pattern)
        return [chr(c) for c in range(ord(start), ord(end) + 1, stride)]
    raise HostPatternError(
        f"invalid range [{spec}] in {pattern!r}",
        hint="a range counts numbers ([01:12]) or single letters ([a:f])",
    )


def _stride(text: str, spec: str, pattern: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise HostPatternError(f"invalid stride in [{spec}] of {pattern!r}: a number above 0")
    return int(text)


def _check_order(first: int, last: int, spec: str, pattern: str) -> None:
    if last < first:
        raise HostPatternError(
            f"range [{spec}] in {pattern!r} ends before it starts",
            hint="ranges are inclusive and count up, e.g. [01:12]",
        )
    if last - first >= MAX_HOSTS:
        raise HostPatternError(f"{pattern!r} names more than {MAX_HOSTS} hosts")


# -- --limit ------------------------------------------------------------------------


def select_hosts(
    hosts: Sequence[str], pattern: str, groups: Mapping[str, Sequence[str]] | None = None
) -> list[str]:
    """The hosts (in their order) that a `--limit` pattern selects."""
    groups = groups or {}
    terms = [term.strip() for term in re.split(r"[,:]", pattern) if term.strip()]
    if not terms:
        raise HostPatternError("empty --limit pattern", hint="e.g. --limit 'web*,!web3'")
    included: set[str] | None = None
    excluded: set[str] = set()
    required: list[set[str]] = []
    for term in terms:
        if term.startswith("!"):
            excluded |= _matching(hosts, term[1:], groups)
        elif term.startswith("&"):
            required.append(_matching(hosts, term[1:], groups))
        else:
            included = (included or set()) | _matching(hosts, term, groups)
    chosen = set(hosts) if included is None else included
    for subset in required:
        chosen &= subset
    return [host for host in hosts if host in chosen and host not in excluded]


def _matching(hosts: Sequence[str], term: str, groups: Mapping[str, Sequence[str]]) -> set[str]:
    if not term:
        raise HostPatternError("a --limit term is empty after '!' or '&'")
    if term in groups:
        return set(groups[term])
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as error:
            raise HostPatternError(
                f"invalid regular expression in --limit {term!r}: {error}"
            ) from None
        return {host for host in hosts if regex.search(host)}
    if any(char in term for char in "*?["):
        return set(fnmatch.filter(hosts, term))
    return {host for host in hosts if host == term}


# -- natural order ---------------------------------------------------------------------


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts web2 before web10 (numbers compared as numbers)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", name)
        if part
    )


def naturally_sorted(names: Iterable[str]) -> list[str]:
    return sorted(names, key=natural_key)
