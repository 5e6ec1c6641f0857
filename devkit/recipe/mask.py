"""Secret masking: every form a secret value may be printed in becomes `***`, in
messages and in the steps' own live output, even when a secret is split across the
chunks a pipe delivers."""

from __future__ import annotations

import re
from collections.abc import Iterable

from devkit.recipe.template import quoted_forms

MASK = "***"


class Masker:
    def __init__(self, secrets: Iterable[str]) -> None:
        secrets = self.secrets = [secret for secret in secrets if secret]
        forms = {form for secret in secrets if secret for form in quoted_forms(secret)}
        ordered = sorted(
            (f.encode("utf-8", "surrogateescape") for f in forms), key=len, reverse=True
        )
        self.forms = ordered
        self.max_length = max((len(f) for f in ordered), default=0)
        self._bytes = re.compile(b"|".join(re.escape(f) for f in ordered)) if ordered else None
        texts = sorted(forms, key=len, reverse=True)
        self._text = re.compile("|".join(re.escape(f) for f in texts)) if texts else None

    def add(self, secret: str) -> None:
        """Mask one more value from now on, wherever this masker is used (a secret
        variable computed during the run)."""
        if secret and secret not in self.secrets:
            self.__dict__.update(Masker([*self.secrets, secret]).__dict__)

    @property
    def active(self) -> bool:
        return self._bytes is not None

    def text(self, value: str) -> str:
        return self._text.sub(MASK, value) if self._text is not None else value

    def stream(self) -> StreamMasker:
        return StreamMasker(self)


class StreamMasker:
    """Masks a byte stream chunk by chunk, holding back a tail that could be the start
    of a secret until the next chunk (or the end) shows whether it is one."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.pending = b""

    def feed(self, chunk: bytes) -> bytes:
        pattern = self.masker._bytes
        if pattern is None:
            return chunk
        data = self.pending + chunk
        out: list[bytes] = []
        cursor = 0
        for match in pattern.finditer(data):
            out.append(data[cursor : match.start()])
            out.append(MASK.encode())
            cursor = match.end()
        rest = data[cursor:]
        hold = self._partial_suffix(rest)
        if hold:
            out.append(rest[:-hold])
            self.pending = rest[-hold:]
        else:
            out.append(rest)
            self.pending = b""
        return b"".join(out)

    def _partial_suffix(self, data: bytes) -> int:
        longest = min(self.masker.max_length - 1, len(data))
        for size in range(longest, 0, -1):
            tail = data[-size:]
            if any(form.startswith(tail) for form in self.masker.forms):
                return size
        return 0

    def flush(self) -> bytes:
        rest, self.pending = self.pending, b""
        return rest


class LineSplitter:
    """Bytes in, complete decoded lines out; the last partial line waits for its end."""

    def __init__(self) -> None:
        self.partial = b""

    def feed(self, data: bytes) -> list[str]:
        if b"\n" not in data:
            self.partial += data
            return []
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        if not self.partial:
            return []
        line, self.partial = self.partial, b""
        return [line.decode("utf-8", "replace")]
