from __future__ import annotations

from pathlib import Path

import pytest

from tests.gitrepos import Remote, make_remote


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    """A bare remote with one commit on main."""
    return make_remote(tmp_path / "net", {"README.md": "hello\n", "app.txt": "1\n2\n3\n4\n5\n"})
