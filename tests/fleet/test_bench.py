"""bench/fleet.py runs end to end on a tiny fleet, so the script cannot rot unnoticed.
Timing targets are the script's business (a 2-host round on a busy machine may miss
them): here only that it runs, measures every contender and exits 0 or 1 cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.fleet.sshd import sshd_available

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sshd_available(), reason="needs OpenSSH's sshd"),
]


def test_fleet_benchmark_runs_on_two_hosts() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet.py"), "--hosts", "2", "--rounds", "1",
         "--rss-hosts", "1,2", "--no-ansible"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    rows = ("ssh loop (sequential", "multiplexed ssh fan-out", "each host running its devkit",
            "peak RSS", "load after")  # fmt: skip
    for row in rows:
        assert row in out, out
    assert "trivial step (echo hi), 2 hosts" in out
    assert "sync a checkout + unpack a ~5 MB release, 2 hosts" in out
    has_fleet_runs = "--hosts" in run_devkit(["run", "--help"], env={"COLUMNS": "200"}).stdout
    if has_fleet_runs:
        assert "devkit run --hosts (warm)" in out, out
        assert "devkit / fan-out" in out
    else:
        assert "devkit rows skipped" in out
        assert done.returncode == 1
