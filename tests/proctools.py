"""Finding and waiting for processes in tests without `ps`, `pgrep` or psutil: /proc only."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path


def processes_with(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live, non-zombie process whose command line
    contains `marker`, the current process excluded."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[-1].split()[0]
        text = cmdline.replace(b"\0", b" ").decode("utf-8", "replace")
        if marker in text and state != "Z":
            found.append((int(entry), text))
    return found


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    """Poll `predicate` until it is true; False when `timeout` seconds passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def wait_gone(marker: str, timeout: float = 10.0) -> list[tuple[int, str]]:
    """Wait until no process carries `marker`; the ones still alive at the end."""
    wait_until(lambda: not processes_with(marker), timeout)
    return processes_with(marker)


def path_without(tmp: Path, *names: str) -> str:
    """A PATH of symlinks to everything on the current PATH except `names` (say, ps
    and pgrep), for proving that devkit needs none of them."""
    bin_dir = tmp / "limited-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or not os.path.isdir(folder):
            continue
        for entry in os.listdir(folder):
            target = bin_dir / entry
            if entry in names or target.exists() or target.is_symlink():
                continue
            full = os.path.join(folder, entry)
            if os.access(full, os.X_OK) and not os.path.isdir(full):
                target.symlink_to(full)
    for name in names:
        assert shutil.which(name, path=str(bin_dir)) is None
    return str(bin_dir)
