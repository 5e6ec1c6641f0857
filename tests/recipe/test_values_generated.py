"""Generated proof for issue 9: scripts with placeholders in randomly chosen bash
contexts, filled with hostile values, run through bash. No canary ever runs, and
wherever the context expands, the value arrives byte-identical.

A seeded generator (not hypothesis): the default run covers a few hundred cases, the
slow variant ten thousand and more; a failure names its seed and case to replay."""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from devkit.recipe.steps import BASH_FLAGS
from devkit.recipe.template import ShellContextError, parse_template, render_shell

CANARY = "CANARY"
# Pieces of hostile values: every way text could turn into code if pasted into a
# script, plus globs, options, unicode and heredoc delimiters.
PIECES = [
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f";touch {CANARY};",
    f"&touch {CANARY}&",
    f"' ; touch {CANARY} ; '",
    f'" ; touch {CANARY} ; "',
    f"\ntouch {CANARY}\n",
    f"\nEOF\ntouch {CANARY}\nEOF\n",
    f"a[$(touch {CANARY})]",
    f"$((a[$(touch {CANARY})]))",
    f"|touch {CANARY}",
    f"\\\ntouch {CANARY}",
    "*",
    "?",
    "[a]",
    "-n",
    "-e",
    "--",
    "é ☃ 😀",
    " ",
    "\t",
    "\\",
    "'",
    '"',
    "$HOME",
    "${HOME}",
    "$'\\x41'",
    "!!",
    "}",
    ")",
    "))",
    ";;",
    "EOF",
    "%s",
    "#",
    "\n",
    "x",
]


def hostile(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return str(rng.randint(-999, 999))
    if rng.random() < 0.05:
        return rng.choice(["x", "EOF", "name_1", "_"])
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4)))


def is_integer(value: str) -> bool:
    return value.lstrip("-").isdigit()


def is_name(value: str) -> bool:
    return value.isidentifier() and value.isascii()


def substituted(value: str) -> str:
    """What `$(...)` or backticks yield: trailing newlines dropped."""
    return value.rstrip("\n")


@dataclass(frozen=True)
class Context:
    text: str
    expected: Callable[[str], str | None]  # None: bash must never see this script
    integer: bool = False  # arithmetic: only integers may go there
    name: bool = False  # a variable name: only plain names may go there


def _refused(_: str) -> None:
    return None


CONTEXTS = [
    Context("printf '<%s>' {{ v }}", lambda v: f"<{v}>"),
    Context("printf '<%s>' \"{{ v }}\"", lambda v: f"<{v}>"),
    Context("printf '<%s>' \"pre {{ v }} post\"", lambda v: f"<pre {v} post>"),
    Context("printf '<%s>' 'a{{ v }}b'", lambda v: f"<a{v}b>"),
    Context("printf '<%s>' $'\\t{{ v }}\\n'", lambda v: f"<\t{v}\n>"),
    Context("printf '<%s>' $'it\\'s {{ v }}'", lambda v: f"<it's {v}>"),
    Context("cat <<EOF\n{{ v }}\nEOF", lambda v: f"{v}\n"),
    Context("cat <<EOF\nDescription='{{ v }}'\nEOF", lambda v: f"Description='{v}'\n"),
    Context("cat <<-EOF\n\tDon't edit {{ v }}\n\tEOF", lambda v: f"Don't edit {v}\n"),
    Context("cat <<EOF\nit's $(printf %s {{ v }})\nEOF", lambda v: f"it's {substituted(v)}\n"),
    Context("printf '<%s>' \"`printf %s {{ v }}`\"", lambda v: f"<{substituted(v)}>"),
    Context("printf '<%s>' \"$(printf %s {{ v }})\"", lambda v: f"<{substituted(v)}>"),
    Context(
        "x=$(case y in (y) printf %s {{ v }};; esac); printf '<%s>' \"$x\"",
        lambda v: f"<{substituted(v)}>",
    ),
    Context(
        "x=$(case y in y) printf %s {{ v }};; esac); printf '<%s>' \"$x\"",
        lambda v: f"<{substituted(v)}>",
    ),
    Context("case {{ v }} in *) printf '<%s>' {{ v }};; esac", lambda v: f"<{v}>"),
    # A value as a case pattern matches itself literally, never as a glob.
    Context(
        "case x in {{ v }}) printf '<%s>' lit;; *) printf '<%s>' other;; esac",
        lambda v: "<lit>" if v == "x" else "<other>",
    ),
    Context('arr=( {{ v }} "{{ v }}" ); printf \'<%s>\' "${arr[@]}"', lambda v: f"<{v}><{v}>"),
    Context("[[ {{ v }} == \"{{ v }}\" ]] && printf '<%s>' same", lambda v: "<same>"),
    Context("f() { printf '<%s>' \"$@\"; }; f {{ v }}", lambda v: f"<{v}>"),
    Context("printf '<%s>' $(( {{ v }} + 0 ))", lambda v: f"<{int(v)}>", integer=True),
    Context("(( x = {{ v }} )) || true; printf '<%s>' \"$x\"", lambda v: f"<{int(v)}>", True),
    Context(
        "[[ {{ v }} -ge 0 ]] && printf '<%s>' pos || printf '<%s>' neg",
        lambda v: "<pos>" if int(v) >= 0 else "<neg>",
        integer=True,
    ),
    Context("a=(0); a[{{ v }}*0]=y; printf '<%s>' \"${a[@]}\"", lambda v: "<y>", True),
    Context("declare {{ v }}=1; printf '<%s>' ok", lambda v: "<ok>", name=True),
    Context("[[ -v {{ v }} ]] || true; printf '<%s>' tested", lambda v: "<tested>", name=True),
    Context("# a note on {{ v }}\nprintf '<%s>' x", _refused),
    Context("cat <<'EOF'\n{{ v }}\nEOF", _refused),
    Context("printf '<%s>' \"${x:-{{ v }}}\"", _refused),
]


@dataclass(frozen=True)
class Case:
    script: str
    value: str
    expected: str | None  # None: rendering must refuse

    @classmethod
    def generate(cls, rng: random.Random) -> Case:
        value = hostile(rng)
        chosen = [rng.choice(CONTEXTS) for _ in range(rng.randint(1, 3))]
        outputs: list[str] = []
        refused = False
        for context in chosen:
            if (context.integer and not is_integer(value)) or (context.name and not is_name(value)):
                refused = True
                continue
            out = context.expected(value)
            refused = refused or out is None
            outputs.append(out or "")
        script = "\n".join(context.text for context in chosen)
        return cls(script, value, None if refused else "".join(outputs))


def check(case: Case, cwd: Path) -> None:
    template = parse_template(case.script)
    if case.expected is None:
        with pytest.raises(ShellContextError):
            render_shell(template, lambda _: case.value)
        return
    script = render_shell(template, lambda _: case.value)
    result = subprocess.run(
        ["bash", *BASH_FLAGS, script.text],
        cwd=cwd,
        capture_output=True,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), **script.values},
        timeout=20,
    )
    assert not (cwd / CANARY).exists(), "a value ran as code"
    assert result.returncode == 0, result.stderr
    assert result.stdout == case.expected.encode()


def run_generated(seed: int, count: int, cwd: Path, workers: int = 4) -> None:
    """`count` cases from `seed`, in threads (bash does the work; each thread has its
    own folder, so a canary names its case)."""
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(seed)
    cases = [Case.generate(rng) for _ in range(count)]

    def chunk(worker: int) -> None:
        folder = cwd / str(worker)
        folder.mkdir()
        for number in range(worker, count, workers):
            case = cases[number]
            try:
                check(case, folder)
            except BaseException as error:
                raise AssertionError(
                    f"seed {seed}, case {number}: script {case.script!r} value {case.value!r}"
                ) from error

    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(chunk, worker) for worker in range(workers)]:
            done.result()


def test_generated_values_never_run_and_arrive_intact(tmp_path: Path) -> None:
    run_generated(seed=9, count=400, cwd=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_generated_values_never_run_and_arrive_intact_many(seed: int, tmp_path: Path) -> None:
    run_generated(seed=1000 + seed, count=2100, cwd=tmp_path)
