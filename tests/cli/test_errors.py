"""The two error boundaries: DevkitError at the command, everything else in main()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# A throwaway app wired exactly like devkit's commands, run as a real process so the
# exit code and streams are the ones a shell sees.
SCRIPT = textwrap.dedent(
    """
    import sys
    from devkit.cli import app
    from devkit.cli.common import JsonOption, run_command
    from devkit.console import CommandResult
    from devkit.errors import InvalidInput

    @app.command()
    def boom(kind: str, json_output: JsonOption = False) -> CommandResult:
        '''Fail in the way the test asks.'''
        def body(console):
            if kind == "expected":
                raise InvalidInput("the thing is wrong", code="thing_wrong", hint="fix the thing")
            if kind == "interrupt":
                raise KeyboardInterrupt
            if kind == "ok":
                console.line("all good")
                return CommandResult("boom", {"answer": 42})
            raise RuntimeError("unexpected bug")
        return run_command("boom", json_mode=json_output, body=body)

    from devkit.__main__ import main
    sys.exit(main())
    """
)


def run_boom(*args: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    env_prefix = {"DEVKIT_DEBUG": "1"} if debug else {}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, "boom", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env_prefix},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_success_prints_human_output_and_exits_0() -> None:
    process = run_boom("ok")
    assert process.returncode == 0
    assert process.stdout == "all good\n"


def test_success_in_json_mode_is_one_envelope() -> None:
    process = run_boom("ok", "--json")
    assert process.returncode == 0
    doc = json.loads(process.stdout)
    assert doc == {
        "command": "boom",
        "data": {"answer": 42},
        "devkit": 1,
        "errors": [],
        "exit_code": 0,
        "ok": True,
    }


def test_expected_error_is_one_line_with_hint_and_its_exit_code() -> None:
    process = run_boom("expected")
    assert process.returncode == 2
    assert process.stdout == ""
    assert process.stderr == "devkit: error: the thing is wrong (hint: fix the thing)\n"


def test_expected_error_in_json_mode() -> None:
    process = run_boom("expected", "--json")
    assert process.returncode == 2
    doc = json.loads(process.stdout)
    assert doc["ok"] is False
    assert doc["errors"] == [
        {
            "code": "thing_wrong",
            "message": "the thing is wrong",
            "hint": "fix the thing",
            "details": {},
        }
    ]


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_unexpected_exception_is_exit_3_without_traceback(json_flag: list[str]) -> None:
    process = run_boom("bug", *json_flag)
    assert process.returncode == 3
    assert "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unexpected bug" in lines[0]
    assert "DEVKIT_DEBUG=1" in lines[0]
    if json_flag:
        assert json.loads(process.stdout)["exit_code"] == 3


def test_debug_shows_the_traceback() -> None:
    process = run_boom("bug", debug=True)
    assert process.returncode != 0
    assert "Traceback" in process.stderr


def test_keyboard_interrupt_exits_130() -> None:
    process = run_boom("interrupt")
    assert process.returncode == 130
    assert "Traceback" not in process.stderr
    assert "interrupted" in process.stderr
