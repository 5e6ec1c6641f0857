"""The user's defaults: one TOML file, overridden by the environment, then by flags.

`$XDG_CONFIG_HOME/devkit/config.toml` (else `~/.config/devkit/config.toml`; the
DEVKIT_CONFIG variable names another file):

```toml
[sync]
mode = "ff-only"          # rebase | merge | ff-only
jobs = 4

[extract]
max_bytes = "32G"
max_entries = 2000000

[output]
color = "never"           # auto | always | never
level = "quiet"           # quiet | normal | verbose
timestamps = true         # devkit run: stamp every line
```

A flag beats the environment, which beats the file, which beats devkit's default;
`devkit config` shows every value and where it came from. The file is read at most
once per process, and only by commands that need a value from it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from devkit.errors import InvalidInput

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return value

    return parse


def _positive_int(value: Any) -> int:
    number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError("a whole number of at least 1")
    return number


def _positive_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("a number above 0") from None
    if isinstance(value, bool) or not number > 0:
        raise ValueError("a number above 0")
    return number


def _size(value: Any) -> int:
    """Bytes from 1048576, "50M", "2G" or "1.5T" (powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if not match or isinstance(value, bool):
        raise ValueError("a size such as 500M or 16G")
    number, unit = float(match.group(1)), match.group(2).upper()
    size = int(number * 1024 ** " KMGT".index(unit or " "))
    if size < 1:
        raise ValueError("a size above 0")
    return size


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("true or false")


def _extract_default(name: str) -> Callable[[], Any]:
    def default() -> Any:
        from devkit.archive import model

        return getattr(model, name)

    return default


@dataclass(frozen=True)
class Setting:
    key: str
    help: str
    parse: Callable[[Any], Any]
    default: Callable[[], Any]
    env: str | None = None

    @property
    def section(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split(".", 1)[1]


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "sync.mode",
        "default mode of devkit sync (rebase on a terminal, else ff-only)",
        _choice("rebase", "merge", "ff-only"),
        lambda: None,
        "DEVKIT_SYNC_MODE",
    ),
    Setting(
        "sync.jobs",
        "repositories devkit sync works on at once (default: CPUs, at most 8)",
        _positive_int,
        lambda: None,
        "DEVKIT_SYNC_JOBS",
    ),
    Setting(
        "extract.max_bytes",
        "hard cap on bytes one extraction writes",
        _size,
        _extract_default("DEFAULT_MAX_BYTES"),
        "DEVKIT_EXTRACT_MAX_BYTES",
    ),
    Setting(
        "extract.max_ratio",
        "cap on bytes written per byte of archive",
        _positive_float,
        _extract_default("DEFAULT_MAX_RATIO"),
        "DEVKIT_EXTRACT_MAX_RATIO",
    ),
    Setting(
        "extract.ratio_after",
        "bytes written before the ratio cap applies",
        _size,
        _extract_default("DEFAULT_RATIO_AFTER"),
        "DEVKIT_EXTRACT_RATIO_AFTER",
    ),
    Setting(
        "extract.max_entries",
        "cap on the number of members of one archive",
        _positive_int,
        _extract_default("DEFAULT_MAX_ENTRIES"),
        "DEVKIT_EXTRACT_MAX_ENTRIES",
    ),
    Setting(
        "output.color",
        "colour: auto (on a terminal), always, never (NO_COLOR and FORCE_COLOR win)",
        _choice("auto", "always", "never"),
        lambda: "auto",
    ),
    Setting(
        "output.level",
        "how much commands say: quiet, normal or verbose (-q and -v win)",
        _choice("quiet", "normal", "verbose"),
        lambda: "normal",
        "DEVKIT_OUTPUT_LEVEL",
    ),
    Setting(
        "output.timestamps",
        "devkit run stamps every output line (like --timestamps)",
        _boolean,
        lambda: False,
        "DEVKIT_TIMESTAMPS",
    ),
)
BY_KEY = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Value:
    """One effective setting and where it came from."""

    key: str
    value: Any
    source: str  # default | file | environment | flag
    origin: str | None = None  # the file's path or the variable's name

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source, "origin": self.origin}


class ConfigInvalid(InvalidInput):
    default_code = "invalid_config"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("DEVKIT_CONFIG"):
        return Path(env["DEVKIT_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "devkit" / "config.toml"


class Config:
    """The file's values and the environment, read once; `value()` resolves a key."""

    def __init__(self, path: Path, values: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.path = path
        self.file_values = dict(values)
        self.environ = environ

    def resolve(self, key: str, flag: Any = None) -> Value:
        setting = BY_KEY[key]
        if flag is not None:
            return Value(key, flag, "flag")
        raw = self.environ.get(setting.env) if setting.env else None
        if raw:
            try:
                return Value(key, setting.parse(raw), "environment", setting.env)
            except ValueError as error:
                raise ConfigInvalid(
                    f"{setting.env}={raw!r}: expected {error}", hint=f"{key}: {setting.help}"
                ) from None
        if key in self.file_values:
            return Value(key, self.file_values[key], "file", str(self.path))
        return Value(key, setting.default(), "default")

    def value(self, key: str, flag: Any = None) -> Any:
        return self.resolve(key, flag).value

    def explain(self) -> list[Value]:
        return [self.resolve(setting.key) for setting in SETTINGS]


_cache: dict[tuple[str, float | None], dict[str, Any]] = {}


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """The configuration for this process: the file (if any) parsed and checked."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    try:
        stamp: float | None = path.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        # Not there, or in a folder this user may not look into (another user's home
        # after `sudo -u`): as with git's own XDG files, there is no file to read.
        stamp = None
    except OSError as error:
        raise ConfigInvalid(f"cannot read {path}: {error.strerror}") from None
    cached = _cache.get((str(path), stamp))
    if cached is None:
        cached = _read(path) if stamp is not None else {}
        _cache[(str(path), stamp)] = cached
    return Config(path, cached, env)


def _read(path: Path) -> dict[str, Any]:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigInvalid(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigInvalid(
            f"{path}: invalid TOML: {error}", hint="see 'devkit config --help' for the format"
        ) from None
    return _checked(path, document)


def _checked(path: Path, document: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    for section, table in document.items():
        if not isinstance(table, dict):
            problems.append(f"{section}: expected a [{section}] table")
            continue
        for name, raw in table.items():
            key = f"{section}.{name}"
            setting = BY_KEY.get(key)
            if setting is None:
                close = get_close_matches(key, list(BY_KEY), n=1)
                guess = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"unknown setting {key}{guess}")
                continue
            try:
                values[key] = setting.parse(raw)
            except ValueError as error:
                problems.append(f"{key} = {raw!r}: expected {error}")
    if problems:
        raise ConfigInvalid(
            f"{path}: " + "; ".join(problems),
            hint="'devkit config --help' lists the settings",
            details={"problems": problems, "file": str(path)},
        )
    return values
