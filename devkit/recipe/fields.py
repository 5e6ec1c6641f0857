"""A small schema language: each type checks a positioned YAML value and describes
itself as JSON Schema. The recipe format is written once in it (devkit/recipe/schema.py),
so validation and `devkit run --schema` cannot drift apart."""

from __future__ import annotations

import difflib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devkit.recipe.errors import Diagnostic, Position
from devkit.recipe.loader import PosDict, PosList, SourceFile, Text, make_text
from devkit.recipe.template import TemplateSyntaxError, parse_template


class Invalid:
    """Marks a value that failed its check (the diagnostic is already recorded)."""


INVALID: Any = Invalid()


class Checker:
    """Collects diagnostics; every problem is reported, none stops the check."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def error(self, pos: Position, message: str) -> None:
        self.diagnostics.append(self.source.diagnostic(pos, message))


def describe(value: Any) -> str:
    if isinstance(value, PosDict):
        return "a mapping"
    if isinstance(value, PosList):
        return "a list"
    if isinstance(value, Text) and value.null:
        return "nothing (null)"
    return repr(str(value))


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def offset_position(text: Text, offset: int) -> Position:
    """The position of character `offset` of a scalar (exact for one-line scalars)."""
    before = str(text)[:offset]
    if "\n" in before or (text.quoted and "\\" in before):
        return text.pos
    return Position(text.pos.file, text.pos.line, text.pos.col + offset + int(text.quoted))


class Type(ABC):
    label = "a value"

    @abstractmethod
    def check(self, value: Any, chk: Checker) -> Any:
        """The checked value, or INVALID after reporting what is wrong to `chk`."""

    @abstractmethod
    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema fragment that accepts what `check` accepts."""

    def wrong(self, value: Any, chk: Checker, expected: str | None = None) -> Any:
        chk.error(value.pos, f"expected {expected or self.label}, got {describe(value)}")
        return INVALID


@dataclass(frozen=True)
class Str(Type):
    """A string. `template=True` allows `{{ }}` placeholders (syntax checked here)."""

    template: bool = False
    pattern: str | None = None
    choices: tuple[str, ...] = ()
    label: str = "a string"

    def check(self, value: Any, chk: Checker) -> Any:
        if not isinstance(value, Text) or value.null:
            return self.wrong(value, chk)
        if self.choices and value not in self.choices:
            chk.error(
                value.pos,
                f"expected one of {', '.join(self.choices)}, got {describe(value)}"
                + did_you_mean(value, self.choices),
            )
            return INVALID
        if self.pattern and not re.fullmatch(self.pattern, value):
            return self.wrong(value, chk)
        if self.template:
            try:
                parse_template(str(value))
            except TemplateSyntaxError as error:
                chk.error(offset_position(value, error.offset), str(error))
                return INVALID
        return value

    def json_schema(self) -> dict[str, Any]:
        if self.choices:
            return {"type": "string", "enum": list(self.choices)}
        doc: dict[str, Any] = {"type": "string"}
        if self.pattern:
            doc["pattern"] = f"^(?:{self.pattern})$"
        return doc


@dataclass(frozen=True)
class Bool(Type):
    label: str = "true or false"

    def check(self, value: Any, chk: Checker) -> Any:
        if isinstance(value, Text) and value in ("true", "True", "false", "False"):
            return value in ("true", "True")
        if isinstance(value, Text) and value.lower() in ("yes", "no", "on", "off", "y", "n"):
            chk.error(
                value.pos,
                f"expected true or false, got {describe(value)} "
                "(YAML 1.1 words like yes/no/on/off are not booleans here)",
            )
            return INVALID
        return self.wrong(value, chk)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Int(Type):
    minimum: int = 0
    label: str = "a whole number"

    def check(self, value: Any, chk: Checker) -> Any:
        if not isinstance(value, Text) or not re.fullmatch(r"0|[1-9][0-9]*", value):
            return self.wrong(value, chk)
        number = int(value)
        if number < self.minimum:
            chk.error(value.pos, f"expected a number >= {self.minimum}, got {number}")
            return INVALID
        return number

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum}


@dataclass(frozen=True)
class Number(Type):
    label: str = "a number"

    def check(self, value: Any, chk: Checker) -> Any:
        if not isinstance(value, Text) or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
            return self.wrong(value, chk)
        return float(value)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": 0}


DURATION_PATTERN = r"[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h)"
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float | None:
    """`500ms`, `5s`, `5m`, `1h` as seconds; None when the text is not a duration."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        return None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class Duration(Type):
    label: str = "a duration like 500ms, 5s, 5m or 1h"
    # Set where zero would silently mean something else (a timeout of 0 is no timeout):
    # the sentence that says so and names the fix.
    zero_refused: str | None = None

    def check(self, value: Any, chk: Checker) -> Any:
        seconds = parse_duration(value) if isinstance(value, Text) else None
        if seconds is None:
            return self.wrong(value, chk)
        if seconds == 0 and self.zero_refused:
            chk.error(value.pos, f"{describe(value)} is not allowed: {self.zero_refused}")
            return INVALID
        return seconds

    def json_schema(self) -> dict[str, Any]:
        if self.zero_refused:
            return {"type": "string", "pattern": f"^(?![0.]+(?:ms|s|m|h)$){DURATION_PATTERN}$"}
        return {"type": "string", "pattern": f"^{DURATION_PATTERN}$"}


SIZE_PATTERN = r"[0-9]+(?:\.[0-9]+)?\s*(?:[kKmMgGtT]i?)?[bB]?"


@dataclass(frozen=True)
class Size(Type):
    """A byte size: `1000`, `50M`, `2G` (checked again by devkit.archive.parse_size)."""

    label: str = "a size like 500K, 50M or 2G"

    def check(self, value: Any, chk: Checker) -> Any:
        if not isinstance(value, Text) or not re.fullmatch(SIZE_PATTERN, value):
            return self.wrong(value, chk)
        return str(value)

    def json_schema(self) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": f"^{SIZE_PATTERN}$"},
            ]
        }


@dataclass(frozen=True)
class ListOf(Type):
    """A list; `single=True` also accepts one item written without brackets."""

    item: Type
    single: bool = False
    min_items: int = 0

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"a list of {self.item.label.removeprefix('a ').removeprefix('an ')}s"

    def check(self, value: Any, chk: Checker) -> Any:
        if not isinstance(value, PosList):
            if self.single and not isinstance(value, PosDict) and not getattr(value, "null", False):
                one = self.item.check(value, chk)
                result = PosList([] if one is INVALID else [one])
                result.pos = value.pos
                return result
            return self.wrong(value, chk)
        # Items that failed their check are left out (their diagnostics are recorded),
        # so that the rest of the recipe can still be checked and every error reported.
        result = PosList()
        result.pos = value.pos
        for item in value:
            checked = self.item.check(item, chk)
            if checked is not INVALID:
                result.append(checked)
        if len(value) < self.min_items:
            chk.error(value.pos, f"expected at least {self.min_items} item(s)")
            return INVALID
        return result

    def json_schema(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": "array", "items": self.item.json_schema()}
        if self.min_items:
            doc["minItems"] = self.min_items
        if self.single:
            return {"anyOf": [doc, self.item.json_schema()]}
        return doc


@dataclass(frozen=True)
class MapOf(Type):
    """A mapping with free-form keys (matching `key_pattern`) and values of one type."""

    value: Type
    key_pattern: str = r"[A-Za-z_][A-Za-z0-9_]*"
    key_label: str = "a name (letters, digits, _)"
    label: str = "a mapping"

    def check(self, value: Any, chk: Checker) -> Any:
        if isinstance(value, Text) and value.null:
            empty = PosDict()
            empty.pos, empty.key_pos = value.pos, {}
            return empty
        if not isinstance(value, PosDict):
            return self.wrong(value, chk)
        result = PosDict()
        result.pos, result.key_pos = value.pos, value.key_pos
        for key, item in value.items():
            if not re.fullmatch(self.key_pattern, key):
                chk.error(value.key_pos[key], f"invalid key {key!r}: expected {self.key_label}")
                continue
            # A value that failed keeps its key (as INVALID): the name still exists.
            result[key] = self.value.check(item, chk)
        return result

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": {"pattern": f"^{self.key_pattern}$"},
            "additionalProperties": self.value.json_schema(),
        }


@dataclass(frozen=True)
class Field:
    type: Type
    description: str
    required: bool = False


@dataclass(frozen=True)
class Obj(Type):
    """A mapping with known keys; unknown keys are errors with a did-you-mean."""

    fields: Mapping[str, Field]
    what: str = "mapping"
    description: str = ""
    label: str = "a mapping"
    # `x-` keys are ignored (as in Compose files): a place for YAML anchors to live.
    extensions: bool = False

    def check(self, value: Any, chk: Checker) -> Any:
        if not isinstance(value, PosDict):
            return self.wrong(value, chk, f"a {self.what} (a mapping)")
        return self.check_keys(value, chk, self.fields)

    def check_keys(self, value: PosDict, chk: Checker, fields: Mapping[str, Field]) -> Any:
        # Keys that failed their check are left out: the rest is still checked further.
        result = PosDict()
        result.pos, result.key_pos = value.pos, value.key_pos
        for key, item in value.items():
            spec = fields.get(key)
            if spec is None and self.extensions and key.startswith("x-"):
                continue
            if spec is None:
                chk.error(
                    value.key_pos[key],
                    f"unknown key {key!r} in {self.what}" + did_you_mean(key, list(fields)),
                )
                continue
            checked = spec.type.check(item, chk)
            if checked is not INVALID:
                result[key] = checked
        for key, spec in fields.items():
            if spec.required and key not in value:
                chk.error(value.pos, f"{self.what} is missing the required key {key!r}")
        return result

    def json_schema(self) -> dict[str, Any]:
        doc = object_schema(self.fields, self.description)
        if self.extensions:
            doc["patternProperties"] = {"^x-": {"description": "Ignored: for YAML anchors."}}
        return doc


def object_schema(
    fields: Mapping[str, Field], description: str = "", extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, spec in fields.items():
        properties[key] = {**spec.type.json_schema(), "description": spec.description}
    properties.update(extra or {})
    doc: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    required = [key for key, spec in fields.items() if spec.required]
    if required:
        doc["required"] = required
    if description:
        doc["description"] = description
    return doc


@dataclass(frozen=True)
class OneOf(Type):
    """A value that may be written in several shapes, told apart by its YAML kind."""

    scalar: Type | None = None
    sequence: Type | None = None
    mapping: Type | None = None
    label: str = "a value"

    def check(self, value: Any, chk: Checker) -> Any:
        if isinstance(value, PosDict):
            chosen = self.mapping
        elif isinstance(value, PosList):
            chosen = self.sequence
        else:
            chosen = self.scalar
        if chosen is None:
            labels = [t.label for t in (self.scalar, self.sequence, self.mapping) if t]
            return self.wrong(value, chk, " or ".join(labels))
        return chosen.check(value, chk)

    def json_schema(self) -> dict[str, Any]:
        return {"anyOf": [t.json_schema() for t in (self.scalar, self.sequence, self.mapping) if t]}


@dataclass(frozen=True)
class Defer(Type):
    """A type defined later (recursive shapes such as steps)."""

    resolve: Any = field(default=None)

    def check(self, value: Any, chk: Checker) -> Any:
        return self.resolve().check(value, chk)

    def json_schema(self) -> dict[str, Any]:
        return {"$ref": "#/$defs/step"}


def text_copy(text: Text, value: str) -> Text:
    return make_text(value, text.pos, quoted=text.quoted, null=text.null)
