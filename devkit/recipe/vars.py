"""Variable scopes: a task's arguments > `--var` > task vars > recipe vars > dotenv >
the process environment.

Recipe and task variable values may use other variables (`{{ base }}/app`); they are
resolved on first use, with cycles reported. A value is text, a list or a mapping
(see vartypes.py); `lookup` hands out text only, `resolve` any value.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit.recipe.fields import Checker
from devkit.recipe.loader import PosDict, PosList, Text, load_yaml
from devkit.recipe.template import (
    Placeholder,
    Template,
    parse_template,
    render_plain,
    render_shell,
)
from devkit.recipe.vartypes import (
    FromCommand,
    FromEnv,
    MissingValue,
    ValueShapeError,
    VarValue,
    kind_of,
    not_a_loop,
    not_text,
    walk,
)

if TYPE_CHECKING:
    from devkit.recipe.computed import CommandValues
    from devkit.recipe.stepoutputs import StepOutputs

STEPS_ROOT = "steps"  # {{ steps.ID.stdout }}
STEP_FIELDS = ("stdout",)

# In a step with `for:`: the item, its file name, and its file name without the
# archive or file extension (`data/2024.tar.gz` -> `2024.tar.gz`, `2024`).
LOOP_NAMES = ("item", "item_name", "item_stem")
_MULTI_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz", ".tar.lzma")


def loop_value(name: str, item: Any) -> Any:
    if name == "item":
        return item
    if not isinstance(item, str):
        raise ValueShapeError(
            name, f"{{{{ {name} }}}} needs text items; this item is {kind_of(item)}"
        )
    base = os.path.basename(item.rstrip("/"))
    if name == "item_name":
        return base
    lowered = base.lower()
    for suffix in _MULTI_SUFFIXES:
        if lowered.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    stem, _ = os.path.splitext(base)
    return stem or base


class UndefinedVariable(KeyError):
    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


class VariableCycle(ValueError):
    def __init__(self, chain: list[str]) -> None:
        super().__init__(" -> ".join(chain))
        self.chain = chain


class Scope:
    """Looks names up through layers, highest precedence first; templates are rendered
    lazily (each layer's values may be templates), literal layers are used as they are."""

    def __init__(
        self,
        *,
        cli: Mapping[str, str],
        task: Mapping[str, str],
        recipe: Mapping[str, str],
        dotenv: Mapping[str, str],
        environ: Mapping[str, str],
        builtins: Mapping[str, Any],
        item: Any = None,
        commands: CommandValues | None = None,
        outputs: StepOutputs | None = None,
        args: Mapping[str, str] | None = None,
        namespace: str = "",
        directory: Path | None = None,
    ) -> None:
        self.layers: list[tuple[Mapping[str, Any], bool]] = [
            (args or {}, False),  # the task's positional arguments
            (cli, False),
            (task, True),
            (recipe, True),
            (builtins, False),
            (dotenv, False),
            (environ, False),
        ]
        self.environment = {**environ, **dotenv}
        # `{env: NAME}` variables read the process environment first, then dotenv.
        self.environment_first = {**dotenv, **environ}
        self.item = item
        # Runs `sh:` variables (None: checking or a dry run, where no command runs).
        self.commands = commands
        # The stdout of steps with an `id` (None: checking, where a stand-in is used).
        self.outputs = outputs
        # A task from an included file: its step ids' prefix, its folder (`sh:` runs there).
        self.namespace = namespace
        self.directory = directory
        self._cache: dict[str, Any] = {}
        self._resolving: list[str] = []

    def with_item(self, item: Any) -> Scope:
        clone = copy.copy(self)  # the same layers and cache
        clone.item = item
        clone._resolving = []
        return clone

    def knows(self, name: str) -> bool:
        return any(name in layer for layer, _ in self.layers)

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer, _ in self.layers[:5]:
            seen.update(dict.fromkeys(layer))
        return list(seen)

    def lookup(self, placeholder: Placeholder) -> str:
        """The text a placeholder stands for (a list or a mapping is an error)."""
        value = self.resolve(placeholder)
        if isinstance(value, str):
            return value
        raise not_text(placeholder.label, value)

    def resolve(self, placeholder: Placeholder) -> Any:
        """The value a placeholder stands for: text, a list or a mapping."""
        name = placeholder.name
        if placeholder.env:
            if name not in self.environment:
                raise UndefinedVariable(placeholder.label)
            return self.environment[name]
        if name == STEPS_ROOT and not self.knows(name):
            return self._step_output(placeholder)
        if name in LOOP_NAMES and self.item is not None:
            value = loop_value(name, self.item)
        else:
            value = self.value(name)
        return walk(value, placeholder.path, placeholder.label)

    def _step_output(self, placeholder: Placeholder) -> str:
        path, label = placeholder.path, placeholder.label
        if len(path) != 2 or path[1] not in STEP_FIELDS:
            raise ValueShapeError(label, f"{{{{ {label} }}}}: write {{{{ steps.ID.stdout }}}}")
        if self.outputs is None:
            return f"<stdout of step {path[0]!r}>"
        return self.outputs.stdout(self.namespace + path[0], label)

    def value(self, name: str) -> Any:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        for index, (layer, templated) in enumerate(self.layers):  # 1: --var
            if name not in layer:
                continue
            raw = layer[name]
            if not templated:
                if index == 1:
                    return self._given(name, raw)
                # host and vars (devkit's) are mappings; every other value is text
                return raw if isinstance(raw, Mapping) else str(raw)
            if name in self._resolving:
                chain = [*self._resolving[self._resolving.index(name) :], name]
                raise VariableCycle(chain)
            self._resolving.append(name)
            try:
                resolved = self._render(name, raw)
            finally:
                self._resolving.pop()
            self._cache[name] = resolved
            return resolved
        raise UndefinedVariable(name)

    def _render(self, name: str, raw: Any) -> Any:
        """A recipe value with the placeholders in its text filled in."""
        if isinstance(raw, Text) and raw.null:
            raise MissingValue(name)
        if isinstance(raw, FromEnv):
            if raw.variable in self.environment_first:
                text = self.environment_first[raw.variable]
                if isinstance(raw.default, (PosList, PosDict)):
                    return parse_given(name, text, raw.default, source=raw.variable)
                return text
            if raw.default is None:
                raise MissingValue(name, raw.variable)
            return self._render(name, raw.default)
        if isinstance(raw, FromCommand):
            script = render_shell(parse_template(str(raw.command)), self.lookup)
            if self.commands is None:
                return f"$({script.display})"
            return self.commands.value(name, raw, script, self.directory)
        if isinstance(raw, Mapping):
            return {key: self._render(name, item) for key, item in raw.items()}
        if isinstance(raw, (list, tuple)):
            return tuple(self._render(name, item) for item in raw)
        text = str(raw)
        return render_plain(parse_template(text), self.lookup) if "{{" in text else text

    def _given(self, name: str, text: Any) -> Any:
        """A --var value: text, unless the recipe declares the variable as a list or a
        mapping; then it is written in YAML's flow style (`[a, b]`, `{host: h}`)."""
        declared = next(
            (layer[name] for layer, templated in self.layers if templated and name in layer), None
        )
        if isinstance(declared, FromEnv):
            declared = declared.default
        if not isinstance(declared, (PosList, PosDict)):
            return str(text)
        cached = self._cache.get(name)
        if cached is None:
            cached = self._cache[name] = parse_given(name, str(text), declared)
        return cached

    def resolved(self) -> dict[str, Any]:
        """Every recipe-level name with its value (for --list and --dry-run)."""
        return {name: self.value(name) for name in self.names()}


def parse_given(name: str, text: str, declared: Any, *, source: str | None = None) -> Any:
    """A value given as text (--var, or the environment variable `source`) for a list or
    mapping variable: read as YAML flow style (`[a, b]`, `{host: h}`)."""
    example = "[web1, web2]" if isinstance(declared, PosList) else "{host: db1, port: 5432}"
    where = f"--var {name}" if source is None else f"environment variable {source}"
    written = f"--var '{name}={example}'" if source is None else f"{source}='{example}'"
    problem = ValueShapeError(
        name,
        f"{where}: {name} is {kind_of(declared)} in the recipe, so write its value in"
        f" YAML flow style: {written}",
    )
    root, loaded, diagnostics = load_yaml(text, name=where)
    if diagnostics or type(root) is not type(declared):
        raise problem
    chk = Checker(loaded)
    checked = VarValue().check(root, chk)
    if chk.diagnostics:
        raise ValueShapeError(name, f"{where}: {chk.diagnostics[0].message}")
    return _plain(checked)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(item) for item in value)
    return str(value)


def whole_value(template: Template) -> Placeholder | None:
    """The placeholder that is all of a text (`"{{ hosts }}"`), which may be a list."""
    parts = template.parts
    if len(parts) != 3 or str(parts[0]).strip() or str(parts[2]).strip():
        return None
    placeholder = parts[1]
    assert isinstance(placeholder, Placeholder)
    return None if placeholder.raw or placeholder.env else placeholder


def loop_items(template: Template, scope: Scope) -> list[Any] | None:
    """The items of `for: "{{ hosts }}"` when that one placeholder is a list; None when
    the text is a glob pattern."""
    placeholder = whole_value(template)
    if placeholder is None:
        return None
    value = scope.resolve(placeholder)
    if isinstance(value, Mapping):
        raise not_a_loop(placeholder.label)
    return list(value) if isinstance(value, (list, tuple)) else None
