"""`devkit man`: the manual page is built from the commands' own help and renders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devkit.cli import COMMAND_MODULES, build_command
from tests.clirun import run_devkit

ROOT = Path(__file__).resolve().parents[2]


def test_man_prints_every_command_and_option() -> None:
    result = run_devkit(["man"])
    assert result.returncode == 0, result.stderr
    page = result.stdout
    assert page.startswith(".TH DEVKIT 1 ")
    for name in COMMAND_MODULES:
        assert f".SS devkit {name}\n" in page
        for param in build_command(name).params:
            if getattr(param, "hidden", False):
                continue  # a machine's option (run --fleet-stdin), not a person's
            for option in getattr(param, "opts", []):
                if option.startswith("-"):
                    assert option.replace("-", "\\-") in page, (name, option)


def test_the_committed_page_is_current() -> None:
    page = run_devkit(["man"]).stdout
    assert (ROOT / "docs" / "devkit.1").read_text() == page, (
        "regenerate: devkit man > docs/devkit.1"
    )


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff renders man pages")
def test_the_page_renders_without_warnings() -> None:
    page = run_devkit(["man"]).stdout
    rendered = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-P", "-cbou"],
        input=page,
        capture_output=True,
        text=True,
        check=True,
    )
    assert rendered.stderr == ""
    assert "devkit sync" in rendered.stdout
    assert "EXIT STATUS" in rendered.stdout
