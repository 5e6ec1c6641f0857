"""Secret masking, including secrets split across the chunks a pipe delivers."""

from __future__ import annotations

from devkit.recipe.mask import LineSplitter, Masker


def _stream(masker: Masker, chunks: list[bytes]) -> bytes:
    stream = masker.stream()
    return b"".join(stream.feed(chunk) for chunk in chunks) + stream.flush()


def test_secret_split_at_every_position_is_masked() -> None:
    masker = Masker(["s3cr3t-value"])
    text = b"before s3cr3t-value middle s3cr3t-value after s3cr3"
    for cut in range(len(text) + 1):
        for second in range(cut, len(text) + 1):
            out = _stream(masker, [text[:cut], text[cut:second], text[second:]])
            assert out == b"before *** middle *** after s3cr3", (cut, second)


def test_quoted_forms_are_masked_too() -> None:
    masker = Masker(["it's"])
    assert masker.text("echo 'it'\\''s' it's") == "echo '***' ***"


def test_no_secrets_passes_through() -> None:
    masker = Masker([""])
    assert not masker.active
    assert _stream(masker, [b"abc", b"def"]) == b"abcdef"


def test_line_splitter_keeps_partial_lines() -> None:
    lines = LineSplitter()
    assert lines.feed(b"one\ntw") == ["one"]
    assert lines.feed(b"o\nthree") == ["two"]
    assert lines.flush() == ["three"]
