"""A RAR extraction starts its one-pass decoder (7zz) before rarfile is imported and the
headers are read (rarstream.start_early). That decoder is the one that decodes the
archive (one start, as tests/archive/test_rar_one_pass.py counts); it never outlives an
extraction that stops before the data; listings and dry runs start none; and an
archive that does not begin with a RAR signature (a self-extractor) starts none early."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devkit.archive import extract_archive, list_archive
from devkit.archive.extract import plan_extraction
from devkit.archive.model import ExtractOptions
from tests.archive.conftest import TESTDATA, corpus, snapshot
from tests.archive.test_rar_one_pass import logging_backend
from tests.archive.test_sevenzip_early import (
    assert_a_cap_stops_the_early_decoder,
    processes_naming,
    starts,
)

pytestmark = pytest.mark.skipif(TESTDATA is None, reason="needs the shared corpus")


def test_a_refusal_before_the_data_stops_the_early_decoder(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar5-subdirs.rar")
    wrapper, _log = logging_backend(tmp_path / "tool")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    assert_a_cap_stops_the_early_decoder(archive, tmp_path / "out", env)


@pytest.mark.parametrize("name", ["rarfile/rar3-solid.rar", "rarfile/rar5-solid.rar"])
def test_the_early_decoder_is_the_one_that_decodes(tmp_path: Path, name: str) -> None:
    """Compressed members: a second decoder would show as a second start."""
    archive = corpus(tmp_path, name)
    wrapper, log = logging_backend(tmp_path / "tool")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    result = extract_archive(archive, dest=tmp_path / "out", env=env)
    assert result.files >= 1
    assert starts(log) == ["e"]
    assert processes_naming(archive) == []


def test_listings_and_dry_runs_start_no_decoder(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar5-subdirs.rar")
    wrapper, log = logging_backend(tmp_path / "tool")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    list_archive(archive, env=env)
    plan_extraction(archive, dest=tmp_path / "out", env=env)
    assert starts(log) == []


def test_a_self_extractor_starts_its_decoder_once_its_headers_are_read(
    tmp_path: Path,
) -> None:
    """A stub before the signature: no early start, and the one pass still runs once."""
    source = corpus(tmp_path, "rarfile/rar5-solid.rar")
    archive = tmp_path / "stubbed.rar"
    archive.write_bytes(b"MZ" + bytes(4094) + source.read_bytes())
    wrapper, log = logging_backend(tmp_path / "tool")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    plain = extract_archive(source, dest=tmp_path / "plain")
    stubbed = extract_archive(archive, dest=tmp_path / "out", env=env)
    assert starts(log) == ["e"]
    assert snapshot(Path(stubbed.path)) == snapshot(Path(plain.path))
    assert processes_naming(archive) == []


def codecless_7zz(folder: Path) -> tuple[Path, Path]:
    """(a 7-Zip whose `i` lists no RAR codecs and whose `e` logs its start and prints
    zeros instead of the archive's data, its log): it must never be used."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "starts.log"
    fake = folder / "7zz"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = i ]; then echo "Formats:"; echo "Codecs:"; exit 0; fi\n'
        f'echo "$1" >> "{log}"\n'
        "exec head -c 1000000 /dev/zero\n"
    )
    fake.chmod(0o755)
    return fake, log


def test_an_unchecked_7zz_may_start_early_but_its_output_is_never_used(tmp_path: Path) -> None:
    """The decoder starts on the likely 7-Zip while its check runs. When the check
    fails (no RAR codecs), that decoder is stopped and the checked one decodes."""
    archive = corpus(tmp_path, "rarfile/rar5-solid.rar")
    fake, fake_log = codecless_7zz(tmp_path / "fake")
    good, good_log = logging_backend(tmp_path / "good")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": f"{fake}{os.pathsep}{good}"}
    plain = extract_archive(archive, dest=tmp_path / "plain")
    result = extract_archive(archive, dest=tmp_path / "out", env=env)
    assert snapshot(Path(result.path)) == snapshot(Path(plain.path))
    assert starts(fake_log) == ["e"]  # started early, before its check
    assert starts(good_log) == ["e"]
    assert processes_naming(archive) == []


def test_a_password_goes_only_to_a_checked_7zz(tmp_path: Path) -> None:
    archive = corpus(tmp_path, "rarfile/rar3-comment-psw.rar")
    fake, fake_log = codecless_7zz(tmp_path / "fake")
    good, good_log = logging_backend(tmp_path / "good")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": f"{fake}{os.pathsep}{good}"}
    options = ExtractOptions(password="password")
    result = extract_archive(archive, dest=tmp_path / "out", env=env, options=options)
    assert result.files >= 1
    assert starts(fake_log) == []
    assert starts(good_log)  # the checked one decoded it
