"""Running recipes with real processes: exit codes, timeouts that kill a process tree,
Ctrl-C, retries, continue_on_error, cleanup, locks, up-to-date skipping, parallel
tasks, secret masking, stdin, dry runs and --json."""

# ruff: noqa: E501  (recipes in these tests are YAML text with long shell lines)
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.clirun import start_devkit
from tests.recipe.conftest import (
    devkit,
    kill_if_alive,
    process_gone,
    wait_for_file,
    wait_gone,
)

# A grandchild that ignores SIGINT and SIGTERM and keeps the step's output open:
# only SIGKILL of the whole process group stops it.
STUBBORN = (
    'bash -c \'trap "" INT TERM; echo $$ > grandchild.pid; '
    "while true; do sleep 0.05; done' &\n"
    "echo started; sleep 60\n"
)


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def test_exit_code_is_the_failing_steps(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe("tasks:\n  t:\n    - echo one\n    - exit 7\n    - touch never.txt\n")
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 7
    assert "devkit.yaml:4:7: step 'exit 7' in task 't' failed: exit 7 after 1 attempt" in (
        result.stderr
    )
    assert not (tmp_path / "never.txt").exists()


def test_killed_step_gives_128_plus_signal(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe("tasks:\n  t:\n    - run: [bash, -c, 'kill -KILL $$']\n")
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 128 + signal.SIGKILL
    assert "killed by SIGKILL" in result.stderr


def test_timeout_kills_the_whole_process_tree(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        "grace: 200ms\ntasks:\n  t:\n    steps:\n      - name: stubborn\n        timeout: 500ms\n"
        "        run: |\n" + _indent(STUBBORN, 10) + "    finally:\n      - touch finally.txt\n"
    )
    result = devkit(["run"], cwd=tmp_path)
    grandchild = int((tmp_path / "grandchild.pid").read_text())
    try:
        # 124 as coreutils' timeout: not 130, which would read as a Ctrl-C.
        assert result.returncode == 124, result.stderr
        assert "step 'stubborn' in task 't' failed: timed out after 0.5 s (exit 124)" in (
            result.stderr
        )
        assert wait_gone(grandchild, timeout=2), "the grandchild outlived its step"
        assert (tmp_path / "finally.txt").exists()
    finally:
        kill_if_alive(grandchild)


def test_a_step_that_exits_0_on_its_timeout_signal_still_failed_with_124(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    # The step catches the SIGINT its timeout sends and exits 0: it still did not finish.
    recipe(
        "tasks:\n  t:\n    steps:\n      - timeout: 300ms\n        run: |\n"
        "          trap 'exit 0' INT\n          touch started.txt\n"
        "          while :; do sleep 0.05; done\n      - touch never.txt\n"
    )
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 124, result.stderr
    assert (tmp_path / "started.txt").exists()
    assert not (tmp_path / "never.txt").exists()


def test_ctrl_c_stops_the_step_runs_cleanup_and_exits_130(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        "grace: 300ms\ntasks:\n  t:\n    steps:\n      - run: |\n"
        + _indent(STUBBORN, 10)
        + "      - touch never.txt\n"
        "    on_failure:\n      - touch on_failure.txt\n"
        "    finally:\n      - touch finally.txt\n"
    )
    process = start_devkit(["run"], cwd=tmp_path)
    try:
        grandchild = int(wait_for_file(tmp_path / "grandchild.pid"))
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        assert wait_gone(grandchild, timeout=2), "the grandchild outlived Ctrl-C"
        assert (tmp_path / "on_failure.txt").exists()
        assert (tmp_path / "finally.txt").exists()
        assert not (tmp_path / "never.txt").exists()
        assert "interrupted" in stderr
    finally:
        process.kill()
        if (tmp_path / "grandchild.pid").exists():
            kill_if_alive(int((tmp_path / "grandchild.pid").read_text()))


def test_second_ctrl_c_kills_at_once(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    # With a 60 s grace period only the second Ctrl-C can end this quickly.
    recipe(
        "grace: 60s\ntasks:\n  t:\n    steps:\n      - run: |\n"
        + _indent(STUBBORN, 10)
        + "    finally:\n      - touch finally.txt\n"
    )
    process = start_devkit(["run"], cwd=tmp_path)
    try:
        grandchild = int(wait_for_file(tmp_path / "grandchild.pid"))
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert process.poll() is None  # still waiting for the grace period
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 130, stderr
        assert wait_gone(grandchild, timeout=2)
        assert (tmp_path / "finally.txt").exists()
    finally:
        process.kill()
        if (tmp_path / "grandchild.pid").exists():
            kill_if_alive(int((tmp_path / "grandchild.pid").read_text()))


def test_sigterm_to_devkit_also_stops_the_steps(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe("grace: 200ms\ntasks:\n  t:\n    - run: |\n" + _indent(STUBBORN, 8))
    process = start_devkit(["run"], cwd=tmp_path)
    try:
        grandchild = int(wait_for_file(tmp_path / "grandchild.pid"))
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
        assert process.returncode == 128 + signal.SIGTERM
        assert wait_gone(grandchild, timeout=2)
    finally:
        process.kill()
        if (tmp_path / "grandchild.pid").exists():
            kill_if_alive(int((tmp_path / "grandchild.pid").read_text()))


def test_background_leftovers_do_not_outlive_their_step(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe("tasks:\n  t:\n    - run: (sleep 60 > /dev/null 2>&1 & echo $! > bg.pid)\n")
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pid = int((tmp_path / "bg.pid").read_text())
    try:
        assert wait_gone(pid, timeout=3)
    finally:
        kill_if_alive(pid)


def test_retries_until_success(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        tasks:
          t:
            - name: flaky
              run: echo x >> tries; test $(wc -l < tries) -ge 3
              retry: {attempts: 5, delay: 10ms, backoff: 2}
        """
    )
    result = devkit_here(["run", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tries").read_text().count("x") == 3
    step = json.loads(result.stdout)["data"]["tasks"][0]["steps"][0]
    assert step["attempts"] == 3 and step["status"] == "ok"
    assert "attempt 1 failed (exit 1); retrying" in result.stderr


def test_retries_exhausted_report_attempts(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe("tasks:\n  t:\n    - name: never\n      run: exit 5\n      retry: {attempts: 3}\n")
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 5
    assert "devkit.yaml:3:7: step 'never' in task 't' failed: exit 5 after 3 attempts" in (
        result.stderr
    )


def test_continue_on_error_and_finally(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        tasks:
          t:
            steps:
              - run: exit 3
                continue_on_error: true
              - touch after.txt
              - exit 9
            on_failure:
              - touch on_failure.txt
            finally:
              - touch finally.txt
        """
    )
    result = devkit_here(["run", "--json"], cwd=tmp_path)
    assert result.returncode == 9
    statuses = [s["status"] for s in json.loads(result.stdout)["data"]["tasks"][0]["steps"]]
    assert statuses == ["ignored", "ok", "failed", "ok", "ok"]
    for name in ("after.txt", "on_failure.txt", "finally.txt"):
        assert (tmp_path / name).exists(), name


def test_on_failure_does_not_run_on_success(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        "tasks:\n  t:\n    steps: [echo ok]\n    on_failure: [touch bad]\n    finally: [touch f]\n"
    )
    assert devkit_here(["run"], cwd=tmp_path).returncode == 0
    assert not (tmp_path / "bad").exists() and (tmp_path / "f").exists()


def test_stdin_is_closed(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe("tasks:\n  t:\n    - run: if read -r line; then echo GOT-$line; else echo EOF; fi\n")
    process = subprocess.run(
        [sys.executable, "-m", "devkit", "run"],
        cwd=tmp_path,
        input="typed\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert process.returncode == 0
    assert "    EOF" in process.stdout.splitlines() and "GOT-typed" not in process.stdout


def test_lock_refuses_a_second_run(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe("tasks:\n  t:\n    lock: run.lock\n    steps: [touch ran.txt]\n")
    with (tmp_path / "run.lock").open("a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 1
    assert "is held by another run" in result.stderr
    assert not (tmp_path / "ran.txt").exists()
    assert devkit(["run"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "ran.txt").exists()


def test_lock_waits_when_asked(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe("tasks:\n  t:\n    lock: {path: run.lock, wait: 30s}\n    steps: [touch ran.txt]\n")
    held = (tmp_path / "run.lock").open("a+")
    fcntl.flock(held.fileno(), fcntl.LOCK_EX)
    process = start_devkit(["run"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        stderr_seen = ""
        while "waiting for lock" not in stderr_seen and time.monotonic() < deadline:
            line = process.stderr.readline() if process.stderr else ""
            stderr_seen += line
        assert "waiting for lock" in stderr_seen
        assert not (tmp_path / "ran.txt").exists()
        held.close()  # release: the waiting run goes ahead
        process.communicate(timeout=20)
        assert process.returncode == 0
        assert (tmp_path / "ran.txt").exists()
    finally:
        held.close()
        process.kill()


def test_up_to_date_skipping_and_force(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    (tmp_path / "input.txt").write_text("v1")
    recipe(
        """\
        tasks:
          build:
            sources: [input.txt]
            outputs: [out/]
            steps:
              - mkdir -p out && cp input.txt out/result.txt && echo run >> count
        """
    )
    runs = lambda: (tmp_path / "count").read_text().count("run")  # noqa: E731
    assert devkit(["run"], cwd=tmp_path).returncode == 0
    assert runs() == 1
    second = devkit(["run", "--json"], cwd=tmp_path)
    assert json.loads(second.stdout)["data"]["tasks"][0]["status"] == "up_to_date"
    assert runs() == 1
    assert devkit(["run", "--force"], cwd=tmp_path).returncode == 0
    assert runs() == 2
    (tmp_path / "input.txt").write_text("v2")  # a changed source runs it again
    assert devkit(["run"], cwd=tmp_path).returncode == 0
    assert runs() == 3
    (tmp_path / "out" / "result.txt").write_text("tampered")  # a changed output too
    assert devkit(["run"], cwd=tmp_path).returncode == 0
    assert runs() == 4
    assert (tmp_path / ".devkit").is_dir()


def test_parallel_needs_run_concurrently_with_prefixes(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    # Each task waits for the other's file: only concurrent runs can both finish.
    recipe(
        """\
        tasks:
          left:
            - touch left.ready; for i in $(seq 200); do test -e right.ready && break; sleep 0.05; done; test -e right.ready; echo left-done
          right:
            - touch right.ready; for i in $(seq 200); do test -e left.ready && break; sleep 0.05; done; test -e left.ready; echo right-done
          all:
            needs: [left, right]
            parallel: true
            steps: [echo all-done]
        default: all
        """
    )
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[left] left-done" in result.stdout and "[right] right-done" in result.stdout
    assert result.stdout.index("all-done") > result.stdout.index("left-done")


def test_jobs_one_runs_parallel_needs_one_at_a_time(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        tasks:
          a: ["echo start-a >> order; sleep 0.2; echo end-a >> order"]
          b: ["echo start-b >> order; sleep 0.2; echo end-b >> order"]
          all:
            needs: [a, b]
            parallel: true
        default: all
        """
    )
    assert devkit(["run", "-j", "1"], cwd=tmp_path).returncode == 0
    order = (tmp_path / "order").read_text().split()
    assert order in (
        ["start-a", "end-a", "start-b", "end-b"],
        ["start-b", "end-b", "start-a", "end-a"],
    )


def test_each_task_runs_once(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        tasks:
          base: ["echo x >> base.count"]
          a: {needs: [base], steps: [echo a]}
          b: {needs: [base], steps: [{task: base}, echo b]}
          all: {needs: [a, b, base]}
        default: all
        """
    )
    assert devkit_here(["run"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "base.count").read_text() == "x\n"


def test_secret_is_masked_in_output_log_errors_and_dry_run(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        secrets: [DB_PASSWORD]
        tasks:
          t:
            - run: echo "plain $DB_PASSWORD"; printf 'split hunt'; sleep 0.2; printf 'er2-xyz end\\n'
            - run: echo {{ env.DB_PASSWORD }} >&2; exit 4
        """
    )
    env = {"DB_PASSWORD": "hunter2-xyz"}
    log = tmp_path / "run.log"
    result = devkit(["run", "--log", str(log)], cwd=tmp_path, env=env)
    assert result.returncode == 4
    everything = result.stdout + result.stderr + log.read_text()
    assert "hunter2" not in everything
    assert "plain ***" in result.stdout and "split *** end" in result.stdout
    assert "plain ***" in log.read_text()
    dry = devkit(["run", "--dry-run"], cwd=tmp_path, env=env)
    assert dry.returncode == 0
    assert "hunter2" not in dry.stdout + dry.stderr
    assert "echo *** >&2; exit 4" in dry.stdout
    as_json = devkit(["run", "--json"], cwd=tmp_path, env=env)
    assert "hunter2" not in as_json.stdout + as_json.stderr
    missing = devkit(["run"], cwd=tmp_path)
    assert missing.returncode == 2 and "secret DB_PASSWORD is not set" in missing.stderr


def test_missing_secret_refuses_to_run(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe("secrets: [API_TOKEN_X]\ntasks:\n  t: [touch ran.txt]\n")
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert "secret API_TOKEN_X is not set in the environment" in result.stderr
    assert not (tmp_path / "ran.txt").exists()


def test_dry_run_runs_nothing_and_shows_resolved_commands(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    (tmp_path / "a.txt").write_text("")
    (tmp_path / "b.txt").write_text("")
    recipe(
        """\
        vars:
          dest: my folder
        tasks:
          t:
            steps:
              - run: touch {{ dest }}/marker
              - for: "*.txt"
                run: [cp, "{{ item }}", "{{ dest }}"]
            finally:
              - touch cleaned
        """
    )
    result = devkit_here(["run", "--dry-run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "would run: touch 'my folder'/marker" in result.stdout
    assert "would run: cp a.txt 'my folder'" in result.stdout
    assert "would run: cp b.txt 'my folder'" in result.stdout
    assert "would run (finally): touch cleaned" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "devkit.yaml"]


def test_conditions_platforms_requires_and_task_steps(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        tasks:
          helper: [touch helper.txt]
          t:
            requires:
              - command -v bash
              - {run: test -d .,  message: "needs a folder"}
            steps:
              - run: touch if-true.txt
                if: test 1 -eq 1
              - run: touch if-false.txt
                if: test 1 -eq 2
              - run: touch elsewhere.txt
                platforms: [windows]
              - task: helper
          blocked:
            requires: [{run: "false", message: "install the frobnicator first"}]
            steps: [touch blocked.txt]
        default: t
        """
    )
    assert devkit_here(["run"], cwd=tmp_path).returncode == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"if-true.txt", "helper.txt"} <= names
    assert not {"if-false.txt", "elsewhere.txt"} & names
    blocked = devkit_here(["run", "blocked"], cwd=tmp_path)
    assert blocked.returncode == 1
    assert "task 'blocked' failed: install the frobnicator first" in blocked.stderr
    assert not (tmp_path / "blocked.txt").exists()


def test_confirm_is_refused_without_a_terminal_unless_yes(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe("tasks:\n  t:\n    confirm: Really deploy?\n    steps: [touch done.txt]\n")
    refused = devkit(["run"], cwd=tmp_path)
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    assert not (tmp_path / "done.txt").exists()
    assert devkit(["run", "--yes"], cwd=tmp_path).returncode == 0
    assert (tmp_path / "done.txt").exists()


def test_list_and_json_summary(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        vars: {where: here}
        tasks:
          build: {desc: Build it, steps: [echo built]}
          ship: {desc: Ship it, needs: [build], steps: ["echo shipped {{ where }}"]}
        default: ship
        """
    )
    listed = devkit_here(["run", "--list"], cwd=tmp_path)
    assert listed.returncode == 0
    assert "ship (default)" in listed.stdout and "Build it" in listed.stdout
    assert "where" in listed.stdout
    result = devkit_here(["run", "--json"], cwd=tmp_path)
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    assert doc["command"] == "run" and doc["ok"] is True
    data = doc["data"]
    assert [t["name"] for t in data["tasks"]] == ["build", "ship"]
    step = data["tasks"][1]["steps"][0]
    assert step["status"] == "ok" and step["exit_code"] == 0 and step["line"] == 4
    assert "shipped here" in result.stderr  # live output goes to stderr in --json mode


def test_failure_json_envelope_carries_the_step_exit_code(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe("tasks:\n  t: [exit 3]\n")
    result = devkit_here(["run", "--json"], cwd=tmp_path)
    assert result.returncode == 3
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == 3 and doc["ok"] is False
    assert doc["errors"][0]["code"] == "step_failed"
    assert doc["data"]["tasks"][0]["steps"][0]["exit_code"] == 3


def test_recipe_and_tasks_as_arguments(
    tmp_path: Path, devkit_here: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    (tmp_path / "other.yaml").write_text("tasks:\n  a: [echo ran-a]\n  b: [echo ran-b]\n")
    result = devkit_here(["run", "other.yaml", "b", "a"], cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.index("ran-b") < result.stdout.index("ran-a")
    assert process_gone(2**22 + 1)
    assert os.getcwd()  # the test itself never changes directory


def test_stdin_true_reads_the_terminal(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    import shutil

    import pytest

    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux 'script' is needed to give devkit a terminal")
    recipe(
        """\
        tasks:
          t:
            - run: read -r x; echo "got-$x"
              stdin: true
            - run: if read -r y; then echo "leaked-$y"; else echo closed; fi
        """
    )
    devkit_cmd = f"{sys.executable} -m devkit run"
    process = subprocess.Popen(
        [script, "-qc", devkit_cmd, "/dev/null"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    stdout, _ = process.communicate("typed\nmore\n", timeout=30)
    assert process.returncode == 0, stdout
    output_lines = [line.split("\x1b[2K")[-1].rstrip("\r") for line in stdout.splitlines()]
    assert "    got-typed" in output_lines, stdout
    assert "    closed" in output_lines and "leaked-" not in stdout.replace('"leaked-$y"', "")


def test_a_failed_need_blocks_everything_after_it(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        tasks:
          broken: [exit 4]
          middle: {needs: [broken], steps: [touch middle.txt]}
          top: {needs: [middle], steps: [touch top.txt]}
        default: top
        """
    )
    result = devkit_here(["run", "--json"], cwd=tmp_path)
    assert result.returncode == 4
    statuses = {t["name"]: t["status"] for t in json.loads(result.stdout)["data"]["tasks"]}
    assert statuses == {"broken": "failed", "middle": "blocked", "top": "blocked"}
    assert not (tmp_path / "middle.txt").exists() and not (tmp_path / "top.txt").exists()


def test_a_failing_finally_step_fails_the_run(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    recipe(
        """\
        tasks:
          t:
            steps: [touch main.txt]
            finally:
              - exit 6
              - touch second-cleanup.txt
        """
    )
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 6
    assert "devkit.yaml:5:9: step 'exit 6' in task 't' failed: exit 6" in result.stderr
    assert (tmp_path / "main.txt").exists() and (tmp_path / "second-cleanup.txt").exists()


def test_terminal_output_has_a_live_status_line(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    import shutil

    import pytest

    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux 'script' is needed to give devkit a terminal")
    recipe(
        """\
        tasks:
          t:
            - name: "[bold]counting"
              run: for i in 1 2; do echo line-$i; sleep 0.3; done
            - exit 3
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    result = subprocess.run(
        [script, "-qc", f"{sys.executable} -m devkit run", "/dev/null"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    screen = result.stdout
    assert "line-1" in screen and "line-2" in screen
    assert "t › [bold]counting" in screen  # the status line, markup shown literally
    assert "\x1b[" in screen  # styled, with no timestamps on a terminal
    assert "step 'exit 3' in task 't' failed" in screen


def test_confirm_on_a_terminal_asks_and_obeys(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    import shutil

    import pytest

    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux 'script' is needed to give devkit a terminal")
    recipe("tasks:\n  t:\n    confirm: Really deploy?\n    steps: [touch done.txt]\n")

    def answer(text: str) -> subprocess.CompletedProcess[str]:
        process = subprocess.Popen(
            [script, "-qc", f"{sys.executable} -m devkit run", "/dev/null"],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)
        stdout, stderr = process.communicate(text, timeout=60)
        return subprocess.CompletedProcess([], process.returncode, stdout, stderr)

    declined = answer("n\n")
    assert "Really deploy? [y/N]" in declined.stdout
    assert "task 't' failed: not confirmed" in declined.stdout
    assert not (tmp_path / "done.txt").exists()
    accepted = answer("y\n")
    assert accepted.returncode == 0, accepted.stdout
    assert (tmp_path / "done.txt").exists()
