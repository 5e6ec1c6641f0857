"""Inventory files: hosts, groups, settings in order, and every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from devkit.fleet.inventory import InventoryInvalid, load_inventory

INVENTORY = """\
defaults:
  user: deploy
  vars: {app_dir: /srv/app, workers: "2"}
groups:
  web:
    hosts: ["web[01:03].example.com"]
    vars: {workers: "4"}
  db:
    hosts: [db1.example.com]
    port: 2222
    ssh_options: {ProxyJump: bastion.example.com}
  canary:
    hosts: [web01.example.com]
    vars: {canary: "yes"}
hosts:
  web01.example.com:
    ssh_alias: w1
    vars: {workers: "8", tags: [a, b], db: {host: db1, port: "5432"}}
  lonely.example.com:
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(text)
    return path


def test_hosts_groups_and_settings_in_order(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, INVENTORY))
    names = [h.name for h in inventory.hosts]
    assert names == [
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
        "db1.example.com",
        "lonely.example.com",
    ]
    web01, web02, _, db1, lonely = inventory.hosts
    assert web01.groups == ("web", "canary")
    assert web01.vars == {
        "app_dir": "/srv/app",
        "workers": "8",
        "canary": "yes",
        "tags": ["a", "b"],
        "db": {"host": "db1", "port": "5432"},
    }
    assert web01.destination == "w1" and web01.user == "deploy"
    assert web02.vars["workers"] == "4" and web02.destination == "web02.example.com"
    assert db1.port == 2222 and db1.ssh_options == (("ProxyJump", "bastion.example.com"),)
    assert lonely.groups == () and lonely.vars == {"app_dir": "/srv/app", "workers": "2"}
    assert inventory.groups["web"] == tuple(names[:3])


def test_limit_selects_by_group_and_pattern(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, INVENTORY))
    assert [h.name for h in inventory.select("web:!canary")] == [
        "web02.example.com",
        "web03.example.com",
    ]
    assert [h.name for h in inventory.select("db*,lonely*")] == [
        "db1.example.com",
        "lonely.example.com",
    ]


def test_every_problem_is_reported_with_its_position(tmp_path: Path) -> None:
    text = """\
defaults:
  user: "bad user"
  colour: blue
groups:
  web:
    hosts: ["web[3:1]"]
  db:
    vars: {1x: y}
  edge:
    hosts: [edge1]
    port: "99999"
    ssh_options: {StrictHostKeyChecking: "no", ControlPath: /tmp/x}
hosts:
  "-oProxyCommand=x":
  "web[1:2]":
extra: 1
"""
    with pytest.raises(InventoryInvalid) as caught:
        load_inventory(write(tmp_path, text))
    found = {(d.position.line, d.position.col): d.message for d in caught.value.diagnostics}
    messages = "\n".join(f"{k}: {v}" for k, v in sorted(found.items()))
    assert "invalid user 'bad user'" in found[(2, 9)], messages
    assert "unknown key 'colour'" in found[(3, 3)], messages
    assert "ends before it starts" in found[(6, 13)], messages
    assert "needs 'hosts:'" in messages and "invalid variable name '1x'" in messages
    assert "port must be a number from 1 to 65535" in found[(11, 11)], messages
    assert "StrictHostKeyChecking is not allowed: use --accept-new-host-keys" in messages
    assert "ControlPath is not allowed" in messages
    assert "invalid host name '-oProxyCommand=x'" in messages
    assert "a host entry names one host" in messages
    assert "unknown key 'extra'" in messages
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the inventory is empty"),
        ("- a\n- b\n", "an inventory is a mapping"),
        ("groups: {}\n", "names no hosts"),
        ("hosts: [a, b]\n", "'hosts' is a mapping"),
        ("groups:\n  web: {hosts: [a]\n", "invalid YAML"),
    ],
)
def test_malformed_inventories(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InventoryInvalid) as caught:
        load_inventory(write(tmp_path, text))
    assert message in "\n".join(d.message for d in caught.value.diagnostics)
