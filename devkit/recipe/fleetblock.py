"""The `fleet:` block of a recipe (and of a task): how a fleet run spreads it over
hosts. `devkit run RECIPE --hosts/--inventory ...` reads it (devkit/fleet/batches.py
merges the recipe's, the task's and the command line's); a local run ignores it.

    fleet: {hosts: "web:&prod", forks: 20, serial: [1, "25%"], max_fail_percentage: 10}

- hosts: which hosts, a `--limit` pattern (devkit/fleet/hosts.py): names, groups,
  globs, `~regex`, `!` to remove, `&` to intersect;
- forks: at most this many hosts at once;
- serial: rolling batches: a number of hosts, a percentage of them ("25%", rounded
  down, at least 1), or a list of those whose last size repeats;
- max_fail_percentage: after each batch, stop when more than this percentage of hosts
  failed (0: any failure stops).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from devkit.recipe.errors import Position
from devkit.recipe.fields import INVALID, Checker, Field, Int, ListOf, Obj, OneOf, Type, describe
from devkit.recipe.loader import PosDict, Text

_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)%")
BatchSize = int | str  # a number of hosts, or a percentage of them ("25%")


@dataclass(frozen=True)
class FleetBlock:
    """A `fleet:` block as written (None: not given, a flag or a default decides)."""

    position: Position
    hosts: str | None = None
    forks: int | None = None
    serial: tuple[BatchSize, ...] | None = None
    max_fail_percentage: float | None = None

    def settings(self) -> dict[str, Any]:
        """The fields it sets, without where it was written."""
        fields = ("hosts", "forks", "serial", "max_fail_percentage")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


@dataclass(frozen=True)
class HostPattern(Type):
    label: str = "a host pattern like 'web:&prod' or 'web*,!web3'"

    def check(self, value: Any, chk: Checker) -> Any:
        from devkit.fleet.hosts import HostPatternError, select_hosts

        if not isinstance(value, Text) or value.null:
            return self.wrong(value, chk)
        try:
            select_hosts([], str(value))  # the grammar's checks need no hosts
        except HostPatternError as error:
            chk.error(value.pos, error.message)
            return INVALID
        return str(value)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


@dataclass(frozen=True)
class Batch(Type):
    label: str = 'a number of hosts (>= 1) or a percentage like "25%"'

    def check(self, value: Any, chk: Checker) -> Any:
        if not isinstance(value, Text) or value.null:
            return self.wrong(value, chk)
        match = _PERCENT.fullmatch(value)
        if match is not None:
            if not 0 < float(match.group(1)) <= 100:
                chk.error(value.pos, f"expected a percentage above 0% and up to 100%, got {value}")
                return INVALID
            return str(value)
        return Int(minimum=1, label=self.label).check(value, chk)

    def json_schema(self) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?%$"},
            ]
        }


@dataclass(frozen=True)
class Percentage(Type):
    label: str = "a percentage from 0 to 100"

    def check(self, value: Any, chk: Checker) -> Any:
        text = str(value).removesuffix("%") if isinstance(value, Text) else None
        if text is None or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
            return self.wrong(value, chk)
        if float(text) > 100:
            chk.error(value.pos, f"expected a percentage from 0 to 100, got {describe(value)}")
            return INVALID
        return float(text)

    def json_schema(self) -> dict[str, Any]:
        return {"type": "number", "minimum": 0, "maximum": 100}


FLEET = Obj(
    {
        "hosts": Field(
            HostPattern(),
            "Which hosts of the inventory: a --limit pattern (names, groups, globs,"
            " ~regex, !name to remove, &group to intersect).",
        ),
        "forks": Field(Int(minimum=1), "At most this many hosts at once (default 10)."),
        "serial": Field(
            OneOf(
                scalar=Batch(),
                sequence=ListOf(Batch(), min_items=1),
                label='a batch size (2, "25%") or a list of them',
            ),
            "Rolling batches: a number of hosts, a percentage of them (rounded down, at"
            " least 1), or a list whose last size repeats.",
        ),
        "max_fail_percentage": Field(
            Percentage(),
            "After each batch, stop when more than this percentage of its hosts failed"
            " (0: any failure stops).",
        ),
    },
    what="fleet block",
    description="How a fleet run (--hosts, --inventory) spreads this over hosts.",
)


def fleet_block(raw: Any) -> FleetBlock | None:
    """The checked `fleet:` mapping as a FleetBlock (None: no block)."""
    if not isinstance(raw, PosDict):
        return None
    serial = raw.get("serial")
    if serial is not None:
        serial = tuple(serial) if isinstance(serial, list) else (serial,)
    return FleetBlock(
        position=raw.pos,
        hosts=raw.get("hosts"),
        forks=raw.get("forks"),
        serial=serial,
        max_fail_percentage=raw.get("max_fail_percentage"),
    )


__all__ = ["FLEET", "BatchSize", "FleetBlock", "fleet_block"]
