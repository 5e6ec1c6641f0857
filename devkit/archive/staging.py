"""The private temp folder inside DEST where an archive is extracted before it is
renamed into place, and the recovery of the ones a killed devkit left behind.

A temp folder is `DEST/.devkit-extract-<random suffix>`. While an extraction uses it, the
extraction holds an exclusive flock on the folder itself (released by the kernel when
the process ends, however it ends). So a folder whose lock can be taken belongs to
nobody: it is what SIGKILL (or a power cut) left, and the next extraction into the
same DEST removes it. A folder whose lock is held belongs to a running extraction and
is never touched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Callable

TEMP_PREFIX = ".devkit-extract-"
# A new temp folder can lose a race with another extraction's sweep; so many tries.
_CREATE_ATTEMPTS = 5


def remove_tree(path: str) -> None:
    """rmtree that also removes read-only folders (their modes came from the archive)."""

    def retry(function: Callable[..., object], failed: str, _info: object) -> None:
        parent = os.path.dirname(failed)
        try:
            os.chmod(parent, stat.S_IRWXU)
            if os.path.isdir(failed) and not os.path.islink(failed):
                os.chmod(failed, stat.S_IRWXU)
            function(failed)
        except OSError:
            pass

    import shutil

    if os.path.lexists(path):
        for folder, dirs, _files in os.walk(path):
            for name in dirs:
                full = os.path.join(folder, name)
                if not os.path.islink(full):
                    with contextlib.suppress(OSError):
                        os.chmod(full, stat.S_IRWXU)
        shutil.rmtree(path, onerror=retry)


def _lock(path: str) -> int | None:
    """An fd holding the exclusive lock on the folder `path`, or None when another
    process holds it (or the folder is gone, or is not one we may open). Raises
    OSError when the filesystem offers no flock (some network filesystems)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Locked, but is it still the folder of that name (not removed meanwhile)?
        held, named = os.fstat(fd), os.lstat(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    if held.st_nlink and (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
        return fd
    os.close(fd)
    return None


def _new_folder(dest: str) -> str:
    """A new folder TEMP_PREFIX + a random name in `dest`, mode 0700: what
    tempfile.mkdtemp makes, without importing tempfile and random (a millisecond of
    every extraction's start-up)."""
    for _ in range(100):
        path = os.path.join(dest, TEMP_PREFIX + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(errno.EEXIST, "no usable temp folder name found", dest)


class Staging:
    """A new temp folder in `dest`, locked for as long as this object is open.

    Where the filesystem has no flock the folder is used unlocked; the sweep cannot
    lock it either, so it is never taken for stale (and is not recovered after
    SIGKILL)."""

    def __init__(self, dest: str) -> None:
        self._fd: int | None = None
        for _ in range(_CREATE_ATTEMPTS):
            self.path = _new_folder(dest)
            try:
                self._fd = _lock(self.path)
            except OSError:
                return  # no locks on this filesystem
            if self._fd is not None:
                return
            # Another extraction's sweep took it between mkdtemp and the lock.
            with contextlib.suppress(OSError):
                os.rmdir(self.path)
        raise OSError(f"cannot create a locked temp folder in {dest}")

    def remove(self) -> None:
        """Remove the folder and everything in it, then release the lock."""
        try:
            remove_tree(self.path)
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def remove_stale(dest: str) -> list[str]:
    """Remove the temp folders in `dest` that no running extraction holds; their names."""
    try:
        candidates = [
            entry.path
            for entry in os.scandir(dest)
            if entry.name.startswith(TEMP_PREFIX) and entry.is_dir(follow_symlinks=False)
        ]
    except OSError:
        return []
    removed: list[str] = []
    for path in candidates:
        try:
            fd = _lock(path)
        except OSError:
            return removed  # no locks here: nothing can be told apart from a running one
        if fd is None:
            continue  # in use by a running extraction (or not ours to judge)
        try:
            remove_tree(path)
        finally:
            os.close(fd)
        if not os.path.lexists(path):
            removed.append(os.path.basename(path))
    return removed
