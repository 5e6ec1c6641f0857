"""Rolling batches and the failure threshold of a fleet run, with Ansible's meaning:

- `batches(hosts, serial)`: no serial, one batch of every host; a number, batches of
  that many; a percentage ("25%"), that share of all the hosts, rounded down but at
  least 1; a list, one batch per size, the last size repeating until the hosts run out
  (`[1, "25%"]`: a canary, then quarters).
- `threshold_reached(failed, total, max_fail_percentage)`: the run stops when the
  failed share EXCEEDS the threshold (10 with 1 failure in 10 hosts goes on; 0 stops on
  any failure), as Ansible's max_fail_percentage does. The controller checks it after
  each batch.
- `fleet_settings(recipe, tasks)`: the recipe's `fleet:` block overlaid by the block of
  the task(s) run; the controller then overlays the command line's flags.

Pure functions: no I/O, no printing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TypeVar

from devkit.errors import InvalidInput
from devkit.recipe.fleetblock import BatchSize, FleetBlock
from devkit.recipe.model import Recipe

T = TypeVar("T")
DEFAULT_FORKS = 10


@dataclass(frozen=True)
class FleetSettings:
    """A fleet run's settings before the command line's flags (None: not given)."""

    hosts: str | None = None
    forks: int = DEFAULT_FORKS
    serial: tuple[BatchSize, ...] | None = None
    max_fail_percentage: float | None = None


def batch_size(size: BatchSize, total: int) -> int:
    """Hosts in a batch of `size` (a number, or "N%" of `total`, rounded down, >= 1)."""
    if isinstance(size, str):
        share = Fraction(size.removesuffix("%")) * total / 100
        return max(1, math.floor(share))
    if size < 1:
        raise ValueError(f"a batch size is at least 1, got {size}")
    return size


def batches(hosts: Sequence[T], serial: BatchSize | Sequence[BatchSize] | None) -> list[list[T]]:
    """The hosts, in order, cut into rolling batches (see the module's docstring)."""
    if serial is None or (not isinstance(serial, (int, str)) and not serial):
        return [list(hosts)] if hosts else []
    sizes = [serial] if isinstance(serial, (int, str)) else list(serial)
    total = len(hosts)
    result: list[list[T]] = []
    start = 0
    while start < total:
        size = batch_size(sizes[min(len(result), len(sizes) - 1)], total)
        result.append(list(hosts[start : start + size]))
        start += size
    return result


def threshold_reached(failed: int, total: int, max_fail_percentage: float | None) -> bool:
    """More than `max_fail_percentage` percent of `total` hosts failed (None: no
    threshold; 0: any failure)."""
    if max_fail_percentage is None or total <= 0:
        return False
    return Fraction(failed * 100, total) > Fraction(str(max_fail_percentage))


def fleet_settings(recipe: Recipe, tasks: Sequence[str]) -> FleetSettings:
    """The recipe's `fleet:` block overlaid by the task's (`tasks`: those named on the
    command line; none: the default task). Tasks whose settings differ cannot run in
    one fleet run: InvalidInput (exit 2) says which."""
    names = list(tasks) or [name for name in [recipe.default_task()] if name]
    chosen: dict[str, FleetSettings] = {}
    for name in names:
        task = recipe.tasks.get(name)
        block = task.fleet if task is not None else None
        chosen[name] = _overlay(_overlay(FleetSettings(), recipe.fleet), block)
    distinct = list(dict.fromkeys(chosen.values()))
    if len(distinct) > 1:
        first, other = (next(n for n in chosen if chosen[n] == s) for s in distinct[:2])
        raise InvalidInput(
            f"tasks {first!r} and {other!r} have different 'fleet:' settings",
            code="usage",
            hint="run them in separate fleet runs, or give them the same 'fleet:' block",
        )
    return distinct[0] if distinct else _overlay(FleetSettings(), recipe.fleet)


def _overlay(settings: FleetSettings, block: FleetBlock | None) -> FleetSettings:
    return replace(settings, **block.settings()) if block is not None else settings


__all__ = [
    "DEFAULT_FORKS",
    "FleetSettings",
    "batch_size",
    "batches",
    "fleet_settings",
    "threshold_reached",
]
