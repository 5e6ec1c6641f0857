"""devkit init, stage, commit and undo on real repositories."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devkit.errors import DevkitError
from devkit.gitflow import (
    create_commit,
    init_repository,
    stage_paths,
    sync_repositories,
    undo_last_sync,
)
from tests.clirun import invoke, run_devkit
from tests.gitrepos import (
    Remote,
    assert_unchanged,
    commit,
    fingerprint,
    git,
    head,
    push_from,
    write,
)

# -- init -----------------------------------------------------------------------------


def test_init_creates_repo_with_gitignore_remote_and_first_commit(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write(project, "main.py", "print('hi')\n")
    write(project, "__pycache__/x.pyc", "junk")
    result = init_repository(
        project, remote="https://example.com/proj.git", branch="trunk", gitignore=["python"]
    )
    assert result.created and result.branch == "trunk" and result.commit
    assert git(project, "symbolic-ref", "--short", "HEAD").strip() == "trunk"
    assert git(project, "remote", "get-url", "origin").strip() == "https://example.com/proj.git"
    files = git(project, "ls-files").split()
    assert files == [".gitignore", "main.py"]
    assert "__pycache__/" in (project / ".gitignore").read_text()
    assert git(project, "log", "--format=%s").strip() == "Initial commit"


def test_init_adopts_existing_repo_without_touching_history(remote: Remote) -> None:
    clone = remote.clone("me")
    before = git(clone, "log", "--format=%H")
    result = init_repository(clone, gitignore=["node"], branch="whatever")
    assert not result.created and result.commit is None and result.branch == "main"
    assert git(clone, "log", "--format=%H") == before
    assert "node_modules/" in (clone / ".gitignore").read_text()
    again = init_repository(clone, gitignore=["node"])
    assert again.gitignore_written == ()


def test_init_without_identity_names_the_two_config_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "empty.gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    project = tmp_path / "p"
    write(project, "a.txt", "a\n")
    process = run_devkit(["init", str(project)])
    assert process.returncode == 1
    assert "git config --global user.name" in process.stderr
    assert "git config --global user.email" in process.stderr
    assert "Traceback" not in process.stderr


def test_init_refuses_hostile_remote_urls(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for url in (
        f"ext::sh -c touch% {marker}",
        "--upload-pack=touch /tmp/x",
        "ssh://-oProxyCommand=x/y",
    ):
        with pytest.raises(DevkitError) as caught:
            init_repository(tmp_path / "p", remote=url)
        assert caught.value.code == "unsafe_remote" and caught.value.exit_code == 2
    assert not (tmp_path / "p").exists() and not marker.exists()


def test_init_unknown_template_is_usage_error(tmp_path: Path) -> None:
    result = invoke(["init", str(tmp_path / "p"), "--gitignore", "python,cobol", "--json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["errors"][0]["code"] == "unknown_template"


# -- stage ----------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(path))
    commit(path, "base", {"a.txt": "a\n", "b.txt": "b\n"})
    return path


def staged_names(repo: Path) -> list[str]:
    return git(repo, "diff", "--cached", "--name-only").split()


def test_stage_paths_and_all(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, "a.txt", "changed\n")
    write(repo, "c.txt", "new\n")
    (repo / "b.txt").unlink()
    result = stage_paths(repo, ["a.txt"])
    assert staged_names(repo) == ["a.txt"]
    assert result.staged == (("M", "a.txt"),)
    result = stage_paths(repo, all_changes=True)
    assert sorted(result.staged) == [("A", "c.txt"), ("D", "b.txt"), ("M", "a.txt")]
    monkeypatch.chdir(repo)
    cli = invoke(["stage", "--all", "--json"])
    assert cli.exit_code == 0
    assert len(json.loads(cli.stdout)["data"]["staged"]) == 3


def test_stage_in_a_fresh_repository_with_no_index_yet(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "init", "-q", str(fresh)], check=True)
    write(fresh, "a.txt", "a\n")
    assert not (fresh / ".git" / "index").exists()
    result = stage_paths(fresh, ["a.txt"])
    assert result.staged == (("A", "a.txt"),)
    assert staged_names(fresh) == ["a.txt"]
    assert sorted(p.name for p in (fresh / ".git").iterdir() if "index" in p.name) == ["index"]


def test_stage_dry_run_stages_nothing(repo: Path) -> None:
    write(repo, "new.txt", "n\n")
    before = fingerprint(repo)
    result = stage_paths(repo, all_changes=True, dry_run=True)
    assert result.staged == (("A", "new.txt"),)
    assert_unchanged(before, repo)


@pytest.mark.parametrize(
    ("rel", "content", "reason"),
    [
        (
            "notes.txt",
            "x\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> other\n",
            "conflict_markers",
        ),
        (".env", "TOKEN=abc\n", "secret"),
        ("deploy/id_rsa", "whatever\n", "secret"),
        (
            "config.txt",
            "-----BEGIN OPENSSH "
            + "PRIVATE KEY-----\n"
            + "b3BlbnNzaC1rZXktdjE" * 8
            + "\n-----END OPENSSH "
            + "PRIVATE KEY-----\n",
            "secret",
        ),
        (
            "docs/notes.md",
            "```\nshown\n```\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> other\n",
            "conflict_markers",
        ),
        ("big.bin", "x" * 2048, "too_large"),
    ],
)
def test_stage_refuses_risky_files_unless_forced(
    repo: Path, monkeypatch: pytest.MonkeyPatch, rel: str, content: str, reason: str
) -> None:
    monkeypatch.setenv("DEVKIT_STAGE_MAX_BYTES", "1024")
    write(repo, rel, content)
    write(repo, "fine.txt", "fine\n")
    before = fingerprint(repo)
    result = stage_paths(repo, all_changes=True)
    assert result.exit_code == 1
    assert [(r.path, r.reason) for r in result.refused] == [(rel, reason)]
    assert_unchanged(before, repo)  # nothing at all is staged
    forced = stage_paths(repo, all_changes=True, force=True)
    assert forced.exit_code == 0 and rel in staged_names(repo)


def test_stage_example_env_file_is_fine(repo: Path) -> None:
    write(repo, ".env.example", "TOKEN=\n")
    assert stage_paths(repo, all_changes=True).exit_code == 0


def test_stage_cli_says_which_and_why(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, ".env", "SECRET=1\n")
    monkeypatch.chdir(repo)
    result = invoke(["stage", "--all"])
    assert result.exit_code == 1
    assert ".env" in result.stdout and "secret" in result.stdout


def test_stage_without_paths_or_all_is_usage_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert invoke(["stage"]).exit_code == 2


def test_stage_path_outside_repo_is_refused(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(DevkitError) as caught:
        stage_paths(repo, [str(tmp_path)])
    assert caught.value.code == "outside_repo"


# -- commit ---------------------------------------------------------------------------


def test_commit_through_git_runs_hooks(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = repo / ".git" / "hooks" / "commit-msg"
    hook.write_text('#!/bin/sh\necho "Signed-off-by: hook" >> "$1"\n')
    hook.chmod(0o755)
    write(repo, "a.txt", "changed\n")
    git(repo, "add", "a.txt")
    monkeypatch.chdir(repo)
    result = invoke(["commit", "-m", "change a"])
    assert result.exit_code == 0, result.output
    short = git(repo, "rev-parse", "--short", "HEAD").strip()
    assert f"[main {short}] change a" in result.stdout
    assert "Signed-off-by: hook" in git(repo, "log", "-1", "--format=%B")


def test_commit_all_and_allow_empty(repo: Path) -> None:
    write(repo, "a.txt", "changed\n")
    result = create_commit(repo, message="all", all_changes=True)
    assert result.files_changed == 1 and result.sha == head(repo)
    empty = create_commit(repo, message="empty", allow_empty=True)
    assert empty.files_changed == 0


def test_commit_errors(repo: Path) -> None:
    with pytest.raises(DevkitError) as caught:
        create_commit(repo, message="nothing")
    assert caught.value.code == "nothing_staged"
    git(repo, "switch", "-q", "--detach")
    write(repo, "a.txt", "x\n")
    git(repo, "add", "a.txt")
    with pytest.raises(DevkitError) as caught:
        create_commit(repo, message="detached")
    assert caught.value.code == "detached_head"


def test_commit_with_unresolved_conflicts(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "side")
    commit(repo, "side", {"a.txt": "side\n"})
    git(repo, "switch", "-q", "main")
    commit(repo, "main", {"a.txt": "main\n"})
    git(repo, "merge", "side", check=False)
    before = fingerprint(repo)
    with pytest.raises(DevkitError) as caught:
        create_commit(repo, message="merge")
    assert caught.value.code == "unresolved_conflicts"
    assert_unchanged(before, repo)


def test_commit_hook_refusal_is_a_clear_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'lint failed' >&2\nexit 1\n")
    hook.chmod(0o755)
    write(repo, "a.txt", "x\n")
    git(repo, "add", "a.txt")
    monkeypatch.chdir(repo)
    process = run_devkit(["commit", "-m", "x", "--json"], cwd=repo)
    assert process.returncode == 1
    assert json.loads(process.stdout)["errors"][0]["code"] == "commit_failed"


# -- undo -----------------------------------------------------------------------------


def test_undo_after_a_sync_restores_branch_index_and_files(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    commit(clone, "mine", {"mine.txt": "m\n"})
    write(clone, "README.md", "dirty\n")
    write(clone, "staged.txt", "s\n")
    git(clone, "add", "staged.txt")
    write(clone, "untracked.txt", "u\n")
    before = fingerprint(clone)
    report = sync_repositories([clone], mode="rebase", push=False)
    assert report.repos[0].result == "rebased"
    assert fingerprint(clone)["head"] != before["head"]
    result = undo_last_sync(clone)
    assert result.restored_head == before["head"]
    assert_unchanged(before, clone)
    assert git(clone, "for-each-ref", "--format=%(refname)", result.backup).strip() == result.backup


def test_undo_refuses_when_the_branch_moved(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    sync_repositories([clone], mode="ff-only")
    commit(clone, "later work", {"later.txt": "l\n"})
    before = fingerprint(clone)
    with pytest.raises(DevkitError) as caught:
        undo_last_sync(clone)
    assert caught.value.code == "branch_moved"
    assert_unchanged(before, clone)


def test_undo_without_snapshot_cli(remote: Remote) -> None:
    clone = remote.clone("me")
    process = run_devkit(["undo", str(clone), "--json"])
    assert process.returncode == 1
    assert json.loads(process.stdout)["errors"][0]["code"] == "no_snapshot"


# -- opening a repository (one `git rev-parse`, no GitPython) ----------------------------------


def test_what_is_not_a_repository_is_one_clear_line(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    plain = tmp_path / "plain"
    plain.mkdir()
    for where, code, words in (
        (bare, "bare_repository", "is a bare repository"),
        (plain, "not_a_repository", "not a git repository"),
        (tmp_path / "missing", "not_a_repository", "no such directory"),
    ):
        process = run_devkit(["undo", str(where), "--json"])
        assert process.returncode == 2, process.stdout
        error = json.loads(process.stdout)["errors"][0]
        assert (error["code"], words in error["message"]) == (code, True)
        assert "Traceback" not in process.stderr


def test_git_missing_from_path_is_exit_4(tmp_path: Path) -> None:
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    process = run_devkit(["commit", "-m", "x"], cwd=tmp_path, env={"PATH": str(empty)})
    assert process.returncode == 4
    assert "git is not installed" in process.stderr
    assert "Traceback" not in process.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository away")
def test_a_repository_owned_by_someone_else_names_safe_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    git(tmp_path, "init", "-q", str(foreign))
    os.chown(foreign, 65534, 65534)
    os.chown(foreign / ".git", 65534, 65534)
    process = run_devkit(["commit", "-m", "x", "--json"], cwd=foreign)
    assert process.returncode == 2
    error = json.loads(process.stdout)["errors"][0]
    assert "owned by someone else" in error["message"]
    assert "safe.directory" in error["hint"]


def test_commit_dry_run_checks_and_lists_but_commits_nothing(repo: Path) -> None:
    import json as json_module

    from tests.clirun import run_devkit

    write(repo, "new.txt", "new\n")
    git(repo, "add", "new.txt")
    before = git(repo, "rev-parse", "HEAD")
    result = run_devkit(["commit", "-m", "Add new\n\nbody", "--dry-run", "--json"], cwd=repo)
    assert result.returncode == 0, result.stderr
    data = json_module.loads(result.stdout)["data"]
    assert data["dry_run"] is True and data["files"] == ["new.txt"] and data["sha"] == ""
    assert data["summary"] == "Add new"
    assert git(repo, "rev-parse", "HEAD") == before
    assert git(repo, "diff", "--cached", "--name-only").strip() == "new.txt"
    git(repo, "reset", "-q")
    empty = run_devkit(["commit", "-m", "x", "--dry-run"], cwd=repo)
    assert empty.returncode == 1 and "nothing is staged" in empty.stderr


def test_init_dry_run_checks_and_says_what_it_would_do(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = run_devkit(
        ["init", str(target), "--gitignore", "python", "--remote", "git@host:app.git",
         "--dry-run", "--json"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data["dry_run"] is True and data["created"] is True
    assert data["gitignore_templates"] == ["python"] and data["commit"] is None
    assert not target.exists()
    existing = tmp_path / "old"
    git(tmp_path, "init", "-q", str(existing))
    git(existing, "remote", "add", "origin", "elsewhere")
    refused = run_devkit(["init", str(existing), "--remote", "git@host:app.git", "--dry-run"])
    assert refused.returncode == 1 and "remote 'origin' already exists" in refused.stderr
    assert not (existing / ".gitignore").exists()
    bad = run_devkit(["init", str(tmp_path / "x"), "--gitignore", "cobol", "--dry-run"])
    assert bad.returncode == 2 and not (tmp_path / "x").exists()


def test_undo_dry_run_lists_what_it_would_restore_and_changes_nothing(remote: Remote) -> None:
    clone = remote.clone("me")
    push_from(remote, "colleague", "theirs", {"theirs.txt": "t\n"})
    before_sync = fingerprint(clone)
    sync_repositories([clone], mode="ff-only")
    after_sync = fingerprint(clone)
    refs = git(clone, "for-each-ref", "refs/devkit")
    result = run_devkit(["undo", "--dry-run", "--json"], cwd=clone)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data["dry_run"] is True and data["changes"] == ["theirs.txt"]
    assert data["restored_head"] == before_sync["head"] and data["backup"] == ""
    assert_unchanged(after_sync, clone)
    assert git(clone, "for-each-ref", "refs/devkit") == refs  # no backup taken
    commit(clone, "later work", {"later.txt": "l\n"})
    moved = run_devkit(["undo", "--dry-run"], cwd=clone)
    assert moved.returncode == 1 and "has moved since devkit synced it" in moved.stderr
