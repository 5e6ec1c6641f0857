"""The file maker: a second process that creates an extraction's small files while
devkit reads and checks the next members (see maker.FileMaker, its other half).

It runs as `python -I -S file_maker.py` and imports nothing but the standard library.
It reads requests on stdin and answers on stdout:

- a batch (b"B", then the length of its frames): create each file of the batch. devkit
  has checked every member, accounted its bytes, and made its folder; the path is new
  to the tree, so the file is created with O_EXCL and never through a symlink;
- a sync (b"S"): answer b"K" once every earlier batch is done.

It answers b"R" as soon as it runs; until then devkit sends it nothing.

At the first failure it answers b"E" with the errno, the message and the path, and
exits. The end of its input means devkit is done or gone, and it exits too.

devkit runs `make_files` itself for a batch the pipe has no room for, so that both
processes stay busy and a file is created the same way by either.
"""

from __future__ import annotations

import os
import struct
import sys

# A request: its kind and the length of what follows.
REQUEST = struct.Struct("<cI")
# A frame of a batch (then its path and its data): path length, mode and flags, mtime,
# data length.
FRAME = struct.Struct("<IIdI")
# The mode needs an fchmod after the open (see make_file).
CHMOD_FLAG = 1 << 31
HAS_MTIME_FLAG = 1 << 30
MODE_BITS = 0o7777
OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def make_file(
    path: str | bytes, data: memoryview, mode: int, mtime: float | None, *, chmod: bool
) -> None:
    """Create `path` (new) with `mode` and write `data`. Without `chmod`, the mode comes
    from the creating open: the umask is already taken out of `mode` and no default ACL
    applies (see writer._default_acl), one system call less per file."""
    fd = os.open(path, OPEN_FLAGS, 0o600 if chmod else mode)
    try:
        while data:
            data = data[os.write(fd, data) :]
        if chmod:
            os.fchmod(fd, mode)
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


def make_files(batch: memoryview) -> None:
    """Create every file of `batch`; OSError at the first that fails (naming its path
    as text, as devkit's own errors do)."""
    try:
        _make_files(batch)
    except OSError as error:
        if isinstance(error.filename, bytes):
            error.filename = os.fsdecode(error.filename)
        raise


def _make_files(batch: memoryview) -> None:
    unpack = FRAME.unpack_from
    frame_size = FRAME.size
    position = 0
    end = len(batch)
    while position < end:
        path_length, flags, mtime, data_length = unpack(batch, position)
        position += frame_size
        path = bytes(batch[position : position + path_length])
        position += path_length
        data = batch[position : position + data_length]
        position += data_length
        make_file(
            path,
            data,
            flags & MODE_BITS,
            mtime if flags & HAS_MTIME_FLAG else None,
            chmod=bool(flags & CHMOD_FLAG),
        )


def failure_text(error: OSError) -> bytes:
    """An OSError as the b"E" answer carries it: errno, message and path."""
    filename = error.filename
    path = os.fsdecode(filename) if isinstance(filename, (str, bytes)) else ""
    text = f"{error.errno or 0}\0{error.strerror or error}\0{path}"
    return text.encode("utf-8", "surrogateescape")


def failure_error(text: bytes) -> OSError:
    """The OSError that failure_text describes."""
    number, message, path = text.decode("utf-8", "surrogateescape").split("\0", 2)
    return OSError(int(number), message, path) if path else OSError(int(number), message)


def _read_exactly(fd: int, view: memoryview) -> bool:
    """Fill `view` from `fd`; False when the input ends first."""
    while view:
        count = os.readv(fd, [view])
        if not count:
            return False
        view = view[count:]
    return True


def serve(requests: int = 0, answers: int = 1) -> int:
    os.write(answers, b"R")  # running: devkit may send batches now
    head = memoryview(bytearray(REQUEST.size))
    buffer = bytearray(1 << 20)
    while _read_exactly(requests, head):
        kind, length = REQUEST.unpack(head)
        if len(buffer) < length:
            buffer = bytearray(length)
        batch = memoryview(buffer)[:length]
        if not _read_exactly(requests, batch):
            return 0
        if kind == b"S":
            os.write(answers, b"K")
            continue
        try:
            make_files(batch)
        except OSError as error:
            text = failure_text(error)
            os.write(answers, REQUEST.pack(b"E", len(text)) + text)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(serve())
