"""`{{ name }}` placeholders, parsed once and rendered with automatic shell quoting.

Inside shell text every value is quoted for the spot it lands in (bare, inside
'single' or inside "double" quotes), so a value holding spaces, quotes, `$(...)`,
`;` or newlines reaches the program as one harmless argument. `{{ name | raw }}`
inserts the text as it is, deliberately. `\\{{` writes a literal `{{`.

There is no expression language: a placeholder is a variable name, `env.NAME` or
`item`, optionally followed by `| raw`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

_PLACEHOLDER = re.compile(r"\\\{\{|\{\{(.*?)\}\}", re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INNER = re.compile(rf"^\s*(?:(env)\.)?({_NAME})\s*(?:\|\s*(raw)\s*)?$")


@dataclass(frozen=True)
class Placeholder:
    name: str
    env: bool
    raw: bool
    offset: int  # where `{{` starts in the text

    @property
    def label(self) -> str:
        return f"env.{self.name}" if self.env else self.name


@dataclass(frozen=True)
class Template:
    """Literal text and placeholders, alternating: parts[i] is str or Placeholder."""

    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def is_literal(self) -> bool:
        return not self.placeholders


class TemplateSyntaxError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@lru_cache(maxsize=8192)
def parse_template(text: str) -> Template:
    """Split text into literal parts and placeholders; raise on a malformed `{{ }}`."""
    if "{{" not in text:
        return Template((text,))
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    cursor = 0
    for match in _PLACEHOLDER.finditer(text):
        literal.append(text[cursor : match.start()])
        cursor = match.end()
        if match.group(1) is None:  # an escaped \{{
            literal.append("{{")
            continue
        inner = _INNER.match(match.group(1))
        if inner is None:
            raise TemplateSyntaxError(
                f"invalid placeholder {match.group(0)!r}: write {{{{ name }}}}, "
                "{{ env.NAME }} or {{ name | raw }} (\\{{ for a literal '{{')",
                match.start(),
            )
        parts.append("".join(literal))
        literal = []
        parts.append(
            Placeholder(inner.group(2), bool(inner.group(1)), bool(inner.group(3)), match.start())
        )
    literal.append(text[cursor:])
    tail = "".join(literal)
    if "{{" in tail:
        raise TemplateSyntaxError(
            "unclosed placeholder '{{'", len(text) - len(tail) + tail.index("{{")
        )
    parts.append(tail)
    return Template(tuple(parts))


Lookup = Callable[[Placeholder], str]


def render_plain(template: Template, lookup: Lookup) -> str:
    """Values inserted as they are: paths, environment values, program arguments."""
    return "".join(p if isinstance(p, str) else lookup(p) for p in template.parts)


# Shell quoting contexts while scanning literal shell text.
_BARE, _SINGLE, _DOUBLE = 0, 1, 2


class _ShellState:
    """The quoting context while scanning shell text (bash rules, simplified:
    backslash escapes outside single quotes, `$(...)` nests, comments run to the end
    of the line, `$'...'` counts as single quotes)."""

    __slots__ = ("stack", "state")

    def __init__(self) -> None:
        self.state = _BARE
        self.stack: list[int] = []

    def scan(self, text: str) -> None:
        index = 0
        length = len(text)
        state = self.state
        while index < length:
            char = text[index]
            if state == _SINGLE:
                if char == "'":
                    state = _BARE
            elif char == "\\":
                index += 1
            elif char == "$" and text.startswith("$(", index):
                self.stack.append(state)
                state = _BARE
                index += 1
            elif state == _DOUBLE:
                if char == '"':
                    state = _BARE
            elif char == ")" and self.stack:
                state = self.stack.pop()
            elif char == "'":
                state = _SINGLE
            elif char == '"':
                state = _DOUBLE
            elif char == "#" and (index == 0 or text[index - 1] in " \t\n;&|("):
                newline = text.find("\n", index)
                index = length if newline < 0 else newline
                continue
            index += 1
        self.state = state


_DOUBLE_SPECIAL = re.compile(r'([\\"$`])')


def quote_for(value: str, state: int) -> str:
    if state == _SINGLE:
        return value.replace("'", "'\\''")
    if state == _DOUBLE:
        return _DOUBLE_SPECIAL.sub(r"\\\1", value)
    return shlex.quote(value)


def render_shell(template: Template, lookup: Lookup) -> str:
    """Shell text with every inserted value quoted for where it lands (unless `| raw`)."""
    out: list[str] = []
    shell = _ShellState()
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            shell.scan(part)
            continue
        value = lookup(part)
        if part.raw:
            out.append(value)
            shell.scan(value)
        else:
            out.append(quote_for(value, shell.state))
    return "".join(out)


def quoted_forms(value: str) -> set[str]:
    """Every way `render_shell` may write a value, so that masking finds each of them."""
    return {value, *(quote_for(value, state) for state in (_BARE, _SINGLE, _DOUBLE))}
