"""Isolation for every test: no test reads or writes the real home or git config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n"
        "\tname = Devkit Tester\n"
        "\temail = tester@example.com\n"
        "[init]\n"
        "\tdefaultBranch = main\n"
        '[protocol "file"]\n'
        "\tallow = always\n"
        "[commit]\n"
        "\tgpgsign = false\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    for variable in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "DEVKIT_DEBUG"):
        monkeypatch.delenv(variable, raising=False)
    yield home
    assert os.environ["HOME"] == str(home)
