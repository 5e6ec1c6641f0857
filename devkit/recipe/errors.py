"""Recipe errors: diagnostics that point at `file:line:col`, collected and reported at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from devkit.errors import InvalidInput


class Position(NamedTuple):
    """A 1-based place in a recipe file (a tuple: cheap to make for every YAML node)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a recipe, with the source line it points at."""

    position: Position
    message: str
    source_line: str = ""

    def render(self) -> str:
        """`file:line:col: message`, then the offending line and a caret under the column."""
        text = f"{self.position}: {self.message}"
        if self.source_line.strip():
            line = self.source_line.rstrip("\n").replace("\t", " ")
            caret = " " * max(self.position.col - 1, 0) + "^"
            text += f"\n    {line}\n    {caret}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.position.file,
            "line": self.position.line,
            "col": self.position.col,
            "message": self.message,
        }


class RecipeInvalid(InvalidInput):
    """The recipe has one or more problems; nothing ran (exit 2)."""

    default_code = "invalid_recipe"

    def __init__(self, file: str, diagnostics: list[Diagnostic]) -> None:
        ordered = sorted(diagnostics, key=lambda d: (d.position, d.message))
        count = len(ordered)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"{file}: {count} {noun} in the recipe; nothing ran",
            hint="fix the lines shown above, then check with 'devkit run RECIPE --check'",
            details={"diagnostics": [d.to_json() for d in ordered]},
        )
        self.diagnostics = ordered
        self.file = file
