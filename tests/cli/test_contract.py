"""The output contract of every command, on success and on failure.

With --json, stdout is exactly one JSON document: the envelope (devkit, command, ok,
exit_code, data, errors; keys sorted), and every error in it has exactly code, message,
hint and details. Without --json, each of those errors is one `devkit: error:` line on
stderr and the exit code is the same. Set-up uses git, tar and the standard library.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clirun import invoke, run_devkit
from tests.gitrepos import Remote, commit, git, make_remote, push_from, write

ENVELOPE_KEYS = {"devkit", "command", "ok", "exit_code", "data", "errors"}
ERROR_KEYS = {"code", "message", "hint", "details"}


@dataclass
class World:
    """Everything the cases need, built once per test in a fresh folder."""

    root: Path
    remote: Remote
    clone: Path  # up to date with its upstream
    archive: Path  # a small tar.gz
    text: Path  # not an archive

    def recipe(self, text: str, name: str = "devkit.yaml") -> Path:
        path = self.root / name
        path.write_text(text)
        return path


def build_world(root: Path) -> World:
    remote = make_remote(root / "net")
    clone = remote.clone("clone")
    archive = root / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"payload\n"
        info = tarfile.TarInfo("data/a.txt")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    text = root / "notes.txt"
    text.write_text("just text\n")
    return World(root=root, remote=remote, clone=clone, archive=archive, text=text)


@dataclass(frozen=True)
class Case:
    """One invocation: its arguments and folder (from the world), what it must give."""

    prepare: Callable[[World], tuple[list[str], Path]]
    exit_code: int
    error: str | None = None  # the first error's code


def _in(folder: Callable[[World], Path], *args: str) -> Callable[[World], tuple[list[str], Path]]:
    return lambda w: ([*args], folder(w))


def _stage_refused(w: World) -> tuple[list[str], Path]:
    write(w.clone, "merge.txt", "<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> other\n")
    return ["stage", "merge.txt"], w.clone


def _commit_staged(w: World) -> tuple[list[str], Path]:
    write(w.clone, "new.txt", "new\n")
    git(w.clone, "add", "new.txt")
    return ["commit", "-m", "add new.txt"], w.clone


def _sync_unreachable(w: World) -> tuple[list[str], Path]:
    git(w.clone, "remote", "set-url", "origin", str(w.root / "nowhere.git"))
    return ["sync", "--mode", "ff-only", str(w.clone)], w.root


def _run_recipe(text: str, *args: str) -> Callable[[World], tuple[list[str], Path]]:
    def prepare(w: World) -> tuple[list[str], Path]:
        w.recipe(text)
        return ["run", *args], w.root

    return prepare


CASES: dict[str, Case] = {
    "init": Case(lambda w: (["init", str(w.root / "fresh")], w.root), 0),
    "init-unknown-template": Case(
        lambda w: (["init", str(w.root / "x"), "--gitignore", "cobol"], w.root),
        2,
        "unknown_template",
    ),
    "stage": Case(lambda w: (["stage", "README.md"], w.clone), 0),
    "stage-refused": Case(_stage_refused, 1, "refused_paths"),
    "stage-not-a-repository": Case(_in(lambda w: w.root, "stage", "--all"), 2, "not_a_repository"),
    "commit": Case(_commit_staged, 0),
    "commit-nothing-staged": Case(_in(lambda w: w.clone, "commit", "-m", "x"), 1, "nothing_staged"),
    "sync": Case(lambda w: (["sync", "--mode", "ff-only", str(w.clone)], w.root), 0),
    "sync-unreachable-remote": Case(_sync_unreachable, 1, "fetch_failed"),
    "sync-unknown-mode": Case(_in(lambda w: w.clone, "sync", "--mode", "sideways"), 2),
    "conflicts": Case(_in(lambda w: w.clone, "conflicts", "--no-fetch"), 0),
    "conflicts-not-a-repository": Case(_in(lambda w: w.root, "conflicts"), 2, "not_a_repository"),
    "undo-no-snapshot": Case(lambda w: (["undo", str(w.clone)], w.root), 1, "no_snapshot"),
    "extract": Case(lambda w: (["extract", str(w.archive), "-C", "out"], w.root), 0),
    "extract-list": Case(lambda w: (["extract", str(w.archive), "--list"], w.root), 0),
    "extract-not-an-archive": Case(
        lambda w: (["extract", str(w.text), "-C", "out"], w.root), 2, "unknown_format"
    ),
    "extract-one-of-two-fails": Case(
        lambda w: (["extract", str(w.text), str(w.archive), "-C", "out"], w.root),
        2,
        "unknown_format",
    ),
    "extract-bad-cap": Case(
        lambda w: (["extract", str(w.archive), "--max-ratio", "0"], w.root), 2, "usage"
    ),
    "run": Case(_run_recipe("tasks:\n  t: [echo ran]\n"), 0),
    "run-step-fails": Case(_run_recipe("tasks:\n  t: [echo a, exit 3]\n"), 3, "step_failed"),
    "run-invalid-recipe": Case(
        _run_recipe("tasks:\n  t:\n    needs: [nope]\n    steps: [echo a]\n"), 2, "invalid_recipe"
    ),
    "run-unknown-task": Case(_run_recipe("tasks:\n  t: [echo a]\n", "nope"), 2, "unknown_task"),
    "run-check": Case(_run_recipe("tasks:\n  t: [echo a]\n", "--check"), 0),
    "run-list": Case(_run_recipe("tasks:\n  t: [echo a]\n", "--list"), 0),
    "run-schema": Case(_in(lambda w: w.root, "run", "--schema"), 0),
    "run-dry-run": Case(_run_recipe("tasks:\n  t: [touch x]\n", "--dry-run"), 0),
    "unknown-option": Case(_in(lambda w: w.root, "extract", "--bogus"), 2, "usage"),
    "unknown-command": Case(_in(lambda w: w.root, "nosuchcommand"), 2, "usage"),
}


def check_envelope(stdout: str, *, exit_code: int, error: str | None) -> dict[str, object]:
    """stdout is exactly one envelope, byte for byte as the renderer writes it."""
    doc = json.loads(stdout)  # fails on anything before or after the document
    assert stdout == json.dumps(doc, sort_keys=True, indent=2) + "\n"
    assert set(doc) == ENVELOPE_KEYS
    assert doc["devkit"] == 1
    assert doc["exit_code"] == exit_code
    assert doc["ok"] is (exit_code == 0)
    assert isinstance(doc["data"], dict)
    for item in doc["errors"]:
        assert set(item) == ERROR_KEYS, item
        assert isinstance(item["code"], str) and item["code"]
        assert isinstance(item["message"], str) and item["message"]
        assert item["hint"] is None or isinstance(item["hint"], str)
        assert isinstance(item["details"], dict)
    if exit_code == 0:
        assert doc["errors"] == []
    else:
        assert doc["errors"], "a failure names its errors"
        if error is not None:
            assert doc["errors"][0]["code"] == error
    return doc


@pytest.mark.parametrize("name", list(CASES))
def test_every_command_in_json_and_human_mode(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    outputs = {}
    for mode in ("json", "human"):
        world = build_world(tmp_path / mode)
        args, cwd = case.prepare(world)
        monkeypatch.chdir(cwd)
        result = invoke([*args, "--json"] if mode == "json" else args)
        assert result.exception is None, result.exception
        assert result.exit_code == case.exit_code, (mode, result.stdout, result.stderr)
        outputs[mode] = result
    doc = check_envelope(outputs["json"].stdout, exit_code=case.exit_code, error=case.error)
    assert doc["command"] == args[0]
    human = outputs["human"]
    errors = [line for line in human.stderr.splitlines() if line.startswith("devkit: error: ")]
    assert len(errors) == len(doc["errors"]), human.stderr  # type: ignore[arg-type]
    assert not human.stdout.lstrip().startswith('{\n  "command"')
    assert "Traceback" not in human.stderr + outputs["json"].stderr


def test_a_failing_recipe_keeps_the_step_in_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devkit.yaml").write_text(
        "tasks:\n  build:\n    steps:\n      - echo fine\n      - name: compile\n"
        "        run: exit 7\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke(["run", "--json"])
    assert result.exit_code == 7
    doc = check_envelope(result.stdout, exit_code=7, error="step_failed")
    (error,) = doc["errors"]  # type: ignore[misc]
    assert error["details"] == {
        "task": "build",
        "step": "compile",
        "line": 5,
        "col": 9,
        "phase": "steps",
        "exit_code": 7,
        "timed_out": False,
        "output_tail": [],
    }
    assert "compile" in error["message"]


def test_sync_failures_name_their_repository(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    good = world.clone
    bad = world.remote.clone("bad")
    git(bad, "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    result = invoke(["sync", "--mode", "ff-only", "--json", str(good), str(bad)])
    doc = check_envelope(result.stdout, exit_code=1, error="fetch_failed")
    (error,) = doc["errors"]  # type: ignore[misc]
    assert error["details"]["repo"] == str(bad)
    assert error["message"].startswith(f"{bad}: ")


def test_undo_after_a_sync(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    push_from(world.remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    synced = invoke(["sync", "--mode", "ff-only", "--json", str(world.clone)])
    check_envelope(synced.stdout, exit_code=0, error=None)
    undone = invoke(["undo", "--json", str(world.clone)])
    doc = check_envelope(undone.stdout, exit_code=0, error=None)
    assert doc["command"] == "undo"


def test_stage_refusal_lists_the_files_in_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(tmp_path)
    args, cwd = _stage_refused(world)
    monkeypatch.chdir(cwd)
    doc = check_envelope(invoke([*args, "--json"]).stdout, exit_code=1, error="refused_paths")
    (error,) = doc["errors"]  # type: ignore[misc]
    assert [item["path"] for item in error["details"]["refused"]] == ["merge.txt"]
    assert git(world.clone, "diff", "--cached", "--name-only") == ""


def test_real_processes_give_the_same_envelope(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    world.recipe("tasks:\n  t: [exit 4]\n")
    failed = run_devkit(["run", "--json"], cwd=tmp_path)
    assert failed.returncode == 4
    check_envelope(failed.stdout, exit_code=4, error="step_failed")
    not_archive = run_devkit(["extract", "--json", str(world.text)], cwd=tmp_path)
    assert not_archive.returncode == 2
    check_envelope(not_archive.stdout, exit_code=2, error="unknown_format")
    usage = run_devkit(["stage", "--bogus", "--json"], cwd=tmp_path)
    assert usage.returncode == 2
    check_envelope(usage.stdout, exit_code=2, error="usage")
    extracted = run_devkit(["extract", "--json", str(world.archive), "-C", "o"], cwd=tmp_path)
    assert extracted.returncode == 0
    check_envelope(extracted.stdout, exit_code=0, error=None)
    assert (tmp_path / "o" / "data" / "a.txt").read_text() == "payload\n"


def test_help_and_version_are_not_results(tmp_path: Path) -> None:
    assert invoke([]).exit_code == 0  # a bare `devkit` shows the help
    assert "Usage" in invoke([]).stdout
    assert invoke(["--version"]).stderr == ""
    helped = invoke(["sync", "--help", "--json"])
    assert helped.exit_code == 0 and "Usage" in helped.stdout


def test_commit_is_a_real_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build_world(tmp_path)
    args, cwd = _commit_staged(world)
    monkeypatch.chdir(cwd)
    doc = check_envelope(invoke([*args, "--json"]).stdout, exit_code=0, error=None)
    assert doc["data"]["sha"] == git(world.clone, "rev-parse", "HEAD").strip()  # type: ignore[index]
    commit(world.clone, "another")  # the repository is still a normal one
