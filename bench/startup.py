"""Start-up cost of devkit against `python -c "import typer"`, measured in the same run.

Targets: `devkit --version` at most 1.3x and every `--help` at most 2x the cost of
importing Typer. Help is plain text when stdout is a pipe and rich panels on a terminal,
so each `--help` is timed both ways (the terminal case through a pseudo-terminal).
Prints medians (ms) and ratios; exits 1 when a target is missed.
"""

from __future__ import annotations

import os
import pty
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

RUNS = 15
# Users' Pythons write bytecode caches; a machine that sets PYTHONDONTWRITEBYTECODE would
# make every run compile devkit's modules from source and time that instead.
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


def run_once(argv: list[str], *, terminal: bool) -> float:
    if not terminal:
        start = time.perf_counter()
        subprocess.run(
            argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=BENCH_ENV
        )
        return time.perf_counter() - start
    leader, follower = pty.openpty()
    reader = threading.Thread(target=_drain, args=(leader,), daemon=True)
    reader.start()
    env = {k: v for k, v in BENCH_ENV.items() if k != "NO_COLOR"}
    env.setdefault("TERM", "xterm-256color")
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=follower, stderr=follower, env=env)
    elapsed = time.perf_counter() - start
    os.close(follower)
    reader.join(timeout=5)
    os.close(leader)
    return elapsed


def median_ms(argv: list[str], *, terminal: bool = False) -> float:
    run_once(argv, terminal=terminal)  # writes the bytecode caches, like a first use
    return statistics.median(run_once(argv, terminal=terminal) * 1000 for _ in range(RUNS))


def main() -> int:
    from devkit.cli import COMMAND_MODULES

    python = sys.executable
    script = Path(sys.executable).parent / "devkit"
    devkit = [str(script)] if script.exists() else [shutil.which("devkit") or "devkit"]
    baseline = median_ms([python, "-c", "import typer"])
    cases: list[tuple[str, list[str], float, bool]] = [("--version", ["--version"], 1.3, False)]
    for terminal in (False, True):
        cases.append(("--help", ["--help"], 2.0, terminal))
        cases += [(f"{name} --help", [name, "--help"], 2.0, terminal) for name in COMMAND_MODULES]
    print(f"{'devkit ...':<26} {'output':<9} {'median ms':>10} {'ratio':>7} {'target':>7}")
    print(f"{'python -c import typer':<26} {'':<9} {baseline:>10.1f} {1.0:>7.2f}")
    missed = 0
    for label, args, target, terminal in cases:
        ms = median_ms([*devkit, *args], terminal=terminal)
        ratio = ms / baseline
        flag = "" if ratio <= target else "  MISSED"
        missed += bool(flag)
        where = "terminal" if terminal else "pipe"
        print(f"{label:<26} {where:<9} {ms:>10.1f} {ratio:>7.2f} {target:>6.1f}x{flag}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
