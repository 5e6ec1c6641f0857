"""Shell syntax is checked by `bash -n` during validation, one bash process for the
whole recipe: a broken step is found before the steps before it run, at its
`file:line:col`; valid shell text of every kind passes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.proctools import path_without

Devkit = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def test_a_syntax_error_in_a_later_step_stops_the_run_before_the_first_step(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    # Before: --check passed, and the run failed at step 2 after step 1 had run.
    recipe('tasks:\n  a:\n    - touch first.txt\n    - run: echo "unterminated\n')
    check = devkit_here(["run", "--check"], cwd=tmp_path)
    assert check.returncode == 2, check.stderr
    assert (
        "devkit.yaml:4:12: shell syntax error: unexpected EOF while looking for matching `\"'"
        in check.stderr
    )
    result = devkit_here(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "first.txt").exists()


BROKEN = """\
vars: {v: x}
tasks:
  a:
    requires:
      - run: test -n "{{ v }}" && [ -d .
        message: needs a folder
    steps:
      - touch first.txt
      - run: |
          echo ok
          if true; then
            echo "{{ v }}"
          echo the fi is missing
      - run: echo fine
        if: '[[ -n x'
    finally:
      - run: echo a )
  b:
    steps:
      - run: |
          for x in 1 2; do
            echo `date
          done
"""


def test_every_faulty_text_is_reported_at_its_line(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(BROKEN)
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    reported = [line for line in result.stderr.splitlines() if line.startswith("devkit.yaml:")]
    assert [line.split(": shell syntax error")[0] for line in reported] == [
        "devkit.yaml:13:11",  # the last line of the text: bash met its end looking for fi
        "devkit.yaml:15:13",
        "devkit.yaml:17:14",
        "devkit.yaml:22:13",
    ], result.stderr
    assert "unexpected EOF while looking for `]]'" in reported[1]
    assert "5 problems" not in result.stderr


VALID = r"""
vars: {v: "it's $(x)", n: "3", name: abc}
tasks:
  a:
    requires: ['[[ -n "{{ v }}" ]]']
    steps:
      - run: |
          cat <<EOF
          value: {{ v }}
          EOF
      - run: |
          cat <<'EOF'
          no placeholder here: $HOME
          EOF
      - run: echo "{{ v }}" '{{ v }}' $'{{ v }}' {{ v }}
      - run: echo $(( {{ n }} + 1 )) && (( {{ n }} > 1 ))
      - run: |
          f() { echo "}" '{'; return 0; }
          f
          case "{{ v }}" in a|b) echo ab ;; *) echo other ;; esac
      - run: |
          shopt -s extglob
          case x in @(x|y)) echo ok ;; esac
      - run: echo \{{ not a placeholder }}
      - run: touch ran.txt; }; touch escaped.txt; {
      - run: echo {{ name | raw }} ok
        if: '[[ {{ n }} -eq 3 ]]'
      - run: |
          cat <<EOF
          a here-document left open: bash only warns when this runs
"""


def test_valid_shell_text_of_every_kind_passes(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe(VALID.replace("      - run: touch ran.txt; }; touch escaped.txt; {\n", ""))
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_bash_n_parses_and_never_runs_a_text(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    # A text that closes the function around it still only gets parsed.
    recipe(VALID)
    result = devkit_here(["run", "--check"], cwd=tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:25:14: shell syntax error: near unexpected token `}'" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["devkit.yaml"]


def _counting_bash(tmp_path: Path) -> tuple[str, Path]:
    """A PATH whose `bash` counts its starts in a file, then runs the real bash."""
    real = shutil.which("bash")
    assert real is not None
    folder = tmp_path / "counting-bin"
    folder.mkdir()
    count = tmp_path / "bash-starts"
    shim = folder / "bash"
    shim.write_text(f'#!{real}\necho started >> "{count}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}", count


def test_one_bash_process_checks_a_whole_valid_recipe(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    steps = "".join(f'      - run: echo step {i} | cat && test -n "$HOME"\n' for i in range(60))
    recipe("tasks:\n  a:\n    steps:\n" + steps + "    finally:\n      - run: echo done\n")
    path, count = _counting_bash(tmp_path)
    result = devkit_here(["run", "--check"], cwd=tmp_path, env={"PATH": path})
    assert result.returncode == 0, result.stderr
    assert count.read_text().splitlines() == ["started"]


def test_without_bash_the_syntax_check_is_skipped(
    recipe: Callable[..., Path], tmp_path: Path, devkit_here: Devkit
) -> None:
    recipe('tasks:\n  a:\n    - run: echo "unterminated\n')
    limited = path_without(tmp_path, "bash")
    result = devkit_here(["run", "--check"], cwd=tmp_path, env={"PATH": limited})
    assert result.returncode == 0, result.stderr
