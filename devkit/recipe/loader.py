"""Load YAML strictly, keeping the line and column of every value.

Scalars stay the text they were written as (`on`, `no`, `0755`, `1.10` are strings):
only the schema turns a scalar into a number, a boolean or a duration, where it asks
for one. Duplicate keys are errors. The result is plain Python containers whose
values carry positions (`Text`, `PosDict`, `PosList`), so later checks can point at
`file:line:col`. PyYAML's C composer is used when available (about 10x faster).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devkit.recipe.errors import Diagnostic, Position


class Text(str):
    """A scalar from the recipe: a string that knows where it was written."""

    __slots__ = ("null", "pos", "quoted")

    pos: Position
    quoted: bool
    null: bool


class PosDict(dict[str, Any]):
    """A mapping from the recipe; `key_pos` holds where each key was written."""

    pos: Position
    key_pos: dict[str, Position]


class PosList(list[Any]):
    """A sequence from the recipe."""

    pos: Position


_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_MERGE_KEY = "<<"


def make_text(value: str, pos: Position, *, quoted: bool = False, null: bool = False) -> Text:
    text = Text(value)
    text.pos = pos
    text.quoted = quoted
    text.null = null
    return text


class SourceFile:
    """The text of a recipe file, for showing the offending line next to a diagnostic."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.lines = text.splitlines()

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""

    def diagnostic(self, pos: Position, message: str) -> Diagnostic:
        return Diagnostic(pos, message, self.line(pos.line))


class _Builder:
    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        # Aliases share one node; building it once keeps "billion laughs" documents small.
        self._built: dict[int, Any] = {}

    def pos(self, node: Any) -> Position:
        mark = node.start_mark
        return Position(self.source.name, mark.line + 1, mark.column + 1)

    def error(self, pos: Position, message: str) -> None:
        self.diagnostics.append(self.source.diagnostic(pos, message))

    def build(self, node: Any) -> Any:
        built = self._built.get(id(node))
        if built is None:
            built = self._built[id(node)] = self._build(node)
        return built

    def _build(self, node: Any) -> Any:
        import yaml

        pos = self.pos(node)
        tag = node.tag or ""
        if tag.startswith("!") and not tag.startswith("!!"):
            self.error(pos, f"unsupported YAML tag {tag!r}")
        if isinstance(node, yaml.ScalarNode):
            style = node.style
            quoted = style not in (None, "")
            null = not quoted and node.value in _NULLS
            return make_text(node.value, pos, quoted=quoted, null=null)
        if isinstance(node, yaml.SequenceNode):
            seq = PosList(self.build(item) for item in node.value)
            seq.pos = pos
            return seq
        mapping = PosDict()
        mapping.pos = pos
        mapping.key_pos = {}
        merged: list[PosDict] = []
        for key_node, value_node in node.value:
            key_pos = self.pos(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_pos, "a key must be a plain string")
                continue
            key = key_node.value
            if key == _MERGE_KEY and key_node.style in (None, ""):
                value = self.build(value_node)
                sources = value if isinstance(value, list) else [value]
                for source in sources:
                    if isinstance(source, PosDict):
                        merged.append(source)
                    else:
                        self.error(key_pos, "'<<' merges only mappings")
                continue
            if key in mapping.key_pos:
                first = mapping.key_pos[key]
                self.error(key_pos, f"duplicate key {key!r} (first defined at line {first.line})")
                continue
            mapping.key_pos[key] = key_pos
            mapping[key] = self.build(value_node)
        for source in merged:
            for key, value in source.items():
                if key not in mapping.key_pos:
                    mapping.key_pos[key] = source.key_pos[key]
                    mapping[key] = value
        return mapping


def load_yaml(text: str, *, name: str) -> tuple[Any, SourceFile, list[Diagnostic]]:
    """Parse YAML text into positioned values; problems come back as diagnostics."""
    import yaml

    source = SourceFile(name, text)
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader_class)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context or "invalid YAML"
        diagnostic = source.diagnostic(Position(name, line, col), f"invalid YAML: {problem}")
        return None, source, [diagnostic]
    except yaml.YAMLError as error:
        return None, source, [source.diagnostic(Position(name, 1, 1), f"invalid YAML: {error}")]
    if root is None:
        return None, source, []
    builder = _Builder(source)
    return builder.build(root), source, builder.diagnostics


def read_recipe_text(path: Path) -> str:
    from devkit.errors import InvalidInput

    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(
            f"recipe not found: {path}",
            code="recipe_not_found",
            hint="pass the recipe's path, or create devkit.yaml in this folder",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(
            f"cannot read recipe {path}: {error}", code="recipe_unreadable", hint=None
        ) from None
