"""The controller's pack cache: built once, read by name afterwards, rebuilt when what
it would hold changes."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from devkit import __version__
from devkit.fleet import pack


def test_the_pack_is_built_once_then_named_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = pack.current_pack()
    assert first.path is not None and first.path.parent == tmp_path / "devkit" / "packs"
    assert hashlib.sha256(first.path.read_bytes()).hexdigest() == first.sha256
    assert first.name == f"{__version__}-{first.sha256[:16]}"
    with zipfile.ZipFile(first.path) as archive:
        names = archive.namelist()
    assert pack.LAUNCHER in names and "site/devkit/__main__.py" in names

    built: list[int] = []
    real_build = pack.build_pack
    monkeypatch.setattr(pack, "build_pack", lambda: built.append(1) or real_build())
    again = pack.current_pack()
    assert built == [] and again == first  # only stat calls, no build

    # Any change to devkit's own files changes what the pack would hold: rebuilt, and
    # the stale pack is dropped from the cache. (An extra file stands for devkit's.)
    extra = tmp_path / "extra.py"
    extra.write_text("VALUE = 1\n")
    real_files = pack._devkit_files
    monkeypatch.setattr(
        pack, "_devkit_files", lambda: [*real_files(), ("site/devkit/extra.py", extra)]
    )
    with_extra = pack.current_pack()
    assert built == [1] and with_extra.path != first.path
    assert not first.path.exists()


def test_an_unwritable_cache_still_gives_a_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devkit").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    made = pack.current_pack()
    assert made.path is None and made.content is not None
    assert hashlib.sha256(made.data).hexdigest() == made.sha256
