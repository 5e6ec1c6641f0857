"""The one error hierarchy: every expected failure is a DevkitError with an exit code.

This module imports nothing else from devkit, so every layer can raise these.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from enum import IntEnum
from typing import Any, ClassVar


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERNAL = 3
    MISSING_TOOL = 4
    HANGUP = 129  # SIGHUP: a dropped ssh session or closed terminal
    INTERRUPTED = 130  # SIGINT: Ctrl-C
    TERMINATED = 143  # SIGTERM: timeout(1), systemd, a CI cancel


def interrupted_exit_code(signum: int) -> ExitCode:
    """128 + the signal's number, as a shell reports a command killed by it."""
    try:
        return ExitCode(128 + signum)
    except ValueError:
        return ExitCode.INTERRUPTED


class InterruptSignal(KeyboardInterrupt):
    """Raised by devkit's signal handler for SIGINT, SIGTERM and SIGHUP alike, so that
    every `except KeyboardInterrupt` and `finally:` cleans up the same way."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = int(signum)


class DevkitError(Exception):
    """An expected failure: a sentence for the user, a stable code, a hint naming the fix.

    Subclasses set `exit_code` and a default `code`; a raise site may pass a more
    specific `code` (for example "dirty_worktree") without a class of its own.
    `details` is structured data that JSON output carries alongside the message.
    """

    exit_code: ExitCode = ExitCode.FAILED
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
        """The error as JSON output carries it: always these four keys, so that a script
        can read `details` without first checking that it is there."""
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "details": dict(self.details),
        }


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
    """SIGINT (Ctrl-C), SIGTERM or SIGHUP stopped the operation and devkit cleaned up.

    The exit code is 128 + the signal's number: 130, 143 or 129."""

    exit_code = ExitCode.INTERRUPTED
    default_code = "interrupted"

    def __init__(
        self, message: str = "interrupted", *, signum: int = signal.SIGINT, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.signum = int(signum)
        self.exit_code = interrupted_exit_code(self.signum)
        self.details.setdefault("signal", signal.Signals(self.signum).name)

    @classmethod
    def from_signal(cls, error: BaseException | None = None, **kwargs: Any) -> Interrupted:
        """The Interrupted for a caught KeyboardInterrupt (InterruptSignal or Ctrl-C)."""
        signum = getattr(error, "signum", signal.SIGINT)
        name = signal.Signals(signum).name
        default = "interrupted" if signum == signal.SIGINT else f"interrupted ({name})"
        kwargs.setdefault("message", default)
        return cls(signum=signum, **kwargs)
