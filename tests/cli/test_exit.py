"""`devkit` (devkit.__main__.run) exits without the interpreter's teardown when that
teardown has nothing left to do. Nothing may be lost on the way: every byte of output,
the exit code, atexit callbacks and other threads' work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEVKIT = [sys.executable, "-m", "devkit"]


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_long_output_arrives_whole_through_a_pipe() -> None:
    in_process = python(
        "import contextlib, io, sys\n"
        "from devkit.__main__ import main\n"
        "buffer = io.StringIO()\n"
        "with contextlib.redirect_stdout(buffer):\n"
        "    main(['man'])\n"
        "sys.stdout.write(buffer.getvalue())\n"
    )
    done = subprocess.run([*DEVKIT, "man"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert len(done.stdout) > 10_000  # more than Python's 8 KiB output buffer
    assert done.stdout == in_process.stdout


def test_exit_codes_and_error_lines_are_kept(tmp_path: Path) -> None:
    done = subprocess.run(
        [*DEVKIT, "extract", str(tmp_path / "missing.tar")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("devkit: error: ")
    assert done.stdout == ""


def test_atexit_callbacks_still_run() -> None:
    done = python(
        "import atexit, sys\n"
        "atexit.register(lambda: print('callback ran', flush=True))\n"
        "from devkit.__main__ import _exit\n"
        "print('output', end='')\n"
        "_exit(3)\n"
    )
    assert done.returncode == 3
    assert done.stdout == "outputcallback ran\n"


def test_a_running_thread_is_waited_for() -> None:
    done = python(
        "import threading, time\n"
        "from devkit.__main__ import _exit\n"
        "def work():\n"
        "    time.sleep(0.2)\n"
        "    print('thread finished', flush=True)\n"
        "threading.Thread(target=work).start()\n"
        "_exit(5)\n"
    )
    assert done.returncode == 5
    assert done.stdout == "thread finished\n"


def test_buffered_output_is_flushed_before_the_fast_exit() -> None:
    done = python(
        "import sys\n"
        "from devkit.__main__ import _exit\n"
        "sys.stdout.write('x' * 100_000)\n"
        "sys.stderr.write('done')\n"
        "_exit(0)\n"
    )
    assert done.returncode == 0
    assert done.stdout == "x" * 100_000
    assert done.stderr == "done"
