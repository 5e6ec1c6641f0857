"""Built-in steps call devkit's own core code in-process: git flows and safe extraction.
Set up and checked with the git binary and the standard library."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.recipe.conftest import devkit


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_builtin_option_keys_are_checked_before_anything_runs(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        tasks:
          t:
            - touch ran.txt
            - git: sync
              repo: .
              mdoe: ff-only
            - extract: a.zip
              to: out
              max_bytes: lots
            - git: conflicts
              message: not an option of conflicts
        """
    )
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert "devkit.yaml:6:7: unknown key 'mdoe' in a git sync step; did you mean 'mode'?" in (
        result.stderr
    )
    assert "devkit.yaml:9:18: expected a size like 500K, 50M or 2G, got 'lots'" in result.stderr
    assert "devkit.yaml:11:7: unknown key 'message' in a git conflicts step" in result.stderr
    assert not (tmp_path / "ran.txt").exists()


def test_git_steps_init_stage_commit_sync_conflicts(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    server = tmp_path / "server.git"
    git("init", "--quiet", "--bare", str(server))
    repo = tmp_path / "my repo"
    repo.mkdir()
    (repo / "first.txt").write_text("first\n")
    recipe(
        f"""\
        vars:
          repo: "{repo}"
        tasks:
          t:
            - git: init
              path: "{{{{ repo }}}}"
              remote: {server}
            - run: echo hello > "{{{{ repo }}}}/hello.txt"
            - git: stage
              repo: "{{{{ repo }}}}"
              paths: [hello.txt]
            - git: commit
              repo: "{{{{ repo }}}}"
              message: "Say hello; $(touch CANARY)"
            - git: sync
              repo: "{{{{ repo }}}}"
              publish: true
            - git: conflicts
              repo: "{{{{ repo }}}}"
        """
    )
    result = devkit(["run", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git("log", "--format=%s", cwd=repo).splitlines() == [
        "Say hello; $(touch CANARY)",
        "Initial commit",
    ]
    assert git("show", "HEAD:hello.txt", cwd=repo) == "hello"
    assert git("show", "HEAD~1:first.txt", cwd=repo) == "first"
    assert git("remote", "get-url", "origin", cwd=repo) == str(server)
    assert git("rev-parse", "HEAD", cwd=repo) == git("--git-dir", str(server), "rev-parse", "main")
    assert not (tmp_path / "CANARY").exists()
    steps = json.loads(result.stdout)["data"]["tasks"][0]["steps"]
    assert [step["status"] for step in steps] == ["ok"] * 6
    assert steps[-1]["data"]["clean"] is True  # the conflict report's JSON
    assert steps[3]["data"]["summary"] == "Say hello; $(touch CANARY)"
    # Without --json, built-in steps' reports are step output (stdout, with the others).
    (tmp_path / "again.yaml").write_text(
        f'tasks:\n  t:\n    - git: conflicts\n      repo: "{repo}"\n'
    )
    human = devkit(["run", "again.yaml"], cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    report = [line for line in human.stdout.splitlines() if "no conflicts: origin/main" in line]
    # A report line, like step output: no timestamp (only step lines carry one).
    assert len(report) == 1 and report[0].startswith("    no conflicts: origin/main (")


def test_git_stage_right_after_init_of_an_empty_folder(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """\
        tasks:
          t:
            - git: init
              path: repo
            - run: echo hi > repo/a.txt
            - git: stage
              repo: repo
              paths: [a.txt]
        """
    )
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert git("diff", "--cached", "--name-only", cwd=tmp_path / "repo") == "a.txt"


def test_git_step_failure_points_at_the_step(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe("tasks:\n  t:\n    - git: commit\n      repo: not-a-repo\n      message: x\n")
    (tmp_path / "not-a-repo").mkdir()
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode != 0
    assert "devkit.yaml:3:7: step 'git: commit' in task 't' failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_extract_step_with_loop_and_limits(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    for name in ("a", "b"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"{name}.txt", name * 10)
        (downloads / f"{name}.zip").write_bytes(buffer.getvalue())
    recipe(
        """\
        tasks:
          t:
            - mkdir -p out
            - for: downloads/*.zip
              extract: "{{ item }}"
              to: out
              max_bytes: 1M
        """
    )
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "a" / "a.txt").read_text() == "a" * 10
    assert (tmp_path / "out" / "b" / "b.txt").read_text() == "b" * 10


def test_extract_step_refuses_traversal(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escaped.txt", "x")
    (tmp_path / "evil.zip").write_bytes(buffer.getvalue())
    recipe("tasks:\n  t:\n    - extract: evil.zip\n      to: out\n")
    result = devkit(["run"], cwd=tmp_path)
    assert result.returncode != 0
    assert not (tmp_path / "escaped.txt").exists()
    assert "devkit.yaml:3:7: step 'extract: evil.zip' in task 't' failed: exit" in result.stderr


def test_builtin_steps_get_the_step_environment_without_touching_os_environ(
    recipe: Callable[[str], Path], tmp_path: Path, devkit_here: Callable[..., object]
) -> None:
    """The step's `env:` reaches the git and archive cores as an argument; devkit's own
    os.environ (shared by every thread) is never swapped."""
    import os

    import py7zr

    repo = tmp_path / "repo"
    git("init", "--quiet", str(repo))
    (repo / "a.txt").write_text("a\n")
    with py7zr.SevenZipFile(tmp_path / "data.7z", "w") as archive:
        archive.writestr(b"payload\n", "payload.txt")
    recipe(
        """\
        tasks:
          commit:
            - git: commit
              repo: repo
              message: by the recipe
              all: true
              env:
                GIT_AUTHOR_NAME: Recipe Bot
                GIT_AUTHOR_EMAIL: bot@example.com
            - extract: data.7z
              to: out
              env:
                DEVKIT_7ZZ: ""
        """
    )
    git("-C", str(repo), "add", "a.txt")
    before = dict(os.environ)
    result = devkit_here(["run", "commit"], cwd=tmp_path)
    assert dict(os.environ) == before
    assert git("-C", str(repo), "log", "-1", "--format=%an <%ae>") == "Recipe Bot <bot@example.com>"
    # DEVKIT_7ZZ="" in the step's env (not in os.environ) means "no 7zz": the 7z step fails.
    assert result.returncode == 4, result.stderr  # type: ignore[attr-defined]
    assert "no 7-Zip decoder" in result.stderr  # type: ignore[attr-defined]
    assert not (tmp_path / "out").exists()
