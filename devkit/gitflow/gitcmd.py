"""One way to run git: through devkit.process, never prompting, never hanging.

Every git child starts through `devkit.process.run_captured`: it leads its own process
group, and when its deadline passes or devkit is interrupted, the whole group (git and
whatever it started: `git remote-http`, ssh, hooks) is stopped, SIGINT -> SIGTERM ->
SIGKILL, without `ps` or `pgrep`. Each call gets the repository's environment, an
explicit mapping (os.environ only when a caller passes none), with
`GIT_TERMINAL_PROMPT=0`, no editor, ssh in batch mode (unless the user configured their
own ssh command) and a closed stdin. Output is read as bytes and decoded with
surrogateescape so that odd file names survive a round trip.

GitPython is not used: a repository is located with one `git rev-parse`, and importing
GitPython would itself run `git version` outside the process layer.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devkit import process
from devkit.errors import InvalidInput, MissingTool, OperationFailed
from devkit.gitflow.status import RepoStatus, parse_status

MIN_GIT_VERSION = (2, 38)
LOCAL_TIMEOUT = 600.0
DEFAULT_NETWORK_TIMEOUT = 300.0
VERSION_TIMEOUT = 30.0

Env = Mapping[str, str]

# Identity for devkit's own bookkeeping commits (snapshots), never for user commits.
BOOKKEEPING_IDENTITY = {
    "GIT_AUTHOR_NAME": "devkit",
    "GIT_AUTHOR_EMAIL": "devkit@localhost",
    "GIT_COMMITTER_NAME": "devkit",
    "GIT_COMMITTER_EMAIL": "devkit@localhost",
}

_SAFE_ENV = {
    # devkit reads git's messages (merge-tree's CONFLICT lines, push porcelain, fatal:
    # lines): they must be the untranslated ones, as GitPython also forced.
    "LANGUAGE": "C",
    "LC_ALL": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
    "GIT_EDITOR": ":",
    "GIT_SEQUENCE_EDITOR": ":",
    "GIT_MERGE_AUTOEDIT": "no",
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
}
# Whatever a URL becomes (insteadOf, submodules), git may only speak these; `ext::` and
# `fd::` (which run commands) are never among them. A user's own list wins.
_DEFAULT_PROTOCOLS = "file:git:http:https:ssh"

# A line of git's stderr that names a cause: "fatal: ...", "ssh: connect to host ...",
# "gpg: signing failed: ...", "remote: ...".
_CAUSE_LINE = re.compile(r"^[A-Za-z][\w.-]*: ")
_MAX_REASON_LINES = 4

_version_lock = threading.Lock()
_versions: dict[str | None, tuple[int, ...]] = {}  # by PATH: which git runs


def environment(env: Env | None) -> dict[str, str]:
    """The base environment of every git child: `env` (os.environ at call time when
    None) with prompts, editors and command-running protocols switched off."""
    merged = dict(os.environ if env is None else env)
    merged.update(_SAFE_ENV)
    merged.setdefault("GIT_ALLOW_PROTOCOL", _DEFAULT_PROTOCOLS)
    return merged


def seconds_setting(env: Env, name: str, default: float) -> float:
    """A number of seconds from the environment (the default when unset or invalid)."""
    try:
        return float(env.get(name, default))
    except ValueError:
        return default


def network_timeout(env: Env) -> float:
    """Seconds a fetch or push may take before it is stopped (DEVKIT_GIT_TIMEOUT)."""
    return seconds_setting(env, "DEVKIT_GIT_TIMEOUT", DEFAULT_NETWORK_TIMEOUT)


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

    def reason(self) -> str:
        """git's own explanation of a failure, in one line: the lines that name a cause
        (`fatal:`, `error:`, and those of the programs git ran, such as `ssh:`, `gpg:`
        or `remote:`), without hints, at most the last few; else its last line. The
        final `fatal:` alone is often generic ("Could not read from remote
        repository.") while the line before it says why."""
        lines = list(dict.fromkeys(line.strip() for line in self.stderr.splitlines()))
        lines = [line for line in lines if line]
        causes = [
            line
            for line in lines
            if _CAUSE_LINE.match(line) and not line.startswith(("hint:", "warning:"))
        ]
        picked = causes[-_MAX_REASON_LINES:] if causes else lines[-1:]
        return "; ".join(picked) or "git failed without a message"

    def last_error_line(self) -> str:
        """The same as reason() (its older name, still used by some callers)."""
        return self.reason()


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None,
    env: Env,
    timeout: float = LOCAL_TIMEOUT,
    input: bytes | None = None,
    strip: bool = True,
) -> GitOutput:
    """Run `git ARGS` as a child of devkit's process layer. A timeout is an error (the
    group was stopped); any other failure is returned for the caller to word."""
    try:
        done = process.run_captured(["git", *args], cwd=cwd, env=env, input=input, timeout=timeout)
    except FileNotFoundError as error:
        raise MissingTool(
            "git is not installed (no `git` on PATH)",
            code="git_missing",
            hint="install git 2.38 or newer (apt-get install git)",
        ) from error
    except OSError as error:
        raise MissingTool(
            f"git could not be started: {error.strerror or error}",
            code="git_missing",
            hint="install git 2.38 or newer (apt-get install git)",
        ) from error
    if done.timed_out:
        raise OperationFailed(
            f"git {args[0]} did not finish within {timeout:g} s and was stopped",
            code="git_timeout",
            hint="check the network or raise DEVKIT_GIT_TIMEOUT",
        )
    stdout = done.stdout
    if strip and stdout.endswith(b"\n"):
        stdout = stdout[:-1]
    stderr = done.stderr.decode("utf-8", "replace").rstrip("\n")
    return GitOutput(done.status, stdout, stderr)


def check_git_version(env: Env | None = None) -> tuple[int, ...]:
    """Fail clearly when git is missing or older than 2.38 (merge-tree --write-tree).
    Checked once per PATH (the PATH decides which git runs)."""
    base = environment(env)
    key = base.get("PATH")
    with _version_lock:
        if key in _versions:
            return _versions[key]
        try:
            out = run_git(["version"], cwd=None, env=base, timeout=VERSION_TIMEOUT)
        except OperationFailed as error:
            raise MissingTool(
                "git is not installed or does not run",
                code="git_missing",
                hint="install git 2.38 or newer (apt-get install git)",
            ) from error
        if not out.ok:
            raise MissingTool(
                f"git does not run: {out.reason()}",
                code="git_missing",
                hint="install git 2.38 or newer (apt-get install git)",
            )
        match = re.search(r"(\d+)\.(\d+)", out.text)
        version = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        if version < MIN_GIT_VERSION:
            raise MissingTool(
                f"git {out.text.strip()} is too old: devkit needs git 2.38 or newer "
                "(for `git merge-tree --write-tree`)",
                code="git_too_old",
                hint="upgrade git to 2.38 or newer",
            )
        _versions[key] = version
        return version


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
    """A repository's locations plus devkit's safe way of running git in it."""

    def __init__(self, worktree: Path, git_dir: Path, common_dir: Path, *, env: Env) -> None:
        self.worktree = worktree
        self.git_dir = git_dir
        self.common_dir = common_dir
        self.env = environment(env)
        # Set by a sync: a signal received after this many signals stops the next git
        # command outside a critical section (how a worker thread notices it).
        self.interrupted_since: int | None = None
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
        if any(self.env.get(n) for n in ("GIT_SSH_COMMAND", "GIT_SSH")) or self.config(
            "core.sshCommand"
        ):
            return {}
        return {"GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30"}

    @property
    def network_timeout(self) -> float:
        return network_timeout(self.env)

    # -- running git -------------------------------------------------------------

    def run(
        self,
        args: Sequence[str],
        *,
        check: bool = True,
        timeout: float = LOCAL_TIMEOUT,
        env: Env | None = None,
        strip: bool = True,
        input: bytes | None = None,
    ) -> GitOutput:
        """Run `git ARGS` in this repository; raise OperationFailed when check and it
        fails. `env` adds variables to the repository's environment for this call."""
        if self.interrupted_since is not None and not process.in_critical_section():
            process.raise_if_interrupted(self.interrupted_since)
        output = run_git(
            args,
            cwd=self.worktree,
            env={**self.env, **env} if env else self.env,
            timeout=timeout,
            input=input,
            strip=strip,
        )
        if check and not output.ok:
            raise OperationFailed(
                f"git {args[0]} failed: {output.reason()}",
                code="git_failed",
                details={"command": ["git", *args][:12], "stderr": output.stderr[-2000:]},
            )
        return output

    def update_refs(self, commands: Sequence[tuple[str, ...]], *, message: str) -> None:
        """Several ref updates in one atomic transaction (`update-ref --stdin -z`).

        Each command is ("update", ref, new, old) or ("create", ref, new)."""
        payload = b"".join(
            (f"{verb} {ref}\0" + "".join(f"{v}\0" for v in values)).encode()
            for verb, ref, *values in commands
        )
        self.run(["update-ref", "-m", message, "--stdin", "-z"], input=payload)

    def text(self, args: Sequence[str], *, env: Env | None = None) -> str:
        return self.run(args, env=env).text

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
            timeout=self.network_timeout,
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


def open_repo(path: Path, *, env: Env | None = None, search_parents: bool = True) -> GitRepo:
    """The repository at (or, with search_parents, above) `path`."""
    base = environment(env)
    check_git_version(base)
    if not path.is_dir():
        what = "no such directory" if not path.exists() else "not a directory"
        raise InvalidInput(f"{path}: {what}", code="not_a_repository")
    out = run_git(
        [
            "rev-parse",
            "--path-format=absolute",
            "--is-bare-repository",
            "--absolute-git-dir",
            "--git-common-dir",
            "--show-toplevel",
        ],
        cwd=path,
        env=base,
    )
    lines = out.text.splitlines()
    if lines[:1] == ["true"]:
        raise InvalidInput(f"{path}: is a bare repository", code="bare_repository")
    not_here = len(lines) != 4 or (
        not search_parents and os.path.realpath(lines[3]) != os.path.realpath(path)
    )
    if not out.ok or not_here:
        detail = out.reason() if not out.ok else ""
        hint = "run `devkit init` there, or pass the path of a repository"
        if "dubious ownership" in detail:
            raise InvalidInput(
                f"{path}: git refuses a repository owned by someone else",
                code="not_a_repository",
                hint=f"if you trust it: git config --global --add safe.directory {path}",
            )
        raise InvalidInput(f"{path}: not a git repository", code="not_a_repository", hint=hint)
    return GitRepo(Path(lines[3]), Path(lines[1]), Path(lines[2]), env=base)
