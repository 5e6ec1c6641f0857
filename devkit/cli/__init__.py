"""The Typer application: thin commands that parse options, call core code and report.

Each capability registers its commands from its own module (`register(app)`); none of
them may import py7zr, rarfile, PyYAML or rich at module level. The root
group loads a command's module only when that command is run or listed, so
`devkit --version` and `devkit sync --help` do not pay for every other command.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types
from difflib import get_close_matches
from typing import Annotated, Any

import typer
import typer.core
import typer.main
import typer.utils

from devkit import __version__
from devkit.cli.examples import epilog
from devkit.console import QUIET, VERBOSE, is_terminal, output_level

# Command name -> module under devkit.cli that registers it, in the order --help lists.
COMMAND_MODULES: dict[str, str] = {
    "run": "run",
    "extract": "extract",
    "init": "git",
    "stage": "git",
    "commit": "git",
    "sync": "git",
    "conflicts": "git",
    "undo": "git",
    "fleet": "fleet",
    "config": "configcmd",
    "man": "manpage",
}


def command_name(info: typer.models.CommandInfo) -> str:
    if info.name:
        return info.name
    assert info.callback is not None
    return info.callback.__name__.replace("_", "-")


def help_markup_mode() -> typer.core.MarkupMode:
    """Help as rich panels for a person at a terminal (without colour under NO_COLOR);
    plain text for pipes and scripts, which also spares them importing rich (~100 ms)."""
    if not is_terminal(sys.stdout):
        return None
    _load_rich_help()
    return "rich"


# typer.rich_utils imports these at module level for features devkit never uses
# (Markdown help, pretty tracebacks); with them come markdown_it and pygments, about
# half the time of a terminal --help.
_UNUSED_BY_HELP = (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback"))


def _load_rich_help() -> None:
    """Import typer.rich_utils with stand-ins for the modules of `_UNUSED_BY_HELP`,
    then take the stand-ins away, so that any later import gets the real modules. A
    stand-in class imports the real one if it is ever used."""
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins = {}
    for module_name, class_name in _UNUSED_BY_HELP:
        if module_name not in sys.modules:
            module = types.ModuleType(module_name)
            setattr(module, class_name, _deferred_class(module_name, class_name))
            stand_ins[module_name] = module
    sys.modules.update(stand_ins)
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for module_name, module in stand_ins.items():
            if sys.modules.get(module_name) is module:
                del sys.modules[module_name]


def _deferred_class(module_name: str, class_name: str) -> type:
    def create(cls: type, *args: Any, **kwargs: Any) -> Any:
        real = getattr(importlib.import_module(module_name), class_name)
        return real(*args, **kwargs)

    return type(class_name, (), {"__new__": create})


def _command_info(name: str) -> typer.models.CommandInfo:
    """Import the module that registers `name` and return its registration."""
    module = importlib.import_module(f"devkit.cli.{COMMAND_MODULES[name]}")
    commands = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    module.register(commands)
    return next(info for info in commands.registered_commands if command_name(info) == name)


def build_command(name: str) -> Any:
    """The full command, options and all, as Typer builds it (only for the one run),
    with the output-level options every command shares."""
    commands = typer.Typer(
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=help_markup_mode(),
    )
    commands.registered_commands = [_command_info(name)]
    command = typer.main.get_group(commands).commands[name]
    for param in command.params:
        if isinstance(param, typer.core.TyperArgument) and param.metavar and param.required:
            # Typer writes a required argument as {ARCHIVE...}; usage lines name it plainly.
            param.make_metavar = functools.partial(_plain_metavar, param.metavar)  # type: ignore[method-assign]
    command.params.extend(_output_level_options())
    command.epilog = epilog(name, rich=commands.rich_markup_mode == "rich")
    return command


def _plain_metavar(metavar: str, ctx: Any, *, usage: bool = False) -> str:
    return metavar


def _set_output_level(level: int) -> Any:
    def callback(ctx: Any, param: Any, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            output_level.set(level)

    return callback


def _output_level_options() -> list[Any]:
    """`-q` and `-v`, for every command; they set the level the command's Console reads."""

    def options(
        quiet: Annotated[
            bool,
            typer.Option(
                "--quiet",
                "-q",
                help="Only problems and the summary.",
                callback=_set_output_level(QUIET),
                expose_value=False,
            ),
        ] = False,
        verbose: Annotated[
            bool,
            typer.Option(
                "--verbose",
                "-v",
                help="Also the per-step log.",
                callback=_set_output_level(VERBOSE),
                expose_value=False,
            ),
        ] = False,
    ) -> None:
        """Only here for Typer to read the options from."""

    params = typer.utils.get_params_from_function(options).values()
    return [typer.main.get_click_param(param)[0] for param in params]


def describe_command(name: str) -> Any:
    """Name and help text only: enough for the root --help listing, without building
    every option of every command (Typer resolves each annotation, which is slow)."""
    info = _command_info(name)
    help_text = info.help or inspect.getdoc(info.callback)
    return typer.core.TyperCommand(
        name,
        help=inspect.cleandoc(help_text) if help_text else None,
        short_help=info.short_help,
        hidden=info.hidden,
        deprecated=info.deprecated,
        rich_help_panel=info.rich_help_panel,
    )


class LazyCommandGroup(typer.core.TyperGroup):
    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMAND_MODULES)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMAND_MODULES:
            return self.commands.get(cmd_name)
        if self._listing:
            return describe_command(cmd_name)
        self.commands[cmd_name] = build_command(cmd_name)
        return self.commands[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as error:
            # Typer suggests from the commands built so far; suggest from all of them.
            matches = get_close_matches(args[0], list(COMMAND_MODULES)) if args else []
            message = getattr(error, "message", "")
            if matches and "Did you mean" not in message:
                suggestions = ", ".join(repr(match) for match in matches)
                error.message = f"{message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        # Completing a command name needs each command's name and help, not its options.
        self._listing = True
        try:
            return super().shell_complete(ctx, incomplete)
        finally:
            self._listing = False

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.rich_markup_mode = help_markup_mode()
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="devkit",
    cls=LazyCommandGroup,
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"devkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Git flows that never lose work, safe archive extraction and YAML recipes.

    Exit codes: 0 ok, 1 failed, 2 usage or invalid input, 3 internal error,
    4 missing external tool, 129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM.
    Add --json to any command for one machine-readable JSON document on stdout.
    """
