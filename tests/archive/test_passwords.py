"""No password is ever on a decoder's command line: /proc/*/cmdline is readable by
every user of the machine. The decoder is a wrapper that, before it execs the real
7zz with its own arguments, looks through the command line of the test process and
of every process descending from it (the decoder itself included) for the password,
read from a file, and records its argv. (Only those: other tests on the machine may
pass the corpus password "password" to a reference 7zz, as tests may.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from devkit.archive import ExtractOptions, extract_archive
from devkit.archive.tools import bundled_7zz
from tests.archive.conftest import corpus, needs_testdata

SECRET = "s3cret-Pa55word"


SPY = """\
import os, sys

def parent(pid):
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return int(stat.read().rsplit(b")", 1)[1].split()[1])

def ours(pid):
    while pid > 1:
        if pid == TEST_PID:
            return True
        pid = parent(pid)
    return False

needles = [n for n in open(PATTERN, "rb").read().split(b"\\n") if n]
with open(ARGVS, "a") as record:
    record.write(" ".join(sys.argv[1:]) + "\\n")
with open(FOUND, "a") as found:
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and ours(int(entry)):
                cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
                if any(needle in cmdline for needle in needles):
                    found.write(f"{entry}: {cmdline!r}\\n")
        except OSError:
            pass
os.execv(REAL, [REAL, *sys.argv[1:]])
"""


def spying_7zz(folder: Path, *needles: str) -> tuple[Path, Path, Path]:
    """(wrapper, file of command lines that held a needle, file of its argvs); the
    needles default to the secret."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = folder / "pattern"
    pattern.write_text("\n".join(needles or (SECRET,)) + "\n")
    found = folder / "found.txt"
    argvs = folder / "argv.txt"
    wrapper = folder / "7zz-spy"
    values = {
        "TEST_PID": os.getpid(),
        "PATTERN": str(pattern),
        "ARGVS": str(argvs),
        "FOUND": str(found),
        "REAL": bundled_7zz(),
    }
    assignments = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    wrapper.write_text(f"#!{sys.executable} -S\n{assignments}{SPY}")
    wrapper.chmod(0o755)
    return wrapper, found, argvs


def assert_never_exposed(found: Path, argvs: Path) -> None:
    assert argvs.read_text(), "the decoder never ran"
    assert SECRET not in argvs.read_text()
    # The test process's own pytest arguments never hold it either; any hit is a leak.
    assert not found.exists() or found.read_text() == ""


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
    # The corpus files' password is "password", a word that test paths contain too:
    # look for it as an argument of its own or in the -p switch.
    wrapper, found, argvs = spying_7zz(tmp_path / "spy", "-ppassword", "\0password\0")
    env = {**os.environ, "DEVKIT_RAR_TOOLS": str(wrapper)}
    result = extract_archive(
        archive, dest=tmp_path / "out", options=ExtractOptions(password="password"), env=env
    )
    assert result.files >= 1
    arguments = argvs.read_text().split()
    assert arguments, "the backend never ran"
    assert not [arg for arg in arguments if arg.endswith("password")]
    assert not found.exists() or found.read_text() == ""


def fake_unrar(folder: Path) -> tuple[Path, Path]:
    """A program that passes devkit's RARLAB check and records any real use."""
    used = folder / "unrar-used"
    unrar = folder / "unrar"
    folder.mkdir(parents=True, exist_ok=True)
    unrar.write_text(
        "#!/bin/sh\n"
        "if [ $# -eq 0 ]; then\n"
        '  echo "UNRAR 7.00 freeware  Copyright (c) Alexander Roshal"; exit 0\n'
        "fi\n"
        f'echo "$@" >> "{used}"\nexit 2\n'
    )
    unrar.chmod(0o755)
    return unrar, used


@needs_testdata
def test_with_a_password_the_rar_backend_is_7zz_even_when_unrar_is_there(tmp_path: Path) -> None:
    """unrar takes a password only on its command line, so it is passed over."""
    from devkit.archive.errors import MissingTool

    archive = corpus(tmp_path, "rarfile/rar5-psw.rar")
    unrar, used = fake_unrar(tmp_path / "bin")
    both = {**os.environ, "DEVKIT_RAR_TOOLS": f"{unrar}{os.pathsep}{bundled_7zz()}"}
    options = ExtractOptions(password="password")
    result = extract_archive(archive, dest=tmp_path / "out", options=options, env=both)
    assert result.files >= 1 and not used.exists()
    only_unrar = {**os.environ, "DEVKIT_RAR_TOOLS": str(unrar)}
    with pytest.raises(MissingTool) as missing:
        extract_archive(archive, dest=tmp_path / "out2", options=options, env=only_unrar)
    assert "reads it from stdin" in missing.value.message and not used.exists()
    assert not (tmp_path / "out2").exists()
