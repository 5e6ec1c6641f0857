"""The file maker (devkit/archive/maker.py, file_maker.py): a second process that creates
a tar's small files while devkit reads and checks the next members.

It must change nothing but the speed: the same tree, the same refusals and errors,
whether a file is made by the maker, by devkit, or by devkit without a maker; and
nothing may be left behind when the maker fails, is killed, or when devkit is.
Every test here runs the maker as the real process it is."""

from __future__ import annotations

import errno
import io
import os
import random
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from devkit import process
from devkit.archive import maker as maker_module
from devkit.archive import writer
from devkit.archive.maker import FileMaker
from tests.archive.conftest import snapshot, temp_folders
from tests.archive.test_signals import assert_the_next_extract_sweeps, prepared_dest
from tests.archive.test_tar_fast_path import devkit_outcome
from tests.archive.test_unprivileged import add, as_nobody
from tests.clirun import run_devkit, start_devkit
from tests.proctools import processes_with, wait_until

DEFAULT_CASES = 40
SLOW_CASES = 1000
# Enough members that the maker starts (writer.MAKER_AFTER_FILES) and has work for a
# good part of a second after that.
MANY = 20_000


def many_small_files(path: Path, count: int, *, seed: int = 5, big_at: int | None = None) -> Path:
    """A plain tar of `count` small files in 40 folders (GNU tar made), optionally one
    of 64 KiB at position `big_at`."""
    rng = random.Random(seed)
    source = path.parent / f"{path.stem}-source"
    for index in range(count):
        folder = source / "top" / f"d{index % 40:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = 65536 if index == big_at else rng.randint(0, 900)
        member = folder / f"f{index:05d}"
        member.write_bytes(rng.randbytes(size))
        member.chmod(rng.choice([0o644, 0o600, 0o755, 0o444]))
        os.utime(member, (1_600_000_000 + index, 1_600_000_000 + index))
    subprocess.run(
        ["tar", "-cf", str(path), "--sort=name", "-C", str(source), "top"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["rm", "-rf", str(source)], check=True)
    return path


def makers_of(pid: int) -> list[int]:
    """The live file maker processes that `pid` started (their parent, from /proc)."""
    found = []
    for maker, _cmdline in processes_with("file_maker.py"):
        try:
            parent = int(Path(f"/proc/{maker}/stat").read_text().rsplit(")", 1)[-1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            found.append(maker)
    return found


def any_maker_alive(pids: list[int]) -> bool:
    alive = False
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        alive = alive or state != "Z"
    return alive


# -- the same outcome with and without the maker ----------------------------------------


FOLDERS = ["p", "p/q", "r"]


def _member(rng: random.Random, names: list[str]) -> tuple[tarfile.TarInfo, bytes | None]:
    """A file, folder, symlink or hard link, often at a name used before, now and then
    where a folder was."""
    roll = rng.random()
    if roll < 0.1:
        info = tarfile.TarInfo(rng.choice(FOLDERS))
        info.type = tarfile.DIRTYPE
    elif names and roll < 0.3:
        info = tarfile.TarInfo(rng.choice(names))  # a duplicate
    elif roll < 0.33:
        info = tarfile.TarInfo(rng.choice(FOLDERS))  # a file where a folder is (or was)
    else:
        info = tarfile.TarInfo(rng.choice(["", *[f"{f}/" for f in FOLDERS]]) + rng.choice("abcdef"))
    info.mode = rng.choice([0o644, 0o600, 0o755, 0o444, 0o000])
    info.mtime = rng.randint(0, 2**32)
    if info.type == tarfile.DIRTYPE:
        return info, None
    roll = rng.random()
    if roll < 0.05:
        info.type = tarfile.SYMTYPE
        info.linkname = rng.choice(["a", "b", "q/c"])
        return info, None
    if roll < 0.2 and names:
        info.type = tarfile.LNKTYPE
        info.linkname = rng.choice(names)
        return info, None
    size = rng.choice([0, 1, 512, rng.randint(0, 5000)])
    info.size = size
    return info, rng.randbytes(size)


def awkward_tar(rng: random.Random) -> bytes:
    """Members that make devkit touch what it wrote before: duplicates (the earlier
    file is unlinked), hard links to earlier files, files where folders were."""
    out = io.BytesIO()
    names: list[str] = []
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for _ in range(rng.randint(1, 40)):
            info, data = _member(rng, names)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
            names.append(info.name)
    return out.getvalue()


def run_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cases: int, seed: int) -> int:
    """Extract each generated tar without a maker, and with one from the first file
    (whatever the pipe's room, every batch made by the maker, or every batch made by
    devkit): the outcomes must be identical. Returns how many were extracted."""
    rng = random.Random(seed)
    extracted = 0
    for case in range(cases):
        folder = tmp_path / f"case{case}"
        folder.mkdir()
        archive = folder / "sample.tar"
        archive.write_bytes(awkward_tar(rng))
        with monkeypatch.context() as patch:
            patch.setattr(writer, "MAKER_AFTER_FILES", 10**9)
            alone = devkit_outcome(archive, folder / "alone")
        for label in ("maker", "devkit"):
            with monkeypatch.context() as patch:
                patch.setattr(writer, "MAKER_AFTER_FILES", 0)
                patch.setattr(maker_module, "BATCH_BYTES", 600)  # many batches
                if label == "devkit":
                    patch.setattr(FileMaker, "room", lambda _self: 0)
                outcome = devkit_outcome(archive, folder / label)
            assert outcome == alone, f"case {case}: with batches made by the {label}"
        extracted += alone[0] == "ok"
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    return extracted


def test_the_maker_changes_no_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cases(tmp_path, monkeypatch, DEFAULT_CASES, seed=21) >= DEFAULT_CASES // 5


@pytest.mark.slow
def test_the_maker_changes_no_outcome_thousands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cases(tmp_path, monkeypatch, SLOW_CASES, seed=22) >= SLOW_CASES // 5


def test_a_big_tar_extracts_as_gnu_tar_does_with_one_maker(tmp_path: Path) -> None:
    archive = many_small_files(tmp_path / "many.tar", 3000)
    reference = tmp_path / "reference"
    reference.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(reference)], check=True)
    trace = tmp_path / "trace"
    dest = tmp_path / "out"
    done = run_devkit(
        ["extract", str(archive), "-C", str(dest)], env={"DEVKIT_TRACE_PROCESSES": str(trace)}
    )
    assert done.returncode == 0, done.stderr
    assert snapshot(dest) == snapshot(reference)
    times = {path: os.lstat(dest / path).st_mtime for path in snapshot(dest) if "/f" in path}
    assert times == {path: os.lstat(reference / path).st_mtime for path in times}
    makers = [line for line in trace.read_text().splitlines() if "file_maker.py" in line]
    assert len(makers) == 1, makers


def test_a_small_tar_starts_no_maker(tmp_path: Path) -> None:
    archive = many_small_files(tmp_path / "few.tar", writer.MAKER_AFTER_FILES // 2)
    trace = tmp_path / "trace"
    done = run_devkit(
        ["extract", str(archive), "-C", str(tmp_path / "out")],
        env={"DEVKIT_TRACE_PROCESSES": str(trace)},
    )
    assert done.returncode == 0, done.stderr
    assert not trace.exists() or "file_maker.py" not in trace.read_text()


def test_without_an_interpreter_to_start_devkit_makes_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = many_small_files(tmp_path / "some.tar", 50)
    reference = devkit_outcome(archive, tmp_path / "reference")
    monkeypatch.setattr(writer, "MAKER_AFTER_FILES", 0)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    # The guard process cannot start either; this one's failure must not outlive the test.
    monkeypatch.setattr(process, "_guard", process._Guard())
    assert devkit_outcome(archive, tmp_path / "out") == reference
    assert reference[0] == "ok"


def test_a_7z_gets_a_maker_only_where_small_files_are_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """7zz keeps both cores busy, so a 7z's files go to a maker only when devkit took
    SLOW_FILE_SECONDS or more per file (a disk); the tree is the same either way."""
    from devkit.archive.tools import bundled_7zz

    source = tmp_path / "source"
    rng = random.Random(3)
    for index in range(writer.MAKER_AFTER_FILES * 2):
        folder = source / f"d{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:05d}").write_bytes(rng.randbytes(rng.randint(0, 700)))
    archive = tmp_path / "many.7z"
    subprocess.run(
        [str(bundled_7zz()), "a", "-bd", "-mx=1", str(archive), str(source)],
        check=True,
        capture_output=True,
    )
    started: list[FileMaker | None] = []
    real_start = FileMaker.start.__func__  # type: ignore[attr-defined]

    def counting_start(cls: type[FileMaker], signals_at_start: int) -> FileMaker | None:
        started.append(real_start(cls, signals_at_start))
        return started[-1]

    monkeypatch.setattr(FileMaker, "start", classmethod(counting_start))
    outcomes = []
    for seconds in (1.0, 0.0):  # never slow enough; always
        monkeypatch.setattr(writer, "SLOW_FILE_SECONDS", seconds)
        outcomes.append(devkit_outcome(archive, tmp_path / f"out-{seconds}"))
        assert len(started) == (0 if seconds else 1)
    assert outcomes[0] == outcomes[1] and outcomes[0][0] == "ok"
    assert started[0] is not None


def test_a_maker_that_never_runs_leaves_every_file_to_devkit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interpreter that exits at once (here `true`): the maker never says it runs,
    so devkit sends it nothing and makes every file itself."""
    archive = many_small_files(tmp_path / "some.tar", 300)
    reference = devkit_outcome(archive, tmp_path / "reference")
    monkeypatch.setattr(writer, "MAKER_AFTER_FILES", 0)
    monkeypatch.setattr(maker_module, "BATCH_BYTES", 600)  # many batches
    monkeypatch.setattr(sys, "executable", shutil.which("true"))
    monkeypatch.setattr(process, "_guard", process._Guard())  # nor does the guard start
    assert devkit_outcome(archive, tmp_path / "out") == reference


# -- failures ----------------------------------------------------------------------------


def test_the_makers_failure_is_the_oserror_devkit_would_have_met(tmp_path: Path) -> None:
    maker = FileMaker.start(signals_at_start=0)
    assert maker is not None
    try:
        assert wait_until(maker.ready, timeout=30)  # else devkit makes the files itself
        (tmp_path / "made").write_bytes(b"")  # taken: O_EXCL
        maker.create(str(tmp_path / "fine"), memoryview(b"ok"), 0o640, 1e9, chmod=True)
        maker.create(str(tmp_path / "made"), memoryview(b"no"), 0o644, None, chmod=False)
        maker.create(str(tmp_path / "never"), memoryview(b"no"), 0o644, None, chmod=False)
        with pytest.raises(OSError) as caught:
            maker.sync()
    finally:
        maker.abort()
    assert caught.value.errno == errno.EEXIST
    assert caught.value.filename == str(tmp_path / "made")
    assert (tmp_path / "fine").read_bytes() == b"ok"
    assert (tmp_path / "fine").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "fine").stat().st_mtime == 1e9
    assert not (tmp_path / "never").exists()


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))


@pytest.mark.parametrize("big_at", [40, 2500], ids=["before-the-maker", "with-the-maker"])
def test_a_write_failure_fails_the_extraction_the_same_way(tmp_path: Path, big_at: int) -> None:
    """A file larger than RLIMIT_FSIZE allows (EFBIG), before the maker starts and once
    it runs: the same one-line error, and DEST as it was."""
    archive = many_small_files(tmp_path / "many.tar", 3000, big_at=big_at)
    dest = tmp_path / "dest"
    dest.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "devkit", "extract", str(archive), "-C", str(dest)],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
    )
    assert done.returncode == 1, done.stderr
    # os.write names no file: devkit names DEST, whoever made the file.
    line = f"devkit: error: cannot write {dest}: File too large; nothing was extracted"
    assert done.stderr.startswith(line), done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert snapshot(dest) == {}


# -- kills -------------------------------------------------------------------------------


def _bytes_read(pid: int) -> int:
    """What process `pid` has read so far (/proc/PID/io), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# Read by a maker at work: its start-up reads far less, and the archive's data far more.
WORKING_MAKER_BYTES = 2 * 1024 * 1024


def _stopped_with_its_maker(archive: Path, dest: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """devkit extracting `archive`, stopped (SIGSTOP) once its maker is at work."""
    proc = start_devkit(["extract", str(archive), "-C", str(dest)])
    makers: list[int] = []

    def maker_working() -> bool:
        makers[:] = makers_of(proc.pid)
        working = any(_bytes_read(pid) >= WORKING_MAKER_BYTES for pid in makers)
        return working or proc.poll() is not None

    assert wait_until(maker_working, timeout=60, interval=0.001)
    os.kill(proc.pid, signal.SIGSTOP)
    assert makers, f"the extraction ended before its maker worked: {proc.communicate()}"
    return proc, makers


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("many")
    return many_small_files(folder / f"many-{uuid.uuid4().hex[:8]}.tar", MANY)


def test_a_killed_maker_fails_the_extraction_and_leaves_nothing(many: Path, tmp_path: Path) -> None:
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    proc, makers = _stopped_with_its_maker(many, dest)
    for pid in makers:
        os.kill(pid, signal.SIGKILL)
    os.kill(proc.pid, signal.SIGCONT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "the file maker process stopped unexpectedly (signal 9)" in err
    assert "nothing was extracted" in err and "Traceback" not in err
    assert snapshot(dest) == before
    assert temp_folders(dest) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_devkit_and_its_maker(many: Path, tmp_path: Path, signum: int) -> None:
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    proc, makers = _stopped_with_its_maker(many, dest)
    os.kill(proc.pid, signum)
    os.kill(proc.pid, signal.SIGCONT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "nothing was extracted" in err
    assert snapshot(dest) == before
    assert temp_folders(dest) == []
    assert not any_maker_alive(makers)


def test_a_killed_devkit_leaves_no_maker_and_the_next_run_sweeps(
    many: Path, tmp_path: Path
) -> None:
    dest = prepared_dest(tmp_path)
    before = snapshot(dest)
    proc, makers = _stopped_with_its_maker(many, dest)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    # The maker's input ended with devkit, and devkit's guard stops its group.
    assert wait_until(lambda: not any_maker_alive(makers), timeout=15)
    assert_the_next_extract_sweeps(tmp_path, dest, before)


def test_an_unprivileged_user_gets_the_archives_tree(shared: Path) -> None:
    """Run as a user other than root (CI's root writes into read-only folders): the
    maker's files get the archive's modes less the umask, in folders that turn
    read-only only at the end. (GNU tar itself fails on this archive as that user.)"""
    archive = shared / "locked.tar"
    rng = random.Random(9)
    umask = os.umask(0o022)
    os.umask(umask)
    expected: dict[str, tuple[str, int, str]] = {}
    with tarfile.open(archive, "w") as tar:
        add(tar, "top", mode=0o555)
        for folder in range(10):
            mode = rng.choice([0o500, 0o555, 0o700])
            add(tar, f"top/d{folder}", mode=mode)
            expected[f"top/d{folder}"] = ("dir", stat.S_IFDIR | (mode & ~umask), "")
        for index in range(2 * writer.MAKER_AFTER_FILES):
            data = rng.randbytes(rng.randint(0, 600))
            mode = rng.choice([0o400, 0o444, 0o600, 0o640, 0o755])
            name = f"top/d{index % 10}/f{index:05d}"
            add(tar, name, mode=mode, data=data)
            expected[name] = ("file", stat.S_IFREG | (mode & ~umask), data.hex())
    archive.chmod(0o644)
    (shared / "out").mkdir()
    (shared / "out").chmod(0o777)
    done = as_nobody(["extract", str(archive), "-C", str(shared / "out")], cwd=shared)
    assert done.returncode == 0, done.stderr
    expected["top"] = ("dir", stat.S_IFDIR | (0o555 & ~umask), "")
    assert snapshot(shared / "out") == expected
