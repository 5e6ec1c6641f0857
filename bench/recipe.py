"""`devkit run` against a bash script doing the same work, and recipe validation speed.

1. A recipe of 200 trivial shell steps (`/bin/echo step N`) against a bash script of
   the same 200 lines, both writing to a pipe. devkit runs with live output streaming
   and secret masking on (a secret is declared and set). Target: at most 2 ms of
   overhead per step.
2. Validating a recipe of 2,000 steps (in-process `load_recipe`, and `devkit run
   --check` as a whole process). Target: under 0.5 s.

Prints medians and ratios; exits 1 when a target is missed. Timings on a shared
machine are noisy: run it more than once.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = 200
VALIDATE_STEPS = 2000
RUNS = 7


def median_seconds(argv: list[str], *, cwd: Path, env: dict[str, str], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def devkit_command() -> list[str]:
    script = Path(sys.executable).parent / "devkit"
    return [str(script)] if script.exists() else [shutil.which("devkit") or "devkit"]


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="devkit-bench-"))
    try:
        return run_benchmarks(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_benchmarks(work: Path) -> int:
    env = {**os.environ, "BENCH_SECRET": "s3cr3t-token-value", "NO_COLOR": "1"}
    lines = [f"/bin/echo step {i} of the benchmark" for i in range(STEPS)]
    (work / "steps.sh").write_text("set -euo pipefail\n" + "\n".join(lines) + "\n")
    recipe = ["secrets: [BENCH_SECRET]", "tasks:", "  bench:", "    steps:"]
    recipe += [f"      - run: {line}" for line in lines]
    (work / "bench.yaml").write_text("\n".join(recipe) + "\n")
    empty = "secrets: [BENCH_SECRET]\ntasks:\n  bench:\n    steps: []\n"
    (work / "empty.yaml").write_text(empty)

    devkit = devkit_command()
    bash = median_seconds(["bash", "steps.sh"], cwd=work, env=env)
    recipe_run = median_seconds([*devkit, "run", "bench.yaml"], cwd=work, env=env)
    fixed = median_seconds([*devkit, "run", "empty.yaml"], cwd=work, env=env)
    per_step_ms = (recipe_run - fixed - bash) / STEPS * 1000

    big = ["tasks:"]
    for task in range(VALIDATE_STEPS // 20):
        big += [f"  task{task}:", f"    desc: task {task}", "    vars:", f"      n: '{task}'",
                "    steps:"]
        big += [
            f"      - name: step {i}\n        run: echo {{{{ n }}}} {i} > out-{task}-{i}.txt\n"
            f"        timeout: 5s\n        retry: {{attempts: 2, delay: 100ms}}"
            for i in range(20)
        ]
    (work / "big.yaml").write_text("\n".join(big) + "\n")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from devkit.recipe.validate import load_recipe

    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        load_recipe(work / "big.yaml")
        samples.append(time.perf_counter() - start)
    validate_inproc = statistics.median(samples)
    validate_cli = median_seconds([*devkit, "run", "big.yaml", "--check"], cwd=work, env=env,
                                  runs=5)

    import yaml

    text = (work / "big.yaml").read_text()
    c_loader = statistics.median(_time(lambda: yaml.compose(text, Loader=yaml.CSafeLoader)))
    py_loader = statistics.median(_time(lambda: yaml.compose(text, Loader=yaml.SafeLoader), 3))

    print(f"{'case':<52} {'median':>10} {'target':>10}")
    print(f"{'bash steps.sh (200 external commands)':<52} {bash * 1000:>8.1f}ms")
    print(f"{'devkit run bench.yaml (200 steps, masking on)':<52} {recipe_run * 1000:>8.1f}ms")
    print(f"{'devkit run empty.yaml (start-up, validation)':<52} {fixed * 1000:>8.1f}ms")
    print(f"{'ratio devkit / bash':<52} {recipe_run / bash:>9.2f}x")
    ok_step = per_step_ms <= 2.0
    print(f"{'overhead per step over bash':<52} {per_step_ms:>8.2f}ms {'<= 2 ms':>10}"
          f"{'' if ok_step else '  MISSED'}")
    ok_validate = validate_inproc < 0.5
    print(f"{'validate 2,000 steps (load_recipe, in-process)':<52} {validate_inproc * 1000:>8.1f}ms"
          f" {'< 500 ms':>10}{'' if ok_validate else '  MISSED'}")
    print(f"{'devkit run big.yaml --check (whole process)':<52} {validate_cli * 1000:>8.1f}ms")
    print(f"{'  of which YAML compose, C loader':<52} {c_loader * 1000:>8.1f}ms")
    print(f"{'  (pure-Python loader, for comparison)':<52} {py_loader * 1000:>8.1f}ms"
          f"   ({py_loader / c_loader:.1f}x slower)")
    return 0 if ok_step and ok_validate else 1


def _time(action: object, runs: int = RUNS) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return samples


if __name__ == "__main__":
    sys.exit(main())
