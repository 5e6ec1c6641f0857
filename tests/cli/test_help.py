"""Help that reads the same everywhere: placeholders in capitals, choices spelled out,
defaults stated."""

from __future__ import annotations

import re

import pytest

from devkit.cli import COMMAND_MODULES
from tests.clirun import run_devkit


@pytest.mark.parametrize("name", list(COMMAND_MODULES))
def test_placeholders_are_words_not_types(name: str) -> None:
    text = run_devkit([name, "--help"]).stdout
    assert not re.search(r"<(str|int|float|path|int range|text)>", text), text
    usage = text.splitlines()[0]
    assert "{" not in usage and not re.search(r"\[[a-z]+\]", usage), usage


def test_choices_and_defaults_are_in_the_help() -> None:
    sync = run_devkit(["sync", "--help"]).stdout
    assert "--mode rebase|merge|ff-only" in sync
    assert "at most 8" in sync
    extract = " ".join(run_devkit(["extract", "--help"]).stdout.split())
    for default in ("default 16G", "default 2000", "default 4G", "default 200000"):
        assert default in extract, default
    assert "-C, --dest DEST" in extract
