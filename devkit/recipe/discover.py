"""Finding the recipe when none is named, and naming its tasks for shell completion.

Like `just` and `task`, `devkit run` without a recipe looks for `devkit.yaml` (then
`devkit.yml`) in the current folder and then in each parent, so a recipe at the top of
a project serves every folder below it. Steps still run in the recipe's own folder.
"""

from __future__ import annotations

import os
from pathlib import Path

RECIPE_NAMES = ("devkit.yaml", "devkit.yml")


def find_recipe(start: Path) -> Path | None:
    """The nearest `devkit.yaml`/`devkit.yml` in `start` or above it, or None; relative
    to `start` (`devkit.yaml`, `../../devkit.yaml`), as messages should name it."""
    folder = start.absolute()
    for candidate in (folder, *folder.parents):
        for name in RECIPE_NAMES:
            path = candidate / name
            if path.is_file():
                return Path(os.path.relpath(path, folder))
    return None


def task_names(path: Path) -> list[tuple[str, str]]:
    """(name, description) of the recipe's tasks, read without validating the recipe.

    Completion must answer in a few milliseconds and never run anything, so this reads
    only the YAML (no variables computed, no checks); a broken file completes nothing."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    tasks = document.get("tasks") if isinstance(document, dict) else None
    if not isinstance(tasks, dict):
        return []
    names = []
    for name, body in tasks.items():
        desc = body.get("desc") if isinstance(body, dict) else None
        names.append((str(name), desc if isinstance(desc, str) else ""))
    return names
