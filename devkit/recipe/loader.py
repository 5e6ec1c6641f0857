"""Load YAML strictly, keeping the line and column of every value.

Scalars stay the text they were written as (`on`, `no`, `0755`, `1.10` are strings):
only the schema turns a scalar into a number, a boolean or a duration, where it asks
for one. Duplicate keys are errors. The result is plain Python containers whose
values carry positions (`Text`, `PosDict`, `PosList`), so later checks can point at
`file:line:col`. PyYAML's C composer is used when available (about 10x faster).
"""

from __future__ import annotations

from collections.abc import Callable
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
# Explicit tags a recipe may carry: YAML's own for text, lists and mappings (and the
# plain scalar types, which stay text: the schema decides). `!!python/object`, `!env`
# and every other tag ask a loader for behaviour devkit does not have: refused.
_STANDARD = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    {"!", *(_STANDARD + name for name in ("str", "seq", "map", "int", "float", "bool", "null"))}
)
# Deeper nesting than any recipe needs; refused before it can exhaust Python's stack.
MAX_NESTING = 100
NUL_MESSAGE = "a NUL character cannot be passed to a program, a path or the environment"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_STANDARD) :] if tag.startswith(_STANDARD) else tag


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
        self.too_deep = False

    def error(self, pos: Position, message: str) -> None:
        self.diagnostics.append(self.source.diagnostic(pos, message))

    def build(self, node: Any) -> Any:
        """Positioned values for a composed node (the hot path of validation)."""
        import yaml

        name = self.source.name
        built_nodes = self._built
        scalar_class, sequence_class = yaml.ScalarNode, yaml.SequenceNode
        nulls = _NULLS
        build_mapping = self._build_mapping

        allowed_tags = _ALLOWED_TAGS

        def build(node: Any, depth: int = 0) -> Any:
            built = built_nodes.get(id(node))
            if built is not None:
                return built
            mark = node.start_mark
            pos = Position(name, mark.line + 1, mark.column + 1)
            if node.tag not in allowed_tags:
                self.error(pos, f"YAML tag {_short_tag(node.tag)!r} is not allowed in a recipe")
            if depth > MAX_NESTING:
                if not self.too_deep:  # once: its siblings are as deep
                    self.too_deep = True
                    self.error(pos, f"nested more than {MAX_NESTING} levels deep")
                return make_text("", pos, null=True)
            cls = node.__class__
            if cls is scalar_class:
                value = node.value
                quoted = bool(node.style)
                result: Any = Text(value)
                result.pos = pos
                result.quoted = quoted
                result.null = not quoted and value in nulls
                if "\0" in value:
                    self.error(pos, NUL_MESSAGE)
            elif cls is sequence_class:
                result = PosList([build(item, depth + 1) for item in node.value])
                result.pos = pos
            else:
                result = build_mapping(node, pos, lambda item: build(item, depth + 1), scalar_class)
            built_nodes[id(node)] = result
            return result

        return build(node)

    def _build_mapping(
        self, node: Any, pos: Position, build: Callable[[Any], Any], scalar_class: Any
    ) -> PosDict:
        name = self.source.name
        mapping = PosDict()
        mapping.pos = pos
        key_positions: dict[str, Position] = {}
        mapping.key_pos = key_positions
        merged: list[PosDict] = []
        for key_node, value_node in node.value:
            mark = key_node.start_mark
            key_pos = Position(name, mark.line + 1, mark.column + 1)
            if key_node.__class__ is not scalar_class:
                self.error(key_pos, "a key must be a plain string")
                continue
            if key_node.tag not in _ALLOWED_TAGS:
                self.error(
                    key_pos, f"YAML tag {_short_tag(key_node.tag)!r} is not allowed in a recipe"
                )
            key = key_node.value
            if "\0" in key:
                self.error(key_pos, NUL_MESSAGE)
            if key == _MERGE_KEY and not key_node.style:
                merged.extend(self._merge_sources(build(value_node), key_pos))
                continue
            if key in key_positions:
                first = key_positions[key]
                self.error(key_pos, f"duplicate key {key!r} (first defined at line {first.line})")
                continue
            key_positions[key] = key_pos
            mapping[key] = build(value_node)
        for source in merged:
            for key, value in source.items():
                if key not in key_positions:
                    key_positions[key] = source.key_pos[key]
                    mapping[key] = value
        return mapping

    def _merge_sources(self, value: Any, key_pos: Position) -> list[PosDict]:
        """The mappings a `<<` key merges in (a mapping or a list of them)."""
        sources = value if isinstance(value, list) else [value]
        mappings: list[PosDict] = []
        for source in sources:
            if isinstance(source, PosDict):
                mappings.append(source)
            else:
                self.error(key_pos, "'<<' merges only mappings")
        return mappings


_LOADER: Any = None


def _loader_class() -> Any:
    """PyYAML's C parser and composer, without tag resolution: every scalar stays text
    (the schema decides what is a number or a boolean), and skipping the per-scalar
    Python resolver roughly halves the time to compose a large recipe."""
    global _LOADER
    if _LOADER is None:
        import yaml

        parser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)
        bases = (
            (parser,)
            if parser is not None
            else (
                yaml.reader.Reader,
                yaml.scanner.Scanner,
                yaml.parser.Parser,
                yaml.composer.Composer,
            )
        )
        tags = {
            yaml.ScalarNode: "tag:yaml.org,2002:str",
            yaml.SequenceNode: "tag:yaml.org,2002:seq",
            yaml.MappingNode: "tag:yaml.org,2002:map",
        }

        class RecipeLoader(*bases, yaml.resolver.BaseResolver):  # type: ignore[misc]
            def __init__(self, stream: str) -> None:
                if parser is not None:
                    parser.__init__(self, stream)
                else:
                    yaml.reader.Reader.__init__(self, stream)
                    yaml.scanner.Scanner.__init__(self)
                    yaml.parser.Parser.__init__(self)
                    yaml.composer.Composer.__init__(self)
                yaml.resolver.BaseResolver.__init__(self)

            def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
                return tags[kind]

            def descend_resolver(self, current_node: Any, current_index: Any) -> None:
                pass

            def ascend_resolver(self) -> None:
                pass

        _LOADER = RecipeLoader
    return _LOADER


def load_yaml(text: str, *, name: str) -> tuple[Any, SourceFile, list[Diagnostic]]:
    """Parse YAML text into positioned values; problems come back as diagnostics."""
    import yaml

    source = SourceFile(name, text)
    try:
        loader = _loader_class()(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = error.problem or error.context or "invalid YAML"
        diagnostic = source.diagnostic(Position(name, line, col), f"invalid YAML: {problem}")
        return None, source, [diagnostic]
    except yaml.YAMLError as error:
        return None, source, [source.diagnostic(Position(name, 1, 1), f"invalid YAML: {error}")]
    except RecursionError:  # PyYAML's pure-Python composer, without libyaml's own limit
        message = f"invalid YAML: nested more than {MAX_NESTING} levels deep"
        return None, source, [source.diagnostic(Position(name, 1, 1), message)]
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
            hint="pass the recipe's path, or create devkit.yaml (looked here and in parents)",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(
            f"cannot read recipe {path}: {error}", code="recipe_unreadable", hint=None
        ) from None
