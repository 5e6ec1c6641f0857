"""The one place that creates files: a private tree inside DEST's temp folder.

The writer checks every member against what it has created so far (a dict of path ->
kind), which makes the checks cheap (no path is resolved on the filesystem) and exact
(the temp tree holds nothing but our own entries). Symlinks are only recorded while
members are written and created at the very end, after a full resolution check, so no
file is ever written through one; directory modes and times are applied last.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from devkit import process
from devkit.archive.errors import CapExceeded, UnsafeArchive
from devkit.archive.file_maker import OPEN_FLAGS, make_file
from devkit.archive.model import Entry, ExtractOptions, Skipped
from devkit.archive.safety import (
    ABSOLUTE_TARGET,
    OnDisk,
    link_target_problem,
    lost_leading_slash,
    normalize_name,
    resolves_inside,
)

if TYPE_CHECKING:
    from devkit.archive.maker import FileMaker

CHUNK = 1024 * 1024
# Small files written before a reader's file maker starts (see making_files_in_parallel):
# starting one costs devkit ~3 ms, which a few hundred files pay back.
MAKER_AFTER_FILES = 500
# Per small file: ~12 us on a tmpfs, ~35 us on an ext4 disk (bench/extract.py's data).
SLOW_FILE_SECONDS = 25e-6
_SPECIAL_MODES = 0o7000
# A name that normalize_name (backslash no separator) returns as it is: components of
# anything but "/" and NUL, none empty, "." or "..", and no drive letter in front. Half
# the cost of normalising each name of a tar's short path (0.44 against 0.94 us).
_CLEAN_NAME = re.compile(r"(?![A-Za-z]:)(?!\.\.?(?:/|\Z))[^/\x00]+(?:/(?!\.\.?(?:/|\Z))[^/\x00]+)*")
# How problem() names an ancestor that is not a folder.
_THROUGH = {"symlink": "the symlink", "refused": "the unsafe member"}


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | memoryview: ...


_UMASK_PROBE = ".umask-probe"
DEFAULT_UMASK = 0o022


def current_umask(probe_folder: str | None = None) -> int:
    """The process umask, read without changing it. (os.umask can only read it by
    setting it, and a file another thread creates meanwhile gets the wrong mode.)

    Linux reports it in /proc/self/status; elsewhere a folder created with mode 0777
    inside `probe_folder` (one of devkit's own) shows which bits it takes away."""
    mask = _umask_from_proc()
    if mask is None and probe_folder is not None:
        mask = _umask_by_probe(probe_folder)
    return DEFAULT_UMASK if mask is None else mask


def _umask_from_proc() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split(":", 1)[1].strip(), 8) & 0o777
    except (OSError, ValueError):
        return None
    return None


def _default_acl(folder: str) -> bool:
    """Whether files created in `folder` may get their modes from a default ACL rather
    than from the umask (True when that cannot be ruled out)."""
    try:
        os.getxattr(folder, "system.posix_acl_default")
    except OSError as error:
        return error.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP)
    except AttributeError:  # no xattrs on this platform: stay with chmod
        return True
    return True


def _umask_by_probe(folder: str) -> int | None:
    probe = os.path.join(folder, _UMASK_PROBE)
    try:
        os.mkdir(probe, 0o777)
    except OSError:
        return None
    try:
        return 0o777 & ~os.stat(probe).st_mode
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(probe)


def human_size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


@dataclass
class Budget:
    """Caps shared by an archive and the archives nested in it."""

    max_bytes: int
    max_entries: int
    written: int = 0
    entries: int = 0

    def count_entry(self) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise CapExceeded(
                f"the archive has more than {self.max_entries} entries (the entry cap)",
                code="max_entries",
                hint="raise the cap with --max-entries N",
                details={"cap": "max_entries", "limit": self.max_entries},
            )


@dataclass(frozen=True)
class Layout:
    """Where the tree lands: `source` (inside the temp folder) becomes DEST/`name`."""

    source: str
    name: str
    wrapped: bool


class TreeWriter:
    """Writes admitted members below `root`. `umask` is applied to every mode from the
    archive; `signals_at_start` is process.signal_count() when the extraction began,
    so that a signal stops the writing even in a worker thread (where the handler
    cannot raise)."""

    def __init__(
        self,
        root: str,
        *,
        options: ExtractOptions,
        budget: Budget,
        archive_size: int,
        umask: int,
        signals_at_start: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.root = root
        self.options = options
        self.budget = budget
        self.archive_size = max(archive_size, 1)
        self.on_progress = on_progress
        self.umask = umask
        self.signals_at_start = signals_at_start
        self.kinds: dict[str, str] = {"": "dir"}
        self.links: dict[str, str] = {}
        self.link_meta: dict[str, tuple[str, float | None]] = {}
        self.dir_meta: dict[str, tuple[int | None, float | None]] = {}
        self.skipped: list[Skipped] = []
        self.unsafe: list[dict[str, str]] = []
        self.files = 0
        self.hardlinks = 0
        self.written = 0
        self.stripped = 0  # names that lost a leading "/"
        self._budget_start = (budget.written, budget.entries)
        # Without a default ACL, a file created with the mode it should have gets
        # exactly that mode less the umask, so small files need no chmod.
        self._chmod_needed = umask != _umask_from_proc() or _default_acl(root)
        # A second process for the small files (see maker.py), while a reader allows it.
        self.maker: FileMaker | None = None
        self._maker_pending = False  # in a reader's making_files_in_parallel, undecided
        self._maker_only_if_slow = False
        self._maker_failed = False
        self._timed_seconds = 0.0  # spent creating small files, while undecided
        self._timed_files = 0

    def reset(self) -> None:
        """Forget a partial attempt (the tar fast path falling back to tarfile)."""
        import shutil

        assert self.maker is None, "the file maker must be gone before the tree is reset"
        shutil.rmtree(self.root)
        os.mkdir(self.root, 0o700)
        self.kinds = {"": "dir"}
        self.links.clear()
        self.link_meta.clear()
        self.dir_meta.clear()
        self.skipped.clear()
        self.unsafe.clear()
        self.files = self.hardlinks = self.written = self.stripped = 0
        self.budget.written, self.budget.entries = self._budget_start

    # -- checks ----------------------------------------------------------------------

    def problem(self, entry: Entry) -> str | None:
        """Why this member may not be written given the tree so far (None: it may)."""
        if entry.unsafe:
            return entry.unsafe
        path = entry.path
        assert path is not None
        return (
            self._ancestor_problem(path)
            or self._clash_problem(entry, path)
            or self._link_problem(entry, path)
        )

    def _ancestor_problem(self, path: str) -> str | None:
        """A folder on the way that is not a folder (a symlink, a file, a refusal)."""
        kinds = self.kinds
        slash = path.rfind("/")
        if kinds.get(path[:slash] if slash > 0 else "") == "dir":
            return None  # the common case: the parent exists as a folder
        parts = path.split("/")
        for index in range(1, len(parts)):
            ancestor = "/".join(parts[:index])
            kind = kinds.get(ancestor)
            # Not `return` at a missing ancestor: a refused member's path is remembered
            # without its folders ("a/b" refused, "a" never seen), and "a/b/c" must still
            # meet it.
            if kind is not None and kind != "dir":
                return f"path goes through {_THROUGH.get(kind, 'the file')} {ancestor!r}"
        return None

    def _clash_problem(self, entry: Entry, path: str) -> str | None:
        existing = self.kinds.get(path)
        if existing in (None, "refused"):
            return None
        if entry.kind == "dir" and existing != "dir":
            return f"directory clashes with an earlier {existing} of the same name"
        if entry.kind != "dir" and existing == "dir":
            return f"{entry.kind} clashes with an earlier directory of the same name"
        return None

    def _link_problem(self, entry: Entry, path: str) -> str | None:
        if entry.kind == "symlink":
            # A target stored as data is checked by check_link() once it is read.
            if entry.link is None:
                return None
            return link_target_problem(
                path, entry.link, keep_absolute=self.options.keep_absolute_links
            )
        if entry.kind != "hardlink":
            return None
        target, reason = normalize_name(entry.link or "", backslash_is_separator=False)
        if reason or not target:
            return f"hard link target {entry.link!r}: {reason or 'empty'}"
        if self.kinds.get(target) != "file":
            return f"hard link target {entry.link!r} is not a file extracted earlier"
        if target == path:
            return "hard link to itself"
        return None

    def admit(self, entry: Entry) -> bool:
        """Count the member and decide: True to write it, False if skipped or refused."""
        process.raise_if_interrupted(self.signals_at_start)
        self.budget.count_entry()
        path, kind, kinds = entry.path, entry.kind, self.kinds
        if (kind == "file" or kind == "dir") and path and entry.unsafe is None:
            # Most members: a file or folder at a free path in a folder known already,
            # where none of problem()'s checks can fire (half the cost of asking them).
            slash = path.rfind("/")
            if path not in kinds and kinds.get(path[:slash] if slash > 0 else "") == "dir":
                if lost_leading_slash(entry.name, path):
                    self.stripped += 1
                return not self.unsafe
        if path == "" and kind == "dir":
            return False  # the archive's own root ("./")
        if kind == "special":
            self.skipped.append(Skipped(entry.name, "device, FIFO or socket: not extracted"))
            return False
        reason = self.problem(entry)
        if reason is None:
            if lost_leading_slash(entry.name, entry.path):
                self.stripped += 1
            return not self.unsafe  # once refusing, only keep scanning
        return self._refuse(entry, reason)

    def check_link(self, entry: Entry) -> bool:
        """Second look at a symlink whose target was stored as member data."""
        assert entry.path is not None
        reason = entry.unsafe or link_target_problem(
            entry.path, entry.link or "", keep_absolute=self.options.keep_absolute_links
        )
        if reason is None:
            return not self.unsafe
        return self._refuse(entry, reason)

    def _refuse(self, entry: Entry, reason: str) -> bool:
        """Skip an unsafe member (--skip-unsafe) or record it to refuse the archive."""
        self._mark_refused(entry)
        if self.options.skip_unsafe:
            self.skipped.append(Skipped(entry.name, f"unsafe: {reason}"))
        else:
            self.unsafe.append({"name": entry.name, "reason": reason})
        return False

    def _mark_refused(self, entry: Entry) -> None:
        """Remember an unsafe member's path so that nothing is written below it."""
        if entry.path and entry.path not in self.kinds:
            self.kinds[entry.path] = "refused"

    def raise_if_unsafe(self) -> None:
        if not self.unsafe:
            return
        count = len(self.unsafe)
        first = self.unsafe[0]
        hint = None
        if any(item["reason"].startswith(ABSOLUTE_TARGET) for item in self.unsafe):
            hint = (
                "symlinks with absolute targets point at this machine's files, not into"
                " DEST: to restore a system backup, pass --keep-absolute-links to create"
                " them as they are; or --skip-unsafe to leave them out"
            )
        raise UnsafeArchive(
            f"refused: {count} unsafe member{'s' if count != 1 else ''}, nothing was extracted"
            f" (first: {first['name']!r}: {first['reason']})",
            unsafe=list(self.unsafe),
            **({"hint": hint} if hint else {}),
        )

    # -- writing ---------------------------------------------------------------------

    def add(self, entry: Entry, source: Readable | None = None) -> None:
        """Write one admitted member."""
        path = entry.path
        assert path is not None
        kind = entry.kind
        if kind == "dir":
            if self.kinds.get(path) != "dir":
                self._ensure_parent(path)
                os.mkdir(self._full(path), 0o700)
                self.kinds[path] = "dir"
            self.dir_meta[path] = (entry.mode, entry.mtime)
            return
        self._ensure_parent(path)
        self._drop_existing(entry)
        if kind == "file":
            self._write_file(path, entry, source)
            self.kinds[path] = "file"
            self.files += 1
        elif kind == "symlink":
            assert entry.link is not None
            self.kinds[path] = "symlink"
            self.links[path] = entry.link
            self.link_meta[path] = (entry.name, entry.mtime)
        elif kind == "hardlink":
            target, _ = normalize_name(entry.link or "", backslash_is_separator=False)
            assert target
            self._sync_maker()
            os.link(self._full(target), self._full(path), follow_symlinks=False)
            self.kinds[path] = "file"
            self.hardlinks += 1

    def add_bytes(self, entry: Entry, data: memoryview) -> None:
        """Write an admitted regular file whose whole content is in memory (small).

        (A thread pool for these writes was measured slower: the GIL hand-offs cost
        more than the short system calls they would overlap.)"""
        path = entry.path
        assert path is not None
        self._ensure_parent(path)
        if path in self.kinds:
            self._drop_existing(entry)
        self._create_small(path, data, entry.mode, entry.mtime)

    def _create_small(
        self, path: str, data: memoryview, mode: int | None, mtime: float | None
    ) -> None:
        """Count, create and record a small regular file at a free `path`."""
        self._account(len(data))
        full_path = f"{self.root}/{path}"
        final_mode = (0o666 if mode is None else mode) & 0o777 & ~self.umask
        maker = self.maker
        if maker is None and self._maker_pending and self.files >= MAKER_AFTER_FILES:
            maker = self.maker = self._decide_maker()
        if maker is not None:
            maker.create(full_path, data, final_mode, mtime, chmod=self._chmod_needed)
        elif self._maker_pending and self._maker_only_if_slow:
            started = time.perf_counter()
            make_file(full_path, data, final_mode, mtime, chmod=self._chmod_needed)
            self._timed_seconds += time.perf_counter() - started
            self._timed_files += 1
        else:
            make_file(full_path, data, final_mode, mtime, chmod=self._chmod_needed)
        self.kinds[path] = "file"
        self.files += 1

    def add_plain_file(
        self, name: str, data: memoryview, mode: int | None, mtime: float | None
    ) -> bool:
        """`admit` and `add_bytes` in one call for the member most archives are made of:
        a small regular file whose raw name is already a clean relative path, in a
        folder written before, at a path not taken. False (nothing done, nothing
        counted) for any other member, which then goes through `admit`.

        Per member, the general path's layers cost as much as the system calls on a
        tmpfs (bench/extract.py, 8,000 small files); every check that could fire for
        such a member is still made here."""
        if self.unsafe or name in self.kinds:
            return False
        slash = name.rfind("/")
        if self.kinds.get(name[:slash] if slash > 0 else "") != "dir":
            return False
        if not _CLEAN_NAME.fullmatch(name):
            return False  # "./x", "a//b", "/etc/x", "..": the general path says what
        process.raise_if_interrupted(self.signals_at_start)
        self.budget.count_entry()
        self._create_small(name, data, mode, mtime)
        return True

    @contextlib.contextmanager
    def making_files_in_parallel(self, *, only_if_slow: bool = False) -> Iterator[None]:
        """A reader's extraction during which small files may be handed to a file
        maker process, started once MAKER_AFTER_FILES files are written (a small
        archive never pays for one); with `only_if_slow`, only if devkit took
        SLOW_FILE_SECONDS or more per small file until then (a reader whose decoder
        keeps both cores busy gains from a maker only where creating a file is the
        slow part, as on a disk). Leaving the block normally waits until every file is
        made and raises the maker's first failure; leaving it by an exception stops the
        maker at once. Either way it is gone before the tree is touched again (a
        fallback's reset, finish, or removal)."""
        self._maker_pending = not self._maker_failed
        self._maker_only_if_slow = only_if_slow
        self._timed_seconds, self._timed_files = 0.0, 0
        try:
            yield
            if self.maker is not None:
                self.maker.close()
        finally:
            self._maker_pending = False
            maker, self.maker = self.maker, None
            if maker is not None:
                maker.abort()

    def _decide_maker(self) -> FileMaker | None:
        """Start the block's maker, or decide against one for the rest of it."""
        self._maker_pending = False
        if self._maker_only_if_slow and (
            self._timed_files < MAKER_AFTER_FILES // 2
            or self._timed_seconds < SLOW_FILE_SECONDS * self._timed_files
        ):
            return None
        from devkit.archive.maker import FileMaker

        maker = FileMaker.start(self.signals_at_start)
        self._maker_failed = maker is None
        return maker

    def _sync_maker(self) -> None:
        """Before touching a path that the maker may not have created yet."""
        if self.maker is not None:
            self.maker.sync()

    def _full(self, path: str) -> str:
        return f"{self.root}/{path}"

    def _ensure_parent(self, path: str) -> None:
        slash = path.rfind("/")
        if slash <= 0 or self.kinds.get(path[:slash]) == "dir":
            return
        parts = path.split("/")[:-1]
        for index in range(1, len(parts) + 1):
            ancestor = "/".join(parts[:index])
            if self.kinds.get(ancestor) is None:
                os.mkdir(self._full(ancestor), 0o700)
                self.kinds[ancestor] = "dir"
                self.dir_meta.setdefault(ancestor, (None, None))

    def _drop_existing(self, entry: Entry) -> None:
        """Duplicate names: the later member replaces the earlier one (never written
        through: the old entry is unlinked, so a hard-linked twin keeps its data)."""
        path = entry.path
        assert path is not None
        existing = self.kinds.get(path)
        if existing is None:
            return
        if existing == "refused":
            del self.kinds[path]
            return
        self.skipped.append(
            Skipped(
                entry.name, f"duplicate name: the earlier {existing} was replaced by a later member"
            )
        )
        if existing == "symlink":
            del self.links[path]
            del self.link_meta[path]
        else:
            self._sync_maker()
            os.unlink(self._full(path))
            self.files -= 1
        del self.kinds[path]

    def _account(self, amount: int) -> None:
        process.raise_if_interrupted(self.signals_at_start)
        self.written += amount
        budget = self.budget
        budget.written += amount
        if budget.written > budget.max_bytes:
            raise CapExceeded(
                f"extraction passed the byte cap of {human_size(budget.max_bytes)}",
                code="max_bytes",
                hint="raise the cap with --max-bytes SIZE",
                details={"cap": "max_bytes", "limit": budget.max_bytes},
            )
        options = self.options
        if budget.written > options.ratio_after and self.written > (
            options.max_ratio * self.archive_size
        ):
            raise CapExceeded(
                f"the archive expands more than {options.max_ratio:g}x its size past"
                f" {human_size(options.ratio_after)} written (the expansion-ratio cap)",
                code="max_ratio",
                hint="raise the cap with --max-ratio N or --ratio-after SIZE",
                details={
                    "cap": "max_ratio",
                    "limit": options.max_ratio,
                    "after": options.ratio_after,
                },
            )
        if self.on_progress is not None:
            self.on_progress(amount)

    def _write_file(self, path: str, entry: Entry, source: Readable | None) -> None:
        fd = os.open(self._full(path), OPEN_FLAGS, 0o600)
        try:
            holes = holes_of(source, entry.size or 0)
            if holes:
                self._write_sparse(fd, source, holes, entry.size or 0)
            elif source is not None:
                read = source.read
                write = os.write
                while True:
                    chunk = read(CHUNK)
                    if not chunk:
                        break
                    self._account(len(chunk))
                    view = memoryview(chunk)
                    while view:
                        done = write(fd, view)
                        view = view[done:]
            mode = 0o666 if entry.mode is None else entry.mode
            os.fchmod(fd, mode & 0o777 & ~self.umask)
            if entry.mtime is not None:
                os.utime(fd, (entry.mtime, entry.mtime))
        finally:
            os.close(fd)

    def _write_sparse(
        self, fd: int, source: Readable | None, holes: list[tuple[int, int]], size: int
    ) -> None:
        """Write a sparse member as GNU tar does: its data where it has data, a seek
        over each hole (read from the source as zeros, never written), the size set at
        the end. Holes count towards the caps like written bytes: the caps bound what
        a reader of the tree sees, not only the disk it takes."""
        assert source is not None
        position = 0
        for start, end in [*holes, (size, size)]:
            while position < end:
                step = min(CHUNK, (start if position < start else end) - position)
                chunk = source.read(step)
                if len(chunk) != step:
                    raise OSError(errno.EIO, "sparse member data ended early")
                self._account(step)
                if position < start:
                    view = memoryview(chunk)
                    offset = position
                    while view:
                        done = os.pwrite(fd, view, offset)
                        view, offset = view[done:], offset + done
                position += step
        os.ftruncate(fd, size)

    # -- the end ---------------------------------------------------------------------

    def layout(self, archive_stem: str) -> Layout:
        tops = {
            path.split("/", 1)[0] for path, kind in self.kinds.items() if path and kind != "refused"
        }
        if len(tops) == 1:
            (top,) = tops
            if self.kinds.get(top) == "dir":
                return Layout(source=self._full(top), name=top, wrapped=False)
        return Layout(source=self.root, name=archive_stem, wrapped=True)

    def record(self, entry: Entry) -> None:
        """Dry run: update the bookkeeping as `add` would, touching nothing on disk."""
        path = entry.path
        assert path is not None
        kinds = self.kinds
        slash = path.rfind("/")
        # A folder in `kinds` has all its ancestors there, so a member whose parent
        # is a folder has none to add.
        if slash > 0 and kinds.get(path[:slash]) != "dir":
            parts = path.split("/")
            for index in range(1, len(parts)):
                kinds.setdefault("/".join(parts[:index]), "dir")
        if entry.kind == "dir":
            kinds[path] = "dir"
            return
        existing = kinds.get(path)
        if existing == "refused":
            del kinds[path]
        elif existing == "symlink":
            del self.links[path]
            del self.link_meta[path]
        if entry.kind == "symlink":
            if entry.link is None:
                kinds[path] = "file"  # target unknown until its data is read
                return
            kinds[path] = "symlink"
            self.links[path] = entry.link
            self.link_meta[path] = (entry.name, entry.mtime)
        else:
            kinds[path] = "file"

    def check_links(self, layout: Layout) -> None:
        """Resolve every symlink through the complete tree; unsafe ones are refused or,
        with skip_unsafe, dropped."""
        root = "" if layout.wrapped else layout.name
        for path, target in list(self.links.items()):
            if target.startswith("/"):
                continue  # kept as it is (keep_absolute_links), or refused already
            if resolves_inside(path, target, kinds=self.kinds, links=self.links, root=root):
                continue
            name = self.link_meta[path][0]
            reason = f"symlink target {target!r} resolves outside the extracted tree"
            if self.options.skip_unsafe:
                self.skipped.append(Skipped(name, f"unsafe: {reason}"))
                del self.links[path]
                del self.kinds[path]
            else:
                self.unsafe.append({"name": name, "reason": reason})

    def check_links_on_disk(self, layout: Layout) -> None:
        """Resolve every symlink of this archive again, step by step through the tree
        as it is on disk: nested archives (--recursive) filled folders that the checks
        above only knew as folders. Unsafe ones are refused or, with skip_unsafe,
        removed; a link's target never leaves the tree, not even on the way."""
        root = "" if layout.wrapped else layout.name
        disk = OnDisk(self.root)
        for path, target in list(self.links.items()):
            if target.startswith("/") or resolves_inside(
                path, target, kinds=disk, links=disk, root=root
            ):
                continue
            name = self.link_meta[path][0]
            reason = (
                f"symlink target {target!r} resolves outside the extracted tree"
                " through what a nested archive added"
            )
            if self.options.skip_unsafe:
                self.skipped.append(Skipped(name, f"unsafe: {reason}"))
                os.unlink(self._full(path))
                del self.links[path]
                del self.kinds[path]
            else:
                self.unsafe.append({"name": name, "reason": reason})
        self.raise_if_unsafe()

    def finish(self, layout: Layout, *, nested: bool = False) -> int | None:
        """Create the symlinks (each checked against the complete tree; with `nested`,
        also against the tree on disk), then set directory modes and times, deepest
        first.

        Returns the mode for the top folder to get once it is in place (None: not a
        folder): until then it stays writable by its owner, because moving a folder to
        another parent rewrites its '..' entry, which a non-root owner may not do in a
        read-only folder."""
        self.check_links(layout)
        self.raise_if_unsafe()
        for path, target in self.links.items():
            full = self._full(path)
            os.symlink(target, full)
            mtime = self.link_meta[path][1]
            if mtime is not None:
                with contextlib.suppress(NotImplementedError, OSError):
                    os.utime(full, (mtime, mtime), follow_symlinks=False)
        if nested:
            self.check_links_on_disk(layout)
        top_mode: int | None = None
        for path in sorted(self.dir_meta, key=lambda p: p.count("/"), reverse=True):
            mode, mtime = self.dir_meta[path]
            full = self._full(path)
            if mtime is not None:
                os.utime(full, (mtime, mtime))
            final = (0o777 if mode is None else mode) & 0o777 & ~self.umask
            if full == layout.source:
                top_mode, final = final, final | stat.S_IRWXU
            os.chmod(full, final)
        root_mode = 0o777 & ~self.umask
        if layout.source == self.root:
            top_mode = root_mode
        os.chmod(self.root, root_mode | stat.S_IRWXU)
        return top_mode

    @property
    def notes(self) -> list[str]:
        if not self.stripped:
            return []
        count = self.stripped
        return [
            f"removed the leading '/' from {count} member name{'s' if count != 1 else ''},"
            " as GNU tar and bsdtar do: they were extracted inside the destination"
        ]

    @property
    def dirs(self) -> int:
        return sum(1 for kind in self.kinds.values() if kind == "dir") - 1

    @property
    def symlinks(self) -> int:
        return len(self.links)


def holes_of(source: object, size: int) -> list[tuple[int, int]]:
    """The holes [start, end) of a sparse source (one with `segments`, its data
    stretches as (offset, length)): the ranges of [0, size) that no segment covers."""
    segments = getattr(source, "segments", None)
    if not segments:
        return []
    holes = []
    position = 0
    for offset, length in sorted(segments):
        start, end = min(offset, size), min(offset + length, size)
        if start > position:
            holes.append((position, start))
        position = max(position, end)
    if position < size:
        holes.append((position, size))
    return holes
