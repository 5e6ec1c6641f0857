"""The only module that prints.

Data goes to stdout, progress and diagnostics to stderr. On a terminal (and without
NO_COLOR) human output is styled with rich, imported lazily so that `devkit --help`
stays fast; otherwise it is plain text.

A command body streams live output (tables, progress, step lines) through a Console and
returns a `CommandResult`; exactly one place, `Console.render`, turns that result into
the final output: its error lines on stderr and, in JSON mode (where the human-output
methods are silent), the envelope, the one document on stdout.

Output never raises: once the terminal is gone (EIO after SIGHUP) or the reader of a
pipe has left (EPIPE), what is written is lost, but cleanup and the exit code go on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO, cast

from devkit.errors import DevkitError
from devkit.redaction import redact, redact_data

if TYPE_CHECKING:
    from rich.console import Console as RichConsole

ENVELOPE_VERSION = 1

# How much a command says: -q only problems and the summary, -v the per-step log too.
# None: neither flag was given, so the config file (output.level) decides.
QUIET, NORMAL, VERBOSE = 0, 1, 2
LEVELS = {"quiet": QUIET, "normal": NORMAL, "verbose": VERBOSE}
output_level: ContextVar[int | None] = ContextVar("output_level", default=None)


def configured(key: str, default: Any) -> Any:
    """A setting of the user's config file for how output looks; a broken file counts
    as absent here (every command reports it as its error, through this console)."""
    from devkit.config import ConfigInvalid, load_config

    try:
        return load_config().value(key)
    except ConfigInvalid:
        return default


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Escape control characters so that names from archives or repositories cannot
    move the cursor, change colours or retitle the terminal."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\x{ord(char):02x}")

    text = _CONTROL_CHARS.sub(escape, text)
    # Lone surrogates come from undecodable file names (surrogateescape).
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class CommandResult:
    """What a command produced: its data, its errors and its exit code.

    A command body returns one; it never prints it and never chooses the format.
    `json_mode` records what the invocation asked for (--json), so that the one
    renderer knows which output to give."""

    command: str
    data: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[DevkitError, ...] = ()
    exit_code: int = 0
    json_mode: bool = False
    # `devkit run --fleet-stdin`: the envelope goes out as the last line of the event
    # stream ({"event": "result", ...}), and stderr stays for what devkit did not plan.
    events: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @classmethod
    def failure(
        cls,
        command: str,
        error: DevkitError,
        *,
        data: Mapping[str, Any] | None = None,
        json_mode: bool = False,
        events: bool = False,
    ) -> CommandResult:
        """A command that stopped on `error`. Without data of its own, `data` repeats the
        error's details, as the envelope always has (`data.diagnostics` of an invalid
        recipe is documented)."""
        return cls(
            command,
            data=dict(error.details) if data is None else data,
            errors=(error,),
            exit_code=int(error.exit_code),
            json_mode=json_mode,
            events=events,
        )


def envelope(result: CommandResult) -> dict[str, Any]:
    """The one JSON document of an invocation (version 1: these six keys)."""
    return {
        "devkit": ENVELOPE_VERSION,
        "command": result.command,
        "ok": result.ok,
        "exit_code": int(result.exit_code),
        "data": dict(result.data),
        "errors": [error.to_json() for error in result.errors],
    }


def error_line(error: DevkitError) -> str:
    """One line for an expected failure; the hint, if any, rides on the same line."""
    text = f"devkit: error: {error.message}"
    if error.hint:
        text += f" (hint: {error.hint})"
    # Masked before escaping: a secret's tab or newline escaped no longer matches.
    return printable(redact(text))


def is_terminal(stream: TextIO) -> bool:
    """Lay output out for a person (live status, progress bars, tables, compact recipe
    lines): the stream is a terminal that can redraw. Colour is a separate choice."""
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def wants_color(stream: TextIO, choice: str | None = None) -> bool:
    """Colour the output: on a terminal by default; NO_COLOR (no-color.org) turns it
    off and wins; FORCE_COLOR (force-color.org) turns it on even in a pipe; then the
    config file's output.color. None of them changes the layout."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if choice is None:
        choice = configured("output.color", "auto")
    return choice == "always" or (choice == "auto" and is_terminal(stream))


def announce_stopping(signum: int) -> None:
    """Tell a person at a terminal that devkit is stopping, and how to force it.

    Called from the signal handler, possibly in the middle of another write to stderr
    (a progress bar's redraw): one raw write of whole lines, never a buffered stream."""
    if not os.isatty(2):
        return
    key = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    text = f"\r\x1b[2Kdevkit: stopping ({key} again to force)\n"
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


class _GuardedStream:
    """A text stream whose writes never raise.

    After SIGHUP the terminal answers EIO; after `| head` the pipe answers EPIPE. The
    first failure points the file descriptor at /dev/null, so that what is still
    buffered (here and in rich) drains there: otherwise the interpreter's final flush
    fails again and replaces devkit's exit code (128 + signal) with 1 or 120. Reading
    attributes (isatty, encoding, fileno) goes to the real stream, so rich and
    `wants_color` see the terminal as it is."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except OSError:
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except OSError:
                self._give_up()

    def _give_up(self) -> None:
        self.broken = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            target = self._stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, target)
            finally:
                os.close(devnull)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()


def _guarded(stream: TextIO) -> TextIO:
    if isinstance(stream, _GuardedStream):
        return cast(TextIO, stream)
    return cast(TextIO, _GuardedStream(stream))


class ProgressSink(Protocol):
    def advance(self, amount: int) -> None: ...


class _NoProgress:
    def advance(self, amount: int) -> None:
        pass


class StatusSink(Protocol):
    def update(self, text: str) -> None: ...


def _rich_console(stream: TextIO, choice: str) -> RichConsole:
    """A rich console for `stream` that follows devkit's colour choice, not rich's own
    guess: FORCE_COLOR colours a pipe without turning on cursor tricks there."""
    from rich.console import Console as RichConsole

    color = wants_color(stream, choice)
    return RichConsole(
        file=stream,
        highlight=False,
        soft_wrap=True,
        force_terminal=color or None,
        no_color=not color,
    )


class _NoStatus:
    def update(self, text: str) -> None:
        pass


class Console:
    """Human or JSON output for one command invocation."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        # Every write below, plain or through rich (its refresh threads included),
        # goes through these guards.
        self._stdout = _guarded(stdout or sys.stdout)
        self._stderr = _guarded(stderr or sys.stderr)
        self._rich_out: RichConsole | None = None
        self._rich_err: RichConsole | None = None
        self._status: Any = None  # a rich Status while live_status() is active
        level = output_level.get()
        # Read once per command, not per styled line (the file is stat'ed to find it).
        self._color_choice: str = configured("output.color", "auto")
        self.level = LEVELS[configured("output.level", "normal")] if level is None else level

    @property
    def quiet(self) -> bool:
        return self.level <= QUIET

    @property
    def verbose(self) -> bool:
        return self.level >= VERBOSE

    # -- styling -----------------------------------------------------------------

    @property
    def styled(self) -> bool:
        """stdout is a terminal: the layout for a person (colour or not)."""
        return is_terminal(self._stdout)

    @property
    def interactive_stderr(self) -> bool:
        return is_terminal(self._stderr)

    def _rich(self, *, err: bool) -> RichConsole:
        if err:
            if self._rich_err is None:
                self._rich_err = _rich_console(self._stderr, self._color_choice)
            return self._rich_err
        if self._rich_out is None:
            self._rich_out = _rich_console(self._stdout, self._color_choice)
        return self._rich_out

    def _write(self, text: str, *, style: str | None, err: bool, end: str = "\n") -> None:
        text = redact(text)  # every line, whoever built it (see devkit.redaction)
        stream = self._stderr if err else self._stdout
        if self._status is not None and is_terminal(stream):
            # Terminal lines go above the live status line, through its console.
            self._rich(err=False).print(
                text, style=style, markup=False, emoji=False, highlight=False, end=end
            )
        elif style and wants_color(stream, self._color_choice):
            self._rich(err=err).print(text, style=style, markup=False, emoji=False, end=end)
        else:
            stream.write(text)  # then `end` alone: no copy of a long text to add it
            if end:
                stream.write(end)
            stream.flush()

    # -- data on stdout ------------------------------------------------------------

    def line(self, text: str = "", *, style: str | None = None, end: str = "\n") -> None:
        """A line of human output on stdout (nothing in JSON mode or with -q); `end=""`
        leaves the line open for more (a long line written in pieces)."""
        if not self.json_mode and not self.quiet:
            self._write(text, style=style, err=False, end=end)

    def detail(self, text: str, *, style: str | None = None) -> None:
        """A line of the per-step log on stdout: only with -v."""
        if self.verbose:
            self.line(text, style=style)

    def summary(self, text: str) -> None:
        """The closing line of a command, shown even with -q (not in JSON mode)."""
        if not self.json_mode:
            self._write(text, style=None, err=False)

    def outcome(self, ok: bool, text: str) -> None:
        """A result line marked with a tick or a cross: the summary, shown even with -q."""
        if self.json_mode:
            return
        if ok:
            self._write(f"✓ {text}", style="green", err=False)
        else:
            self._write(f"✗ {text}", style="bold red", err=False)

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[object]],
        *,
        title: str | None = None,
    ) -> None:
        """A table on stdout: rich on a terminal, aligned plain columns otherwise."""
        if self.json_mode or self.quiet:
            return
        cells = [[printable(redact(str(cell))) for cell in row] for row in rows]
        if self.styled:
            from rich.table import Table

            table = Table(title=title, show_edge=False, header_style="bold")
            for header in headers:
                table.add_column(header, overflow="fold")
            for row in cells:
                table.add_row(*row)
            self._rich(err=False).print(table, markup=False)
            return
        if title:
            self._write(title, style=None, err=False)
        widths = [len(h) for h in headers]
        for row in cells:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
        for row in [list(headers), *cells]:
            text = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            self._write(text, style=None, err=False)

    # -- the final output ------------------------------------------------------------

    def render(self, result: CommandResult) -> int:
        """The one place a command's result becomes output; returns its exit code.

        One line per error on stderr, in both modes (what a command reports on success
        it has already shown as it went); in JSON mode, then, the envelope alone on
        stdout."""
        if result.events:
            document = envelope(result)
            self.event(
                {"event": "result", "exit_code": document["exit_code"], "document": document}
            )
            return int(result.exit_code)
        for error in result.errors:
            self._write(error_line(error), style="bold red", err=True)
        if self.json_mode:
            doc = redact_data(envelope(result))
            import json  # only --json documents and log lines: not every run pays for it

            self._stdout.write(json.dumps(doc, sort_keys=True, indent=2, default=str) + "\n")
            self._stdout.flush()
        return int(result.exit_code)

    def event(self, record: Mapping[str, Any]) -> None:
        """One JSON object on one line of stdout, masked, flushed at once: the event
        stream a fleet controller reads from a host (devkit/cli/remote.py). ASCII
        only, so that no locale on either side can garble or refuse it."""
        import json

        line = json.dumps(redact_data(dict(record)), separators=(",", ":"), default=str)
        self._stdout.write(line + "\n")
        self._stdout.flush()

    # -- diagnostics on stderr -----------------------------------------------------

    def notice(self, text: str, *, style: str | None = None, end: str = "\n") -> None:
        """A line on stderr in every mode: diagnostics, live logs next to --json."""
        self._write(text, style=style, err=True, end=end)

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question on the terminal; False (no) when stdin is not one."""
        isatty = getattr(sys.stdin, "isatty", None)
        if not (isatty and isatty()):
            return False
        if self._status is not None:
            self._status.stop()  # the live status line would draw over the question
        try:
            self._stderr.write(f"{printable(redact(question))} [y/N] ")
            self._stderr.flush()
            return sys.stdin.readline().strip().lower() in ("y", "yes")
        finally:
            if self._status is not None:
                self._status.start()

    def info(self, text: str) -> None:
        if not self.quiet:
            self._write(text, style="dim", err=True)

    def warn(self, text: str) -> None:
        self._write(f"warning: {text}", style="yellow", err=True)

    @contextmanager
    def live_status(self) -> Iterator[StatusSink]:
        """A transient one-line status (spinner and text) kept under the output, only
        when stdout is a terminal (and not with -q); lines printed meanwhile scroll
        above it."""
        if self.json_mode or not self.styled or self.quiet:
            yield _NoStatus()
            return
        status = self._rich(err=False).status("", spinner="dots")
        status.start()
        self._status = status
        try:
            from rich.text import Text

            class _Sink:
                def update(self, text: str) -> None:
                    status.update(Text(printable(redact(text))))  # Text: no markup in names

            yield _Sink()
        finally:
            self._status = None
            status.stop()

    @contextmanager
    def progress(
        self, label: str, total: int | None, *, unit: str = "bytes"
    ) -> Iterator[ProgressSink]:
        """A progress bar on stderr, only when stderr is a terminal (and not with -q).

        `unit` "bytes" shows size, rate and time left; any other unit names what is
        counted ("repositories") and shows done/total and the time taken."""
        if not self.interactive_stderr or self.quiet:
            yield _NoProgress()
            return
        from rich.progress import BarColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *_progress_columns(unit),
            console=self._rich(err=True),
            transient=True,
        ) as bar:
            task = bar.add_task(printable(label), total=total)

            class _Sink:
                def advance(self, amount: int) -> None:
                    bar.advance(task, amount)

            yield _Sink()


def _progress_columns(unit: str) -> list[Any]:
    from rich.progress import (
        DownloadColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if unit == "bytes":
        return [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    return [MofNCompleteColumn(), TextColumn(printable(unit), markup=False), TimeElapsedColumn()]
