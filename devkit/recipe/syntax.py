"""Shell syntax of a whole recipe, checked by bash itself before anything runs: every
shell text (`run:`, `if:`, `requires:`, cleanup steps included), placeholders turned
into the environment references bash will see, goes into ONE script for ONE `bash -n`
(parse, never execute). Each text is the body of a function of its own, followed by a
line that is a comment when the text is closed and a syntax error when it left a quote
open, so that a fault stays with its text.

A valid recipe costs one bash process. When bash finds a fault, a binary search over
prefixes of the script finds the first faulty text (a few more processes), `bash -n`
on that text alone gives its exact line and message, and the search goes on after it.
A here-document left open at the end of a text is only a warning when the step runs,
so it is no error here either. Without bash the check is skipped: the steps could
not run anyway.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence

from devkit.recipe.errors import Diagnostic, Position
from devkit.recipe.loader import SourceFile, Text
from devkit.recipe.template import TemplateSyntaxError, parse_template, reference_script

# Reported diagnostics at most: a recipe with more faults gets them after a fix.
MAX_REPORTED = 10
# After each text: comments when the text closed everything it opened; when it left a
# `[[`, a `"`, a `'` or a backtick open, one of these lines closes it and the `)` after
# it is a syntax error, so the fault shows up instead of swallowing the next texts.
_SEPARATOR = "# ]] )\n# \" ) ' )\n# ` )"
_ERROR = re.compile(r"^/dev/stdin: line (\d+): (.*)$")


def shell_syntax_problems(texts: Sequence[Text], source: SourceFile) -> list[Diagnostic]:
    """A diagnostic (at the YAML position) for each text bash cannot parse."""
    bash = shutil.which("bash")
    scripts = [(text, script) for text in texts if (script := _script(text)) is not None]
    if bash is None:
        return []
    problems: list[Diagnostic] = []
    while scripts and len(problems) < MAX_REPORTED and _bash_n(bash, _combined(scripts)):
        index = _first_faulty(bash, scripts)
        text, script = scripts[index]
        fault = _bash_n(bash, script)
        if fault is not None:  # None: fine at run time (an open here-document)
            line, message = fault
            line = min(line, script.rstrip("\n").count("\n") + 1)  # "end of file": its last line
            problems.append(source.diagnostic(_position(text, line, source), message))
        scripts = scripts[index + 1 :]
    return problems


def _script(text: Text) -> str | None:
    try:
        return reference_script(parse_template(str(text)))
    except TemplateSyntaxError:
        return None  # reported by the schema


def _combined(scripts: Sequence[tuple[Text, str]]) -> str:
    parts = [
        f"__devkit_text_{number}() {{\n{script}\n}}\n{_SEPARATOR}"
        for number, (_, script) in enumerate(scripts)
    ]
    return "\n".join(parts)


def _first_faulty(bash: str, scripts: Sequence[tuple[Text, str]]) -> int:
    """The index of the first text whose prefix of the script fails (the whole fails)."""
    low, high = 1, len(scripts)  # the shortest failing prefix has `high` texts
    while low < high:
        middle = (low + high) // 2
        if _bash_n(bash, _combined(scripts[:middle])) is not None:
            high = middle
        else:
            low = middle + 1
    return high - 1


def _bash_n(bash: str, script: str) -> tuple[int, str] | None:
    """bash's first syntax error in the script, as (line, message); None when it parses."""
    from devkit import process

    # extglob: a text may `shopt -s extglob` before it uses @(...); -n never runs it.
    result = process.run_captured(
        [bash, "-O", "extglob", "-n", "/dev/stdin"],
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
        input=script.encode("utf-8", "surrogateescape") + b"\n",
        timeout=60,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    # Not only the exit status: bash -n reports an error in a `[[ ]]` and exits 0.
    for line in stderr.splitlines():
        match = _ERROR.match(line)
        if match and not match.group(2).startswith(("`", "warning:")):
            text = match.group(2).removeprefix("syntax error: ").removeprefix("syntax error ")
            return int(match.group(1)), f"shell syntax error: {text}"
    if result.status == 0:
        return None
    return 1, f"shell syntax error (bash: {stderr.strip()[:200]})"


def _position(text: Text, line: int, source: SourceFile) -> Position:
    """Where line `line` of a shell text is in the YAML: exact for block scalars (`|`,
    `>`) and one-line texts, the scalar's start otherwise."""
    pos = text.pos
    start = source.line(pos.line)[pos.col - 1 : pos.col]
    if start in ("|", ">"):
        number = pos.line + line
        written = source.line(number)
        return Position(pos.file, number, len(written) - len(written.lstrip()) + 1)
    return pos
