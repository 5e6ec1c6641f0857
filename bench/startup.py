"""Start-up cost of devkit against `python -c "import typer"`, measured in the same run.

Targets: `devkit --version` at most 1.3x and every `--help` at most 2.5x the cost of
importing Typer. Prints medians (ms) and ratios; exits 1 when a target is missed.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15


def median_ms(argv: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def subcommands() -> list[list[str]]:
    from devkit.cli import app

    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    groups = [g.name for g in app.registered_groups if g.name]
    return [[name] for name in sorted(set(names + groups))]


def main() -> int:
    python = sys.executable
    baseline = median_ms([python, "-c", "import typer"])
    cases: list[tuple[str, list[str], float]] = [
        ("devkit --version", ["--version"], 1.3),
        ("devkit --help", ["--help"], 2.5),
    ]
    cases += [(f"devkit {' '.join(c)} --help", [*c, "--help"], 2.5) for c in subcommands()]
    print(f"{'case':<34} {'median ms':>10} {'ratio':>7} {'target':>7}")
    print(f"{'python -c import typer':<34} {baseline:>10.1f} {1.0:>7.2f}")
    missed = 0
    script = Path(sys.executable).parent / "devkit"
    devkit = [str(script)] if script.exists() else [shutil.which("devkit") or "devkit"]
    for label, args, target in cases:
        ms = median_ms([*devkit, *args])
        ratio = ms / baseline
        flag = "" if ratio <= target else "  MISSED"
        missed += bool(flag)
        print(f"{label:<34} {ms:>10.1f} {ratio:>7.2f} {target:>6.1f}x{flag}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
