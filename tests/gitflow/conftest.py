from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitflow.holdgit import HeldRun
from tests.gitrepos import Remote, make_remote


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """A bare remote with one commit on main."""
    return make_remote(tmp_path / "net", {"README.md": "hello\n", "app.txt": "1\n2\n3\n4\n5\n"})


@pytest.fixture
def runs() -> Iterator[list[HeldRun]]:
    """devkit processes started with a held git; each is released and reaped after the
    test, whatever happened."""
    started: list[HeldRun] = []
    yield started
    for run in started:
        run.close()
