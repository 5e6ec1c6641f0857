"""A small program on top of devkit.process, run as a real process by test_process.py.

    python process_driver.py MODE MARKER DIR

It starts a child group whose leader traps SIGINT, SIGTERM and SIGHUP (logging each
one it receives to DIR/signals) and whose grandchild ignores SIGINT, SIGTERM and
SIGHUP, writes DIR/started once both run, and then:

- `captured`: waits in run_captured in the main thread;
- `thread`: waits in run_captured in a worker thread;
- `critical`: waits in run_captured inside critical(); the child ends by itself when
  DIR/release appears;
- `cleanup`: like `captured`, then runs a 1-second cleanup child in `finally:`, which
  must finish even when a second signal arrives (writes DIR/cleaned).

It exits with devkit's exit status for the signal (128 + signum) and writes
DIR/raised with the signal number it saw raised.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from devkit import process
from devkit.errors import InterruptSignal

CHILD = r"""
log="$1/signals"
for s in INT TERM HUP; do trap "echo $s >> '$log'" $s; done
bash -c 'trap "" INT TERM HUP; exec sleep 300' "$2-grandchild" &
: > "$1/started"
while [ ! -e "$1/release" ]; do sleep 0.02; done
"""


def child_argv(marker: str, folder: Path) -> list[str]:
    return ["bash", "-c", CHILD, f"{marker}-leader", str(folder), marker]


def main() -> int:
    mode, marker, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    argv = child_argv(marker, folder)
    with process.signal_policy():
        process.become_subreaper()
        try:
            if mode == "thread":
                errors: list[BaseException] = []

                def work() -> None:
                    try:
                        process.run_captured(argv, grace=1.0)
                    except BaseException as error:
                        errors.append(error)

                with process.cooperative():
                    worker = threading.Thread(target=work)
                    worker.start()
                    worker.join()
                if errors:
                    raise errors[0]
            elif mode == "critical":
                with process.critical():
                    process.run_captured(argv, grace=1.0)
                    (folder / "critical-done").touch()
            else:
                try:
                    process.run_captured(argv, grace=1.0)
                finally:
                    if mode == "cleanup":
                        process.run_captured(["sleep", "1"])
                        (folder / "cleaned").touch()
        except InterruptSignal as error:
            (folder / "raised").write_text(str(error.signum))
            return process.exit_status()
    return 0


if __name__ == "__main__":
    sys.exit(main())
