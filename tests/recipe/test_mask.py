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


PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDvYmVyc2VjcmV0a2V5bWF0ZXJpYWwxMjM0NTY3ODkwYWJjZAAAAJgAAAAA\n"
    "AB==\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def test_each_line_of_a_multiline_secret_is_masked_on_its_own() -> None:
    masker = Masker([PEM])
    shown = "".join(f"key> {line}\n" for line in PEM.splitlines())
    masked = masker.text(shown)
    for line in PEM.splitlines():
        if len(line) >= 4:
            assert line not in masked
    assert masked.count("***") == 5
    # The same through the byte stream, cut anywhere.
    data = shown.encode()
    for cut in range(0, len(data), 7):
        assert _stream(masker, [data[:cut], data[cut:]]).decode() == masked


def test_short_lines_of_a_multiline_secret_are_not_masked_alone() -> None:
    masker = Masker(["first-line-of-it\n}\nab\n"])
    assert masker.text("} ab x") == "} ab x"
    assert masker.text("first-line-of-it") == "***"


def test_a_secret_printed_without_its_trailing_newline_is_masked() -> None:
    masker = Masker(["from-a-file-token\n"])
    assert masker.text("token=from-a-file-token;") == "token=***;"
    assert _stream(masker, [b"x from-a-file", b"-token y"]) == b"x *** y"
