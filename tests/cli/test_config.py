"""The user's config file, the environment and flags, in that order of strength."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.clirun import run_devkit


@pytest.fixture
def config_file() -> Path:
    # tests/conftest.py points XDG_CONFIG_HOME at a fresh folder for every test.
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "devkit" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def settings(*args: str, env: dict[str, str] | None = None) -> dict[str, dict[str, object]]:
    result = run_devkit(["config", "--json", *args], env=env)
    assert result.returncode == 0, result.stderr
    return {item["key"]: item for item in json.loads(result.stdout)["data"]["settings"]}


def test_without_a_file_every_value_is_the_default() -> None:
    values = settings()
    assert {item["source"] for item in values.values()} == {"default"}
    assert values["output.level"]["value"] == "normal"
    assert values["sync.mode"]["value"] is None  # chosen per run: terminal or not
    human = run_devkit(["config"])
    assert "(not present)" in human.stdout and "extract.max_bytes" in human.stdout


def test_environment_beats_the_file(config_file: Path) -> None:
    config_file.write_text('[sync]\nmode = "merge"\njobs = 3\n[extract]\nmax_bytes = "2G"\n')
    values = settings(env={"DEVKIT_SYNC_JOBS": "5"})
    assert values["sync.mode"] == {
        "key": "sync.mode",
        "value": "merge",
        "source": "file",
        "origin": str(config_file),
    }
    assert values["sync.jobs"]["value"] == 5 and values["sync.jobs"]["source"] == "environment"
    assert values["extract.max_bytes"]["value"] == 2 * 1024**3


def test_another_file_through_devkit_config(tmp_path: Path) -> None:
    other = tmp_path / "ci.toml"
    other.write_text('[output]\nlevel = "verbose"\n')
    values = settings(env={"DEVKIT_CONFIG": str(other)})
    assert values["output.level"]["value"] == "verbose"


def test_output_settings_shape_a_run_and_flags_win(config_file: Path, tmp_path: Path) -> None:
    (tmp_path / "devkit.yaml").write_text("tasks:\n  t: [echo hello]\n")
    config_file.write_text('[output]\nlevel = "quiet"\ntimestamps = true\n')
    quiet = run_devkit(["run"], cwd=tmp_path)
    assert quiet.stdout.splitlines() == [quiet.stdout.splitlines()[0]]  # the summary only
    loud = run_devkit(["run", "-v"], cwd=tmp_path)
    hello = [line for line in loud.stdout.splitlines() if line.endswith("    hello")]
    assert hello and hello[0][:2] == "20"  # every line stamped, the output line too


def test_output_color_always_colours_a_pipe_unless_no_color(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "devkit.yaml").write_text("tasks:\n  t: [echo hello]\n")
    config_file.write_text('[output]\ncolor = "always"\n')
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in run_devkit(["run"], cwd=tmp_path).stdout
    assert "\x1b[" not in run_devkit(["run"], cwd=tmp_path, env={"NO_COLOR": "1"}).stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sync]\nmod = "merge"\n', "unknown setting sync.mod (did you mean sync.mode?)"),
        ("[sync]\njobs = 0\n", "sync.jobs = 0: expected a whole number of at least 1"),
        ('[output]\ncolor = "blue"\n', "expected one of auto, always, never"),
        ("[sync\n", "invalid TOML"),
        ('sync = "x"\n', "expected a [sync] table"),
    ],
)
def test_a_broken_file_stops_every_command_with_one_line(
    config_file: Path, tmp_path: Path, text: str, message: str
) -> None:
    config_file.write_text(text)
    for args in (["config"], ["run", "--check"], ["sync", str(tmp_path)]):
        result = run_devkit(args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        (line,) = result.stderr.splitlines()
        assert str(config_file) in line and message in line, line
    assert run_devkit(["--version"]).returncode == 0
    assert run_devkit(["sync", "--help"]).returncode == 0


def test_a_bad_environment_value_is_named() -> None:
    result = run_devkit(["config"], env={"DEVKIT_SYNC_JOBS": "many"})
    assert result.returncode == 2
    assert "DEVKIT_SYNC_JOBS='many': expected a whole number of at least 1" in result.stderr


def test_sync_and_extract_take_their_defaults_from_the_file(
    config_file: Path, tmp_path: Path
) -> None:
    import tarfile

    from tests.gitrepos import make_remote

    clone = make_remote(tmp_path / "server").clone("me")
    config_file.write_text('[sync]\nmode = "merge"\n[extract]\nmax_entries = 1\n')
    synced = run_devkit(["sync", "--json", str(clone)])
    assert json.loads(synced.stdout)["data"]["mode"] == "merge"
    flagged = run_devkit(["sync", "--json", "--mode", "ff-only", str(clone)])
    assert json.loads(flagged.stdout)["data"]["mode"] == "ff-only"

    (tmp_path / "a").write_text("a")
    archive = tmp_path / "two.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "a", arcname="top/a")
        tar.add(tmp_path / "a", arcname="top/b")
    capped = run_devkit(["extract", str(archive), "-C", str(tmp_path / "out")])
    assert capped.returncode != 0 and "more than 1 entries" in capped.stderr
    allowed = run_devkit(
        ["extract", str(archive), "-C", str(tmp_path / "out"), "--max-entries", "5"]
    )
    assert allowed.returncode == 0, allowed.stderr


def test_a_repositorys_sync_mode_beats_the_file_and_the_environment_beats_both(
    config_file: Path, tmp_path: Path
) -> None:
    from tests.gitrepos import git, make_remote, push_from

    remote = make_remote(tmp_path / "server")
    clone = remote.clone("me")
    (clone / "mine.txt").write_text("mine\n")
    git(clone, "add", "mine.txt")
    git(clone, "commit", "-q", "-m", "mine")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    config_file.write_text('[sync]\nmode = "ff-only"\n')
    git(clone, "config", "devkit.syncMode", "merge")
    dry = ["sync", "--json", "--dry-run", "--no-push", str(clone)]
    repo = json.loads(run_devkit(dry).stdout)["data"]["repos"][0]
    assert repo["result"] == "would_merge", repo
    forced = run_devkit(dry, env={"DEVKIT_SYNC_MODE": "ff-only"})
    assert json.loads(forced.stdout)["data"]["repos"][0]["result"] != "would_merge"


def test_a_config_folder_this_user_cannot_enter_counts_as_no_file(config_file: Path) -> None:
    import shutil
    import subprocess
    import sys
    import tempfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to act as another user")
    # The suite's home is root's (0700): another user cannot even look for the file.
    config_file.write_text('[sync]\nmode = "merge"\n')
    user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    devkit = [sys.executable, "-m", "devkit"]
    hidden = subprocess.run([*user, *devkit, "config", "--json"], capture_output=True, text=True)
    assert hidden.returncode == 0, hidden.stderr
    # A file this user can see but not read is an error, not a silent default.
    shared = Path(tempfile.mkdtemp())
    try:
        shared.chmod(0o755)
        unreadable = shared / "config.toml"
        unreadable.write_text('[sync]\nmode = "merge"\n')
        unreadable.chmod(0o600)
        env = {**os.environ, "DEVKIT_CONFIG": str(unreadable)}
        denied = subprocess.run([*user, *devkit, "config"], capture_output=True, text=True, env=env)
        assert denied.returncode == 2 and "Permission denied" in denied.stderr, denied.stderr
    finally:
        shutil.rmtree(shared)
