"""Which secrets a run needs, and which a task sees.

`secrets:` at the top of a recipe names environment variables every task gets; a
task's own `secrets:` names variables only that task gets. A run needs the secrets of
the tasks it may reach (and the recipe's): a task that does not use a secret neither
needs it set nor sees it in its environment or in `{{ env.NAME }}`. `--dry-run`
needs none: a secret that is not set gets a placeholder (masked like a real value).
Every declared secret that is set is masked, whichever task declared it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from devkit.errors import InvalidInput
from devkit.recipe.model import Recipe, Task


def placeholder(name: str) -> str:
    """The value --dry-run uses for a secret that is not set."""
    return f"<secret {name}>"


def task_secrets(recipe: Recipe) -> set[str]:
    """Secrets declared by tasks only (not at the top of the recipe)."""
    return {name for task in recipe.tasks.values() for name in task.secrets} - set(recipe.secrets)


def hidden_from(recipe: Recipe, task: Task | None) -> frozenset[str]:
    """The secrets `task` (None: the recipe's own vars and env) must not see."""
    return frozenset(task_secrets(recipe) - set(task.secrets if task else ()))


def without(values: Mapping[str, str], hidden: Iterable[str]) -> dict[str, str]:
    names = set(hidden)
    return {key: value for key, value in values.items() if key not in names}


@dataclass(frozen=True)
class RunSecrets:
    values: list[str]  # every value to mask
    placeholders: dict[str, str]  # name -> placeholder, for secrets --dry-run lacks


def run_secrets(
    recipe: Recipe, environment: Mapping[str, str], planned: Iterable[str], *, dry_run: bool
) -> RunSecrets:
    """The values to mask; raises InvalidInput for a secret the run needs that is not
    set (unless this is a dry run, which gets placeholders)."""
    needed = dict.fromkeys(recipe.secrets)
    for name in planned:
        needed.update(dict.fromkeys(recipe.tasks[name].secrets))
    missing = [name for name in needed if name not in environment]
    if missing and not dry_run:
        raise InvalidInput(
            f"secret {', '.join(missing)} is not set in the environment",
            code="missing_secret",
            hint="export it (or put it in the recipe's dotenv file) before running",
        )
    declared = {*recipe.secrets, *task_secrets(recipe)}
    values = [environment[name] for name in declared if name in environment]
    placeholders = {name: placeholder(name) for name in missing}
    return RunSecrets([*values, *placeholders.values()], placeholders)


__all__ = ["RunSecrets", "hidden_from", "placeholder", "run_secrets", "task_secrets", "without"]
