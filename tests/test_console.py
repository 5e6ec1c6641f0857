from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from devkit.console import CommandResult, Console, printable
from devkit.errors import Interrupted, InterruptSignal, InvalidInput, OperationFailed


def test_printable_escapes_terminal_control_sequences() -> None:
    assert printable("evil\x1b]0;title\x07name") == "evil\\x1b]0;title\\x07name"
    assert printable("a\nb\tc") == "a\\nb\\tc"
    assert printable("caf\udce9") == "caf\\udce9"
    assert printable("plain é") == "plain é"


def test_json_mode_writes_exactly_one_envelope_and_nothing_else() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(json_mode=True, stdout=out, stderr=err)
    console.line("human text")
    console.table(["a"], [["1"]])
    problem = InvalidInput("bad thing", code="bad_thing", hint="do it right")
    exit_code = console.render(CommandResult.failure("demo", problem, data={"x": 1}))
    assert exit_code == 2
    doc = json.loads(out.getvalue())
    assert doc == {
        "devkit": 1,
        "command": "demo",
        "ok": False,
        "exit_code": 2,
        "data": {"x": 1},
        "errors": [
            {"code": "bad_thing", "message": "bad thing", "hint": "do it right", "details": {}}
        ],
    }
    assert err.getvalue() == "devkit: error: bad thing (hint: do it right)\n"
    assert list(doc) == sorted(doc)  # keys sorted: a stable document to diff


def test_human_mode_renders_one_line_per_error_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    errors = (
        OperationFailed("a.zip is corrupt", code="corrupt_archive", details={"archive": "a"}),
        InvalidInput("b.txt is not an archive", hint="pass an archive"),
    )
    result = CommandResult("extract", {"results": []}, errors=errors, exit_code=1)
    assert Console(stdout=out, stderr=err).render(result) == 1
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        "devkit: error: a.zip is corrupt",
        "devkit: error: b.txt is not an archive (hint: pass an archive)",
    ]


def test_a_failure_without_data_carries_the_error_details_as_data() -> None:
    problem = InvalidInput("bad recipe", code="invalid_recipe", details={"diagnostics": [1]})
    result = CommandResult.failure("run", problem)
    assert result.data == {"diagnostics": [1]}
    assert result.exit_code == 2 and not result.ok


def test_interrupted_errors_carry_the_signal_and_its_exit_code() -> None:
    error = Interrupted.from_signal(InterruptSignal(signal.SIGTERM))
    assert error.exit_code == 143
    assert error.to_json() == {
        "code": "interrupted",
        "message": "interrupted (SIGTERM)",
        "hint": None,
        "details": {"signal": "SIGTERM"},
    }


class _GoneTerminal(io.StringIO):
    """A stream that fails as a terminal does after SIGHUP (EIO)."""

    def __init__(self, *, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        raise OSError(errno.EIO, "Input/output error")

    def flush(self) -> None:
        raise OSError(errno.EIO, "Input/output error")


@pytest.mark.parametrize("tty", [False, True], ids=["plain", "rich"])
def test_no_write_raises_when_the_terminal_is_gone(
    tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out, err = _GoneTerminal(tty=tty), _GoneTerminal(tty=tty)
    console = Console(stdout=out, stderr=err)
    assert console.styled is tty
    console.line("a line")
    console.outcome(True, "styled")
    console.warn("a warning")
    console.table(["name"], [["x"]], title="t")
    with console.live_status() as status:
        status.update("working")
        console.line("above the status")
    with console.progress("bytes", 10) as bar:
        bar.advance(5)
    with console.progress("items", 3, unit="repositories") as bar:
        bar.advance(1)
    problem = OperationFailed("it failed", hint="try again")
    assert console.render(CommandResult.failure("demo", problem)) == 1
    assert Console(json_mode=True, stdout=out, stderr=err).render(CommandResult("x")) == 0


def test_plain_table_and_error_line_when_not_a_terminal() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(stdout=out, stderr=err)
    console.table(["name", "size"], [["a\x1b[31m", 1], ["bb", 22]])
    console.render(CommandResult.failure("demo", InvalidInput("nope", hint="try again")))
    assert out.getvalue().splitlines() == ["name       size", "a\\x1b[31m  1", "bb         22"]
    assert err.getvalue() == "devkit: error: nope (hint: try again)\n"


def test_a_broken_stdout_does_not_change_the_exit_code() -> None:
    """After EPIPE (or EIO) the descriptor points at /dev/null, so that output still
    buffered when the interpreter exits cannot turn exit code 5 into 1 or 120."""
    code = (
        "import sys\n"
        "from devkit.console import Console\n"
        "sys.stdin.read()  # until the reader below has gone\n"
        "Console().line('first')\n"
        "sys.stdout.write('left in the buffer at exit')\n"
        "sys.exit(5)\n"
    )
    reader, writer = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=writer, stderr=subprocess.PIPE
    )
    os.close(writer)
    os.close(reader)
    _, stderr = process.communicate(b"", timeout=30)
    assert process.returncode == 5, stderr
    assert b"Exception ignored" not in stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _progress_text(monkeypatch: pytest.MonkeyPatch, total: int, **unit: str) -> str:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    err = _Terminal()
    console = Console(stdout=io.StringIO(), stderr=err)
    with console.progress("working", total, **unit) as bar:
        bar.advance(total // 2)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err.getvalue())  # colours and cursor moves


def test_a_progress_bar_of_bytes_shows_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "2.0/4.0 MB" in _progress_text(monkeypatch, 4_000_000)


def test_a_progress_bar_of_items_counts_them(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _progress_text(monkeypatch, 6, unit="repositories")
    assert "3/6 repositories" in text
    assert "B" not in text and "?" not in text  # no byte sizes, no rate
