"""What SIGINT, SIGTERM, SIGHUP and SIGKILL of a real `devkit run` do to its steps,
its cleanup and its task locks. Real processes, no mocks.

The step under test traps INT, TERM and HUP (appending each to signals.txt) and starts
a grandchild that ignores SIGINT (a background job of a non-interactive shell) and
SIGTERM, so that only the SIGKILL of the whole process group stops it; every process
of a test carries a marker unique to that test, found through /proc."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.clirun import start_devkit
from tests.proctools import path_without, processes_with, wait_gone, wait_until
from tests.recipe.conftest import devkit, wait_for_file

GRACE = 0.4


@pytest.fixture
def marker() -> Iterator[str]:
    """A string in the command line of every process of the test; whatever carries
    it is SIGKILLed at the end, whatever the test's outcome."""
    text = f"devkit-signal-test-{uuid.uuid4().hex[:12]}"
    yield text
    for pid, _ in processes_with(text):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def trapping_step(marker: str, record: str = "signals.txt", started: str = "started.txt") -> str:
    """Shell text: record every INT, TERM, HUP; a stubborn grandchild; wait for ever."""
    return (
        f"trap 'echo INT >> {record}' INT\n"
        f"trap 'echo TERM >> {record}' TERM\n"
        f"trap 'echo HUP >> {record}' HUP\n"
        f"bash -c 'trap \"\" TERM; exec -a {marker}-grandchild sleep 300' &\n"
        f"echo started > {started}\n"
        f"while :; do wait || true; done  # {marker}\n"
    )


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines())


def locked_recipe(marker: str, grace: float = GRACE) -> str:
    return (
        f"grace: {int(grace * 1000)}ms\n"
        "tasks:\n"
        "  t:\n"
        "    lock: run.lock\n"
        "    steps:\n"
        "      - run: |\n"
        "          echo {{ run_dir }} > run_dir.txt\n"
        + _indent(trapping_step(marker), 10)
        + "      - touch never.txt\n"
        "    on_failure:\n"
        "      - touch on_failure.txt\n"
        "    finally:\n"
        "      - touch finally.txt\n"
    )


def lock_is_free(path: Path) -> bool:
    """Probe the task lock the way a second run would (and let it go at once)."""
    with path.open("a+") as stream:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True  # closing the file releases the probe's lock


def watch_lock_until(
    lock: Path, marker: str, done: Callable[[], bool], timeout: float
) -> list[str]:
    """Probe the lock until `done()`; every moment the lock was free while a process
    of the run still lived (what must never happen)."""
    violations = []
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        if lock_is_free(lock):
            alive = processes_with(marker)
            if alive:
                violations.append(f"lock free while alive: {alive}")
        time.sleep(0.01)
    return violations


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_interrupts_once_escalates_cleans_up_and_holds_the_lock(
    recipe: Callable[[str], Path], tmp_path: Path, marker: str, signum: signal.Signals
) -> None:
    recipe(locked_recipe(marker))
    lock, record = tmp_path / "run.lock", tmp_path / "signals.txt"
    process = start_devkit(["run", "--json"], cwd=tmp_path)
    try:
        wait_for_file(tmp_path / "started.txt")
        assert not lock_is_free(lock)
        process.send_signal(signum)
        # The step got the signal; its grandchild lives on through the grace period.
        wait_for_file(record, timeout=5)
        assert processes_with(f"{marker}-grandchild"), "the grandchild died before SIGKILL"
        assert not lock_is_free(lock), "the lock was free while the step's processes lived"
        violations = watch_lock_until(lock, marker, lambda: process.poll() is not None, 30)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert violations == []
    assert process.returncode == 128 + signum, stderr
    assert processes_with(marker) == [], "a process of the run outlived it"
    assert lock_is_free(lock)
    # Exactly once the signal itself, then devkit's escalation: SIGTERM, SIGKILL.
    assert record.read_text().split() == [signum.name[3:], "TERM"]
    assert (tmp_path / "on_failure.txt").exists() and (tmp_path / "finally.txt").exists()
    assert not (tmp_path / "never.txt").exists()
    assert not Path((tmp_path / "run_dir.txt").read_text().strip()).exists()
    data = json.loads(stdout)["data"]
    assert data["interrupted"] is True and data["exit_code"] == 128 + signum
    task = data["tasks"][0]
    assert task["status"] == "interrupted" and task["exit_code"] == 128 + signum
    assert [s["status"] for s in task["steps"]] == ["interrupted", "ok", "ok"]


def test_sigkill_of_devkit_leaves_no_process_and_the_lock_outlives_the_children(
    recipe: Callable[[str], Path], tmp_path: Path, marker: str
) -> None:
    recipe(locked_recipe(marker))
    lock = tmp_path / "run.lock"
    process = start_devkit(["run"], cwd=tmp_path)
    try:
        wait_for_file(tmp_path / "started.txt")
        # devkit.process registers a group with its guard in one pipe write just after
        # the fork: a SIGKILL in exactly that moment would orphan the step (the README
        # says so). Not the case under test here.
        time.sleep(0.2)
        process.kill()
        process.communicate(timeout=10)
        # devkit is gone; its step is not, and the step's inherited lock descriptor
        # keeps the task locked.
        assert processes_with(f"{marker}-grandchild")
        assert not lock_is_free(lock), "the lock was released with the step still running"
        violations = watch_lock_until(lock, marker, lambda: not processes_with(marker), 15)
        assert violations == []
        assert wait_gone(marker, timeout=1) == [], "the guard did not stop the step's group"
        assert lock_is_free(lock)
        # The guard's SIGTERM, then SIGKILL; no cleanup step can run without devkit.
        assert (tmp_path / "signals.txt").read_text().split() == ["TERM"]
        assert not (tmp_path / "finally.txt").exists()
    finally:
        run_dir = tmp_path / "run_dir.txt"
        if run_dir.exists():  # devkit could not remove it
            shutil.rmtree(run_dir.read_text().strip(), ignore_errors=True)


def test_a_second_signal_kills_a_hanging_cleanup_step_and_devkit_still_cleans_up(
    recipe: Callable[[str], Path], tmp_path: Path, marker: str
) -> None:
    # A 60 s grace period: only the second signal's SIGKILL can end the cleanup quickly.
    recipe(
        "grace: 60s\n"
        "tasks:\n"
        "  t:\n"
        "    lock: run.lock\n"
        "    steps:\n"
        "      - run: |\n"
        "          echo {{ run_dir }} > run_dir.txt\n"
        "          echo started > started.txt\n"
        f"          sleep 300  # {marker}\n"
        "    finally:\n"
        "      - run: |\n"
        + _indent(trapping_step(marker, "cleanup-signals.txt", "cleanup-started.txt"), 10)
        + "      - touch second-cleanup.txt\n"
    )
    lock = tmp_path / "run.lock"
    process = start_devkit(["run", "--json"], cwd=tmp_path)
    try:
        wait_for_file(tmp_path / "started.txt")
        process.send_signal(signal.SIGTERM)
        wait_for_file(tmp_path / "cleanup-started.txt")
        second = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert time.monotonic() - second < 10, "the cleanup step waited out its grace period"
    assert process.returncode == 128 + signal.SIGTERM, stderr  # the first signal's
    assert processes_with(marker) == []
    assert not (tmp_path / "cleanup-signals.txt").exists()  # SIGKILL, nothing forwarded
    assert lock_is_free(lock)
    assert not Path((tmp_path / "run_dir.txt").read_text().strip()).exists()
    # Cleanup steps that had not started still run (one more signal stops each).
    assert (tmp_path / "second-cleanup.txt").exists()
    data = json.loads(stdout)["data"]
    assert data["interrupted"] is True and data["exit_code"] == 128 + signal.SIGTERM
    assert data["failure"] == "interrupted (SIGTERM)"
    steps = data["tasks"][0]["steps"]
    assert [(s["phase"], s["status"]) for s in steps] == [
        ("steps", "interrupted"),
        ("finally", "interrupted"),
        ("finally", "ok"),
    ]


def test_step_timeouts_need_neither_ps_nor_pgrep(
    recipe: Callable[[str], Path], tmp_path: Path, marker: str
) -> None:
    recipe(
        "grace: 200ms\n"
        "tasks:\n"
        "  t:\n"
        "    steps:\n"
        "      - name: stubborn\n"
        "        timeout: 500ms\n"
        "        run: |\n" + _indent(trapping_step(marker), 10) + "    finally:\n"
        "      - touch finally.txt\n"
    )
    limited = path_without(tmp_path, "ps", "pgrep", "pkill", "kill")
    result = devkit(["run"], cwd=tmp_path, env={"PATH": limited})
    assert result.returncode == 124, result.stderr
    assert "step 'stubborn' in task 't' failed: timed out after 0.5 s" in result.stderr
    assert wait_gone(marker, timeout=2) == []
    assert (tmp_path / "signals.txt").read_text().split() == ["INT", "TERM"]
    assert (tmp_path / "finally.txt").exists()


def test_a_signal_stops_every_parallel_step_once(
    recipe: Callable[[str], Path], tmp_path: Path, marker: str
) -> None:
    """Parallel needs run in worker threads: the handler still reaches every group."""
    recipe(
        f"grace: {int(GRACE * 1000)}ms\n"
        "tasks:\n"
        "  a:\n"
        "    - run: |\n" + _indent(trapping_step(marker, "a.txt", "a-started.txt"), 8) + "  b:\n"
        "    - run: |\n" + _indent(trapping_step(marker, "b.txt", "b-started.txt"), 8) + "  all:\n"
        "    needs: [a, b]\n"
        "    parallel: true\n"
        "    steps: [touch never.txt]\n"
        "default: all\n"
    )
    process = start_devkit(["run"], cwd=tmp_path)
    try:
        wait_for_file(tmp_path / "a-started.txt")
        wait_for_file(tmp_path / "b-started.txt")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert wait_until(lambda: not processes_with(marker), timeout=2)
    for name in ("a.txt", "b.txt"):
        assert (tmp_path / name).read_text().split() == ["INT", "TERM"]
    assert not (tmp_path / "never.txt").exists()


def test_every_process_of_a_locked_task_inherits_the_lock(
    recipe: Callable[[str], Path],
    tmp_path: Path,
    devkit_here: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    """Steps, `if:` checks and the tasks a `task:` step runs hold the lock's open file
    (what keeps it locked while any of them lives); a need, run before the lock is
    taken, does not."""
    # Not `grep -q`: steps run with pipefail, and a grep that quits at the first match
    # can kill readlink with SIGPIPE before it has written the rest. `|| true`: the glob
    # lists bash's descriptors while it sets the pipeline up, and one it closes meanwhile
    # makes readlink fail (depending on timing).
    holds = "{ readlink /proc/$$/fd/* || true; } | grep 'run.lock$' >/dev/null"
    recipe(
        "tasks:\n"
        "  outer:\n"
        "    lock: run.lock\n"
        "    needs: [before]\n"
        "    steps:\n"
        f'      - if: "{holds}"\n'
        f'        run: "{holds} && touch outer.txt"\n'
        "      - task: inner\n"
        f'  inner: ["{holds} && touch inner.txt"]\n'
        f'  before: ["{holds} && touch before.txt || true"]\n'
        "default: outer\n"
    )
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "outer.txt").exists() and (tmp_path / "inner.txt").exists()
    assert not (tmp_path / "before.txt").exists()
    assert lock_is_free(tmp_path / "run.lock")


def test_a_signal_at_a_confirm_prompt_interrupts_it(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux 'script' is needed to give devkit a terminal")
    marker = f"devkit-confirm-{uuid.uuid4().hex[:12]}"
    # M only tags the process (a --var the recipe does not declare is refused).
    recipe("vars: {M: ''}\ntasks:\n  t:\n    confirm: Really?\n    steps: [touch done.txt]\n")
    process = subprocess.Popen(
        [script, "-qec", f"{sys.executable} -m devkit run --var M={marker}", "/dev/null"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # The prompt has no newline: read the output a character at a time, in a thread.
    seen: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: process.stdout.read(1), "")))
    reader.start()
    try:
        # At the prompt, waiting for an answer that never comes.
        assert wait_until(lambda: "Really? [y/N]" in "".join(seen), timeout=20), seen
        pid = _devkit_under(marker)
        assert pid is not None  # never os.kill(0): that would signal the test itself
        os.kill(pid, signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        process.kill()
        reader.join(timeout=20)
    stdout = "".join(seen)
    assert process.returncode == 128 + signal.SIGTERM, stdout
    assert "Really? [y/N]" in stdout and "interrupted (SIGTERM)" in stdout
    assert not (tmp_path / "done.txt").exists()


def _devkit_under(marker: str) -> int | None:
    """The devkit process (not the `script` or shell around it) carrying `marker`."""
    for pid, cmdline in processes_with(marker):
        if cmdline.startswith(f"{sys.executable} -m devkit run"):
            return pid
    return None
