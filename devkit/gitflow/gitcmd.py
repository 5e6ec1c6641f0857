"""One way to run git: through GitPython's `repo.git`, never prompting, never hanging.

Every call gets `GIT_TERMINAL_PROMPT=0`, no editor, ssh in batch mode (unless the user
configured their own ssh command), a closed stdin (GitPython passes DEVNULL) and a
timeout after which GitPython kills git and its children. Output is read as bytes and
decoded with surrogateescape so that odd file names survive a round trip.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from devkit.errors import InvalidInput, MissingTool, OperationFailed
from devkit.gitflow.status import RepoStatus, parse_status

if TYPE_CHECKING:
    from git import Repo

MIN_GIT_VERSION = (2, 38)
LOCAL_TIMEOUT = 600.0


def network_timeout() -> float:
    """Seconds a fetch or push may take before it is killed (DEVKIT_GIT_TIMEOUT)."""
    try:
        return float(os.environ.get("DEVKIT_GIT_TIMEOUT", "300"))
    except ValueError:
        return 300.0


# Identity for devkit's own bookkeeping commits (snapshots), never for user commits.
BOOKKEEPING_IDENTITY = {
    "GIT_AUTHOR_NAME": "devkit",
    "GIT_AUTHOR_EMAIL": "devkit@localhost",
    "GIT_COMMITTER_NAME": "devkit",
    "GIT_COMMITTER_EMAIL": "devkit@localhost",
}

_SAFE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
    "GIT_EDITOR": ":",
    "GIT_SEQUENCE_EDITOR": ":",
    "GIT_MERGE_AUTOEDIT": "no",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
}

_version_lock = threading.Lock()
_version_checked: tuple[int, ...] | None = None


@dataclass(frozen=True)
class GitOutput:
    status: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape")

    @property
    def ok(self) -> bool:
        return self.status == 0

    def last_error_line(self) -> str:
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
        return (fatal or lines or ["git failed without a message"])[-1]


def _import_git() -> object:
    # GitPython runs `git version` at import and raises ImportError when git is
    # missing; "quiet" lets us raise our own MissingTool instead.
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    try:
        import git
    except ImportError as error:  # pragma: no cover - GitPython is a dependency
        raise MissingTool(
            f"GitPython could not be loaded: {error}",
            code="git_missing",
            hint="install git (apt-get install git) and reinstall devkit",
        ) from error
    return git


def check_git_version() -> tuple[int, ...]:
    """Fail clearly when git is missing or older than 2.38 (merge-tree --write-tree)."""
    global _version_checked
    with _version_lock:
        if _version_checked is not None:
            return _version_checked
        import subprocess

        try:
            out = subprocess.run(
                ["git", "version"],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=30,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError) as error:
            raise MissingTool(
                "git is not installed or does not run",
                code="git_missing",
                hint="install git 2.38 or newer (apt-get install git)",
            ) from error
        match = re.search(r"(\d+)\.(\d+)", out)
        version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        if version < MIN_GIT_VERSION:
            raise MissingTool(
                f"git {out.strip()} is too old: devkit needs git 2.38 or newer "
                "(for `git merge-tree --write-tree`)",
                code="git_too_old",
                hint="upgrade git to 2.38 or newer",
            )
        _version_checked = version
        return version


def _cancel_watchdogs() -> None:
    """GitPython's timeout is a non-daemon threading.Timer that is only cancelled when
    git returns; after Ctrl-C it would keep the interpreter alive until it fires."""
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


def unsafe_url_reason(url: str) -> str | None:
    """Why a remote URL must not be used, or None. Refuses URLs git would execute or
    parse as an option (`ext::`, `fd::`, a leading dash, `--upload-pack`)."""
    text = url.strip()
    lowered = text.lower()
    if not text:
        return "the URL is empty"
    if text.startswith("-"):
        return "the URL starts with '-' and would be read as an option"
    if lowered.startswith(("ext::", "fd::")):
        return f"'{text.split('::')[0]}::' URLs run commands"
    if "--upload-pack" in lowered or "--receive-pack" in lowered or "--exec" in lowered:
        return "the URL carries a command option"
    if "\n" in text or "\r" in text or "\x00" in text:
        return "the URL contains control characters"
    match = re.match(r"^[a-z0-9+.-]+://([^/]*)", lowered)
    if match and match.group(1).split("@")[-1].startswith("-"):
        return "the URL's host starts with '-' and would be read as an ssh option"
    return None


class GitRepo:
    """A GitPython Repo plus devkit's safe way of running git in it."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.worktree = Path(str(repo.working_tree_dir))
        self.git_dir = Path(repo.git_dir)
        self.common_dir = Path(repo.common_dir)
        env = dict(_SAFE_ENV)
        if "GIT_ALLOW_PROTOCOL" not in os.environ:
            # Whatever a URL becomes (insteadOf, submodules), git may only speak these;
            # `ext::` and `fd::` (which run commands) are never among them.
            env["GIT_ALLOW_PROTOCOL"] = "file:git:http:https:ssh"
        repo.git.update_environment(**env)
        self._config: dict[str, list[str]] | None = None

    # -- configuration: one `git config --list` per repository ---------------------

    def _config_map(self) -> dict[str, list[str]]:
        if self._config is None:
            raw = self.run(["config", "--list", "-z"], check=False, strip=False).text
            found: dict[str, list[str]] = {}
            for item in raw.split("\0"):
                if item:
                    key, _, value = item.partition("\n")
                    found.setdefault(key, []).append(value)
            self._config = found
        return self._config

    def config_values(self, key: str) -> list[str]:
        """All values of a config key (section and name are case-insensitive)."""
        section, _, rest = key.partition(".")
        subsection, _, name = rest.rpartition(".")
        parts = [section.lower(), *([subsection] if subsection else []), name.lower()]
        return self._config_map().get(".".join(parts), [])

    def config(self, key: str) -> str | None:
        values = self.config_values(key)
        return values[-1] if values else None

    def remotes(self) -> list[str]:
        names = {
            key[len("remote.") : -len(".url")]
            for key in self._config_map()
            if key.startswith("remote.") and key.endswith(".url")
        }
        return sorted(names)

    def forget_config(self) -> None:
        self._config = None

    def network_env(self) -> dict[str, str]:
        """ssh in batch mode for fetch and push, unless the user chose an ssh command."""
        if any(os.environ.get(n) for n in ("GIT_SSH_COMMAND", "GIT_SSH")) or self.config(
            "core.sshCommand"
        ):
            return {}
        return {"GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30"}

    # -- running git -------------------------------------------------------------

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        timeout: float = LOCAL_TIMEOUT,
        env: Mapping[str, str] | None = None,
        strip: bool = True,
    ) -> GitOutput:
        """Run `git ARGS` in this repository; raise OperationFailed when check and it fails."""
        try:
            status, stdout, stderr = self.repo.git.execute(
                ["git", *args],
                with_extended_output=True,
                with_exceptions=False,
                stdout_as_string=False,
                kill_after_timeout=timeout,
                env=dict(env) if env else None,
                strip_newline_in_stdout=strip,
            )
        except KeyboardInterrupt:
            _cancel_watchdogs()
            raise
        output = GitOutput(int(status), bytes(stdout or b""), str(stderr or ""))
        if "did not complete in" in output.stderr and output.stderr.startswith("Timeout"):
            raise OperationFailed(
                f"git {args[0]} did not finish within {timeout:g} s and was stopped",
                code="git_timeout",
                hint="check the network or raise DEVKIT_GIT_TIMEOUT",
            )
        if check and not output.ok:
            raise OperationFailed(
                f"git {args[0]} failed: {output.last_error_line()}",
                code="git_failed",
                details={"command": ["git", *args][:12], "stderr": output.stderr[-2000:]},
            )
        return output

    def update_refs(self, commands: Sequence[tuple[str, ...]], *, message: str) -> None:
        """Several ref updates in one atomic transaction (`update-ref --stdin -z`).

        Each command is ("update", ref, new, old) or ("create", ref, new)."""
        import tempfile

        payload = b"".join(
            (f"{verb} {ref}\0" + "".join(f"{v}\0" for v in values)).encode()
            for verb, ref, *values in commands
        )
        with tempfile.TemporaryFile() as stdin:
            stdin.write(payload)
            stdin.seek(0)
            status, _out, err = self.repo.git.execute(
                ["git", "update-ref", "-m", message, "--stdin", "-z"],
                istream=stdin,
                with_extended_output=True,
                with_exceptions=False,
                kill_after_timeout=LOCAL_TIMEOUT,
            )
        if status != 0:
            raise OperationFailed(
                f"git update-ref failed: {GitOutput(int(status), b'', str(err)).last_error_line()}",
                code="git_failed",
            )

    def text(self, args: Sequence[str], **kwargs: object) -> str:
        return self.run(args, **kwargs).text  # type: ignore[arg-type]

    def rev(self, spec: str) -> str | None:
        """The full SHA that `spec` names (a commit), or None."""
        out = self.run(["rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}"], check=False)
        return out.text.strip() if out.ok else None

    def status(self, *, untracked: str = "normal", paths: Sequence[str] = ()) -> RepoStatus:
        args = ["status", "--porcelain=v2", "-z", "--branch", f"--untracked-files={untracked}"]
        if paths:
            args += ["--", *paths]
        return parse_status(self.run(args, strip=False).stdout)

    def operation_in_progress(self) -> str | None:
        """'rebase', 'merge', 'cherry-pick', 'revert' or 'bisect' when one is under way."""
        markers = (
            ("rebase-merge", "rebase"),
            ("rebase-apply", "rebase"),
            ("MERGE_HEAD", "merge"),
            ("CHERRY_PICK_HEAD", "cherry-pick"),
            ("REVERT_HEAD", "revert"),
        )
        for name, operation in markers:
            if (self.git_dir / name).exists():
                return operation
        return None

    def remote_url(self, remote: str) -> str:
        return self.text(["remote", "get-url", "--", remote]).strip()

    def fetch(self, remote: str) -> GitOutput:
        """Fetch (with prune) from a remote checked to be safe; a failure is returned,
        so callers can word it for their command."""
        self.check_remote_is_safe(remote)
        return self.run(
            ["fetch", "--prune", "--quiet", "--no-recurse-submodules", "--", remote],
            check=False,
            timeout=network_timeout(),
            env=self.network_env(),
        )

    def check_remote_is_safe(self, remote: str) -> None:
        urls = self.config_values(f"remote.{remote}.url") + self.config_values(
            f"remote.{remote}.pushurl"
        )
        if not urls:
            raise InvalidInput(
                f"there is no remote named '{remote}'",
                code="no_remote",
                hint="list remotes with `git remote -v`",
            )
        for url in urls:
            reason = unsafe_url_reason(url)
            if reason:
                raise InvalidInput(
                    f"refusing remote '{remote}' ({url!r}): {reason}",
                    code="unsafe_remote",
                    hint=f"fix it with `git remote set-url {remote} <url>`",
                )


def _open(path: Path, *, search_parents: bool) -> Repo:
    git = _import_git()
    check_git_version()
    if not path.exists():
        raise InvalidInput(f"{path}: no such directory", code="not_a_repository")
    try:
        repo: Repo = git.Repo(str(path), search_parent_directories=search_parents)  # type: ignore[attr-defined]
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as error:  # type: ignore[attr-defined]
        raise InvalidInput(
            f"{path}: not a git repository",
            code="not_a_repository",
            hint="run `devkit init` there, or pass the path of a repository",
        ) from error
    if repo.bare:
        repo.close()
        raise InvalidInput(f"{path}: is a bare repository", code="bare_repository")
    return repo


@contextmanager
def open_repo(path: Path, *, search_parents: bool = True) -> Iterator[GitRepo]:
    """Open the repository at (or above) `path` and always close it afterwards."""
    repo = _open(path, search_parents=search_parents)
    try:
        yield GitRepo(repo)
    finally:
        repo.git.clear_cache()
        repo.close()
