"""Variable scopes: `--var` > task vars > recipe vars > dotenv > the process environment.

Recipe and task variable values may use other variables (`{{ base }}/app`); they are
resolved on first use, with cycles reported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from devkit.recipe.template import Placeholder, parse_template, render_plain

# In a step with `for:`: the item, its file name, and its file name without the
# archive or file extension (`data/2024.tar.gz` -> `2024.tar.gz`, `2024`).
LOOP_NAMES = ("item", "item_name", "item_stem")
_MULTI_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz", ".tar.lzma")


def loop_value(name: str, item: str) -> str:
    if name == "item":
        return item
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
        builtins: Mapping[str, str],
        item: str | None = None,
    ) -> None:
        self.layers: list[tuple[Mapping[str, str], bool]] = [
            (cli, False),
            (task, True),
            (recipe, True),
            (builtins, False),
            (dotenv, False),
            (environ, False),
        ]
        self.environment = {**environ, **dotenv}
        self.item = item
        self._cache: dict[str, str] = {}
        self._resolving: list[str] = []

    def with_item(self, item: str | None) -> Scope:
        clone = Scope.__new__(Scope)
        clone.layers = self.layers
        clone.environment = self.environment
        clone.item = item
        clone._cache = self._cache
        clone._resolving = []
        return clone

    def knows(self, name: str) -> bool:
        return any(name in layer for layer, _ in self.layers)

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for layer, _ in self.layers[:4]:
            seen.update(dict.fromkeys(layer))
        return list(seen)

    def lookup(self, placeholder: Placeholder) -> str:
        name = placeholder.name
        if placeholder.env:
            if name not in self.environment:
                raise UndefinedVariable(placeholder.label)
            return self.environment[name]
        if name in LOOP_NAMES and self.item is not None:
            return loop_value(name, self.item)
        return self.value(name)

    def value(self, name: str) -> str:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        for layer, templated in self.layers:
            if name in layer:
                raw = str(layer[name])
                if not templated or "{{" not in raw:
                    return raw
                if name in self._resolving:
                    chain = [*self._resolving[self._resolving.index(name) :], name]
                    raise VariableCycle(chain)
                self._resolving.append(name)
                try:
                    rendered = render_plain(parse_template(raw), self.lookup)
                finally:
                    self._resolving.pop()
                self._cache[name] = rendered
                return rendered
        raise UndefinedVariable(name)

    def resolved(self) -> dict[str, Any]:
        """Every recipe-level name with its value (for --list and --dry-run)."""
        return {name: self.value(name) for name in self.names()}
