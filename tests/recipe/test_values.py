"""Issue 9: in shell text a value travels as an environment variable, never as script
text; where no reference can work the recipe is refused at its position."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit.recipe.template import ShellContextError, parse_template, render_shell
from tests.recipe.conftest import devkit

HOSTILE = 'it\'s "q" $(touch CANARY) `touch CANARY` ; & * -x\nline2 é'


def run_bash(text: str, value: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    script = render_shell(parse_template(text), lambda _: value)
    assert value not in script.text
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.text],
        cwd=cwd,
        capture_output=True,
        env={**os.environ, **script.values},
    )


@pytest.mark.parametrize(
    "text",
    [
        "cat <<EOF\nDescription='{{ v }}'\nEOF",
        "cat <<-EOF\n\tDon't edit: {{ v }}\n\tEOF",
        "cat <<EOF\n$(printf %s {{ v }})\nEOF",
        'printf %s "`printf %s {{ v }}`"',
        "printf %s $'\\t'{{ v }}$'\\t'",
        "printf %s $'a\\'{{ v }}\\'b'",
        'printf %s "$(case x in (x) printf %s {{ v }};; esac)"',
        'x=$(case x in x) printf %s {{ v }};; esac); printf %s "$x"',
        "# a comment\nprintf %s {{ v }}",
        'a=( {{ v }} ); printf %s "${a[0]}"',
        "[[ -n {{ v }} ]] && printf %s {{ v }}",
    ],
)
def test_values_arrive_byte_identical_and_run_nothing(text: str, tmp_path: Path) -> None:
    result = run_bash(text, HOSTILE, tmp_path)
    assert result.returncode == 0, result.stderr
    expected = {
        "cat <<EOF\nDescription='{{ v }}'\nEOF": f"Description='{HOSTILE}'\n",
        "cat <<-EOF\n\tDon't edit: {{ v }}\n\tEOF": f"Don't edit: {HOSTILE}\n",
        "cat <<EOF\n$(printf %s {{ v }})\nEOF": f"{HOSTILE}\n",
        "printf %s $'\\t'{{ v }}$'\\t'": f"\t{HOSTILE}\t",
        "printf %s $'a\\'{{ v }}\\'b'": f"a'{HOSTILE}'b",
    }.get(text, HOSTILE)
    assert result.stdout.decode() == expected
    assert not (tmp_path / "CANARY").exists()


@pytest.mark.parametrize(
    "text",
    [
        "echo $(( {{ v }} + 1 ))",
        "(( x = {{ v }} )); echo $x",
        "a=(1 2); a[{{ v }}]=3; echo ${a[@]}",
        '[[ "{{ v }}" -ge 1 ]] && echo 1',
        "let x={{ v }}; echo $x",
        '[[ "]]" == x || {{ v }} -eq 1 ]] || echo no',
        '[[ {{ v }}"" -lt 0 ]] || echo no',
        "declare -i x={{ v }}; echo $x",
        "declare -ia x=(1 {{ v }}); echo ${x[@]}",
    ],
)
def test_arithmetic_takes_integers_only(text: str, tmp_path: Path) -> None:
    assert run_bash(text, "41", tmp_path).returncode == 0
    with pytest.raises(ShellContextError, match="must be an integer"):
        run_bash(text, "a[$(touch CANARY)]", tmp_path)
    assert not (tmp_path / "CANARY").exists()


@pytest.mark.parametrize(
    "text",
    [
        "declare {{ v }}=1; echo ok",
        "declare -n ref={{ v }}; echo ok",
        "local_() { local {{ v }}; }; local_; echo ok",
        "read {{ v }} <<< x; echo ok",
        "printf -v {{ v }} %s x; echo ok",
        "[[ -v {{ v }} ]] || echo ok",
        "test -v {{ v }} || echo ok",
    ],
)
def test_variable_names_take_plain_names_only(text: str, tmp_path: Path) -> None:
    result = run_bash(text, "some_name", tmp_path)
    assert result.returncode == 0, result.stderr
    with pytest.raises(ShellContextError, match="plain name"):
        run_bash(text, "a[$(touch CANARY)]", tmp_path)
    assert not (tmp_path / "CANARY").exists()


def test_a_raw_backslash_before_a_placeholder_keeps_the_count(tmp_path: Path) -> None:
    template = parse_template("printf '<%s>' {{ r | raw }}{{ v }}")
    script = render_shell(template, lambda p: "x\\" if p.raw else "$(touch CANARY)")
    # The raw backslash is code, deliberately: it may break the script, never run a value.
    subprocess.run(
        ["bash", "-c", script.text],
        cwd=tmp_path,
        env={**os.environ, **script.values},
        capture_output=True,
    )
    assert not (tmp_path / "CANARY").exists()


def test_only_an_arithmetic_test_takes_integers_only(tmp_path: Path) -> None:
    text = "n=1; [[ -n {{ v }} ]] && printf '<%s>' {{ v }}; [[ $n -eq 1 ]]"
    result = run_bash(text, HOSTILE, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"<{HOSTILE}>"
    assert not (tmp_path / "CANARY").exists()


def test_refused_contexts_point_at_the_placeholder(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        vars:
          v: x
        tasks:
          t:
            requires:
              - run: "true # {{ v }}"
            steps:
              - if: "echo ${x:-{{ v }}}"
                run: "cat <<'EOF'\\n{{ v }}\\nEOF"
        """
    )
    result = devkit(["run", "--check"], cwd=tmp_path)
    assert result.returncode != 0
    assert "devkit.yaml:6:22: a placeholder in a comment: {{ v }}" in result.stderr
    assert "devkit.yaml:8:24: a placeholder inside ${...}" in result.stderr
    assert "a placeholder in a quoted heredoc (<<'EOF') cannot take a value" in result.stderr
    assert "hint: pass the value through 'env:'" in result.stderr
    assert "Traceback" not in result.stderr


def test_hostile_file_names_from_a_glob_run_nothing(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        tasks:
          t:
            steps:
              - for: "in/*.csv"
                run: printf '<%s>' {{ item }} >> seen.txt
              - for: "*.csv"
                run: printf '<%s>' {{ item }} >> seen.txt
        """
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "report.csv;touch CANARY;echo .csv").write_text("")
    (tmp_path / "-n.csv").write_text("")
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "seen.txt").read_text() == "<in/report.csv;touch CANARY;echo .csv><./-n.csv>"
    assert not (tmp_path / "CANARY").exists()


def test_if_and_requires_take_values_as_references(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        vars:
          v: x
        tasks:
          t:
            requires: ["test -n {{ v }}"]
            steps:
              - if: "test {{ v }} = \\"{{ v }}\\""
                run: printf %s {{ v }} > out.txt
              - if: "(( {{ v }} > 0 ))"
                run: "true"
        """
    )
    value = "a'b\" $(touch CANARY);`touch CANARY`"
    result = devkit(["run", "--var", f"v={value}"], cwd=tmp_path)
    assert (tmp_path / "out.txt").read_text() == value
    assert result.returncode != 0
    assert "must be an integer" in result.stderr
    assert not (tmp_path / "CANARY").exists()


def test_dry_run_shows_values_quoted_and_secrets_masked(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        secrets: [TOKEN_V]
        tasks:
          t:
            steps:
              - run: curl -H "auth={{ env.TOKEN_V }}" {{ url }} | tee x
        vars:
          url: "http://h/a b"
        """
    )
    result = devkit(["run", "--dry-run"], cwd=tmp_path, env={"TOKEN_V": "s3cr$t"})
    assert result.returncode == 0, result.stderr
    assert "would run: curl -H \"auth=***\" 'http://h/a b' | tee x" in result.stdout
    assert "DEVKIT_V_" not in result.stdout
    assert "s3cr" not in result.stdout
