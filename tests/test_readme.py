"""The README's examples are run or checked, so that none of them goes stale.

- every ```yaml block is a whole recipe that `devkit run --check` accepts;
- every ```json block parses;
- every `devkit ...` command or synopsis (in code blocks and inline code) names a real
  command and only options that command has.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from devkit.cli import COMMAND_MODULES, build_command
from tests.clirun import run_devkit

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"(?<!`)`(devkit [^`\n]+)`(?!`)")
ROOT_OPTIONS = {"--help", "-h", "--version", "--install-completion", "--show-completion"}


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def command_lines() -> list[str]:
    """Every `devkit ...` the README shows: lines of shell blocks (a synopsis may
    continue on indented lines) and inline code, cut at `&&`, pipes and redirections
    outside quotes."""
    lines = [m.group(1) for m in INLINE.finditer(README)]
    for language in ("sh", "bash", "console", ""):
        for body in blocks(language):
            text = re.sub(r"\n\s+(?=[\[-])", " ", body)  # a synopsis's continuation lines
            lines += text.splitlines()
    found = []
    for line in lines:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        command: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", "|", ">", ">>", ";"):
                if command and re.sub(r"^(?:\S*/)?\.venv/bin/", "", command[0]) == "devkit":
                    found.append(shlex.join(["devkit", *command[1:]]))
                command = []
            else:
                command.append(word)
    return found


def option_words(command: str) -> tuple[str | None, list[str]]:
    """(subcommand, the option names it uses) of one README command or synopsis."""
    words = shlex.split(command)
    words = [piece for word in words for piece in re.split(r"[\[\]|{}]", word) if piece]
    sub = next((w for w in words[1:] if not w.startswith("-")), None)
    options = [w.split("=", 1)[0] for w in words[1:] if re.fullmatch(r"--?[A-Za-z][\w-]*(=.*)?", w)]
    return (sub if sub in COMMAND_MODULES else None), options


def is_inventory(body: str) -> bool:
    return "\ntasks:" not in f"\n{body}" and re.search(r"^(groups|hosts):", body, re.M) is not None


@pytest.mark.parametrize(
    "body", [b for b in blocks("yaml") if is_inventory(b)], ids=lambda b: b.splitlines()[0]
)
def test_yaml_inventories_load(body: str, tmp_path: Path) -> None:
    from devkit.fleet.inventory import load_inventory

    (tmp_path / "hosts.yaml").write_text(body)
    assert load_inventory(tmp_path / "hosts.yaml").hosts


@pytest.mark.parametrize(
    "body",
    [b for b in blocks("yaml") if not is_inventory(b)],
    ids=lambda b: b.splitlines()[0][:40],
)
def test_yaml_examples_are_valid_recipes(body: str, tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text(body)
    for optional in re.findall(r"([\w.-]+)\?", body):  # dotenv files marked optional
        (tmp_path / optional).touch()
    secrets = re.findall(r"secrets: \[([^\]]*)\]", body)
    env = {name.strip(): "example-secret-value" for s in secrets for name in s.split(",")}
    result = run_devkit(["run", "--check"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    # And planned as a run would be: every value rendered, every step described.
    planned = run_devkit(["run", "--dry-run", "--json"], cwd=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr


@pytest.mark.parametrize("body", blocks("json"), ids=lambda b: b.splitlines()[1][:40])
def test_json_examples_parse(body: str) -> None:
    json.loads(body)


def test_every_devkit_command_in_the_readme_uses_real_options() -> None:
    known = {name: set() for name in COMMAND_MODULES}
    for name in COMMAND_MODULES:
        for param in build_command(name).params:
            known[name].update(getattr(param, "opts", []), getattr(param, "secondary_opts", []))
            known[name].update({"--help", "-h"})
    stale = []
    lines = command_lines()
    assert len(lines) > 20  # the extraction works
    for line in lines:
        sub, options = option_words(line)
        allowed = known[sub] if sub else ROOT_OPTIONS
        stale += [f"{line!r}: {option}" for option in options if option not in allowed]
    assert not stale, "README names options that do not exist:\n" + "\n".join(stale)


def test_help_examples_use_real_options() -> None:
    from devkit.cli.examples import EXAMPLES

    stale = []
    for name, examples in EXAMPLES.items():
        known = {o for p in build_command(name).params for o in getattr(p, "opts", [])}
        for command, _ in examples:
            sub, options = option_words(command.split("|")[0].split(">")[0])
            assert sub == name, command
            stale += [f"{command!r}: {o}" for o in options if o not in known]
    assert not stale, stale


@pytest.mark.parametrize("name", list(COMMAND_MODULES))
def test_every_command_help_ends_with_examples(name: str) -> None:
    result = run_devkit([name, "--help"])
    assert "Examples:" in result.stdout
    assert f"    devkit {name}" in result.stdout


@pytest.mark.parametrize("body", blocks("toml"))
def test_toml_examples_are_valid_config_files(body: str, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(body)
    result = run_devkit(["config", "--json"], env={"DEVKIT_CONFIG": str(path)})
    assert result.returncode == 0, result.stderr
    sources = {item["source"] for item in json.loads(result.stdout)["data"]["settings"]}
    assert "file" in sources
