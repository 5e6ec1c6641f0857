"""`{{ name }}` placeholders, parsed once and rendered.

Inside shell text a value never becomes script text: it travels in an environment
variable and the script refers to it (see `render_shell`), so a value holding spaces,
quotes, `$(...)`, `;` or newlines reaches the program intact and runs nothing.
`{{ name | raw }}` inserts the text as it is, deliberately (it *is* code then).
`\\{{` writes a literal `{{`.

There is no expression language: a placeholder is a variable name, `env.NAME` or
`item`, optionally followed by `| raw`. A name may be followed by a path into a list
or mapping value (`{{ db.host }}`, `{{ hosts.0 }}`, `{{ item.name }}`).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

_PLACEHOLDER = re.compile(r"\\\{\{|\{\{(.*?)\}\}", re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INNER = re.compile(rf"^\s*(?:(env)\.)?({_NAME})((?:\.(?:{_NAME}|[0-9]+))*)\s*(?:\|\s*(raw)\s*)?$")


@dataclass(frozen=True)
class Placeholder:
    name: str
    env: bool
    raw: bool
    offset: int  # where `{{` starts in the text
    path: tuple[str, ...] = ()  # keys and indexes into a list or mapping value

    @property
    def label(self) -> str:
        dotted = ".".join((self.name, *self.path))
        return f"env.{dotted}" if self.env else dotted


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
        if inner is None or (inner.group(1) and inner.group(3)):
            raise TemplateSyntaxError(
                f"invalid placeholder {match.group(0)!r}: write {{{{ name }}}}, "
                "{{ env.NAME }} or {{ name | raw }} (\\{{ for a literal '{{')",
                match.start(),
            )
        parts.append("".join(literal))
        literal = []
        path = tuple(inner.group(3).split(".")[1:])
        parts.append(
            Placeholder(
                inner.group(2), bool(inner.group(1)), bool(inner.group(4)), match.start(), path
            )
        )
    rest = text[cursor:]
    # Only the text after the last match can hold an unclosed `{{`: the `{{` an escape
    # wrote into `literal` is no placeholder, whether or not a real one follows.
    if "{{" in rest:
        raise TemplateSyntaxError("unclosed placeholder '{{'", cursor + rest.index("{{"))
    literal.append(rest)
    parts.append("".join(literal))
    return Template(tuple(parts))


Lookup = Callable[[Placeholder], str]


def render_plain(template: Template, lookup: Lookup) -> str:
    """Values inserted as they are: paths, environment values, program arguments."""
    return "".join(p if isinstance(p, str) else lookup(p) for p in template.parts)


# -- shell text: values travel as environment variables, never as script text -------
#
# A value pasted into a script as quoted text is only as safe as the guess about the
# bash context it lands in, and one wrong guess runs the value as code (issue 9). So a
# placeholder in shell text becomes a *reference* to an environment variable holding
# the value (`"${DEVKIT_V_0}"` in a word, `${DEVKIT_V_0}` inside double quotes or an
# unquoted heredoc). Bash never parses the result of an expansion as code, so a wrong
# guess about the context yields a wrong string at worst. Where no reference can work
# (a quoted heredoc, a comment, inside `${...}`) the text is refused. Arithmetic is
# the one place bash evaluates an expanded value (`a[$(cmd)]` runs cmd), so there the
# value must be a plain integer; the scanner errs towards arithmetic.

VALUE_PREFIX = "DEVKIT_V_"
_MARK = "\x00"  # stands for a placeholder while scanning; bash text never holds NUL

# Where a placeholder lands.
WORD = "word"
DOUBLE = "double quotes"
SINGLE = "single quotes"
ANSI = "$'...' quotes"
HEREDOC = "heredoc"
QUOTED_HEREDOC = "quoted heredoc"
COMMENT = "comment"
BRACE = "${...}"
ARITH = "arithmetic"
SUBSCRIPT = "array subscript"
TEST = "[[ ... ]]"

_REFUSED = {
    QUOTED_HEREDOC: "a placeholder in a quoted heredoc (<<'EOF') cannot take a value",
    COMMENT: "a placeholder in a comment",
    BRACE: "a placeholder inside ${...} cannot take a value safely",
}
_ENV_HINT = "pass the value through 'env:' and write $NAME in the script"
_HINTS = {
    QUOTED_HEREDOC: _ENV_HINT + ", with an unquoted delimiter (<<EOF)",
    COMMENT: "remove it, or write \\{{ for literal braces",
    BRACE: _ENV_HINT,
}
_REFERENCE = {
    WORD: '"${{{}}}"',
    SUBSCRIPT: '"${{{}}}"',
    TEST: '"${{{}}}"',
    DOUBLE: "${{{}}}",
    HEREDOC: "${{{}}}",
    ARITH: "${{{}}}",
    SINGLE: "'\"${{{}}}\"'",
    ANSI: "'\"${{{}}}\"$'",
}
_INTEGER = re.compile(r"[-+]?[0-9]+")
_WORD_START = " \t\n;&|()<>"
_HEREDOC_OPERATOR = re.compile(
    r"<<(-?)[ \t]*((?:[^\s;&|<>()'\"\\\x00]|'[^'\x00]*'|\"[^\"\x00]*\"|\\[^\x00])+)"
)
# `[[ ... ]]` compares operands with these arithmetically; `let` and `declare -i`
# evaluate assignments: a value there must be an integer too.
_TEST_ARITH = re.compile(r"\s-(?:eq|ne|lt|le|gt|ge)(?=\s)")
_INTEGER_COMMAND = re.compile(r"\blet\b|\b(?:declare|typeset|local|readonly)\b.*\s-[A-Za-z]*i")
# Builtins that take a variable *name* evaluate a subscript in it (`declare 'a[$(cmd)]'`,
# `read`, `printf -v`, `[[ -v ]]`): a value there must be a plain name.
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LEAD = r"^\s*(?:(?:if|then|else|elif|do|while|until|!|\{|\}|time|command|builtin)\s+)*"
_DECLARING = re.compile(_LEAD + r"(?:declare|typeset|local|readonly|export)\b")
# `declare -n ref=VALUE`: the value is a name too (the reference evaluates it later).
_NAMEREF = re.compile(_LEAD + r"(?:declare|typeset|local)\b.*\s-[A-Za-z]*n")
_READING = re.compile(_LEAD + r"(?:read|readarray|mapfile)\b")
_NAME_OPTION = re.compile(r"\s-[vR]\s+$")
_SEPARATORS = "\n;&|()`"


class ShellContextError(ValueError):
    """A placeholder where no value can go safely; `offset` is where `{{` starts."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class _Heredoc:
    delimiter: str
    strip_tabs: bool
    quoted: bool


@dataclass
class _Frame:
    state: str
    closer: str
    parens: int = 0  # `(` open in this frame (subshells, arrays, case patterns)
    cases: int = 0  # `case` open in this frame (its patterns end with a bare `)`)
    start: int = 0  # where the frame opened in the text
    marks: list[int] = field(default_factory=list)  # found[] indices inside `[[ ]]`


@dataclass(frozen=True)
class Landing:
    """Where one placeholder lands: the innermost context and what encloses it."""

    context: str
    integer: bool  # arithmetic evaluates the value
    name: bool  # a builtin takes the value as a variable name
    refused_by: str | None  # the enclosing context where no value may go


class _Scanner:
    """Classifies every placeholder mark in shell text by bash's rules, simplified:
    quotes, `$'...'`, backslashes, `$(...)`, backticks, `${...}`, `$((...))`,
    `((...))`, `case`, subscripts, comments and heredocs. A mistake here costs
    correctness, never safety: values are references, not text (arithmetic excepted,
    where the scanner errs towards arithmetic)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.frames = [_Frame(WORD, "")]
        self.pending: list[_Heredoc] = []
        self.heredoc: _Heredoc | None = None
        self.found: list[Landing] = []

    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def run(self) -> list[Landing]:
        text = self.text
        while self.index < len(text):
            char = text[self.index]
            state = self.frame.state
            if char == _MARK:
                self._mark()
            elif state in (SINGLE, QUOTED_HEREDOC, COMMENT):
                self._literal(char)
            elif state == ANSI:
                self._ansi(char)
            else:
                self._active(char)
        while len(self.frames) > 1:  # an unclosed `[[` runs to the end
            self._pop(0)
        return self.found

    def _mark(self) -> None:
        states = [frame.state for frame in self.frames]
        integer = ARITH in states or SUBSCRIPT in states or self._integer_command()
        refused = next((s for s in reversed(states) if s in _REFUSED), None)
        test = next((f for f in reversed(self.frames) if f.state == TEST), None)
        if test is not None:  # arithmetic or not: known when the `[[ ]]` closes
            test.marks.append(len(self.found))
        self.found.append(Landing(states[-1], integer, self._name_position(), refused))
        self.index += 1

    def _segment(self, separators: str = _SEPARATORS) -> str:
        """The command the mark belongs to, up to the mark."""
        start = max(self.text.rfind(sep, 0, self.index) for sep in separators)
        return self.text[start + 1 : self.index]

    def _name_position(self) -> bool:
        segment = self._segment()
        if _READING.match(segment) or _NAMEREF.match(segment):
            return True
        if _NAME_OPTION.search(" " + segment):
            return True
        word = re.split(r"\s", segment)[-1]
        return bool(_DECLARING.match(segment)) and "=" not in word

    def _integer_command(self) -> bool:
        # The whole line: `declare -ia a=({{ v }})` evaluates the items too.
        return bool(_INTEGER_COMMAND.search(self._segment("\n;&|")))

    def _push(self, state: str, closer: str, skip: int) -> None:
        self.frames.append(_Frame(state, closer, start=self.index))
        self.index += skip

    def _pop(self, skip: int) -> None:
        if len(self.frames) > 1:
            frame = self.frames.pop()
            if frame.marks and _TEST_ARITH.search(self.text, frame.start, self.index + 1):
                # `-eq` and friends compare operands as arithmetic: every value in
                # this `[[ ]]` must be an integer (erring towards arithmetic).
                for mark in frame.marks:
                    self.found[mark] = dataclasses.replace(self.found[mark], integer=True)
        self.index += skip

    def _literal(self, char: str) -> None:
        if char == "\n":
            self._newline()
            return
        if char == "'" and self.frame.state == SINGLE:
            self._pop(0)
        self.index += 1

    def _escape(self) -> None:
        """A backslash escapes the next character, unless that is a placeholder."""
        self.index += 1 if self.text[self.index + 1 : self.index + 2] == _MARK else 2

    def _ansi(self, char: str) -> None:
        if char == "\\":
            self._escape()
            return
        if char == "'":
            self._pop(0)
        self.index += 1

    def _active(self, char: str) -> None:
        text, index = self.text, self.index
        if char == "\\":
            self._escape()
        elif char == "\n":
            self._newline()
        elif char == "$" and text.startswith("$((", index):
            self._push(ARITH, "))", 3)
        elif char == "$" and text[index + 1 : index + 2] in ("(", "{", "["):
            opener = text[index + 1]
            state = {"(": WORD, "{": BRACE, "[": ARITH}[opener]
            self._push(state, {"(": ")", "{": "}", "[": "]"}[opener], 2)
        elif char == "`":
            self._backtick()
        elif self.frame.state == ARITH:
            self._arith(char)
        elif self.frame.state in (DOUBLE, HEREDOC):
            self._double(char)
        elif char == "$" and text.startswith("$'", index):
            self._push(ANSI, "'", 2)
        else:
            self._word(char)

    def _backtick(self) -> None:
        if self.frame.closer == "`":
            self._pop(1)
        else:
            self._push(WORD, "`", 1)

    def _double(self, char: str) -> None:
        if char == '"' and self.frame.state == DOUBLE:
            self._pop(0)
        self.index += 1

    def _arith(self, char: str) -> None:
        frame = self.frame
        if char == "(":
            frame.parens += 1
        elif char == ")" and frame.parens:
            frame.parens -= 1
        elif self.text.startswith(frame.closer, self.index):
            self._pop(len(frame.closer) - 1)
        self.index += 1

    def _word(self, char: str) -> None:
        text, index, frame = self.text, self.index, self.frame
        at_start = index == 0 or text[index - 1] in _WORD_START
        if char in "'\"":
            self._push(SINGLE if char == "'" else DOUBLE, char, 0)
        elif char in ")}]":
            self._close(char)
        elif char == "(" and text.startswith("((", index) and at_start:
            self._push(ARITH, "))", 1)
        elif char == "(":
            frame.parens += 1
        elif char == "#" and at_start and frame.state == WORD:
            self._push(COMMENT, "\n", 0)
        elif char == "<" and text.startswith("<<", index) and not text.startswith("<<<", index):
            self._heredoc_operator()
            return
        elif char == "[" and _opens_subscript(text, index):
            self._push(SUBSCRIPT, "]", 0)
        elif at_start and frame.state == WORD:
            self._keyword()
        self.index += 1

    def _keyword(self) -> None:
        if re.match(r"\[\[\s", self.text[self.index : self.index + 3]):
            self._push(TEST, "]]", 1)
            return
        word = re.match(r"[a-z]+(?=[\s;&|)]|$)", self.text[self.index : self.index + 5])
        if word is not None and word.group() == "case":
            self.frame.cases += 1
        elif word is not None and word.group() == "esac" and self.frame.cases:
            self.frame.cases -= 1

    def _close(self, char: str) -> None:
        frame = self.frame
        if char == ")" and frame.parens:
            frame.parens -= 1
        elif char == ")" and frame.cases:
            pass  # a case pattern ends
        elif char == frame.closer:
            self._pop(0)
        elif frame.closer == "]]" and self.text.startswith("]]", self.index):
            self._pop(1)

    def _heredoc_operator(self) -> None:
        match = _HEREDOC_OPERATOR.match(self.text, self.index)
        if match is None:
            self.index += 2
            return
        word = match.group(2)
        quoted = any(c in word for c in "\"'\\")
        delimiter = re.sub(r"[\"'\\]", "", word)
        self.pending.append(_Heredoc(delimiter, bool(match.group(1)), quoted))
        self.index = match.end()

    def _newline(self) -> None:
        self.index += 1
        if self.frame.state == COMMENT:
            self._pop(0)
        if self.heredoc is None and self.pending and self.frame.state == WORD:
            self._start_heredoc()
        self._end_heredocs()

    def _start_heredoc(self) -> None:
        self.heredoc = self.pending.pop(0)
        self._push(QUOTED_HEREDOC if self.heredoc.quoted else HEREDOC, "", 0)

    def _end_heredocs(self) -> None:
        while self.heredoc is not None and self.frame.state in (HEREDOC, QUOTED_HEREDOC):
            end = self.text.find("\n", self.index)
            stop = len(self.text) if end < 0 else end
            line = self.text[self.index : stop]
            if self.heredoc.strip_tabs:
                line = line.lstrip("\t")
            if line != self.heredoc.delimiter:
                return
            self.index = stop + 1
            self._pop(0)
            self.heredoc = None
            if self.pending:
                self._start_heredoc()


def _opens_subscript(text: str, index: int) -> bool:
    """`[` not of `[[` and not the `[` command: an array subscript, or a glob bracket
    taken for one (it errs towards arithmetic: a subscript evaluates its value)."""
    return not text.startswith("[[", index) and bool(text[index + 1 : index + 2].strip())


def landings(template: Template, raw: Lookup | None = None) -> list[Landing]:
    """Where each non-raw placeholder lands (raw values are scanned as the code they
    are; without `raw`, a raw placeholder scans as a plain word)."""
    if raw is None:  # validation asks twice per text (shell_problems, reference_script)
        return list(_landings_without_values(template))
    return _scan_landings(template, raw)


@lru_cache(maxsize=8192)
def _landings_without_values(template: Template) -> tuple[Landing, ...]:
    return tuple(_scan_landings(template, None))


def _scan_landings(template: Template, raw: Lookup | None) -> list[Landing]:
    text: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            text.append(part.replace(_MARK, ""))
        elif part.raw:
            text.append(raw(part).replace(_MARK, "") if raw is not None else "x")
        else:
            text.append(_MARK)
    return _Scanner("".join(text)).run()


def shell_problems(template: Template) -> list[tuple[int, str]]:
    """(offset, message) for each placeholder that no value may fill (validation)."""
    if template.is_literal:
        return []
    placeholders = [p for p in template.placeholders if not p.raw]
    return [
        (p.offset, f"{_REFUSED[by]}: {{{{ {p.label} }}}} (hint: {_HINTS[by]})")
        for p, landing in zip(placeholders, landings(template), strict=True)
        if (by := landing.refused_by) is not None
    ]


_DOUBLE_SPECIAL = re.compile(r'([\\"$`])')


def quote_for(value: str, context: str) -> str:
    """The value as quoted text for `context`: for display only (dry runs, messages)."""
    if context == SINGLE:
        return value.replace("'", "'\\''")
    if context == ANSI:
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if context in (DOUBLE, HEREDOC):
        return _DOUBLE_SPECIAL.sub(r"\\\1", value)
    if context == ARITH:
        return value
    return shlex.quote(value)


@dataclass(frozen=True)
class ShellScript:
    """Shell text whose values are environment references (`text`, `values`), and the
    same text with the values quoted in, to show (`display`, never run by bash)."""

    text: str
    display: str
    values: Mapping[str, str] = field(default_factory=dict)
    words_only: bool = True  # every value is a plain word: `display` splits like bash


def render_shell(template: Template, lookup: Lookup) -> ShellScript:
    """Shell text in which every value (unless `| raw`) is a reference to an
    environment variable; raise ShellContextError where no value may go."""
    if template.is_literal:
        literal = "".join(str(part) for part in template.parts)
        return ShellScript(literal, literal)
    found = iter(landings(template, lookup))
    text: list[str] = []
    display: list[str] = []
    values: dict[str, str] = {}
    words_only = True
    for part in template.parts:
        if isinstance(part, str):
            text.append(part)
            display.append(part)
            continue
        value = lookup(part)
        if part.raw:
            text.append(value)
            display.append(value)
            continue
        landing = next(found)
        _check_landing(part, landing, value)
        name = f"{VALUE_PREFIX}{len(values)}"
        values[name] = value
        text.append(_REFERENCE[landing.context].format(name))
        display.append(quote_for(value, landing.context))
        words_only = words_only and landing.context == WORD
    return ShellScript("".join(text), "".join(display), values, words_only)


def _check_landing(part: Placeholder, landing: Landing, value: str) -> None:
    if landing.refused_by is not None:
        raise ShellContextError(
            f"{_REFUSED[landing.refused_by]}: {{{{ {part.label} }}}}", part.offset
        )
    if landing.name and not _VARIABLE_NAME.fullmatch(value):
        raise ShellContextError(
            f"{{{{ {part.label} }}}} is taken as a variable name by bash, so its value must"
            " be a plain name (letters, digits, _)",
            part.offset,
        )
    if landing.integer and not _INTEGER.fullmatch(value):
        raise ShellContextError(
            f"{{{{ {part.label} }}}} is evaluated as arithmetic by bash, so its value must"
            " be an integer",
            part.offset,
        )


def quoted_forms(value: str) -> set[str]:
    """Every way a value may be shown (`ShellScript.display`), so masking finds each."""
    return {value, *(quote_for(value, context) for context in (WORD, SINGLE, DOUBLE, ANSI))}


def reference_script(template: Template) -> str | None:
    """The shell text as bash will get it, each placeholder the environment reference it
    becomes (no value needed: for `bash -n` during validation). None when the code is
    not known before the run (a `| raw` placeholder) or a placeholder sits where no
    value may go (reported on its own)."""
    if template.is_literal:
        return "".join(str(part) for part in template.parts)
    if any(part.raw for part in template.placeholders):
        return None
    found = landings(template)
    if any(landing.refused_by is not None for landing in found):
        return None
    references = iter(
        _REFERENCE[landing.context].format(f"{VALUE_PREFIX}{number}")
        for number, landing in enumerate(found)
    )
    return "".join(part if isinstance(part, str) else next(references) for part in template.parts)
