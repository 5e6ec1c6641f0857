"""Is a file about to be staged a secret? gitleaks' published rules, applied as data.

The content rules, their keywords, entropy thresholds and allow-lists come from
gitleaks' config/gitleaks.toml (MIT, see secret_rules.LICENSE), converted to Python
regular expressions by tools/update_secret_rules.py and shipped as secret_rules.json.
devkit adds only what that rule set leaves out by design, because gitleaks scans
history and devkit guards a commit: files that exist only to hold secrets (`.env`,
Terraform state, `.streamlit/secrets.toml`, SSH and PuTTY private keys) and a few
credential formats (AWS secret keys, Azure connection strings, kubeconfig client keys,
npm auth tokens), plus the documentation keys that vendors publish as examples.

Like gitleaks, a rule runs only when one of its keywords occurs in the file, and a rule's
pattern is compiled the first time it is needed: most files trigger a handful of rules.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RULES_FILE = Path(__file__).with_name("secret_rules.json")
# Binary files (a NUL early on: a Keynote `.key` package, an image) get name rules only.
BINARY_PROBE = 8000
ALLOW_SIGNATURE = "gitleaks:allow"

# Templates: their values are placeholders, so only their content is checked.
_TEMPLATE_NAME = re.compile(
    r"(?i)(?:^|[./_-])(?:example|sample|template|tpl|dist|defaults?|schema)(?:$|[./_-])"
)
# Files that exist only to hold secrets: refused by name.
_SECRET_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?:^|/)\.env(?:\.[^/]*)?$|(?:^|/)[^/]+\.env$"), "a .env file holds secrets"),
    (
        re.compile(r"(?:^|/)id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?$"),
        "its name marks it as an SSH private key",
    ),
    (re.compile(r"(?:^|/)[^/]+\.(?:keystore|jks)$", re.I), "it is a Java keystore"),
    (
        re.compile(r"(?:^|/)(?:\.git-credentials|[._]netrc|\.pgpass)$"),
        "it is a credentials store",
    ),
    (re.compile(r"(?:^|/)\.aws/credentials$"), "it is an AWS credentials file"),
    (
        re.compile(r"(?:^|/)[^/]*\.tfstate(?:\.backup)?$"),
        "Terraform state holds resource secrets in plain text",
    ),
    (re.compile(r"(?:^|/)\.streamlit/secrets\.toml$"), "it is Streamlit's secrets file"),
)


@dataclass(frozen=True)
class ExtraRule:
    """A content rule devkit adds to gitleaks' set (same meaning as a gitleaks rule)."""

    id: str
    regex: str
    keywords: tuple[str, ...]
    entropy: float = 0.0


EXTRA_RULES = (
    ExtraRule(
        "aws-secret-access-key",
        r"(?i)aws[\w.-]{0,20}?(?:secret|private)[\w.-]{0,20}?[\s'\"]{0,3}(?:=|:|=>|,)"
        r"[\s'\"]{0,5}([a-z0-9/+]{40})(?![a-z0-9/+=])",
        ("aws",),
        3.5,
    ),
    ExtraRule(
        "azure-storage-connection-string",
        r"(?i)\bAccountKey=([a-z0-9+/]{60,100}={0,2})",
        ("accountkey=",),
        3.5,
    ),
    ExtraRule(
        "kubeconfig-client-key",
        r"\bclient-key-data:[ \t]*[\"']?([A-Za-z0-9+/]{40,}={0,2})",
        ("client-key-data",),
    ),
    ExtraRule(
        "putty-private-key",
        r"PuTTY-User-Key-File-\d+:[^\n]*\n(?:[^\n]*\n){0,6}?Private-Lines:",
        ("putty-user-key-file",),
    ),
    ExtraRule(
        "npm-auth-token",
        r"(?m)(?:^|:)_(?:authToken|auth|password)[ \t]*=[ \t]*[\"']?([^\s\"']{8,})",
        ("_authtoken", "_auth", "_password"),
    ),
)
# Keys that vendors publish in their documentation (AWS's, say) and obvious
# placeholders: checked against the secret a rule found.
_EXAMPLE_SECRETS = re.compile(
    r"EXAMPLE|(?i:^(?:x{6,}|\*{3,}|0{8,}|<[^>]*>|\[[^\]]*\]|\{[^}]*\}"
    r"|\$\{?\w+\}?|%\w+%|@\w+@"
    r"|your[_-].*|.*(?:changeme|change[_-]me|replace[_-]?me|placeholder"
    r"|dummy|redacted|fake[_-]?(?:key|token|secret)).*)$)"
)


@dataclass(frozen=True)
class Detection:
    rule: str
    line: int | None = None
    why: str = ""

    def detail(self) -> str:
        if self.why:
            return self.why
        where = f" on line {self.line}" if self.line else ""
        return f"it looks like a secret{where} ({self.rule})"


class _Rule:
    """One content or path rule, compiled on first use."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.id: str = data["id"]
        self.keywords: tuple[str, ...] = tuple(data.get("keywords", ()))
        self.entropy = float(data.get("entropy", 0.0))
        self.secret_group = int(data.get("secretGroup", 0))
        self._regex: str | None = data.get("regex")
        self._path: str | None = data.get("path")
        self.allowlists = tuple(_Allowlist(a) for a in data.get("allowlists", ()))

    @functools.cached_property
    def regex(self) -> re.Pattern[str] | None:
        return re.compile(self._regex, re.ASCII) if self._regex else None

    @functools.cached_property
    def path(self) -> re.Pattern[str] | None:
        return re.compile(self._path, re.ASCII) if self._path else None

    @property
    def has_regex(self) -> bool:
        return self._regex is not None

    @property
    def path_only(self) -> bool:
        return self._regex is None and self._path is not None


class _Allowlist:
    def __init__(self, data: dict[str, Any]) -> None:
        self.target: str = data.get("regexTarget", "secret")
        self.all_of = data.get("condition", "OR") == "AND"
        self._regexes: tuple[str, ...] = tuple(data.get("regexes", ()))
        self._paths: tuple[str, ...] = tuple(data.get("paths", ()))
        self.stopwords: tuple[str, ...] = tuple(data.get("stopwords", ()))

    @functools.cached_property
    def regexes(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.ASCII) for p in self._regexes)

    @functools.cached_property
    def paths(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p, re.ASCII) for p in self._paths)

    def path_allowed(self, path: str) -> bool:
        """Whole files this allow-list skips (gitleaks: OR lists with paths)."""
        return not self.all_of and any(p.search(path) for p in self.paths)

    def allows(self, *, path: str, secret: str, match: str, line: str) -> bool:
        target = {"match": match, "line": line}.get(self.target, secret)
        lowered = secret.lower()
        checks: list[Callable[[], bool]] = []
        if self._regexes:
            checks.append(lambda: any(r.search(target) for r in self.regexes))
        if self.stopwords:
            checks.append(lambda: any(w in lowered for w in self.stopwords))
        if not self.all_of:
            return any(check() for check in checks)
        if self._paths:
            checks.append(lambda: any(p.search(path) for p in self.paths))
        return bool(checks) and all(check() for check in checks)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[_Rule, ...]
    allowlist: _Allowlist
    source: str
    skipped: tuple[str, ...]

    @functools.cached_property
    def by_keyword(self) -> dict[str, tuple[int, ...]]:
        """Keyword -> positions in `rules` of the content rules it triggers."""
        found: dict[str, list[int]] = {}
        for position, rule in enumerate(self.rules):
            for keyword in rule.keywords if rule.has_regex else ():
                found.setdefault(keyword, []).append(position)
        return {k: tuple(v) for k, v in found.items()}

    @functools.cached_property
    def path_rules(self) -> tuple[_Rule, ...]:
        return tuple(r for r in self.rules if r.path_only)

    @functools.cached_property
    def always(self) -> tuple[int, ...]:
        """Positions of the content rules without keywords: they run on every file."""
        return tuple(i for i, r in enumerate(self.rules) if r.has_regex and not r.keywords)

    def triggered(self, lowered: str) -> list[_Rule]:
        """The content rules whose keywords occur in `lowered`, in rule order."""
        positions = set(self.always)
        for keyword, rules in self.by_keyword.items():
            if keyword in lowered:
                positions.update(rules)
        return [self.rules[i] for i in sorted(positions)]


@functools.lru_cache(maxsize=1)
def rule_set() -> RuleSet:
    """gitleaks' rules plus devkit's additions, read once per process."""
    data = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    extra = [
        {"id": r.id, "regex": r.regex, "keywords": list(r.keywords), "entropy": r.entropy}
        for r in EXTRA_RULES
    ]
    # The catch-all rule last, so a finding names the most specific rule.
    ordered = sorted([*data["rules"], *extra], key=lambda d: d["id"] == "generic-api-key")
    return RuleSet(
        rules=tuple(_Rule(d) for d in ordered),
        allowlist=_Allowlist(data["allowlist"]),
        source=data["source"],
        skipped=tuple(item["id"] for item in data["skipped"]),
    )


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def detect_secret(path: str, data: bytes) -> Detection | None:
    """Why the file at `path` (relative, '/'-separated) with content `data` must not be
    staged as a secret, or None."""
    rules = rule_set()
    found = _by_name(path, rules)
    if found is None and b"\0" not in data[:BINARY_PROBE]:
        found = _by_content(path, data.decode("utf-8", "replace"), rules)
    return found


def _by_name(path: str, rules: RuleSet) -> Detection | None:
    if not _TEMPLATE_NAME.search(path.rsplit("/", 1)[-1]):
        for pattern, why in _SECRET_NAMES:
            if pattern.search(path):
                return Detection("file-name", why=why)
    for rule in rules.path_rules:
        matched = rule.path is not None and rule.path.search(path)
        if matched and not rules.allowlist.path_allowed(path):
            return Detection(rule.id, why=f"its name marks it as a key file ({rule.id})")
    return None


def _by_content(path: str, text: str, rules: RuleSet) -> Detection | None:
    # Like gitleaks, a rule runs only when one of its keywords occurs: nothing is
    # compiled for the others (most files trigger none).
    triggered = rules.triggered(text.lower())
    if not triggered or rules.allowlist.path_allowed(path):
        return None
    for rule in triggered:
        if rule.path is not None and not rule.path.search(path):
            continue
        if any(a.path_allowed(path) for a in rule.allowlists):
            continue
        found = _first_finding(rule, path, text, rules.allowlist)
        if found is not None:
            return found
    return None


def _first_finding(rule: _Rule, path: str, text: str, common: _Allowlist) -> Detection | None:
    assert rule.regex is not None
    for match in rule.regex.finditer(text):
        whole = match.group(0).strip("\n")
        secret = _secret_of(match, rule.secret_group) or whole
        if rule.entropy and shannon_entropy(secret) <= rule.entropy:
            continue
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.start() + len(whole))
        line = text[start : len(text) if end < 0 else end]
        if ALLOW_SIGNATURE in line or _EXAMPLE_SECRETS.search(secret):
            continue
        lists: Sequence[_Allowlist] = (common, *rule.allowlists)
        if any(a.allows(path=path, secret=secret, match=whole, line=line) for a in lists):
            continue
        return Detection(rule.id, line=text.count("\n", 0, match.start()) + 1)
    return None


def _secret_of(match: re.Match[str], group: int) -> str | None:
    if group:
        return match.group(group) if group <= (match.re.groups or 0) else None
    return next((g for g in match.groups() if g), None)
