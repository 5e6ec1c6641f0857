"""BLAKE2sp, the checksum of RAR5 members archived with `rar -htb`, as rarfile defines
it (eight BLAKE2s leaves, 64-byte blocks dealt round-robin, a root over the leaves'
digests) but fed a leaf's blocks many at a time.

rarfile's Blake2SP hands each 64-byte block to its leaf in a Python loop: ~150 MB/s
here, slower than the decoder, so the checksum set the pace of a RAR5 extraction.
Gathering a leaf's blocks of a 64 KiB stretch with one precomputed itemgetter and
hashing them in one call runs at ~340 MB/s (hashlib's BLAKE2s alone: ~530 MB/s), and
those calls are large enough for hashlib to release the GIL."""

from __future__ import annotations

import hashlib
from operator import itemgetter

BLOCK = 64
LEAVES = 8
ROW = BLOCK * LEAVES
# Rows per gathered stretch: 64 KiB, 8 KiB per leaf and call.
_STRETCH_ROWS = 128
_STRETCH = _STRETCH_ROWS * ROW
# For leaf k of a stretch: its blocks (k, k + 8, k + 16, ...) as slices.
_GATHER = [
    itemgetter(
        *(slice(row * ROW + k * BLOCK, row * ROW + (k + 1) * BLOCK) for row in range(_STRETCH_ROWS))
    )
    for k in range(LEAVES)
]


def _node(offset: int, depth: int, last: bool) -> hashlib.blake2s:
    return hashlib.blake2s(
        node_offset=offset, node_depth=depth, last_node=last, depth=2, inner_size=32, fanout=LEAVES
    )


class Blake2SP:
    """A BLAKE2sp hash: `update` with data, then `digest` (32 bytes)."""

    digest_size = 32

    def __init__(self) -> None:
        self._leaves = [_node(k, 0, k == LEAVES - 1) for k in range(LEAVES)]
        self._next = 0  # the leaf that gets the next whole block
        self._partial = b""  # the start of a block that has not come in whole yet
        self._digest: bytes | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data).cast("B")
        if self._partial:
            need = BLOCK - len(self._partial)
            if len(view) < need:
                self._partial += view.tobytes()
                return
            self._leaves[self._next].update(self._partial + view[:need].tobytes())
            self._next = (self._next + 1) % LEAVES
            self._partial = b""
            view = view[need:]
        whole = len(view) // BLOCK * BLOCK
        # The leaves in the order the blocks of `view` reach them.
        leaves = self._leaves[self._next :] + self._leaves[: self._next]
        join = b"".join
        done = len(view) // _STRETCH * _STRETCH
        for start in range(0, done, _STRETCH):
            stretch = view[start : start + _STRETCH]
            for leaf, gather in zip(leaves, _GATHER, strict=True):
                leaf.update(join(gather(stretch)))
        for k, leaf in enumerate(leaves):
            first = done + k * BLOCK
            if first < whole:
                leaf.update(join([view[at : at + BLOCK] for at in range(first, whole, ROW)]))
        self._next = (self._next + whole // BLOCK) % LEAVES
        self._partial = view[whole:].tobytes()

    def digest(self) -> bytes:
        if self._digest is None:
            if self._partial:
                self._leaves[self._next].update(self._partial)
                self._partial = b""
            root = _node(0, 1, True)
            for leaf in self._leaves:
                root.update(leaf.digest())
            self._digest = root.digest()
        return self._digest
