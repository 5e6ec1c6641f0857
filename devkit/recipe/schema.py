"""The recipe format, written once: validation walks it and `--schema` prints it as
JSON Schema. Step kinds and their options come from the step registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from devkit.recipe.fields import (
    INVALID,
    Bool,
    Checker,
    Defer,
    Duration,
    Field,
    Int,
    ListOf,
    MapOf,
    Number,
    Obj,
    OneOf,
    Str,
    Type,
    did_you_mean,
    object_schema,
)
from devkit.recipe.fleetblock import FLEET
from devkit.recipe.loader import PosDict, Text
from devkit.recipe.steps import REGISTRY
from devkit.recipe.vartypes import VarValue

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
TASK_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.:-]*"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
PLATFORMS = ("linux", "darwin", "freebsd", "openbsd", "netbsd", "windows")

_TEXT = Str(template=True)
_TEXTS = ListOf(Str(template=True), single=True)
_VARS = MapOf(VarValue(), key_pattern=NAME)
_ENV = MapOf(_TEXT, key_pattern=ENV_NAME, key_label="an environment variable name")
# A timeout of 0 used to mean "no timeout" without a word: refused, with the fix.
_TIMEOUT = Duration(zero_refused="leave 'timeout' out for no timeout, or give one above zero")

COMMON_STEP_FIELDS: dict[str, Field] = {
    "name": Field(_TEXT, "A short name shown in the output and in errors."),
    "cwd": Field(_TEXT, "Working folder (relative to the recipe's folder)."),
    "env": Field(_ENV, "Extra environment variables for this step."),
    "timeout": Field(_TIMEOUT, "Stop the step (and all its processes) after this long."),
    "grace": Field(Duration(), "Wait between SIGINT, SIGTERM and SIGKILL when stopping."),
    "retry": Field(
        Obj(
            {
                "attempts": Field(Int(minimum=1), "How many attempts in all.", required=True),
                "delay": Field(Duration(), "Wait before the second attempt."),
                "backoff": Field(Number(), "Multiply the delay by this after each attempt."),
            },
            what="retry",
        ),
        "Run the step again when it fails.",
    ),
    "continue_on_error": Field(Bool(), "A failure of this step does not fail the task."),
    "if": Field(_TEXT, "Shell command; the step runs only when it exits 0."),
    "for": Field(
        OneOf(scalar=_TEXT, sequence=ListOf(_TEXT), label="a list or a glob pattern"),
        "Run the step once per item ({{ item }}): a list, or a glob pattern.",
    ),
    "platforms": Field(ListOf(Str(choices=PLATFORMS), single=True), "Run only on these."),
    "stdin": Field(Bool(), "Let the step read the terminal (stdin is closed by default)."),
    "id": Field(
        Str(pattern=NAME),
        "Keep the step's stdout for later steps as {{ steps.ID.stdout }} (unique in the recipe).",
    ),
}


@cache
def _step_shape(kind_key: str, variant: str | None) -> Obj:
    """The keys a step of this kind (and sub-command) accepts, built once."""
    kind = REGISTRY[kind_key]
    fields: dict[str, Field] = {kind.key: Field(kind.value, kind.description)}
    fields.update({k: f for k, f in COMMON_STEP_FIELDS.items() if k in kind.common})
    fields.update(kind.option_fields(variant))
    what = f"a {kind.key} {variant} step" if variant else f"a {kind.key} step"
    return Obj(fields, what=what)


@dataclass(frozen=True)
class StepType(Type):
    """A step: exactly one kind key (run, task, git, extract) decides which keys apply."""

    label: str = "a step"

    def check(self, value: Any, chk: Checker) -> Any:
        if isinstance(value, Text) and not value.null:
            # `- echo hi` is short for `- run: echo hi`.
            step = PosDict(run=value)
            step.pos, step.key_pos = value.pos, {"run": value.pos}
            value = step
        if not isinstance(value, PosDict):
            return self.wrong(value, chk, "a step (a mapping with run, task, git or extract)")
        kinds = [key for key in value if key in REGISTRY]
        if len(kinds) != 1:
            if kinds:
                message = f"a step has exactly one of {', '.join(REGISTRY)}; got {', '.join(kinds)}"
            else:
                guesses = "".join(did_you_mean(key, list(REGISTRY)) for key in value)
                message = f"a step needs one of {', '.join(REGISTRY)}" + (
                    guesses and f" ({guesses.lstrip('; ')})"
                )
            chk.error(value.pos, message)
            return INVALID
        kind = REGISTRY[kinds[0]]
        kind_value = kind.value.check(value[kind.key], chk)
        if kind_value is INVALID:
            return INVALID
        variant = str(kind_value) if kind.variants is not None else None
        shape = _step_shape(kind.key, variant)
        rest = PosDict((k, v) for k, v in value.items() if k != kind.key)
        rest.pos, rest.key_pos = value.pos, value.key_pos
        checked = shape.check_keys(rest, chk, shape.fields)
        checked[kind.key] = kind_value
        checked.kind = kind.key
        return checked

    def json_schema(self) -> dict[str, Any]:
        variants: list[dict[str, Any]] = [
            {"type": "string", "description": "Shell text: short for {run: TEXT}."}
        ]
        for kind in REGISTRY.values():
            common = {k: f for k, f in COMMON_STEP_FIELDS.items() if k in kind.common}
            names = list(kind.variants) if kind.variants is not None else [None]
            for variant in names:
                value_schema = (
                    {"const": variant} if variant is not None else kind.value.json_schema()
                )
                fields = {**common, **kind.option_fields(variant)}
                doc = object_schema(
                    fields,
                    kind.description,
                    extra={kind.key: {**value_schema, "description": kind.description}},
                )
                doc["required"] = [kind.key, *doc.get("required", [])]
                variants.append(doc)
        return {"oneOf": variants}


STEP = StepType()
STEPS = ListOf(Defer(resolve=lambda: STEP))

REQUIRE = OneOf(
    scalar=_TEXT,
    mapping=Obj(
        {
            "run": Field(_TEXT, "Shell command that must exit 0.", required=True),
            "message": Field(Str(), "What to tell the user when it does not."),
        },
        what="requirement",
    ),
    label="a shell check",
)

LOCK = OneOf(
    scalar=_TEXT,
    mapping=Obj(
        {
            "path": Field(_TEXT, "The lock file.", required=True),
            "wait": Field(Duration(), "How long to wait for another run (default: fail at once)."),
        },
        what="lock",
    ),
    label="a lock file path",
)

TASK_FIELDS: dict[str, Field] = {
    "desc": Field(Str(), "What the task does (shown by --list)."),
    "vars": Field(_VARS, "Variables for this task (override the recipe's): text, lists, mappings."),
    "env": Field(_ENV, "Environment variables for this task's steps."),
    "needs": Field(ListOf(Str(), single=True), "Tasks that run first, in order."),
    "parallel": Field(Bool(), "Run the needed tasks concurrently (capped by -j)."),
    "sources": Field(_TEXTS, "Input files (globs): skip the task when they are unchanged."),
    "outputs": Field(_TEXTS, "Output files (globs) that must exist and be unchanged to skip."),
    "lock": Field(LOCK, "A lock file: a second run fails (or waits), never overlaps."),
    "confirm": Field(Str(), "Ask this question first; refused without a terminal unless --yes."),
    "requires": Field(ListOf(REQUIRE, single=True), "Shell checks that must pass first."),
    "steps": Field(STEPS, "The steps, in order."),
    "on_failure": Field(STEPS, "Steps run when a step failed or the run was interrupted."),
    "finally": Field(STEPS, "Steps run at the end whatever happened."),
    "platforms": Field(ListOf(Str(choices=PLATFORMS), single=True), "Run only on these."),
    "timeout": Field(_TIMEOUT, "Default timeout of this task's steps."),
    "secrets": Field(
        ListOf(Str(pattern=ENV_NAME), single=True),
        "Environment variables only this task needs and sees, masked as *** everywhere.",
    ),
    "args": Field(
        ListOf(
            OneOf(
                scalar=Str(pattern=NAME, label="an argument name"),
                mapping=Obj(
                    {
                        "name": Field(
                            Str(pattern=NAME, label="an argument name"), "", required=True
                        ),
                        "default": Field(Str(), "The value when the argument is not given."),
                    },
                    what="argument",
                ),
                label="an argument",
            ),
            single=True,
        ),
        "Positional arguments: `devkit run TASK ARG...` binds them as variables of this task.",
    ),
    "if": Field(
        _TEXT,
        "Shell command run after the needs: the task runs only when it exits 0; otherwise"
        " it is skipped, successfully (nothing to do), and tasks that need it still run.",
    ),
    "fleet": Field(FLEET, "Fleet settings for this task (override the recipe's)."),
}
TASK = OneOf(
    mapping=Obj(TASK_FIELDS, what="task", extensions=True),
    sequence=STEPS,
    label="a task (a mapping, or a list of steps)",
)

RECIPE_FIELDS: dict[str, Field] = {
    "version": Field(Int(minimum=1), "Recipe format version: 1."),
    "description": Field(Str(), "What the recipe is for."),
    "vars": Field(
        _VARS, "Variables: {{ name }} in the recipe's text; a value may be a list or a mapping."
    ),
    "env": Field(_ENV, "Environment variables for every step."),
    "dotenv": Field(ListOf(Str(), single=True), "KEY=VALUE files to read; 'file?' is optional."),
    "secrets": Field(
        ListOf(Str(pattern=ENV_NAME), single=True),
        "Environment variables whose values are masked as *** everywhere.",
    ),
    "tasks": Field(
        MapOf(TASK, key_pattern=TASK_NAME, key_label="a task name"),
        "The tasks.",
        required=True,
    ),
    "default": Field(Str(), "The task run when none is named."),
    "grace": Field(Duration(), "Default wait between SIGINT, SIGTERM and SIGKILL (5s)."),
    "timeout": Field(_TIMEOUT, "Default timeout of every step."),
    "includes": Field(
        MapOf(Str(), key_pattern=r"[A-Za-z0-9_][A-Za-z0-9_-]*", key_label="a namespace"),
        "Other recipe files, relative to this one: includes: {db: db.yaml} adds its"
        " tasks as db:TASK.",
    ),
    "log": Field(
        _TEXT,
        "Append the full log (timestamps, secrets masked) to this file, relative to the"
        " recipe's folder; --log overrides it.",
    ),
    "fleet": Field(
        FLEET,
        "On a fleet run (--hosts, --inventory): which hosts, how many at once, rolling"
        " batches and the failure threshold; command-line flags override it.",
    ),
}
RECIPE = Obj(RECIPE_FIELDS, what="the recipe", extensions=True)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a recipe, for editors (yaml-language-server)."""
    doc = RECIPE.json_schema()
    # Scalars the loader keeps as text may be written as YAML numbers/booleans.
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:devkit:recipe-schema:1",
        "title": "devkit recipe",
        **doc,
        "$defs": {"step": STEP.json_schema()},
    }


def check_structure(root: Any, chk: Checker) -> Mapping[str, Any] | None:
    """Check the recipe's shape; returns the typed tree or None (diagnostics recorded)."""
    if not isinstance(root, PosDict):
        from devkit.recipe.errors import Position

        pos = getattr(root, "pos", None) or Position(chk.source.name, 1, 1)
        chk.error(pos, "a recipe is a mapping with 'tasks:' (and optionally vars, env, ...)")
        return None
    checked = RECIPE.check(root, chk)
    if checked is INVALID:
        return None
    return checked  # type: ignore[no-any-return]


__all__ = ["COMMON_STEP_FIELDS", "check_structure", "json_schema"]
