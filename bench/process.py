"""What devkit's process layer costs per child, against subprocess.run on the same
commands in the same run.

Every child devkit starts leads its own process group, is registered with the guard
that stops it if devkit is SIGKILLed, and is supervised for deadlines and signals. This
measures that overhead for a trivial program (`true`) and a typical git call
(`git rev-parse HEAD` in a fresh repository). Target: at most 1.25x subprocess.run.
Prints medians (ms) and ratios; exits 1 when a target is missed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from devkit import process

RUNS = 200
TARGET = 1.25


def median_ms(call: Callable[[], object]) -> float:
    call()  # warm-up (the guard starts with the first child)
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    with tempfile.TemporaryDirectory() as repo:
        subprocess.run(["git", "init", "-q", repo], check=True)
        identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        empty_commit = ["commit", "-q", "--allow-empty", "-m", "x"]
        subprocess.run(["git", "-C", repo, *identity, *empty_commit], check=True)
        cases = [
            ("true", ["true"]),
            ("git rev-parse HEAD", ["git", "-C", repo, "rev-parse", "HEAD"]),
        ]
        print(f"{'command':<22} {'subprocess ms':>14} {'devkit ms':>10} {'ratio':>7} {'target':>7}")
        missed = 0
        for label, argv in cases:
            native = median_ms(
                lambda argv=argv: subprocess.run(
                    argv, capture_output=True, stdin=subprocess.DEVNULL, check=False
                )
            )
            ours = median_ms(lambda argv=argv: process.run_captured(argv, timeout=60))
            ratio = ours / native
            flag = "" if ratio <= TARGET else "  MISSED"
            missed += bool(flag)
            print(f"{label:<22} {native:>14.2f} {ours:>10.2f} {ratio:>7.2f} {TARGET:>6.2f}x{flag}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
