"""The inventory: which hosts a fleet run reaches, how, and with which variables.

```yaml
defaults:                    # for every host
  user: deploy
  vars: {app_dir: /srv/app}
groups:
  web:
    hosts: ["web[01:04].example.com"]
    vars: {workers: 4}
  db:
    hosts: [db1.example.com]
    port: 2222
hosts:                       # per-host settings (the host need not be in a group)
  web01.example.com:
    ssh_alias: w1            # a Host entry of ~/.ssh/config
    vars: {workers: 8}
```

Connection fields are only what `~/.ssh/config` cannot express for one run:
`ssh_alias`, `user`, `port` and `ssh_options` (OpenSSH options by name). Settings
apply in the order defaults, then groups (as the file lists them), then the host.
Options that would weaken host-key checking or fight devkit's own connection
handling are refused. Every problem is reported at once, at `file:line:col`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit.errors import InvalidInput
from devkit.fleet.hosts import HostPatternError, expand_hosts, expand_pattern, select_hosts
from devkit.recipe.errors import Diagnostic, Position

CONNECTION_FIELDS = ("ssh_alias", "user", "port", "ssh_options")
_TOP_KEYS = ("defaults", "groups", "hosts")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_OPTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# devkit decides these itself: host keys are always checked, the connection is
# multiplexed and non-interactive; an inventory may not turn that off.
_REFUSED_OPTIONS = {
    "stricthostkeychecking": "use --accept-new-host-keys to accept keys of new hosts",
    "userknownhostsfile": "keep known hosts in ~/.ssh/known_hosts (or ~/.ssh/config)",
    "globalknownhostsfile": "keep known hosts in ~/.ssh/known_hosts (or ~/.ssh/config)",
    "batchmode": "devkit always connects with BatchMode=yes",
    "controlmaster": "devkit opens one shared connection per host itself",
    "controlpath": "devkit opens one shared connection per host itself",
    "controlpersist": "devkit opens one shared connection per host itself",
    "permitlocalcommand": "local commands are not allowed",
    "localcommand": "local commands are not allowed",
}


class InventoryInvalid(InvalidInput):
    """The inventory has problems; nothing ran (exit 2)."""

    default_code = "invalid_inventory"

    def __init__(self, file: str, diagnostics: list[Diagnostic]) -> None:
        ordered = sorted(diagnostics, key=lambda d: (d.position, d.message))
        noun = "problem" if len(ordered) == 1 else "problems"
        super().__init__(
            f"{file}: {len(ordered)} {noun} in the inventory; nothing ran",
            hint="fix the lines shown above",
            details={"diagnostics": [d.to_json() for d in ordered]},
        )
        self.diagnostics = ordered


@dataclass(frozen=True)
class Host:
    name: str
    groups: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    ssh_alias: str | None = None
    user: str | None = None
    port: int | None = None
    ssh_options: tuple[tuple[str, str], ...] = ()

    @property
    def destination(self) -> str:
        """What ssh connects to: the ~/.ssh/config alias if there is one."""
        return self.ssh_alias or self.name


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[Host, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def select(self, limit: str | None) -> list[Host]:
        """The hosts a `--limit` pattern keeps (all without one), in inventory order."""
        if limit is None:
            return list(self.hosts)
        names = select_hosts([h.name for h in self.hosts], limit, self.groups)
        chosen = set(names)
        return [host for host in self.hosts if host.name in chosen]


def choose_hosts(
    hosts: str | None,
    inventory: Path | None,
    *,
    limit: str | None = None,
    pattern: str | None = None,
) -> list[Host]:
    """The hosts of `--hosts` or `--inventory` (exactly one of them), kept by a recipe's
    `fleet: hosts:` pattern and by `--limit`, in inventory order; InvalidInput when the
    selection is empty."""
    if (hosts is None) == (inventory is None):
        raise InvalidInput(
            "name the hosts with --hosts or --inventory: one of them, not both",
            code="usage",
            hint="e.g. --hosts 'web[1:3]'",
        )
    chosen_from = load_inventory(inventory) if inventory else inventory_from_hosts(hosts or "")
    chosen = chosen_from.select(pattern)
    if limit is not None:
        keep = {host.name for host in chosen_from.select(limit)}
        chosen = [host for host in chosen if host.name in keep]
    if not chosen:
        given = []
        if limit is not None:
            given.append(f"--limit {limit!r}")
        if pattern is not None:
            given.append(f"the recipe's 'fleet: hosts: {pattern}'")
        why = f"{' with '.join(given)} selects no host" if given else "no host is named"
        raise InvalidInput(
            f"the host selection is empty: {why}",
            code="no_hosts",
            hint="compare the pattern with the host names and groups",
        )
    return chosen


def inventory_from_hosts(text: str) -> Inventory:
    """The inventory a `--hosts` value makes: the hosts, nothing else."""
    return Inventory(tuple(Host(name) for name in expand_hosts(text)))


def load_inventory(path: Path) -> Inventory:
    from devkit.recipe.loader import PosDict, load_yaml, read_recipe_text

    name = str(path)
    root, source, diagnostics = load_yaml(read_recipe_text(path), name=name)
    reader = _Reader(source, diagnostics)
    inventory = None
    if root is not None and not diagnostics:
        if isinstance(root, PosDict):
            inventory = reader.inventory(root)
        else:
            reader.error(root, "an inventory is a mapping with defaults, groups and hosts")
    elif root is None and not diagnostics:
        reader.error(None, "the inventory is empty: it needs groups: or hosts:")
    if reader.diagnostics or inventory is None:
        raise InventoryInvalid(name, reader.diagnostics)
    return inventory


@dataclass
class _Settings:
    vars: dict[str, Any] = field(default_factory=dict)
    connection: dict[str, Any] = field(default_factory=dict)

    def then(self, other: _Settings) -> _Settings:
        return _Settings({**self.vars, **other.vars}, {**self.connection, **other.connection})


class _Reader:
    def __init__(self, source: Any, diagnostics: list[Diagnostic]) -> None:
        self.source = source
        self.diagnostics = list(diagnostics)

    def error(self, node: Any, message: str) -> None:
        pos = getattr(node, "pos", None) or Position(self.source.name, 1, 1)
        self.diagnostics.append(self.source.diagnostic(pos, message))

    def key_error(self, mapping: Any, key: str, message: str) -> None:
        pos = mapping.key_pos.get(key) if hasattr(mapping, "key_pos") else None
        self.diagnostics.append(self.source.diagnostic(pos or mapping.pos, message))

    def inventory(self, root: Any) -> Inventory:
        for key in root:
            if key not in _TOP_KEYS:
                self.key_error(root, key, f"unknown key {key!r} (expected defaults, groups, hosts)")
        defaults = self.settings(root.get("defaults"), "defaults", allow_hosts=False)
        members, group_settings = self.groups(root.get("groups"))
        host_settings = self.host_entries(root.get("hosts"))
        order: list[str] = []
        for name in [*(h for hosts in members.values() for h in hosts), *host_settings]:
            if name not in order:
                order.append(name)
        hosts = []
        for name in order:
            in_groups = tuple(group for group, names in members.items() if name in names)
            merged = defaults
            for group in in_groups:
                merged = merged.then(group_settings[group])
            merged = merged.then(host_settings.get(name, _Settings()))
            hosts.append(_host(name, in_groups, merged))
        if not hosts and not self.diagnostics:
            self.error(root, "the inventory names no hosts")
        return Inventory(tuple(hosts), {g: tuple(n) for g, n in members.items()})

    def groups(self, node: Any) -> tuple[dict[str, list[str]], dict[str, _Settings]]:
        members: dict[str, list[str]] = {}
        settings: dict[str, _Settings] = {}
        if node is None:
            return members, settings
        if not isinstance(node, dict):
            self.error(node, "'groups' is a mapping of group names")
            return members, settings
        for group, body in node.items():
            if not _VAR_NAME.fullmatch(group):
                self.key_error(node, group, f"invalid group name {group!r}")
            members[group] = self.group_hosts(body, group)
            settings[group] = self.settings(body, f"group {group!r}", allow_hosts=True)
        return members, settings

    def group_hosts(self, body: Any, group: str) -> list[str]:
        hosts = body.get("hosts") if isinstance(body, dict) else None
        if not isinstance(hosts, list) or not hosts:
            self.error(body, f"group {group!r} needs 'hosts:', a list of host names or ranges")
            return []
        names: list[str] = []
        for item in hosts:
            try:
                names += [n for n in expand_pattern(str(item)) if n not in names]
            except HostPatternError as error:
                self.error(item, error.message)
        return names

    def host_entries(self, node: Any) -> dict[str, _Settings]:
        entries: dict[str, _Settings] = {}
        if node is None:
            return entries
        if not isinstance(node, dict):
            self.error(node, "'hosts' is a mapping of host names to their settings")
            return entries
        for name, body in node.items():
            try:
                expand_pattern(name)
            except HostPatternError as error:
                self.key_error(node, name, error.message)
            if "[" in name:
                self.key_error(node, name, "a host entry names one host (ranges go in groups)")
            entries[name] = self.settings(body, f"host {name!r}", allow_hosts=False)
        return entries

    def settings(self, node: Any, where: str, *, allow_hosts: bool) -> _Settings:
        result = _Settings()
        if node is None or (hasattr(node, "null") and node.null):
            return result
        if not isinstance(node, dict):
            self.error(node, f"{where} is a mapping")
            return result
        allowed = {"vars", *CONNECTION_FIELDS, *(("hosts",) if allow_hosts else ())}
        for key, value in node.items():
            if key not in allowed:
                self.key_error(node, key, f"unknown key {key!r} in {where}")
            elif key == "vars":
                result.vars = self.variables(value, where)
            elif key != "hosts":
                result.connection[key] = self.connection_field(key, value)
        return result

    def variables(self, node: Any, where: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            self.error(node, f"'vars' of {where} is a mapping of names to values")
            return {}
        for name in node:
            if not _VAR_NAME.fullmatch(name):
                self.key_error(node, name, f"invalid variable name {name!r}")
        return {name: _plain(value) for name, value in node.items()}

    def connection_field(self, key: str, value: Any) -> Any:
        if key == "port":
            text = str(value)
            if not text.isdigit() or not 0 < int(text) < 65536:
                self.error(value, f"port must be a number from 1 to 65535, got {text!r}")
                return None
            return int(text)
        if key == "ssh_options":
            return self.ssh_options(value)
        text = str(value)
        pattern = _USER if key == "user" else None
        if key == "ssh_alias":
            try:
                expand_pattern(text)
            except HostPatternError as error:
                self.error(value, error.message)
        elif pattern is not None and not pattern.fullmatch(text):
            self.error(value, f"invalid {key} {text!r}")
        return text

    def ssh_options(self, node: Any) -> tuple[tuple[str, str], ...]:
        if not isinstance(node, dict):
            self.error(node, "ssh_options is a mapping of OpenSSH option names to values")
            return ()
        options = []
        for name, value in node.items():
            refused = _REFUSED_OPTIONS.get(name.lower())
            if not _OPTION_NAME.fullmatch(name):
                self.key_error(node, name, f"invalid OpenSSH option name {name!r}")
            elif refused:
                self.key_error(node, name, f"ssh option {name} is not allowed: {refused}")
            elif "\n" in str(value) or "\0" in str(value):
                self.error(value, f"ssh option {name} has a line break in its value")
            else:
                options.append((name, str(value)))
        return tuple(options)


def _plain(value: Any) -> Any:
    """Positioned YAML values as plain Python (strings, lists, dicts, None)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if getattr(value, "null", False):
        return None
    return str(value)


def _host(name: str, groups: Sequence[str], settings: _Settings) -> Host:
    connection = settings.connection
    return Host(
        name=name,
        groups=tuple(groups),
        vars=settings.vars,
        ssh_alias=connection.get("ssh_alias"),
        user=connection.get("user"),
        port=connection.get("port"),
        ssh_options=connection.get("ssh_options") or (),
    )
