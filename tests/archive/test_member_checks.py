"""The short paths of the member checks (a plain name kept as it is, admit and record
for a member in a folder known already) against the full checks they stand for."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from devkit import process
from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.model import Entry, Kind
from devkit.archive.safety import member_path, normalize_name, plain_names
from devkit.archive.writer import Budget, TreeWriter

NAME_PIECES = ["a", "b", "é", ".", "..", "/", "\\", "C:", "\x00", " "]
names = st.lists(st.sampled_from(NAME_PIECES), max_size=8).map("".join)


@settings(max_examples=2000, deadline=None)
@given(name=names, kind=st.sampled_from(["file", "dir"]), backslash=st.booleans())
def test_member_path_is_normalize_name_with_the_root_rule(
    name: str, kind: str, backslash: bool
) -> None:
    path, reason = normalize_name(name, backslash_is_separator=backslash)
    if path == "" and kind != "dir" and reason is None:
        path, reason = None, "empty name"
    assert member_path(name, kind, backslash_is_separator=backslash) == (path, reason)


@settings(max_examples=3000, deadline=None)
@given(names=st.lists(names, max_size=4), kind=st.sampled_from(["file", "dir"]))
def test_plain_names_are_their_own_paths(names: list[str], kind: str) -> None:
    if plain_names(names):
        for name in names:
            for backslash in (False, True):
                assert member_path(name, kind, backslash_is_separator=backslash) == (name, None)


def test_plain_names_says_so_for_ordinary_names() -> None:
    assert plain_names([])
    assert plain_names(["data", "data/d000/s0/f00001.txt", "ünï cödé ✓ 😀.txt", "a..b/c."])
    for odd in ["", "/etc", "a/", "a//b", "./a", "a/..", ".hidden", "C:x", "a\\b", "a\x00b"]:
        assert not plain_names(["data", odd]), odd
        assert not plain_names([odd]), odd


def recorded(kinds: dict[str, str], entry: Entry) -> dict[str, str]:
    """`record`'s bookkeeping of kinds, step by step as it was before its short path."""
    kinds = dict(kinds)
    assert entry.path is not None
    parts = entry.path.split("/")
    for index in range(1, len(parts)):
        kinds.setdefault("/".join(parts[:index]), "dir")
    if entry.kind == "symlink" and entry.link is not None:
        kinds[entry.path] = "symlink"
    else:
        kinds[entry.path] = "dir" if entry.kind == "dir" else "file"
    return kinds


members = st.lists(
    st.tuples(
        st.sampled_from(["file", "dir", "symlink"]),
        st.lists(st.sampled_from(["a", "b", "..", "."]), min_size=1, max_size=3).map("/".join),
        st.sampled_from([None, "a", "/etc", "../..", "b/../.."]),
    ),
    max_size=12,
)


@settings(max_examples=1500, deadline=None)
@given(members=members, skip_unsafe=st.booleans())
def test_admit_and_record_agree_with_the_full_checks(
    members: list[tuple[Kind, str, str | None]], skip_unsafe: bool
) -> None:
    writer = TreeWriter(
        "",
        options=ExtractOptions(skip_unsafe=skip_unsafe),
        budget=Budget(1 << 40, 1000),
        archive_size=1,
        umask=0,
        signals_at_start=process.signal_count(),
    )
    for kind, name, link in members:
        path, reason = member_path(name, kind, backslash_is_separator=False)
        entry = Entry(name, path, kind, link=link if kind == "symlink" else None, unsafe=reason)
        if path == "" and kind == "dir":
            expected = False
        else:
            expected = writer.problem(entry) is None and not writer.unsafe
        assert writer.admit(entry) == expected, (members, entry)
        if expected:
            before = dict(writer.kinds)
            writer.record(entry)
            assert writer.kinds == recorded(before, entry), (members, entry)


def test_a_member_below_a_skipped_member_is_skipped_too(tmp_path: Path) -> None:
    """A refused member's path is remembered without its folders: a member below it
    is refused as well (it was let through, and its write then failed)."""
    archive = tmp_path / "below.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("a/b")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc"
        tar.addfile(link)
        below = tarfile.TarInfo("a/b/c")
        below.size = 5
        tar.addfile(below, io.BytesIO(b"hello"))
        fine = tarfile.TarInfo("a/d")
        fine.size = 4
        tar.addfile(fine, io.BytesIO(b"fine"))
    result = extract_archive(
        archive, dest=tmp_path / "dest", options=ExtractOptions(skip_unsafe=True)
    )
    skipped = {item.name: item.reason for item in result.skipped}
    assert skipped["a/b/c"] == "unsafe: path goes through the unsafe member 'a/b'"
    assert "a/b" in skipped
    assert (Path(result.path) / "d").read_bytes() == b"fine"
    assert not (Path(result.path) / "b").exists()
