"""`devkit fleet install`: the same devkit on many servers, over the system's ssh."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from devkit.cli.common import (
    AcceptNewHostKeysOption,
    ConnectTimeoutOption,
    HostsOption,
    InventoryOption,
    JsonOption,
    LimitOption,
    run_command,
)
from devkit.console import CommandResult, Console, printable
from devkit.errors import DevkitError, InvalidInput, OperationFailed

if TYPE_CHECKING:
    from devkit.fleet.inventory import Host

ACTIONS = ("install",)


def register(app: typer.Typer) -> None:
    @app.command("fleet")
    def fleet(
        action: Annotated[
            str, typer.Argument(metavar="install", help="What to do on every host: install.")
        ],
        hosts: HostsOption = None,
        inventory: InventoryOption = None,
        limit: LimitOption = None,
        forks: Annotated[
            int, typer.Option("--forks", "-f", min=1, metavar="N", help="Hosts at once.")
        ] = 10,
        connect_timeout: ConnectTimeoutOption = 10,
        accept_new_host_keys: AcceptNewHostKeysOption = False,
        json_output: JsonOption = False,
    ) -> CommandResult:
        """Install this devkit on every host, over ssh; hosts need python3, no internet.

        The hosts get a pack of this devkit and its dependencies, built from this
        installation (so they need the same Python version, machine and platform),
        under ~/.local/share/devkit/packs/. A host that has it already is sent nothing.
        Connections use your ~/.ssh/config, keys and known_hosts; host keys are always
        checked. Exit 0 when every host has it, 1 otherwise.
        """

        def body(console: Console) -> CommandResult:
            if action not in ACTIONS:
                raise InvalidInput(
                    f"unknown fleet action {action!r}", code="usage", hint="use: install"
                )
            from devkit.fleet.inventory import choose_hosts

            chosen = choose_hosts(hosts, inventory, limit=limit)
            return _install(console, chosen, forks, connect_timeout, accept_new_host_keys)

        return run_command("fleet", json_mode=json_output, body=body)


def _install(
    console: Console, hosts: list[Host], forks: int, timeout: int, accept_new: bool
) -> CommandResult:
    import os

    from devkit.fleet.hosts import natural_key
    from devkit.fleet.install import install_all
    from devkit.fleet.pack import current_pack
    from devkit.fleet.ssh import SshSettings, connections

    with console.live_status() as status:
        status.update("building the pack of this devkit")
        pack = current_pack()
        settings = SshSettings(connect_timeout=timeout, accept_new_host_keys=accept_new)
        env = dict(os.environ)
        with connections() as pool:
            status.update(f"connecting to {len(hosts)} host(s)")
            reached = pool.connect(hosts, settings, env=env, forks=forks)
            status.update(f"installing devkit on {sum(r.ok for r in reached)} host(s)")
            results = install_all(reached, pool.masters, pack, env, forks)
    results.sort(key=lambda r: natural_key(r.host))
    width = max(len(r.host) for r in results)
    for result in results:
        text = printable(f"{result.host.ljust(width)}  {result.status}: {result.message}")
        console.line(f"{'✓' if result.ok else '✗'} {text}", style=None if result.ok else "red")
    done = sum(r.ok for r in results)
    console.summary(f"{done} of {len(results)} host(s) have devkit (pack {pack.name})")
    errors: tuple[DevkitError, ...] = tuple(
        OperationFailed(
            f"{r.host}: {r.status}: {r.message}",
            code=f"host_{r.status}",
            hint=_hint(r.status),
            details={"host": r.host},
        )
        for r in results
        if not r.ok
    )
    document = {
        "pack": {"name": pack.name, "sha256": pack.sha256, "bytes": pack.size,
                 "distributions": list(pack.distributions)},
        "hosts": [r.to_json() for r in results],
    }  # fmt: skip
    return CommandResult("fleet", document, errors, 1 if errors else 0)


def _hint(status: str) -> str | None:
    return {
        "unreachable": "check the name, the network and ssh's own message above",
        "incompatible": "install devkit on that host with pipx or uv tool install",
    }.get(status)
