"""Positional arguments: a task declares `args: [version, {name: env, default: staging}]`
and `devkit run deploy v1.2` binds `version` (and `env` to its default).

Several tasks on one command line are read the way `just` reads them: after a task
that declares arguments, the next words are its arguments, up to as many as it
declares (greedily: a word there is an argument even if a task has that name); the
word after them names the next task. An argument is a variable of its task only, and
ranks above every other source (it was given for this task, on this command line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from devkit.errors import InvalidInput
from devkit.recipe.fields import did_you_mean
from devkit.recipe.model import Recipe, Task


def usage(task: Task) -> str:
    """`deploy VERSION [ENV=staging]`."""
    words = [task.name]
    for arg in task.args:
        name = arg.name.upper()
        words.append(name if arg.default is None else f"[{name}={arg.default}]")
    return " ".join(words)


def bind_arguments(
    recipe: Recipe, words: Sequence[str]
) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    """The tasks named on the command line and the arguments given to each."""
    tasks: list[str] = []
    bound: dict[str, dict[str, str]] = {}
    index = 0
    previous: Task | None = None
    while index < len(words):
        name = words[index]
        task = recipe.tasks.get(name)
        if task is None:
            raise _unknown(recipe, name, previous)
        index += 1
        count = min(len(task.args), len(words) - index)
        bound[name] = _bind(task, words[index : index + count])
        index += count
        tasks.append(name)
        previous = task
    return tuple(tasks), bound


def _bind(task: Task, given: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for position, arg in enumerate(task.args):
        if position < len(given):
            values[arg.name] = given[position]
        elif arg.default is not None:
            values[arg.name] = arg.default
        else:
            raise InvalidInput(
                f"task {task.name!r} needs the argument {arg.name.upper()}",
                code="usage",
                hint=f"devkit run [RECIPE] {usage(task)}",
            )
    return values


def _unknown(recipe: Recipe, name: str, previous: Task | None) -> InvalidInput:
    hint = "see 'devkit run RECIPE --list'"
    if previous is not None and previous.args:
        count = len(previous.args)
        hint = f"task {previous.name!r} takes at most {count} argument(s): {usage(previous)}"
    elif previous is not None:
        hint = f"task {previous.name!r} takes no arguments; see 'devkit run RECIPE --list'"
    return InvalidInput(
        f"unknown task {name!r} in {recipe.name}" + did_you_mean(name, list(recipe.tasks)),
        code="unknown_task",
        hint=hint,
    )


def task_arguments(task: Task, given: Mapping[str, Mapping[str, str]]) -> Mapping[str, str]:
    """The arguments a task runs with: as given on the command line, else its defaults
    (InvalidInput when one without a default is missing)."""
    return given[task.name] if task.name in given else _bind(task, ())


__all__ = ["bind_arguments", "task_arguments", "usage"]
