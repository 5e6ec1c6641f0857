"""What a variable's value may be (`vars:` of the recipe and of a task): text, a list
or a mapping of values (data), nothing (null: the value must come from `--var`), or a
definition: `{env: NAME, default: ...}` reads an environment variable (the process
environment, then dotenv files), falling back to the default; `{sh: COMMAND}` is the
output of a command, run only when the value is first needed (see computed.py).

Data is reached with a path (`{{ db.host }}`, `{{ hosts.0 }}`) and a list is iterated
with `for: "{{ hosts }}"`; wherever text is needed, a list or a mapping is an error
that says how to pick one value (never a Python repr pasted into a command).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devkit.recipe.errors import Position
from devkit.recipe.fields import (
    INVALID,
    Bool,
    Checker,
    Duration,
    Field,
    Obj,
    Str,
    Type,
    did_you_mean,
)
from devkit.recipe.loader import PosDict, PosList, Text

_KEY = r"[A-Za-z_][A-Za-z0-9_]*"


def kind_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "text"


class ValueShapeError(ValueError):
    """A value used where its shape does not fit; `label` names the placeholder."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(message)
        self.label = label


class MissingValue(ValueShapeError):
    """A variable written as null (`name:` or `name: ~`), or read from an environment
    variable that is not set and has no default: it must be given with --var."""

    def __init__(self, name: str, environment_variable: str | None = None) -> None:
        if environment_variable is None:
            message = (
                f"variable {name!r} has no value (it is null in the recipe): pass --var"
                f' {name}=VALUE (write "" in the recipe for an empty string)'
            )
        else:
            message = (
                f"variable {name!r} comes from the environment variable"
                f" {environment_variable}, which is not set and has no default: export"
                f" {environment_variable}, or pass --var {name}=VALUE"
            )
        super().__init__(name, message)


@dataclass(frozen=True)
class FromEnv:
    """`{env: NAME, default: VALUE}`: --var, then the environment, then dotenv files,
    then the default (None: there is none)."""

    variable: str
    default: Any
    position: Position


@dataclass(frozen=True)
class FromCommand:
    """`{sh: COMMAND}`: the command's standard output, trailing newlines stripped."""

    command: Text
    secret: bool
    timeout: float | None
    position: Position


def not_text(label: str, value: Any) -> ValueShapeError:
    """The error for a list or mapping used where text is needed."""
    if isinstance(value, Mapping):
        keys = list(value)
        pick = f"pick a key: {{{{ {label}.{keys[0]} }}}}" if keys else "it is empty"
        return ValueShapeError(label, f"{{{{ {label} }}}} is a mapping, not text; {pick}")
    return ValueShapeError(
        label,
        f'{{{{ {label} }}}} is a list, not text; iterate it with for: "{{{{ {label} }}}}"'
        f" (then {{{{ item }}}}), or pick one item: {{{{ {label}.0 }}}}",
    )


def not_a_loop(label: str) -> ValueShapeError:
    return ValueShapeError(
        label, f"for: {{{{ {label} }}}} is a mapping; 'for' takes a list or a glob pattern"
    )


class Described(dict[str, Any]):
    """A mapping that says where it comes from ("host web01") when a key is missing:
    the same recipe is checked once per host of a fleet."""

    def __init__(self, items: Mapping[str, Any], origin: str) -> None:
        super().__init__(items)
        self.origin = origin


def _origin(value: Any) -> str:
    origin = getattr(value, "origin", None)
    return f" for {origin}" if origin else ""


def walk(value: Any, path: Sequence[str], label: str) -> Any:
    """The part of a value a path leads to (`db` + `host` -> db's host)."""
    reached = label.split(".")[0] if path else label
    for key in path:
        if isinstance(value, Mapping):
            if key not in value:
                raise ValueShapeError(
                    label,
                    f"{{{{ {label} }}}}: {reached} has no key {key!r}"
                    + (did_you_mean(key, list(value)) or f" (keys: {', '.join(value) or 'none'})")
                    + _origin(value),
                )
            value = value[key]
        elif isinstance(value, (list, tuple)):
            if not key.isdigit() or int(key) >= len(value):
                raise ValueShapeError(
                    label,
                    f"{{{{ {label} }}}}: {reached} is a list of {len(value)} item(s);"
                    f" {key!r} is not one of its indexes (0, 1, ...)",
                )
            value = value[int(key)]
        else:
            raise ValueShapeError(
                label, f"{{{{ {label} }}}}: {reached} is text, so it has no {key!r}"
            )
        reached = f"{reached}.{key}"
    return value


def map_text(value: Any, convert: Callable[[str], str]) -> Any:
    """The same value with every text in it converted (masking, display)."""
    if isinstance(value, Mapping):
        return {key: map_text(item, convert) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [map_text(item, convert) for item in value]
    return convert(str(value))


def unresolved(raw: Any) -> Any:
    """How to show a variable whose value is not known (yet): None for null."""
    if isinstance(raw, Text) and raw.null:
        return None
    if isinstance(raw, FromEnv):
        return f"${raw.variable} (not set)"
    if isinstance(raw, FromCommand):
        return f"$({raw.command})"
    return map_text(raw, str)


def display(value: Any) -> str:
    """One line for a value: text as it is, data as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(map_text(value, str), ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True)
class VarValue(Type):
    """A variable's value: text (templates allowed), a list, a mapping (keys are names,
    so that a path reaches each), or null at the top (the value must come from --var)."""

    top: bool = True
    label: str = "a value (text, a list or a mapping)"

    def check(self, value: Any, chk: Checker) -> Any:
        if self.top and isinstance(value, PosDict) and DEFINITION_KEYS.intersection(value):
            return self._definition(value, chk)
        if isinstance(value, PosList):
            return self._list(value, chk)
        if isinstance(value, PosDict):
            return self._mapping(value, chk)
        if isinstance(value, Text) and value.null:
            if self.top:
                return value
            chk.error(
                value.pos,
                'expected a value, got nothing (null) inside a list or mapping; write "" for'
                " an empty string",
            )
            return INVALID
        return _TEXT.check(value, chk)

    def _list(self, value: PosList, chk: Checker) -> Any:
        result = PosList()
        result.pos = value.pos
        for item in value:
            checked = _DATA.check(item, chk)
            if checked is INVALID:
                return INVALID
            result.append(checked)
        return result

    def _mapping(self, value: PosDict, chk: Checker) -> Any:
        result = PosDict()
        result.pos, result.key_pos = value.pos, value.key_pos
        ok = True
        for key, item in value.items():
            if not re.fullmatch(_KEY, key):
                chk.error(
                    value.key_pos[key],
                    f"invalid key {key!r}: expected a name (letters, digits, _), so that"
                    " {{ var.key }} can reach it",
                )
                ok = False
                continue
            checked = _DATA.check(item, chk)
            ok = ok and checked is not INVALID
            result[key] = checked
        return result if ok else INVALID

    def _definition(self, value: PosDict, chk: Checker) -> Any:
        """A mapping with `env:` or `sh:` defines where the value comes from (it is
        not data)."""
        if "env" in value and "sh" in value:
            chk.error(value.pos, "a variable comes from 'env' or from 'sh', not both")
            return INVALID
        if "sh" in value:
            checked = SH_FORM.check(value, chk)
            if "sh" not in checked:
                return INVALID
            return FromCommand(
                checked["sh"], checked.get("secret", False), checked.get("timeout"), value.pos
            )
        checked = ENV_FORM.check(value, chk)
        if "env" not in checked:
            return INVALID
        return FromEnv(str(checked["env"]), checked.get("default"), value.pos)

    def json_schema(self) -> dict[str, Any]:
        definitions = [ENV_FORM.json_schema(), SH_FORM.json_schema()] if self.top else []
        return {
            "anyOf": [
                *definitions,
                {"type": ["string", "number", "boolean", "null"]},
                {"type": "array", "description": 'A list: for: "{{ name }}" iterates it.'},
                {
                    "type": "object",
                    "propertyNames": {"pattern": f"^{_KEY}$"},
                    "description": "A mapping: {{ name.key }} reaches a value.",
                },
            ]
        }


_TEXT = Str(template=True)
_DATA = VarValue(top=False)
# A mapping with one of these keys is a definition, not data.
DEFINITION_KEYS = frozenset({"env", "sh"})
ENV_FORM = Obj(
    {
        "env": Field(
            Str(pattern=r"[A-Za-z_][A-Za-z0-9_]*", label="an environment variable name"),
            "The environment variable (or dotenv key) to read.",
            required=True,
        ),
        "default": Field(_DATA, "The value when the environment variable is not set."),
    },
    what="a variable read from the environment",
    description="Read from the environment (then dotenv files), else the default;"
    " --var still wins.",
)
SH_FORM = Obj(
    {
        "sh": Field(
            Str(template=True),
            "Shell text (bash, in the recipe's folder) whose output is the value.",
            required=True,
        ),
        "secret": Field(Bool(), "Mask the value as *** everywhere, like a secret."),
        "timeout": Field(Duration(), "Stop the command after this long (default 1m)."),
    },
    what="a variable computed by a command",
    description="The command's output, trailing newlines stripped; run at most once per"
    " run, only when the value is used.",
)


__all__ = [
    "FromCommand",
    "FromEnv",
    "MissingValue",
    "ValueShapeError",
    "VarValue",
    "display",
    "kind_of",
    "map_text",
    "not_a_loop",
    "not_text",
    "unresolved",
    "walk",
]
