"""Host ranges as Ansible writes them, --limit patterns and natural order."""

from __future__ import annotations

import pytest

from devkit.fleet.hosts import (
    HostPatternError,
    expand_hosts,
    naturally_sorted,
    select_hosts,
)


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("db1", ["db1"]),
        ("web[1:3]", ["web1", "web2", "web3"]),
        ("web[01:03].example.com", ["web01.example.com", "web02.example.com", "web03.example.com"]),
        ("web[08:11]", ["web08", "web09", "web10", "web11"]),
        ("web[001:002]", ["web001", "web002"]),
        ("node[0:20:5]", ["node0", "node5", "node10", "node15", "node20"]),
        ("db-[a:c]", ["db-a", "db-b", "db-c"]),
        ("db-[A:C]", ["db-A", "db-B", "db-C"]),
        ("x[a:e:2]", ["xa", "xc", "xe"]),
        ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
        ("web[1:2],db1, web1", ["web1", "web2", "db1"]),
        ("deploy@web[1:2]", ["deploy@web1", "deploy@web2"]),
        ("[1:2].example.com", ["1.example.com", "2.example.com"]),
        ("web[5:5]", ["web5"]),
    ],
)
def test_ranges_expand_inclusively_with_padding(text: str, hosts: list[str]) -> None:
    assert expand_hosts(text) == hosts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no hosts given"),
        ("web[3:1]", "ends before it starts"),
        ("web[1:3:0]", "invalid stride"),
        ("web[1:x]", "invalid range"),
        ("web[a:C]", "mixes lower and upper case"),
        ("web[1:]", "invalid range"),
        ("web[1-3]", "invalid range"),
        ("web[1:3", "unbalanced"),
        ("-oProxyCommand=touch pwned", "invalid host name"),
        ("web 1", "invalid host name"),
        ("web;rm", "invalid host name"),
        ("web[1:200000]", "more than"),
        ("web[0:99999999999999]", "more than"),
        ("a[1:999]b[1:999]", "more than"),
    ],
)
def test_bad_patterns_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(HostPatternError, match=message.replace("[", r"\[")) as caught:
        expand_hosts(text)
    assert caught.value.exit_code == 2


HOSTS = ["web1", "web2", "web10", "db1", "db2", "cache1"]
GROUPS = {"web": ["web1", "web2", "web10"], "db": ["db1", "db2"], "prod": ["web1", "db1"]}


@pytest.mark.parametrize(
    ("pattern", "selected"),
    [
        ("web1", ["web1"]),
        ("web*", ["web1", "web2", "web10"]),
        ("web", ["web1", "web2", "web10"]),
        ("web:!web10", ["web1", "web2"]),
        ("web,db", ["web1", "web2", "web10", "db1", "db2"]),
        ("web:&prod", ["web1"]),
        ("!db*", ["web1", "web2", "web10", "cache1"]),
        ("~^(db|cache)1$", ["db1", "cache1"]),
        ("nosuch", []),
        ("*:!web*:!db*", ["cache1"]),
    ],
)
def test_limit_patterns_select_like_ansible(pattern: str, selected: list[str]) -> None:
    assert select_hosts(HOSTS, pattern, GROUPS) == selected


def test_limit_refuses_empty_terms_and_bad_regexes() -> None:
    with pytest.raises(HostPatternError):
        select_hosts(HOSTS, "", GROUPS)
    with pytest.raises(HostPatternError):
        select_hosts(HOSTS, "!", GROUPS)
    with pytest.raises(HostPatternError, match="regular expression"):
        select_hosts(HOSTS, "~web(", GROUPS)


def test_natural_sort_puts_web2_before_web10() -> None:
    names = ["web10", "web2", "db10", "Web1", "db9", "web1.b", "web1.a"]
    assert naturally_sorted(names) == ["db9", "db10", "Web1", "web1.a", "web1.b", "web2", "web10"]
