"""`devkit run --fleet-stdin` (hidden): the remote half of a fleet run.

A fleet controller runs this on each host over ssh and talks to it as
/tmp/fleet-protocol.md (version 1) describes:

- stdin: ONE line of JSON (the recipe's files, the host, its variables, the --var
  values and the secrets: devkit/fleet/remote.py reads it), then nothing, but it stays
  open for the whole run. Its EOF means the controller is gone (the connection dropped,
  or Ctrl-C there): devkit raises SIGHUP on itself, so that the steps' process groups
  are stopped, `finally:` steps run and it exits 129, after its result event.
- the channel is taken off fd 0 before anything runs (fd 0 becomes /dev/null), so no
  step, `sh:` variable or tool devkit starts can read it, `stdin: true` steps included.
- stdout: one JSON object per line, flushed per line (EventObserver); the last line is
  always {"event": "result", "exit_code": N, "document": <the --json envelope>}, also
  for invalid input, a recipe that fails validation, an interruption and a bug.
- the exit code is the one `devkit run` gives.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from devkit.cli.common import run_command
from devkit.console import CommandResult, Console
from devkit.errors import InvalidInput

if TYPE_CHECKING:
    from devkit.fleet.remote import RunRequest
    from devkit.recipe.report import StepRecord, TaskRecord

# The request line carries the recipe's files: big, but not without bound.
MAX_REQUEST_BYTES = 256 << 20
_CHUNK = 1 << 16


class Channel:
    """The controller's end of stdin, moved off fd 0: the request line, then EOF when
    the controller is gone."""

    def __init__(self) -> None:
        self.fd = os.dup(0)  # not inherited by children (dup's descriptors are not)
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            os.dup2(devnull, 0)  # every child devkit starts reads /dev/null
        finally:
            os.close(devnull)
        self.finished = threading.Event()

    def request_line(self) -> bytes:
        """The first line (without its newline); InvalidInput when stdin ends first."""
        received = bytearray()
        while True:
            newline = received.find(b"\n")
            if newline >= 0:
                return bytes(received[:newline])
            if len(received) > MAX_REQUEST_BYTES:
                raise InvalidInput(
                    "invalid fleet request: the first line of stdin is too long",
                    code="invalid_input",
                )
            chunk = os.read(self.fd, _CHUNK)
            if not chunk:
                raise InvalidInput(
                    "invalid fleet request: stdin ended before the request line did",
                    code="invalid_input",
                    hint="the controller sends one line of JSON, then keeps stdin open",
                )
            received += chunk

    def watch(self) -> None:
        """From now on, EOF on the channel stops the run as SIGHUP would (a daemon
        thread: it never keeps devkit alive)."""
        threading.Thread(target=self._wait_for_eof, name="fleet-stdin", daemon=True).start()

    def _wait_for_eof(self) -> None:
        try:
            while os.read(self.fd, _CHUNK):
                pass  # the controller sends nothing after the request; ignore it
        except OSError:
            pass  # a broken channel is a gone controller too
        if not self.finished.is_set():
            os.kill(os.getpid(), signal.SIGHUP)


class EventObserver:
    """The run as JSON lines on stdout, already masked by the runner (and again by the
    console): what a controller shows, prefixed with the host, and records."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def task_started(self, task: str) -> None:
        self.console.event({"event": "task_started", "task": task})

    def step_started(self, task: str, label: str) -> None:
        self.console.event({"event": "step_started", "task": task, "label": label})

    def output(self, task: str, text: str, *, end: bool = True) -> None:
        self.console.event({"event": "output", "task": task, "text": text, "end": end})

    def step_finished(self, record: StepRecord) -> None:
        status = "timed_out" if record.timed_out and record.status == "failed" else record.status
        ran = record.status not in ("planned", "skipped")
        self.console.event(
            {
                "event": "step_finished",
                "task": record.task,
                "name": record.name,
                "status": status,
                "exit_code": record.exit_code if ran else None,
                "duration": round(record.duration, 3),
                "message": record.message,
                "phase": record.phase,
                "command": record.command,
            }
        )

    def task_finished(self, record: TaskRecord) -> None:
        self.console.event(
            {
                "event": "task_finished",
                "task": record.name,
                "status": record.status,
                "duration": round(record.duration, 3),
            }
        )

    def note(self, task: str | None, text: str) -> None:
        self.console.event({"event": "note", "task": task, "text": text})

    def confirm(self, question: str) -> bool:
        return False  # nobody to ask on a host: `confirm:` needs --yes (checked first)


def run_from_stdin(
    words: list[str], *, dry_run: bool, force: bool, yes: bool, jobs: int | None
) -> CommandResult:
    """`devkit run --fleet-stdin [TASK [ARG]...]...`: the request from stdin, the run,
    its events on stdout; the result event is rendered by the console at the end."""
    channel: Channel | None = None

    def body(console: Console) -> CommandResult:
        nonlocal channel
        channel = Channel()
        from devkit.fleet.remote import parse_request

        request = parse_request(channel.request_line())
        channel.watch()
        _take_secrets(request)
        folder = _run_folder(request)
        return _run(
            console, request, folder, words, dry_run=dry_run, force=force, yes=yes, jobs=jobs
        )

    result = run_command("run", json_mode=True, body=body)
    if channel is not None:
        channel.finished.set()  # the controller may hang up now: the run is over
    import dataclasses

    return dataclasses.replace(result, events=True)


def _take_secrets(request: RunRequest) -> None:
    """The secrets join devkit's own environment (never a command line), where the
    recipe's `secrets:` find them, and are masked in everything from now on."""
    from devkit import redaction
    from devkit.recipe.mask import Masker

    redaction.mask_everywhere(Masker(list(request.secrets.values())).text)
    os.environ.update(request.secrets)


def _run_folder(request: RunRequest) -> Path:
    from devkit.fleet.remote import prepare_run_folder, prune_run_folders, runs_root

    root = runs_root(os.environ)
    folder = prepare_run_folder(request, root)
    prune_run_folders(root, keep=folder)
    return folder


def _run(
    console: Console,
    request: RunRequest,
    folder: Path,
    words: list[str],
    *,
    dry_run: bool,
    force: bool,
    yes: bool,
    jobs: int | None,
) -> CommandResult:
    from devkit.cli.run import _finish
    from devkit.recipe.arguments import bind_arguments
    from devkit.recipe.runner import RunOptions, run_recipe
    from devkit.recipe.validate import load_recipe

    cli_vars = dict(request.cli_vars)
    recipe = load_recipe(
        folder / request.recipe, cli_vars=cli_vars, display_name=request.recipe, host=request.host
    )
    tasks, args = bind_arguments(recipe, words)
    options = RunOptions(
        tasks=tasks,
        cli_vars=cli_vars,
        dry_run=dry_run,
        force=force,
        assume_yes=yes,
        can_confirm=False,
        jobs=jobs,
        args=args,
    )
    report = run_recipe(recipe, options, EventObserver(console))
    return _finish(console, report)


__all__ = ["Channel", "EventObserver", "run_from_stdin"]
