"""`devkit config`: every setting's effective value and where it came from."""

from __future__ import annotations

import os
from typing import Any

import typer

from devkit.cli.common import JsonOption, run_command
from devkit.console import CommandResult, Console


def _shown(value: Any) -> str:
    if value is None:
        return "(automatic)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def register(app: typer.Typer) -> None:
    @app.command("config")
    def config(json_output: JsonOption = False) -> CommandResult:
        """Show every setting, its value and where it came from.

        Settings come from devkit's defaults, then the file
        ~/.config/devkit/config.toml ($XDG_CONFIG_HOME or $DEVKIT_CONFIG move it),
        then environment variables (DEVKIT_SYNC_MODE, ...), then the command line,
        each beating the one before. The file has [sync] mode/jobs, [extract]
        max_bytes/max_ratio/max_entries and [output] color/level/timestamps.
        """

        def body(console: Console) -> CommandResult:
            from devkit.config import BY_KEY, load_config

            settings = load_config()
            values = settings.explain()
            rows = []
            for value in values:
                origin = f"{value.source} ({value.origin})" if value.origin else value.source
                rows.append([value.key, _shown(value.value), origin, BY_KEY[value.key].help])
            console.table(["setting", "value", "from", "meaning"], rows)
            exists = os.path.isfile(settings.path)
            console.summary(f"file: {settings.path}" + ("" if exists else " (not present)"))
            return CommandResult(
                "config",
                {
                    "file": str(settings.path),
                    "file_exists": exists,
                    "settings": [value.to_json() for value in values],
                },
            )

        return run_command("config", json_mode=json_output, body=body)
