"""`devkit man`: the manual page, in roff, from the same definitions as `--help`.

Servers often have `man` and no browser. The page is built from the commands' own
help texts, usage and options, so it can never drift from `devkit CMD --help`; the
repository keeps the output as docs/devkit.1 (a test checks that it is current).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer

from devkit import __version__
from devkit.cli.common import JsonOption
from devkit.cli.examples import EXAMPLES
from devkit.console import CommandResult, Console

# What the page says about devkit's environment and exit codes (the README has more).
ENVIRONMENT = (
    ("DEVKIT_CONFIG", "The config file (default: $XDG_CONFIG_HOME/devkit/config.toml)."),
    ("DEVKIT_SYNC_MODE, DEVKIT_SYNC_JOBS", "Defaults of devkit sync (see devkit config)."),
    (
        "DEVKIT_EXTRACT_MAX_BYTES, DEVKIT_EXTRACT_MAX_RATIO, DEVKIT_EXTRACT_RATIO_AFTER,"
        " DEVKIT_EXTRACT_MAX_ENTRIES",
        "Default caps of devkit extract.",
    ),
    ("DEVKIT_OUTPUT_LEVEL, DEVKIT_TIMESTAMPS", "quiet|normal|verbose; stamp every run line."),
    ("NO_COLOR", "Turn colour off (the layout does not change)."),
    ("FORCE_COLOR", "Colour the output even when it is not a terminal."),
    ("DEVKIT_DEBUG", "Set to 1 to show the traceback of an internal error."),
    ("DEVKIT_7ZZ", "The 7-Zip binary to use instead of the one devkit ships."),
    ("XDG_STATE_HOME", "Where recipe state goes when the recipe's folder is read-only."),
)
EXIT_STATUS = (
    ("0", "Success."),
    ("1", "The operation failed (a refused sync, a damaged archive, a failed step)."),
    ("2", "Usage error or invalid input (an unknown option, an invalid recipe)."),
    ("3", "Internal error (a bug in devkit)."),
    ("4", "A required external tool is missing."),
    ("129, 130, 143", "Interrupted by SIGHUP, SIGINT (Ctrl-C) or SIGTERM."),
)


def roff_text(text: str) -> str:
    """Text safe in a roff body: backslashes escaped, no line read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines()
    )


def _paragraphs(text: str) -> list[str]:
    lines = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(text)):
        lines.append(".PP")
        lines.append(roff_text(" ".join(block.split())))
    return lines


def _command_section(name: str) -> list[str]:
    from devkit.cli import build_command

    command = build_command(name)
    ctx = typer.Context(command, info_name=name)
    usage = " ".join(command.collect_usage_pieces(ctx))
    lines = [f".SS devkit {name}", f".B devkit {name}", roff_text(usage)]
    lines += _paragraphs(command.help or "")
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        lines += [".TP", f".B {roff_text(names)}", roff_text(help_text or "")]
    examples = EXAMPLES.get(name, ())
    if examples:
        lines += [".PP", "Examples:", ".PP", ".RS", ".nf"]
        lines += [roff_text(f"{command}    # {why}") for command, why in examples]
        lines += [".fi", ".RE"]
    return lines


def manual_page() -> str:
    """The whole page: NAME, SYNOPSIS, DESCRIPTION, one subsection per command,
    ENVIRONMENT and EXIT STATUS."""
    from devkit.cli import COMMAND_MODULES, app

    root_help = app.registered_callback.callback.__doc__ if app.registered_callback else ""
    lines = [
        f'.TH DEVKIT 1 "" "devkit {__version__}" "User Commands"',
        ".SH NAME",
        "devkit \\- git flows that never lose work, safe archive extraction, YAML recipes",
        ".SH SYNOPSIS",
        ".B devkit",
        "COMMAND [OPTIONS] [ARGUMENTS]",
        ".SH DESCRIPTION",
        *_paragraphs(root_help or ""),
        ".SH COMMANDS",
    ]
    for name in COMMAND_MODULES:
        lines += _command_section(name)
    lines.append(".SH ENVIRONMENT")
    for variable, meaning in ENVIRONMENT:
        lines += [".TP", f".B {variable}", roff_text(meaning)]
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines += [".TP", f".B {code}", roff_text(meaning)]
    return "\n".join(lines) + "\n"


def register(app: typer.Typer) -> None:
    @app.command("man")
    def man(json_output: JsonOption = False) -> Any:
        """Print the manual page (roff): devkit man | man -l -

        Built from the same help texts as --help; to install it for `man devkit`,
        write it to a man1 folder, e.g. devkit man > ~/.local/share/man/man1/devkit.1
        """
        from devkit.cli.common import run_command

        def body(console: Console) -> CommandResult:
            page = manual_page()
            console.line(page.rstrip("\n"))
            return CommandResult("man", {"page": page})

        return run_command("man", json_mode=json_output, body=body)
