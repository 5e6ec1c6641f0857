"""A step's output at volume: a 20 MB line without a newline goes through devkit whole,
byte for byte, with every secret masked, also where a read or a piece of the line cuts
it in two. (Speed and memory are measured by bench/recipe.py, not here.)"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from tests.recipe.conftest import devkit

SECRET = "pa$$-w0rd.*[x]"  # regex metacharacters on purpose
SIZE = 20_000_000

GENERATOR = f"""
import os, sys
secret = {SECRET!r}.encode()
size = {SIZE}
data = bytearray(b"0123456789abcdefghijklmnopqrstuvwxyz" * (size // 36 + 1))[:size]
# A secret across every 64 KiB boundary, shifted a little more each time, so that reads
# and pieces of the line cut it at every position.
for k in range(1, size // 65536):
    at = k * 65536 - k % (len(secret) + 1)
    data[at : at + len(secret)] = secret
sizes = [65536 - 7, 100_000, 4096, 1, 300_000, 65536]
view, i, n = memoryview(data), 0, 0
while i < len(data):
    step = sizes[n % len(sizes)]
    os.write(1, view[i : i + step])
    i, n = i + step, n + 1
"""


def _expected() -> bytes:
    namespace: dict[str, object] = {}
    code = GENERATOR.split("sizes =")[0]
    exec(code.replace("import os, sys", ""), namespace)  # the same data, not written
    data = bytes(namespace["data"])  # type: ignore[arg-type]
    return data.replace(SECRET.encode(), b"***")


def test_a_20mb_line_without_newline_passes_through_masked(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / "gen.py").write_text(GENERATOR)
    recipe(
        f"""
        secrets: [PASSWORD]
        tasks:
          t:
            - run: ["{sys.executable}", gen.py]
        """
    )
    log = tmp_path / "run.log"
    env = {**os.environ, "PASSWORD": SECRET, "NO_COLOR": "1"}
    result = devkit(["run", "--log", str(log)], tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = _expected()
    assert expected.count(b"***") > 250
    # stdout: one line, its indent, then the bytes as the step wrote them.
    stdout = result.stdout.encode()
    lines = [line for line in stdout.split(b"\n") if b"0123456789" in line]
    assert len(lines) == 1
    assert lines[0] == b"    " + expected
    # The log: the same line, marked as output.
    logged = [line for line in log.read_bytes().split(b"\n") if b"0123456789" in line]
    assert len(logged) == 1
    assert logged[0].split(b" [t] | ", 1)[1] == expected
    assert SECRET.encode() not in stdout + log.read_bytes() + result.stderr.encode()
