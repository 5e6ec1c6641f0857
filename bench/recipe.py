"""`devkit run` against a bash script doing the same work, and recipe validation speed.

1. A recipe of 200 trivial shell steps against a bash script of the same 200 lines,
   both writing to a pipe, devkit with live output streaming and secret masking on (a
   secret is declared and set). Two shapes of step:
   - `/bin/echo step N ...`: a plain command, which devkit runs without starting bash
     (bash would exec it the same way);
   - `/bin/echo step N "$PWD"`: needs the shell, so devkit starts `bash -c` for it.
   Target: at most 2 ms of overhead per step over the bash script. The floor of any
   Python runner, spawning `bash -c` per line from Python, is printed alongside.
2. Validating a recipe of 2,000 steps (in-process `load_recipe`, and `devkit run
   --check` as a whole process). Target: under 0.5 s.
3. Output volume: one step writing 200 MB of ordinary lines, and one writing a single
   100 MB line (no newline at all), through `devkit run` (not on a terminal, a secret
   declared so masking is on, output to /dev/null) against the same step piped into
   `cat`. Targets: devkit's peak RSS under 64 MB whatever the line length, and at least
   100 MB/s. The peak RSS is the one wait4() reports for the devkit process (its own
   high-water mark; the step's small programs are its children and count only if
   larger). `--output` runs only this part; DEVKIT_BENCH_RUNS sets the runs (3).

Prints medians and ratios; exits 1 when a target is missed. Timings on a shared
machine are noisy: run it more than once.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STEPS = 200
VALIDATE_STEPS = 2000
RUNS = 7


def median_seconds(argv: list[str], *, cwd: Path, env: dict[str, str], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, cwd=cwd, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL
        )
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed(action: Callable[[], object], runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def devkit_command() -> list[str]:
    script = Path(sys.executable).parent / "devkit"
    return [str(script)] if script.exists() else [shutil.which("devkit") or "devkit"]


def python_spawns(lines: list[str], work: Path, env: dict[str, str]) -> None:
    """The floor for any Python runner: spawn `bash -c` per step and read its output."""
    for line in lines:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", line],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdout is not None
        process.stdout.read()
        process.wait()
        process.stdout.close()


def write_case(work: Path, name: str, lines: list[str]) -> None:
    (work / f"{name}.sh").write_text("set -euo pipefail\n" + "\n".join(lines) + "\n")
    recipe = ["secrets: [BENCH_SECRET]", "tasks:", "  bench:", "    steps:"]
    recipe += [f"      - run: '{line}'" for line in lines]
    (work / f"{name}.yaml").write_text("\n".join(recipe) + "\n")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="devkit-bench-"))
    try:
        if "--output" in sys.argv[1:]:
            return output_benchmarks(work)
        ok = run_benchmarks(work) == 0
        return 0 if output_benchmarks(work) == 0 and ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


MB = 1_000_000
OUTPUT_CASES = {
    # name: (shell text of the step, bytes it writes)
    "200 MB of 80-byte lines": (
        # `|| true`: yes ends by SIGPIPE, which would fail the step under pipefail.
        "(yes 'an ordinary line of build output, long enough to look like a real log line'"
        " || true) | head -c 200000000",
        200 * MB,
    ),
    "one 100 MB line, no newline": ("head -c 100000000 /dev/zero | tr '\\0' a", 100 * MB),
}
RSS_TARGET_MB = 64
THROUGHPUT_TARGET = 100  # MB/s


def peak_run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float, int, float]:
    """Seconds, peak RSS in MB (wait4's ru_maxrss), exit status and CPU seconds (user +
    system, the step's programs included) of one run, its output thrown away."""
    start = time.perf_counter()
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, usage.ru_maxrss / 1024, child.returncode, cpu


def output_benchmarks(work: Path) -> int:
    runs = int(os.environ.get("DEVKIT_BENCH_RUNS", "3"))
    env = {**os.environ, "BENCH_SECRET": "s3cr3t-token-value", "NO_COLOR": "1"}
    devkit = devkit_command()
    ok = True
    print(f"output volume (medians of {runs} runs; peak RSS is the largest seen)")
    for name, (text, size) in OUTPUT_CASES.items():
        recipe = work / "output.yaml"
        recipe.write_text(
            "secrets: [BENCH_SECRET]\ntasks:\n  out:\n    steps:\n"
            f"      - run: {json.dumps(text)}\n"
        )
        cat = statistics.median(
            peak_run(["bash", "-c", f"{text} | cat"], cwd=work, env=env)[0] for _ in range(runs)
        )
        samples = [peak_run([*devkit, "run", str(recipe)], cwd=work, env=env) for _ in range(runs)]
        if any(status != 0 for _, _, status, _ in samples):
            print(f"  {name}: devkit run failed")
            ok = False
            continue
        seconds = statistics.median(s for s, _, _, _ in samples)
        rss = max(r for _, r, _, _ in samples)
        cpu = statistics.median(c for _, _, _, c in samples)
        rate = size / MB / seconds
        slow, big = rate < THROUGHPUT_TARGET, rss >= RSS_TARGET_MB
        ok = ok and not slow and not big
        print(f"{name}:")
        print(f"{'  step | cat':<56} {cat:>7.2f}s  {size / MB / cat:>6.0f} MB/s")
        print(
            f"{'  devkit run (masking on)':<56} {seconds:>7.2f}s  {rate:>6.0f} MB/s"
            f" {'>= ' + str(THROUGHPUT_TARGET):>9}{'  MISSED' if slow else ''}"
        )
        print(f"{'  ratio devkit / cat':<56} {seconds / cat:>7.2f}x")
        # On a shared machine the wall clock includes waiting for a core; CPU does not.
        print(f"{'  devkit CPU time (user + system, step included)':<56} {cpu:>7.2f}s")
        print(
            f"{'  devkit peak RSS':<56} {rss:>7.1f}MB {'< ' + str(RSS_TARGET_MB):>13}"
            f"{'  MISSED' if big else ''}"
        )
    return 0 if ok else 1


def run_benchmarks(work: Path) -> int:
    env = {**os.environ, "BENCH_SECRET": "s3cr3t-token-value", "NO_COLOR": "1"}
    devkit = devkit_command()
    (work / "empty.yaml").write_text("secrets: [BENCH_SECRET]\ntasks:\n  bench: []\n")
    fixed = median_seconds([*devkit, "run", "empty.yaml"], cwd=work, env=env)

    print(
        f"{'case (200 steps, medians of ' + str(RUNS) + ' runs)':<56} {'median':>9} {'target':>9}"
    )
    print(f"{'devkit run with no steps (start-up, validation)':<56} {fixed * 1000:>7.1f}ms")
    ok = True
    cases = {
        "plain": [f"/bin/echo step {i} of the benchmark" for i in range(STEPS)],
        "shell": [f'/bin/echo step {i} "$PWD"' for i in range(STEPS)],
    }
    for name, lines in cases.items():
        write_case(work, name, lines)
        bash = median_seconds(["bash", f"{name}.sh"], cwd=work, env=env)
        run = median_seconds([*devkit, "run", f"{name}.yaml"], cwd=work, env=env)
        floor = timed(lambda lines=lines: python_spawns(lines, work, env))  # type: ignore[misc]
        per_step = (run - fixed - bash) / STEPS * 1000
        over_floor = (run - fixed - floor) / STEPS * 1000
        missed = per_step > 2.0
        ok = ok and not missed
        label = "plain commands" if name == "plain" else "commands that need bash"
        print(f"{label}:")
        print(f"{'  bash script, same 200 lines':<56} {bash * 1000:>7.1f}ms")
        print(f"{'  devkit run (streaming + masking)':<56} {run * 1000:>7.1f}ms")
        print(f"{'  python loop of Popen(bash -c line), for reference':<56} {floor * 1000:>7.1f}ms")
        print(f"{'  ratio devkit / bash':<56} {run / bash:>8.2f}x")
        print(
            f"{'  devkit overhead per step over bash':<56} {per_step:>7.2f}ms {'<= 2 ms':>9}"
            f"{'  MISSED' if missed else ''}"
        )
        print(f"{'  devkit per step over the Popen(bash -c) loop':<56} {over_floor:>7.2f}ms")

    big = ["tasks:"]
    for task in range(VALIDATE_STEPS // 20):
        big += [
            f"  task{task}:",
            f"    desc: task {task}",
            "    vars:",
            f"      n: '{task}'",
            "    steps:",
        ]
        big += [
            f"      - name: step {i}\n        run: echo {{{{ n }}}} {i} > out-{task}-{i}.txt\n"
            f"        timeout: 5s\n        retry: {{attempts: 2, delay: 100ms}}"
            for i in range(20)
        ]
    (work / "big.yaml").write_text("\n".join(big) + "\n")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import yaml

    from devkit.recipe.loader import load_yaml
    from devkit.recipe.validate import load_recipe

    validate = timed(lambda: load_recipe(work / "big.yaml"))
    check = median_seconds([*devkit, "run", "big.yaml", "--check"], cwd=work, env=env, runs=5)
    text = (work / "big.yaml").read_text()
    ours = timed(lambda: load_yaml(text, name="big.yaml"))
    c_loader = timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader))
    py_loader = timed(lambda: yaml.load(text, Loader=yaml.SafeLoader), 3)
    missed = validate >= 0.5
    ok = ok and not missed
    print("validation of 2,000 steps:")
    print(
        f"{'  load_recipe (parse, positions, schema, references)':<56} {validate * 1000:>7.1f}ms"
        f" {'< 500 ms':>9}{'  MISSED' if missed else ''}"
    )
    print(f"{'  devkit run big.yaml --check (whole process)':<56} {check * 1000:>7.1f}ms")
    print(f"{'  positioned YAML tree only (C parser, no resolver)':<56} {ours * 1000:>7.1f}ms")
    print(f"{'  yaml.load, CSafeLoader':<56} {c_loader * 1000:>7.1f}ms")
    print(
        f"{'  yaml.load, pure-Python SafeLoader':<56} {py_loader * 1000:>7.1f}ms"
        f"  ({py_loader / c_loader:.1f}x the C loader)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
