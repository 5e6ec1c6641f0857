"""No password is ever on a decoder's command line: /proc/*/cmdline is readable by
every user of the machine. The decoder is a wrapper that, before it execs the real
7zz, looks through every process's command line for the password (read from a file,
so the search itself carries no password in its arguments) and records its argv."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.tools import bundled_7zz
from tests.archive.conftest import corpus, needs_testdata

SECRET = "s3cret-Pa55word"


def spying_7zz(folder: Path) -> tuple[Path, Path, Path]:
    """(wrapper, file of command lines that held the secret, file of its argvs)."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = folder / "pattern"
    pattern.write_text(SECRET + "\n")
    found = folder / "found.txt"
    argvs = folder / "argv.txt"
    wrapper = folder / "7zz-spy"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{argvs}"\n'
        f'grep -F -l -a -f "{pattern}" /proc/[0-9]*/cmdline >> "{found}" 2>/dev/null\n'
        f'exec "{bundled_7zz()}" "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, found, argvs


def assert_never_exposed(found: Path, argvs: Path) -> None:
    assert argvs.read_text(), "the decoder never ran"
    assert SECRET not in argvs.read_text()
    exposed = found.read_text().split() if found.exists() else []
    # The test process's own pytest arguments never hold it either; any hit is a leak.
    assert exposed == []


def test_7z_password_reaches_7zz_on_stdin_not_argv(tmp_path: Path) -> None:
    import py7zr

    archive = tmp_path / "in" / "secret.7z"
    archive.parent.mkdir()
    with py7zr.SevenZipFile(archive, "w", password=SECRET, header_encryption=True) as z:
        z.writestr(b"classified\n", "top/data.txt")
    wrapper, found, argvs = spying_7zz(tmp_path / "spy")
    env = {**os.environ, "DEVKIT_7ZZ": str(wrapper)}
    result = extract_archive(
        archive, dest=tmp_path / "out", options=ExtractOptions(password=SECRET), env=env
    )
    assert Path(result.path, "data.txt").read_bytes() == b"classified\n"
    assert_never_exposed(found, argvs)


def test_7z_wrong_password_on_stdin_is_still_reported(tmp_path: Path) -> None:
    import py7zr

    from devkit.archive.errors import PasswordError

    archive = tmp_path / "in" / "secret.7z"
    archive.parent.mkdir()
    with py7zr.SevenZipFile(archive, "w", password=SECRET) as z:
        z.writestr(b"classified\n", "top/data.txt")
    with pytest.raises(PasswordError) as wrong:
        extract_archive(archive, dest=tmp_path / "out", options=ExtractOptions(password="nope"))
    assert wrong.value.code == "wrong_password"
    assert not (tmp_path / "out").exists()


def test_a_password_with_a_line_break_is_refused_clearly(tmp_path: Path) -> None:
    import py7zr

    from devkit.archive.errors import PasswordError

    archive = tmp_path / "in" / "secret.7z"
    archive.parent.mkdir()
    with py7zr.SevenZipFile(archive, "w", password="a") as z:
        z.writestr(b"x\n", "top/data.txt")
    with pytest.raises(PasswordError) as refused:
        extract_archive(archive, dest=tmp_path / "out", options=ExtractOptions(password="a\nb"))
    assert refused.value.code == "bad_password"


@needs_testdata
@pytest.mark.parametrize(
    "name", ["rarfile/rar5-psw.rar", "rarfile/rar3-comment-psw.rar", "rarfile/rar5-hpsw.rar"]
)
def test_rar_password_reaches_the_backend_on_stdin_not_argv(tmp_path: Path, name: str) -> None:
    archive = corpus(tmp_path, name)
    wrapper, found, argvs = spying_7zz(tmp_path / "spy")
    pattern = tmp_path / "spy" / "pattern"
    # The corpus files' password is "password", a word that test paths contain too:
    # look for it as an argument of its own or in the -p switch.
    pattern.write_text("-ppassword\n\0password\0\n")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    result = extract_archive(
        archive, dest=tmp_path / "out", options=ExtractOptions(password="password"), env=env
    )
    assert result.files >= 1
    arguments = argvs.read_text().split()
    assert arguments, "the backend never ran"
    assert not [arg for arg in arguments if arg.endswith("password")]
    assert not found.exists() or found.read_text().split() == []
