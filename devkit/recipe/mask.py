"""Secret masking: every form a secret value may be printed in becomes `***`, in
messages and in the steps' own live output, even when a secret is split across the
chunks a pipe delivers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeVar

from devkit.recipe.template import quoted_forms

MASK = "***"
_Form = TypeVar("_Form", str, bytes)
# A line of a multi-line secret is masked on its own (a PEM key printed line by line with
# a prefix, as GitHub Actions does) unless it is shorter than this once blanks are
# trimmed: masking `}` or `==` everywhere would garble the output and protect nothing.
MIN_LINE_LENGTH = 4


def secret_forms(secret: str) -> set[str]:
    """Every text that counts as the secret: the value, its shell-quoted and repr forms, the
    same without surrounding blanks (a value read from a file ends with a newline the
    program may not print), and each line of a multi-line value."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if value:
            forms |= quoted_forms(value)
            # Python's repr, as an OSError shows a file name: tabs, newlines and
            # backslashes escaped.
            forms.add(repr(value)[1:-1])
    lines = [line.strip() for line in secret.splitlines()]
    if len([line for line in lines if line]) > 1:
        forms.update(line for line in lines if len(line) >= MIN_LINE_LENGTH)
    return forms


class Masker:
    def __init__(self, secrets: Iterable[str]) -> None:
        secrets = self.secrets = [secret for secret in secrets if secret]
        forms = {form for secret in secrets for form in secret_forms(secret)}
        texts = sorted(forms, key=len, reverse=True)
        # Longest first: where forms overlap, the regex takes the longest one.
        self.forms = [f.encode("utf-8", "surrogateescape") for f in texts]
        self.texts = texts
        self.max_length = max((len(f) for f in self.forms), default=0)
        # Where one form contains another ('it' inside "'it'"), finding the inner one
        # is enough to know that a chunk needs the regex: fewer substring tests.
        self._probes = _innermost(self.forms)
        self._text_probes = _innermost(texts)
        self._bytes = re.compile(b"|".join(re.escape(f) for f in self.forms)) if texts else None
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
        if self._text is None or not any(form in value for form in self._text_probes):
            return value
        return self._text.sub(MASK, value)

    def stream(self) -> StreamMasker:
        return StreamMasker(self)


_MASK_BYTES = MASK.encode()


def _innermost(forms: list[_Form]) -> list[_Form]:
    """The forms that contain no other form."""
    return [f for f in forms if not any(o != f and o in f for o in forms)]


class StreamMasker:
    """Masks a byte stream chunk by chunk in constant memory: the last max_length - 1
    bytes, which could be the start of a secret that the next chunk completes, wait for
    that chunk (or a pause, or the end). Most chunks hold no secret at all: a substring
    test per form (memmem speed) finds that out before any regex runs."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.pending = b""

    def feed(self, chunk: bytes) -> bytes:
        masker = self.masker
        pattern = masker._bytes
        if pattern is None:
            return chunk
        keep = masker.max_length - 1
        if len(chunk) > keep and not self._secret_in(chunk):
            # The common case, with one copy of the chunk: no secret in it or across
            # the seam with the held tail.
            passed = self.pending + chunk[:-keep] if keep else self.pending + chunk
            self.pending = chunk[-keep:] if keep else b""
            return passed
        data = self.pending + chunk if self.pending else chunk
        hold = max(len(data) - keep, 0)
        out: list[bytes] = []
        cursor = 0
        # A match is final once every form could have matched at its start: a longer
        # one that needs bytes still to come might start there otherwise.
        last_final = len(data) - masker.max_length
        for match in pattern.finditer(data):
            if match.start() > last_final:
                break
            out += (data[cursor : match.start()], _MASK_BYTES)
            cursor = match.end()
        hold = max(hold, cursor)
        out.append(data[cursor:hold])
        self.pending = data[hold:]
        return b"".join(out)

    def _secret_in(self, chunk: bytes) -> bool:
        """Whether a secret may occur in the pending tail followed by `chunk`."""
        probes = self.masker._probes
        seam = self.pending + chunk[: self.masker.max_length - 1]
        return any(probe in chunk or probe in seam for probe in probes)

    def release(self) -> bytes:
        """At a pause in the output: everything but the longest tail that is the start
        of a secret (a prompt shows; half a secret does not)."""
        pattern = self.masker._bytes
        data = self.pending
        if pattern is None or not data:
            return b""
        hold = self._secret_start(data)
        out: list[bytes] = []
        cursor = 0
        # A match before `hold` is final: were a longer form possible at its start,
        # the tail from there would be the start of a secret, and `hold` no later.
        for match in pattern.finditer(data):
            if match.start() >= hold:
                break
            out += (data[cursor : match.start()], _MASK_BYTES)
            cursor = match.end()
        if cursor <= hold:
            out.append(data[cursor:hold])
            self.pending = data[hold:]
            return b"".join(out)
        self.pending = data[cursor:]  # a match ran into the tail: look at what is left
        return b"".join(out) + self.release()

    def _secret_start(self, data: bytes) -> int:
        """Where the longest tail of `data` that is a proper prefix of a form begins
        (len(data) when there is none)."""
        best = len(data)
        for form in self.masker.forms:
            first = form[:1]
            at = data.find(first, max(len(data) - len(form) + 1, 0))
            while at != -1 and at < best:
                if form.startswith(data[at:]):
                    best = at
                    break
                at = data.find(first, at + 1)
        return best

    def flush(self) -> bytes:
        """The end of the stream: the held tail, masked."""
        rest, self.pending = self.pending, b""
        pattern = self.masker._bytes
        return pattern.sub(_MASK_BYTES, rest) if pattern is not None else rest
