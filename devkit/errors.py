"""The one error hierarchy: every expected failure is a DevkitError with an exit code.

This module imports nothing else from devkit, so every layer can raise these.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERNAL = 3
    MISSING_TOOL = 4
    INTERRUPTED = 130


class DevkitError(Exception):
    """An expected failure: a sentence for the user, a stable code, a hint naming the fix.

    Subclasses set `exit_code` and a default `code`; a raise site may pass a more
    specific `code` (for example "dirty_worktree") without a class of its own.
    `details` is structured data that JSON output carries alongside the message.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED
    default_code: ClassVar[str] = "failed"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.hint = hint
        self.details: dict[str, Any] = dict(details or {})

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.details:
            doc["details"] = self.details
        return doc


class OperationFailed(DevkitError):
    """The operation ran and failed: a step failed, a sync stopped, an archive was refused."""

    exit_code = ExitCode.FAILED
    default_code = "failed"


class InvalidInput(DevkitError):
    """Usage error or invalid input: a bad option, an invalid recipe, an unknown archive format."""

    exit_code = ExitCode.USAGE
    default_code = "invalid_input"


class MissingTool(DevkitError):
    """A required external tool (git, a RAR backend) is not installed."""

    exit_code = ExitCode.MISSING_TOOL
    default_code = "missing_tool"


class Interrupted(DevkitError):
    """The user pressed Ctrl-C (or the process got SIGINT) and devkit stopped cleanly."""

    exit_code = ExitCode.INTERRUPTED
    default_code = "interrupted"

    def __init__(self, message: str = "interrupted", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
