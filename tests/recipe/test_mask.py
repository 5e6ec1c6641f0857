"""Secret masking, including secrets split across the chunks a pipe delivers."""

from __future__ import annotations

from devkit.recipe.mask import Masker
from devkit.recipe.output import LINE_PIECE, LineStream


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


def _lines(masker: Masker, chunks: list[bytes]) -> list[tuple[str, bool]]:
    got: list[tuple[str, bool]] = []
    stream = LineStream(masker, lambda text, end: got.append((text, end)))
    for chunk in chunks:
        stream.feed(chunk)
    stream.close()
    return got


def test_line_stream_passes_complete_lines_as_one_block() -> None:
    got = _lines(Masker([]), [b"one\ntw", b"o\nthree"])
    assert got == [("one", True), ("two", True), ("three", True)]
    assert _lines(Masker([]), [b"a\nb\nc\n"]) == [("a\nb\nc", True)]


def test_a_long_line_goes_out_in_pieces_and_joins_up_exactly() -> None:
    masker = Masker(["sekrit-in-the-middle"])
    line = b"x" * (LINE_PIECE - 5) + b"sekrit-in-the-middle" + b"y" * (3 * LINE_PIECE)
    chunks = [line[i : i + 4096] for i in range(0, len(line), 4096)] + [b"\nnext\n"]
    got = _lines(masker, chunks)
    assert all(len(text) <= LINE_PIECE + 8192 for text, _ in got)
    assert [end for _, end in got] == [False] * (len(got) - 1) + [True]
    text = "".join(t + ("\n" if end else "") for t, end in got)
    assert text == "x" * (LINE_PIECE - 5) + "***" + "y" * (3 * LINE_PIECE) + "\nnext\n"


def test_a_pause_shows_a_prompt_but_not_half_a_secret() -> None:
    masker = Masker(["abcdef-secret"])
    got: list[tuple[str, bool]] = []
    stream = LineStream(masker, lambda text, end: got.append((text, end)))
    stream.feed(b"Password for abcdef-sec")
    stream.idle()
    assert got == [("Password for ", False)]
    stream.feed(b"ret? ")
    stream.idle()
    stream.close()
    assert "".join(text for text, _ in got) == "Password for ***? "


def test_a_multibyte_character_split_across_reads_survives() -> None:
    data = "grüße ✓ done\n".encode()
    for cut in range(len(data)):
        assert _lines(Masker(["x-secret"]), [data[:cut], data[cut:]]) == [("grüße ✓ done", True)]


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
