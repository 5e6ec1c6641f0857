"""Every recipe shipped in recipes/ runs for real, built-in git and extract steps included."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

from tests.recipe.conftest import devkit

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
TESTED = {"demo.yaml", "deploy.yaml", "backup.yaml", "data-prep.yaml"}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def test_every_shipped_recipe_is_tested_and_valid(tmp_path: Path) -> None:
    shipped = {p.name for p in RECIPES.glob("*.yaml")}
    assert shipped == TESTED
    for name in sorted(shipped):
        result = devkit(["run", str(RECIPES / name), "--check"], cwd=tmp_path)
        assert result.returncode == 0, (name, result.stderr)


def test_committed_schema_matches_the_source(tmp_path: Path) -> None:
    result = devkit(["run", "--schema"], cwd=tmp_path)
    committed = json.loads((ROOT / "recipe.schema.json").read_text())
    assert json.loads(result.stdout) == committed, (
        "regenerate: devkit run --schema > recipe.schema.json"
    )


def test_backup_keeps_the_newest_n(tmp_path: Path) -> None:
    source = tmp_path / "data"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "file.txt").write_text("precious")
    dest = tmp_path / "backups"
    args = [
        "run",
        str(RECIPES / "backup.yaml"),
        "--var",
        f"source={source}",
        "--var",
        f"dest={dest}",
        "--var",
        "keep=2",
    ]
    made = []
    for _ in range(3):
        result = devkit(args, cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        made.append(
            next(
                line.split("wrote ", 1)[1].split(" ")[0]
                for line in result.stdout.splitlines()
                if "wrote backup-" in line
            )
        )
        time.sleep(0.02)  # distinct modification times
    kept = sorted(p.name for p in dest.glob("backup-*.tar.gz"))
    assert kept == sorted(made[1:])
    with tarfile.open(dest / made[-1]) as archive:
        member = archive.extractfile("./sub/file.txt")
        assert member is not None and member.read() == b"precious"
    assert not list(dest.glob(".*.partial"))


def test_backup_dumps_first_and_a_failed_dump_loses_nothing(tmp_path: Path) -> None:
    source = tmp_path / "data"
    source.mkdir()
    dest = tmp_path / "backups"
    # A copy, so that a .env file can sit next to it, as on a server.
    recipe = str(tmp_path / "backup.yaml")
    Path(recipe).write_text((RECIPES / "backup.yaml").read_text())
    (tmp_path / ".env").write_text("BACKUP_KEEP=1\n")
    env = {"BACKUP_SOURCE": str(source), "BACKUP_DEST": str(dest)}
    dump = f"--var=dump=echo 'dumped rows' > {source}/db.dump"
    first = devkit(["run", recipe, dump], cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    [archive] = dest.glob("backup-*.tar.gz")
    with tarfile.open(archive) as opened:
        member = opened.extractfile("./db.dump")
        assert member is not None and member.read() == b"dumped rows\n"
    assert "wrote backup-" in (dest / "backup.log").read_text()  # the recipe's log: file

    failed = devkit(
        ["run", recipe, "--var", "dump=echo dump failed >&2; exit 5"], cwd=tmp_path, env=env
    )
    assert failed.returncode == 5
    assert "step 'dump' in task 'backup' failed" in failed.stderr
    assert list(dest.glob("backup-*.tar.gz")) == [archive]  # BACKUP_KEEP=1: still kept
    assert not list(dest.glob(".*.partial"))


def test_backup_refuses_a_missing_folder(tmp_path: Path) -> None:
    result = devkit(
        [
            "run",
            str(RECIPES / "backup.yaml"),
            "--var",
            f"source={tmp_path}/nope",
            "--var",
            f"dest={tmp_path}/b",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "the folder to back up does not exist" in result.stderr


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar_gz(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_data_prep_extracts_every_archive_and_checksums(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "survey-2024.zip").write_bytes(_zip_bytes({"answers.csv": b"a,b\n1,2\n"}))
    _tar_gz(downloads / "images.tar.gz", {"img/one.txt": b"1", "img/two.txt": b"2"})
    data = tmp_path / "data"
    args = [
        "run",
        str(RECIPES / "data-prep.yaml"),
        "--var",
        f"downloads={downloads}",
        "--var",
        f"data={data}",
    ]
    result = devkit(args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # Several top-level entries: wrapped in a folder named after the archive; one
    # top-level folder: used as it is.
    assert (data / "survey-2024" / "answers.csv").read_bytes() == b"a,b\n1,2\n"
    assert (data / "img" / "two.txt").read_bytes() == b"2"
    sums = (data / "SHA256SUMS").read_text().splitlines()
    expected = {
        f"./{p.relative_to(data)}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in data.rglob("*")
        if p.is_file() and p.name != "SHA256SUMS"
    }
    assert {line.split()[1]: line.split()[0] for line in sums} == expected
    again = devkit([*args, "--json"], cwd=tmp_path)
    statuses = {t["name"]: t["status"] for t in json.loads(again.stdout)["data"]["tasks"]}
    assert statuses["extract"] == "up_to_date"


def test_data_prep_refuses_a_hostile_archive(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "evil.zip").write_bytes(_zip_bytes({"../../escaped.txt": b"x"}))
    result = devkit(
        [
            "run",
            str(RECIPES / "data-prep.yaml"),
            "--var",
            f"downloads={downloads}",
            "--var",
            f"data={tmp_path / 'data'}",
        ],
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert not (tmp_path / "escaped.txt").exists()
    assert "data-prep.yaml:" in result.stderr and "task 'extract' failed" in result.stderr


def _server_and_checkout(tmp_path: Path) -> tuple[Path, Path, Path]:
    server = tmp_path / "server.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(server))
    work = tmp_path / "work"
    git("clone", "--quiet", str(server), str(work))
    (work / "app.txt").write_text("v1\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "v1", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    app = tmp_path / "app"
    git("clone", "--quiet", str(server), str(app))
    (work / "app.txt").write_text("v2\n")
    git("commit", "--quiet", "-am", "v2", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return server, work, app


def test_deploy_pulls_restarts_and_checks_health(tmp_path: Path) -> None:
    server, _, app = _server_and_checkout(tmp_path)
    result = devkit(
        [
            "run",
            str(RECIPES / "deploy.yaml"),
            "--var",
            f"app_dir={app}",
            "--var",
            f"restart=touch {tmp_path}/restarted",
            "--var",
            "health=true",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert git("rev-parse", "HEAD", cwd=app) == git("rev-parse", "main", cwd=server)
    assert (app / "app.txt").read_text() == "v2\n"
    assert (tmp_path / "restarted").exists()


def test_failed_deploy_shows_the_logs_and_stops(tmp_path: Path) -> None:
    _, _, app = _server_and_checkout(tmp_path)
    result = devkit(
        [
            "run",
            str(RECIPES / "deploy.yaml"),
            "--var",
            f"app_dir={app}",
            "--var",
            "migrate=echo migrating; exit 7",
            "--var",
            f"restart=touch {tmp_path}/restarted",
            "--var",
            "logs=echo service-log-tail",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 7
    assert "step 'migrate' in task 'release' failed: exit 7 after 1 attempt" in result.stderr
    assert "service-log-tail" in result.stdout  # on_failure ran
    assert not (tmp_path / "restarted").exists()
    assert (app / "app.txt").read_text() == "v2\n"  # the pull itself went through


def test_deploy_rolls_back_when_unhealthy_and_skips_without_new_commits(tmp_path: Path) -> None:
    server, _, app = _server_and_checkout(tmp_path)
    v1 = git("rev-parse", "HEAD", cwd=app)
    restarts = tmp_path / "restarts.log"
    args = [
        "run",
        str(RECIPES / "deploy.yaml"),
        "--var",
        f"app_dir={app}",
        "--var",
        f"restart=cat {app}/app.txt >> {restarts}",
        "--var",
        "logs=echo service-log-tail",
        "--json",
    ]
    # v2 is unhealthy: the deploy fails with the health check's exit code, and the
    # checkout is back at v1 and restarted again.
    unhealthy = devkit([*args, "--var", f"health=grep -q v1 {app}/app.txt"], cwd=tmp_path)
    assert unhealthy.returncode == 1
    assert "rolled back to" in unhealthy.stderr and "service-log-tail" in unhealthy.stderr
    assert git("rev-parse", "HEAD", cwd=app) == v1
    assert (app / "app.txt").read_text() == "v1\n"
    assert restarts.read_text() == "v2\nv1\n"

    # Healthy: v2 goes live; a second deploy with no new commit has nothing to do.
    restarts.unlink()
    healthy = devkit([*args, "--var", f"health=grep -q v2 {app}/app.txt"], cwd=tmp_path)
    assert healthy.returncode == 0, healthy.stderr
    assert git("rev-parse", "HEAD", cwd=app) == git("rev-parse", "main", cwd=server)
    again = devkit([*args, "--var", "health=false"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    statuses = {t["name"]: t["status"] for t in json.loads(again.stdout)["data"]["tasks"]}
    assert statuses["release"] == statuses["deploy"] == "skipped"
    assert restarts.read_text() == "v2\n"  # restarted once, by the deploy of v2
    forced = devkit([*args, "--var", "health=true", "--var", "redeploy=true"], cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert restarts.read_text() == "v2\nv2\n"


def test_demo_runs_on_a_fresh_machine(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    home.mkdir()
    # No git identity, no global config: what a fresh machine has.
    env = {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / "none"), "XDG_CONFIG_HOME": str(home)}
    # A private temp folder: other tests (a SIGKILLed run) may leave run folders in /tmp.
    scratch = home / "tmp"
    scratch.mkdir()
    env["TMPDIR"] = str(scratch)
    result = devkit(["run", str(RECIPES / "demo.yaml")], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hello from the teammate" not in result.stderr
    assert "Initial commit" in result.stdout and "Explain how to run the app" in result.stdout
    assert "./release/src/app.py" in result.stdout  # extracted from the release archive
    assert "__pycache__" not in result.stdout  # ignored by the python .gitignore
    assert "hello from the teammate" in result.stdout  # the teammate's change synced
    assert list(scratch.iterdir()) == []  # nothing left behind
    assert list(tmp_path.iterdir()) == [home]
