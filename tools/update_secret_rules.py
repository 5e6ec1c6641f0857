"""Rebuild devkit/gitflow/secret_rules.json from gitleaks' published rule set.

gitleaks (https://github.com/gitleaks/gitleaks, MIT licence, Copyright (c) 2019
Zachary Rice) keeps a maintained list of secret formats in config/gitleaks.toml. devkit
ships those rules as data: this script reads that TOML file, rewrites the few Go (RE2)
regular-expression features that Python's `re` spells differently, drops what `re`
cannot express (recorded under "skipped" with the reason), and writes JSON, which every
Python devkit supports reads without a TOML parser.

Usage: python tools/update_secret_rules.py PATH/TO/gitleaks.toml VERSION
(VERSION: the gitleaks tag the file comes from, e.g. v8.30.1). Needs Python 3.11+.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from pathlib import Path

import tomllib

TARGET = Path(__file__).resolve().parent.parent / "devkit" / "gitflow" / "secret_rules.json"
SOURCE = "https://github.com/gitleaks/gitleaks/blob/{version}/config/gitleaks.toml"

POSIX_CLASSES = {
    "alnum": "a-zA-Z0-9",
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "xdigit": "0-9a-fA-F",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\t\n\v\f\r ",
    "word": r"\w",
}
FLAG_GROUP = re.compile(r"\(\?([a-zA-Z]*(?:-[a-zA-Z]+)?)\)")


class Unsupported(ValueError):
    """A Go regular expression that Python's re cannot express."""


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """The bracket expression starting at `start`, in Python spelling, and the index
    after it."""
    out = ["["]
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < len(pattern):
        char = pattern[i]
        if char == "]" and not first:
            out.append("]")
            return "".join(out), i + 1
        first = False
        if char == "\\":
            escape = pattern[i : i + 2]
            if escape[1:] in ("p", "P"):
                raise Unsupported("Unicode classes (\\p)")
            out.append(escape)
            i += 2
            continue
        if pattern.startswith("[:", i):
            end = pattern.index(":]", i)
            name = pattern[i + 2 : end]
            if name not in POSIX_CLASSES:
                raise Unsupported(f"POSIX class [:{name}:]")
            out.append(POSIX_CLASSES[name])
            i = end + 2
            continue
        # Python warns about (future) set operations: spell such characters escaped.
        out.append("\\" + char if char in "[&~|" else char)
        i += 1
    raise Unsupported("unterminated bracket expression")


def go_to_python(pattern: str) -> str:
    """Rewrite a Go RE2 pattern for Python's re (used with re.ASCII, as RE2's \\w,
    \\d, \\s and \\b are ASCII). A flag group in the middle, `(?i)`, applies up to the end
    of its enclosing group, across `|`: it becomes a scoped group per alternative."""
    out: list[str] = []
    # One frame per open group: the flags set inside it, and whether a scoped group
    # opened for them is still open.
    frames: list[dict[str, object]] = [{"flags": "", "wrapped": False}]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        frame = frames[-1]
        if char == "\\":
            escape = pattern[i : i + 2]
            if escape in ("\\p", "\\P", "\\Q", "\\C"):
                raise Unsupported(f"{escape} escapes")
            out.append({"\\z": r"\Z"}.get(escape, escape))
            i += 2
        elif char == "[":
            text, i = _char_class(pattern, i)
            out.append(text)
        elif (flag := FLAG_GROUP.match(pattern, i)) and i > 0:
            if frame["wrapped"]:
                out.append(")")
            frame["flags"] = _merge_flags(str(frame["flags"]), flag.group(1))
            out.append(f"(?{frame['flags']}:")
            frame["wrapped"] = True
            i = flag.end()
        elif char == "(":
            frames.append({"flags": "", "wrapped": False})
            out.append(char)
            i += 1
        elif char == "|" and frame["wrapped"]:
            out.append(f")|(?{frame['flags']}:")
            i += 1
        elif char == ")":
            if frame["wrapped"]:
                out.append(")")
            frames.pop()
            out.append(char)
            i += 1
        else:
            out.append(char)
            i += 1
    if frames[-1]["wrapped"]:
        out.append(")")
    return "".join(out)


def _merge_flags(current: str, new: str) -> str:
    on, _, off = new.partition("-")
    now_on, _, now_off = current.partition("-")
    flags_on = "".join(sorted((set(now_on) | set(on)) - set(off)))
    flags_off = "".join(sorted((set(now_off) | set(off)) - set(on)))
    return flags_on + (f"-{flags_off}" if flags_off else "")


def checked(pattern: str) -> str:
    converted = go_to_python(pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            re.compile(converted, re.ASCII)
        except (re.error, FutureWarning, DeprecationWarning) as error:
            raise Unsupported(f"Python re: {error}") from None
    return converted


def convert_allowlist(allow: dict[str, object]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key in ("regexes", "paths"):
        if allow.get(key):
            result[key] = [checked(str(p)) for p in allow[key]]  # type: ignore[attr-defined]
    if allow.get("stopwords"):
        result["stopwords"] = [str(w).lower() for w in allow["stopwords"]]  # type: ignore[attr-defined]
    for key in ("regexTarget", "condition"):
        if allow.get(key):
            result[key] = allow[key]
    return result


def convert_rule(rule: dict[str, object]) -> dict[str, object]:
    converted: dict[str, object] = {"id": rule["id"]}
    for key in ("regex", "path"):
        if rule.get(key):
            converted[key] = checked(str(rule[key]))
    for key in ("secretGroup", "entropy"):
        if rule.get(key):
            converted[key] = rule[key]
    if rule.get("keywords"):
        converted["keywords"] = sorted({str(k).lower() for k in rule["keywords"]})  # type: ignore[attr-defined]
    allowlists = [convert_allowlist(a) for a in rule.get("allowlists", [])]  # type: ignore[attr-defined]
    if allowlists:
        converted["allowlists"] = allowlists
    return converted


def main() -> int:
    source, version = Path(sys.argv[1]), sys.argv[2]
    config = tomllib.loads(source.read_text())
    rules, skipped = [], []
    for rule in config["rules"]:
        try:
            rules.append(convert_rule(rule))
        except Unsupported as error:
            skipped.append({"id": rule["id"], "reason": str(error)})
    document = {
        "source": SOURCE.format(version=version),
        "version": version,
        "license": "MIT License, Copyright (c) 2019 Zachary Rice (see secret_rules.LICENSE)",
        "note": "generated by tools/update_secret_rules.py; do not edit by hand",
        "allowlist": convert_allowlist(config["allowlist"]),
        "rules": rules,
        "skipped": skipped,
    }
    TARGET.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    print(f"{len(rules)} rules written, {len(skipped)} skipped: {TARGET}")
    for item in skipped:
        print(f"  skipped {item['id']}: {item['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
