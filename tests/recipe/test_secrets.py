"""Secrets never leak: every byte `devkit run` emits (stdout, stderr, --json, --log,
error lines, tracebacks) is masked, whichever code path produced it. Real devkit
processes, real steps."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.recipe.conftest import devkit

SECRET = "hunter2-sekrit-value"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TOKEN": SECRET, **extra}


def _everything(result: object, *files: Path) -> str:
    text = str(getattr(result, "stdout", "")) + str(getattr(result, "stderr", ""))
    return text + "".join(path.read_text() for path in files if path.exists())


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_for_item_over_a_secret_is_masked_in_json(
    recipe: Callable[[str], Path], tmp_path: Path, dry_run: list[str]
) -> None:
    recipe(
        """
        secrets: [TOKEN]
        tasks:
          loop:
            - for: ["{{ env.TOKEN }}", plain]
              run: echo "{{ item }}"
        """
    )
    log = tmp_path / "run.log"
    result = devkit(["run", "--json", "--log", str(log), *dry_run], tmp_path, env=_env())
    assert result.returncode == 0, result.stderr
    items = [s["item"] for s in json.loads(result.stdout)["data"]["tasks"][0]["steps"]]
    assert items == ["***", "plain"]
    assert SECRET not in _everything(result, log)


def test_internal_error_built_from_a_secret_path_is_masked(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    # A lock below a regular file: the OSError's text names the secret-derived path,
    # and nothing catches it, so devkit ends with its exit-3 line.
    (tmp_path / "afile").write_text("")
    recipe(
        """
        secrets: [TOKEN]
        tasks:
          t:
            lock: "afile/{{ env.TOKEN }}/x.lock"
            steps: [echo hi]
        """
    )
    for extra in ([], ["--json"]):
        result = devkit(["run", *extra], tmp_path, env=_env())
        assert result.returncode == 3, result.stderr
        assert "internal error" in result.stderr
        assert "afile/***" in result.stderr
        assert SECRET not in _everything(result)
    debug = devkit(["run"], tmp_path, env=_env(DEVKIT_DEBUG="1"))
    assert "Traceback" in debug.stderr
    assert SECRET not in _everything(debug)


KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDvYmVyc2VjcmV0a2V5bWF0ZXJpYWwxMjM0NTY3ODkwYWJjZAAAAJgAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def test_multiline_secret_printed_line_by_line_and_trimmed_is_masked(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """
        secrets: [KEY, TOKEN]
        tasks:
          show:
            - 'while IFS= read -r line; do echo "key> $line"; done <<< "$KEY"'
            - printf 'token=%s;' "${TOKEN%$'\\n'}"
        """
    )
    log = tmp_path / "run.log"
    env = {**os.environ, "KEY": KEY, "TOKEN": SECRET + "\n"}
    result = devkit(["run", "--log", str(log)], tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("key> ***") == 4
    assert "token=***;" in result.stdout
    everything = _everything(result, log)
    for line in KEY.splitlines():
        assert line not in everything
    assert SECRET not in everything


PER_TASK = """
secrets: [SHARED]
tasks:
  build:
    - 'if printenv DEPLOY_KEY; then echo "build sees the key"; exit 1; fi'
    - echo "build ran with $SHARED"
  deploy:
    secrets: [DEPLOY_KEY]
    steps:
      - 'test -n "$DEPLOY_KEY"'
      - echo "key={{ env.DEPLOY_KEY }}"
"""


def test_a_task_secret_is_needed_and_seen_only_by_its_task(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(PER_TASK)
    env = {**os.environ, "SHARED": "shared-secret-1"}
    env.pop("DEPLOY_KEY", None)
    build = devkit(["run", "build"], tmp_path, env=env)
    assert build.returncode == 0, build.stderr
    assert "build ran with ***" in build.stdout
    # Set in devkit's environment, the key still does not reach the other task.
    with_key = devkit(["run", "build"], tmp_path, env={**env, "DEPLOY_KEY": SECRET})
    assert with_key.returncode == 0, with_key.stdout + with_key.stderr
    deploy = devkit(["run", "deploy"], tmp_path, env={**env, "DEPLOY_KEY": SECRET})
    assert deploy.returncode == 0, deploy.stderr
    assert "key=***" in deploy.stdout
    assert SECRET not in deploy.stdout + deploy.stderr
    missing = devkit(["run", "deploy"], tmp_path, env=env)
    assert missing.returncode == 2
    assert "secret DEPLOY_KEY is not set" in missing.stderr


def test_check_list_and_dry_run_need_no_secret_values(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(PER_TASK)
    env = {key: value for key, value in os.environ.items() if key not in ("SHARED", "DEPLOY_KEY")}
    check = devkit(["run", "--check"], tmp_path, env=env)
    assert check.returncode == 0, check.stderr
    listing = devkit(["run", "--list"], tmp_path, env=env)
    assert listing.returncode == 0, listing.stderr
    dry = devkit(["run", "deploy", "--dry-run"], tmp_path, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "secret DEPLOY_KEY is not set: --dry-run shows a placeholder" in dry.stderr
    assert 'would run: echo "key=***"' in dry.stdout


def test_a_task_cannot_use_a_secret_another_task_declares(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """
        tasks:
          build:
            - echo "{{ env.DEPLOY_KEY }}"
          deploy:
            secrets: [DEPLOY_KEY]
            steps: [echo deploying]
        """
    )
    result = devkit(["run", "--check"], tmp_path, env=_env(DEPLOY_KEY=SECRET))
    assert result.returncode == 2
    assert "secret 'DEPLOY_KEY' is declared by another task only" in result.stderr
    assert "devkit.yaml:4:" in result.stderr


def test_a_secret_with_control_characters_is_masked_in_the_error_line(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    # printable() escapes the tab and the newline: masking must come first.
    (tmp_path / "afile").write_text("")
    recipe(
        """
        secrets: [TOKEN]
        tasks:
          t:
            lock: "afile/{{ env.TOKEN }}/x.lock"
            steps: [echo hi]
        """
    )
    secret = "tab\tinside-it\nand-a-second-line"
    result = devkit(["run"], tmp_path, env={**os.environ, "TOKEN": secret})
    assert result.returncode == 3, result.stderr
    for shown in ("tab\\tinside-it", "inside-it", "and-a-second-line"):
        assert shown not in result.stderr
