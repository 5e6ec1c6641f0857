"""A `git` that stops at a chosen command until the test lets it go, and a real devkit
process to signal while it waits.

The wrapper goes first on the PATH of the devkit process only (the test's own setup
and assertions use the real git). `DEVKIT_TEST_HOLD=SUBCOMMAND[:N]` picks the N-th
(default first; `*` every) git call with that subcommand, optionally only calls that
carry the argument `DEVKIT_TEST_HOLD_ARG`: the wrapper writes `held-N` (its pid) into
the hold directory and waits until `release` appears there, then runs the real git and
writes `done-N` with git's exit status. A wrapper that was signalled writes no `done`.
With `DEVKIT_TEST_LOG=FILE` it also appends every call's arguments to FILE (each argument
followed by \x1f, each call by \x1e; see `logged_calls`).

Every real git it starts carries `-c devkit.testmarker=MARKER` on its command line, so
`tests.proctools.processes_with(MARKER)` finds any git, wrapper or devkit process of
the run that is left behind; `processes_in_environment(MARKER)` also finds hooks and
helpers (`git remote-http`) through the marker in their environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.gitrepos import fingerprint, git
from tests.proctools import processes_with, wait_until

WRAPPER = r"""#!/bin/sh
if [ -n "${DEVKIT_TEST_LOG-}" ]; then
  { for arg in "$@"; do printf '%s\037' "$arg"; done; printf '\036'; } >> "$DEVKIT_TEST_LOG"
fi
hold=${DEVKIT_TEST_HOLD-}
dir=${DEVKIT_TEST_HOLD_DIR-}
if [ -n "$hold" ] && [ -n "$dir" ]; then
  sub=
  skip=
  for arg in "$@"; do
    if [ -n "$skip" ]; then skip=; continue; fi
    case $arg in
      -c|-C) skip=1 ;;
      -*) ;;
      *) sub=$arg; break ;;
    esac
  done
  want=${hold%%:*}
  nth=1
  case $hold in *:*) nth=${hold#*:} ;; esac
  match=
  if [ "$sub" = "$want" ]; then
    match=1
    if [ -n "${DEVKIT_TEST_HOLD_ARG-}" ]; then
      match=
      for arg in "$@"; do
        if [ "$arg" = "$DEVKIT_TEST_HOLD_ARG" ]; then match=1; fi
      done
    fi
  fi
  if [ -n "$match" ]; then
    call=1
    while ! mkdir "$dir/call-$call" 2>/dev/null; do call=$((call + 1)); done
    if [ "$nth" = "*" ] || [ "$call" -eq "$nth" ]; then
      echo $$ > "$dir/held-$call"
      while [ ! -e "$dir/release" ]; do sleep 0.01; done
      @REAL@ -c devkit.testmarker=@MARKER@ "$@"
      status=$?
      echo $status > "$dir/done-$call"
      exit $status
    fi
  fi
fi
exec @REAL@ -c devkit.testmarker=@MARKER@ "$@"
"""


def logged_calls(log: Path) -> list[list[str]]:
    """The arguments of every git call a DEVKIT_TEST_LOG file recorded, in order."""
    if not log.exists():
        return []
    return [call.split("\x1f")[:-1] for call in log.read_text().split("\x1e")[:-1]]


def subcommand(args: list[str]) -> str | None:
    """The git subcommand of a call, found as the wrapper finds it."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-c", "-C"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def processes_in_environment(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose environment carries the marker
    (DEVKIT_TEST_RUN=marker): everything a devkit run started, however deep."""
    needle = f"DEVKIT_TEST_RUN={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and stat.rsplit(")", 1)[-1].split()[0] != "Z":
            found.append((int(entry), cmdline.replace(b"\0", b" ").decode("utf-8", "replace")))
    return found


@dataclass
class HeldRun:
    """A `devkit` process whose git wrapper holds one chosen command."""

    hold_dir: Path
    marker: str
    process: subprocess.Popen[str]
    outputs: tuple[str, str] | None = field(default=None)

    def held(self) -> list[Path]:
        return sorted(self.hold_dir.glob("held-*"))

    def wait_held(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until `count` git commands are held (or devkit exited: an error)."""
        reached = wait_until(
            lambda: len(self.held()) >= count or self.process.poll() is not None, timeout
        )
        if len(self.held()) < count:
            out, err = self.finish(timeout=5)
            raise AssertionError(
                f"the held git command was never reached (reached={reached}, "
                f"exit={self.process.returncode}):\n{out}\n{err}"
            )

    def signal(self, signum: int) -> None:
        os.kill(self.process.pid, signum)

    def release(self) -> None:
        (self.hold_dir / "release").touch()

    def finish(self, timeout: float = 30.0) -> tuple[str, str]:
        if self.outputs is None:
            self.outputs = self.process.communicate(timeout=timeout)
        return self.outputs

    def held_git_finished(self) -> int | None:
        """The held git's exit status if it ran to its end, None if it was stopped."""
        done = sorted(self.hold_dir.glob("done-*"))
        return int(done[0].read_text()) if done else None

    def leftovers(self, timeout: float = 10.0) -> list[tuple[int, str]]:
        """Processes of this run still alive after `timeout` seconds."""
        wait_until(
            lambda: not processes_with(self.marker) and not processes_in_environment(self.marker),
            timeout,
        )
        return processes_with(self.marker) + processes_in_environment(self.marker)

    def close(self) -> None:
        self.release()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
            self.process.communicate(timeout=10)
        for pid, _ in processes_in_environment(self.marker):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def wrapper_bin(root: Path, marker: str) -> Path:
    """A directory holding the `git` wrapper, to put first on PATH."""
    real = shutil.which("git")
    assert real is not None
    bin_dir = root / f"bin-{marker}"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "git"
    script.write_text(WRAPPER.replace("@REAL@", real).replace("@MARKER@", marker))
    script.chmod(0o755)
    return bin_dir


def start_held(
    args: list[str],
    *,
    root: Path,
    hold: str,
    hold_arg: str | None = None,
    env: Mapping[str, str] | None = None,
    path: str | None = None,
    cwd: Path | None = None,
) -> HeldRun:
    """Start `python -m devkit ARGS` (in its own session) with the wrapper holding `hold`."""
    marker = f"devkit-test-{uuid.uuid4().hex[:12]}"
    hold_dir = root / f"hold-{marker}"
    hold_dir.mkdir(parents=True)
    bin_dir = wrapper_bin(root, marker)
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{path or os.environ['PATH']}",
            "DEVKIT_TEST_HOLD": hold,
            "DEVKIT_TEST_HOLD_DIR": str(hold_dir),
            "DEVKIT_TEST_RUN": marker,
        }
    )
    if hold_arg is not None:
        full_env["DEVKIT_TEST_HOLD_ARG"] = hold_arg
    process = subprocess.Popen(
        [sys.executable, "-X", f"devkit-test={marker}", "-m", "devkit", *args],
        env=full_env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return HeldRun(hold_dir=hold_dir, marker=marker, process=process)


def elapsed(start: float) -> float:
    return time.monotonic() - start


def state(repo: Path) -> dict[str, object]:
    """fingerprint() plus devkit's own traces: its refs and its scratch directories."""
    found = fingerprint(repo)
    found["devkit_refs"] = git(repo, "for-each-ref", "--format=%(refname)", "refs/devkit")
    found["scratch"] = sorted(p.name for p in (repo / ".git" / "devkit").glob("sync-*"))
    found["linked_worktrees"] = sorted(p.name for p in (repo / ".git" / "worktrees").glob("*"))
    return found


def assert_same(before: dict[str, object], repo: Path) -> None:
    after = state(repo)
    for key, value in before.items():
        assert after[key] == value, f"{key} changed:\nbefore={value!r}\nafter={after[key]!r}"
