"""`includes: {db: db/tasks.yaml}`: the tasks of another recipe file, as `db:backup`.

An included file is a recipe of its own, checked on its own (its diagnostics name its
file), with paths relative to the including file. Its tasks keep what they had there:
its variables (which they see before the including recipe's), its `env`, its `timeout`,
their folder (relative paths, `recipe_dir`, `sh:` variables), their step ids (a step
output is seen within its file). Its `needs` and `task:` steps name its own tasks; the
including recipe names them with the prefix (`needs: [db:backup]`). Its dotenv values
and secrets join the run's (the including recipe's values win). An include cycle is an
error at the include that closes it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devkit.recipe.errors import Diagnostic, Position
from devkit.recipe.fields import INVALID, Checker, text_copy
from devkit.recipe.loader import Text, load_yaml, make_text
from devkit.recipe.model import Recipe, Step, Task

if TYPE_CHECKING:
    from devkit.recipe.validate import RecipeBuilder

NAMESPACE_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_-]*"


@dataclass
class Included:
    """What the included files add to the including recipe."""

    tasks: dict[str, Task] = field(default_factory=dict)
    dotenv_values: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    unset: dict[str | None, tuple[Diagnostic, ...]] = field(default_factory=dict)


def load_includes(builder: RecipeBuilder, includes: Mapping[str, Any]) -> Included:
    included = Included()
    for namespace, written in includes.items():
        if written is INVALID:
            continue  # not a file name: the schema reported it
        recipe = _load(builder, written)
        if recipe is not None:
            _add(included, namespace, recipe)
    return included


def _load(builder: RecipeBuilder, written: Text) -> Recipe | None:
    from devkit.recipe.schema import check_structure
    from devkit.recipe.validate import RecipeBuilder

    path = (builder.path.parent / str(written)).resolve()
    name = os.path.normpath(os.path.join(os.path.dirname(builder.name), str(written)))
    chain = [*builder.including, builder.path]
    if path in chain:
        cycle = " -> ".join(p.name for p in [*chain[chain.index(path) :], path])
        builder.error(written.pos, f"include cycle: {cycle}")
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        builder.error(written.pos, f"included recipe not found: {path}")
        return None
    except (OSError, UnicodeDecodeError) as error:
        builder.error(written.pos, f"cannot read included recipe {path}: {error}")
        return None
    root, source, diagnostics = load_yaml(text, name=name)
    chk = Checker(source)
    chk.diagnostics = builder.chk.diagnostics  # one list: every problem of every file
    chk.diagnostics.extend(diagnostics)
    if root is None:
        if not diagnostics:
            chk.error(Position(name, 1, 1), "the included recipe is empty")
        return None
    tree = check_structure(root, chk)
    if tree is None:
        return None
    nested = RecipeBuilder(
        path,
        name,
        chk,
        builder.cli_vars,
        builder.environ,
        including=tuple(chain),
        host=builder.host,
    )
    return nested.build(tree)


def _add(included: Included, namespace: str, recipe: Recipe) -> None:
    prefix = f"{namespace}:"
    for task in recipe.tasks.values():
        included.tasks[prefix + task.name] = _namespaced(task, prefix, recipe)
    for key, value in recipe.dotenv_values.items():
        included.dotenv_values.setdefault(key, value)
    included.secrets.extend(recipe.secrets)
    for task_name, uses in recipe.unset.items():
        names = list(recipe.tasks) if task_name is None else [task_name]
        for name in names:
            key = prefix + name
            included.unset[key] = (*included.unset.get(key, ()), *uses)


def _namespaced(task: Task, prefix: str, recipe: Recipe) -> Task:
    """The task as the including recipe sees it: renamed, with its file's variables,
    env, timeout and folder."""
    own_vars = {"recipe_dir": make_text(str(recipe.directory), task.position)}
    if task.directory is not None or task.namespace:
        own_vars = {}  # already namespaced by a nested include
    return dataclasses.replace(
        task,
        name=prefix + task.name,
        needs=tuple(_renamed(need, prefix) for need in task.needs),
        steps=tuple(_step(step, prefix) for step in task.steps),
        on_failure=tuple(_step(step, prefix) for step in task.on_failure),
        finally_=tuple(_step(step, prefix) for step in task.finally_),
        vars={**recipe.vars, **own_vars, **task.vars},
        env={**recipe.env, **task.env},
        timeout=task.timeout if task.timeout is not None else recipe.timeout,
        directory=task.directory or recipe.directory,
        namespace=prefix + task.namespace,
    )


def _step(step: Step, prefix: str) -> Step:
    if step.kind == "task":
        return dataclasses.replace(step, value=_renamed(step.value, prefix))
    return step


def _renamed(name: Any, prefix: str) -> Any:
    return text_copy(name, prefix + name) if isinstance(name, Text) else prefix + str(name)


__all__ = ["NAMESPACE_PATTERN", "Included", "load_includes"]
