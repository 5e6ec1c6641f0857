"""YAML recipes: load and check a recipe completely (every problem at its
`file:line:col`), then run it with process groups, timeouts, retries, cleanup and
secret masking. Core code: no printing, no Typer; the CLI is devkit/cli/run.py.

    recipe = load_recipe(Path("deploy.yaml"), cli_vars={"release": "v2"})
    report = run_recipe(recipe, RunOptions(tasks=("deploy",)), observer)
    report.exit_code, report.to_json()

Importing the package is cheap: names load their modules on first use, so that
checking a recipe does not pay for the runner's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devkit.lazy import lazy_attributes

if TYPE_CHECKING:
    from devkit.recipe.errors import Diagnostic, Position, RecipeInvalid
    from devkit.recipe.report import RunReport, StepRecord, TaskRecord
    from devkit.recipe.runner import RunObserver, RunOptions, run_recipe
    from devkit.recipe.schema import json_schema
    from devkit.recipe.validate import load_recipe

_LAZY = {
    "Diagnostic": "devkit.recipe.errors",
    "Position": "devkit.recipe.errors",
    "RecipeInvalid": "devkit.recipe.errors",
    "RunReport": "devkit.recipe.report",
    "StepRecord": "devkit.recipe.report",
    "TaskRecord": "devkit.recipe.report",
    "RunObserver": "devkit.recipe.runner",
    "RunOptions": "devkit.recipe.runner",
    "run_recipe": "devkit.recipe.runner",
    "json_schema": "devkit.recipe.schema",
    "load_recipe": "devkit.recipe.validate",
}

__all__ = [
    "Diagnostic",
    "Position",
    "RecipeInvalid",
    "RunObserver",
    "RunOptions",
    "RunReport",
    "StepRecord",
    "TaskRecord",
    "json_schema",
    "load_recipe",
    "run_recipe",
]


__getattr__ = lazy_attributes(__name__, _LAZY)
