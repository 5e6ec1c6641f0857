"""Archive-specific failures, each with a stable code and a hint that names the fix."""

from __future__ import annotations

from typing import Any

from devkit.errors import Interrupted, InvalidInput, MissingTool, OperationFailed

__all__ = [
    "ArchiveCorrupt",
    "CapExceeded",
    "DecoderStalled",
    "Interrupted",
    "MissingTool",
    "PasswordError",
    "UnknownFormat",
    "UnsafeArchive",
]


class UnknownFormat(InvalidInput):
    """The content is not an archive devkit can read (exit 2)."""

    default_code = "unknown_format"


class ArchiveCorrupt(OperationFailed):
    """The archive is damaged, truncated or inconsistent (exit 1)."""

    default_code = "corrupt_archive"


class PasswordError(OperationFailed):
    """A password is needed, wrong, or the encryption is unsupported (exit 1)."""

    default_code = "password_required"


class UnsafeArchive(OperationFailed):
    """Members that would escape DEST or are otherwise unsafe: nothing was written."""

    default_code = "unsafe_archive"

    def __init__(self, message: str, *, unsafe: list[dict[str, str]], **kwargs: Any) -> None:
        kwargs.setdefault("hint", "inspect with 'devkit extract --list', or pass --skip-unsafe")
        details = dict(kwargs.pop("details", None) or {})
        details["unsafe"] = unsafe
        super().__init__(message, details=details, **kwargs)
        self.unsafe = unsafe


class CapExceeded(OperationFailed):
    """A bomb cap (bytes, ratio, entries) was hit: everything written was removed."""

    default_code = "cap_exceeded"


class DecoderStalled(OperationFailed):
    """A decoder (7zz, unrar) went DEVKIT_TOOL_TIMEOUT seconds without output: its
    process group was stopped and everything written was removed (exit 1)."""

    default_code = "tool_timeout"
