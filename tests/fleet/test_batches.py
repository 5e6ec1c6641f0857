"""Rolling batches, the failure threshold and the recipe's `fleet:` block."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit.errors import InvalidInput
from devkit.fleet.batches import (
    DEFAULT_FORKS,
    FleetSettings,
    batches,
    fleet_settings,
    threshold_reached,
)
from devkit.recipe.errors import RecipeInvalid
from devkit.recipe.validate import load_recipe

sizes = st.one_of(
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=1, max_value=100).map(lambda n: f"{n}%"),
    st.sampled_from(["12.5%", "0.5%", "99.9%"]),
)


def expected_size(size: int | str, total: int) -> int:
    if isinstance(size, str):
        return max(1, math.floor(float(size[:-1]) * total / 100 + 1e-9))
    return size


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    hosts=st.lists(st.integers(), max_size=60, unique=True),
    serial=st.one_of(st.none(), sizes, st.lists(sizes, min_size=1, max_size=4)),
)
def test_batches_partition_the_hosts_in_order(
    hosts: list[int], serial: int | str | list[int | str] | None
) -> None:
    result = batches(hosts, serial)
    assert [host for batch in result for host in batch] == hosts
    assert all(result), "no empty batch"
    if serial is None:
        assert result == ([hosts] if hosts else [])
        return
    listed = serial if isinstance(serial, list) else [serial]
    for index, batch in enumerate(result):
        size = expected_size(listed[min(index, len(listed) - 1)], len(hosts))
        if index < len(result) - 1:
            assert len(batch) == size
        else:  # the last batch takes what is left
            assert 1 <= len(batch) <= size


@pytest.mark.parametrize(
    ("serial", "total", "expected"),
    [
        (None, 5, [5]),
        (2, 5, [2, 2, 1]),
        ("25%", 10, [2, 2, 2, 2, 2]),  # 2.5 rounded down
        ("10%", 5, [1, 1, 1, 1, 1]),  # 0.5: at least 1
        ([1, "25%"], 9, [1, 2, 2, 2, 2]),  # a canary, then quarters of all 9
        ([1, 3, 10], 20, [1, 3, 10, 6]),
        ("100%", 7, [7]),
        (3, 0, []),
    ],
)
def test_batch_examples(serial: object, total: int, expected: list[int]) -> None:
    assert [len(b) for b in batches(list(range(total)), serial)] == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failed", "total", "threshold", "reached"),
    [
        (1, 10, 10, False),  # exactly the threshold: goes on (Ansible: exceeds)
        (2, 10, 10, True),
        (1, 3, 33.3, True),
        (1, 3, 33.4, False),
        (0, 10, 0, False),
        (1, 100, 0, True),  # 0: any failure stops
        (5, 5, 100, False),  # 100: never stops
        (3, 10, None, False),  # no threshold
        (0, 0, 0, False),
    ],
)
def test_threshold_is_exceeded_not_reached(
    failed: int, total: int, threshold: float | None, reached: bool
) -> None:
    assert threshold_reached(failed, total, threshold) is reached


# -- the recipe's fleet: block ---------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "devkit.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_fleet_block_of_recipe_and_task(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        fleet: {hosts: "web:&prod", forks: 20, serial: [1, "25%"], max_fail_percentage: 10}
        tasks:
          deploy:
            fleet: {forks: 5}
            steps: [echo deploy]
          restart:
            fleet: {forks: 5}
            steps: [echo restart]
          check: [echo check]
        """,
    )
    recipe = load_recipe(path)
    deploy = fleet_settings(recipe, ["deploy"])
    assert deploy == FleetSettings("web:&prod", 5, (1, "25%"), 10.0)
    assert fleet_settings(recipe, ["deploy", "restart"]) == deploy
    assert fleet_settings(recipe, ["check"]).forks == 20
    with pytest.raises(InvalidInput, match="'deploy' and 'check' have different 'fleet:'"):
        fleet_settings(recipe, ["deploy", "check"])


def test_no_fleet_block_gives_the_defaults(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, "tasks:\n  a: [echo a]\n"))
    assert fleet_settings(recipe, []) == FleetSettings(forks=DEFAULT_FORKS)


@pytest.mark.parametrize(
    ("block", "col", "message"),
    [
        ("{forks: 0}", 16, "expected a number >= 1, got 0"),
        ("{forks: many}", 16, "expected a whole number"),
        ("{serial: 0}", 17, "expected a number >= 1, got 0"),
        ('{serial: "0%"}', 17, "above 0% and up to 100%"),
        ('{serial: "150%"}', 17, "above 0% and up to 100%"),
        ("{serial: []}", 17, "at least 1 item"),
        ('{serial: [1, "x"]}', 21, "a percentage like"),
        ("{max_fail_percentage: 101}", 30, "from 0 to 100"),
        ("{max_fail_percentage: -1}", 30, "expected a percentage"),
        ('{hosts: "web,&"}', 16, "empty after '!' or '&'"),
        ('{hosts: "~[unclosed"}', 16, "invalid regular expression"),
        ("{fork: 3}", 9, "unknown key 'fork' in fleet block; did you mean 'forks'?"),
    ],
)
def test_fleet_block_problems_at_their_position(
    tmp_path: Path, block: str, col: int, message: str
) -> None:
    path = write(tmp_path, f"tasks:\n  a: [echo a]\nfleet: {block}\n")
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path)
    (diagnostic,) = caught.value.diagnostics
    assert message in diagnostic.message
    assert (diagnostic.position.line, diagnostic.position.col) == (3, col)


def test_task_fleet_block_is_checked_too(tmp_path: Path) -> None:
    path = write(tmp_path, "tasks:\n  a:\n    fleet: {forks: -2}\n    steps: [echo a]\n")
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.position.line == 3
