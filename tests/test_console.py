from __future__ import annotations

import io
import json

from devkit.console import Console, printable
from devkit.errors import InvalidInput


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
    console.emit("demo", data={"x": 1}, exit_code=2, errors=[problem])
    console.emit("demo", data={"x": 2}, exit_code=0)
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


def test_plain_table_and_error_line_when_not_a_terminal() -> None:
    out, err = io.StringIO(), io.StringIO()
    console = Console(stdout=out, stderr=err)
    console.table(["name", "size"], [["a\x1b[31m", 1], ["bb", 22]])
    console.error(InvalidInput("nope", hint="try again"))
    assert out.getvalue().splitlines() == ["name       size", "a\\x1b[31m  1", "bb         22"]
    assert err.getvalue() == "devkit: error: nope (hint: try again)\n"
