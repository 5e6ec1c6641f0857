"""Where a push goes: the remote and the ref that plain `git push` (no arguments) would
update from the current branch, decided the way git decides it.

The remote is `branch.<name>.pushRemote`, else `remote.pushDefault`, else the
branch's remote. The refspec comes from `remote.<remote>.push` if set, else from
`push.default`: `simple` (the default) pushes to the upstream branch when pushing to
the upstream's remote (and refuses if its name differs) and to the same-named branch
in a triangular workflow (push remote != fetch remote); `upstream` pushes to the
upstream branch and refuses a remote that is not the upstream's; `current` pushes to
the same name; `matching` pushes every branch the remote has too; `nothing` refuses.
Where git would refuse, so does sync, before anything is changed.
"""

from __future__ import annotations

from typing import Protocol

from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.sync.model import PushTarget, SyncStopped, Unpublished

PUSH_DEFAULTS = ("simple", "upstream", "tracking", "current", "matching", "nothing")


class Tracking(Protocol):
    """A branch and the upstream it is configured to track (Position, Unpublished)."""

    @property
    def branch(self) -> str: ...
    @property
    def remote(self) -> str: ...  # the upstream's remote (branch.<name>.remote)
    @property
    def dest(self) -> str: ...  # the upstream branch's ref on it
    @property
    def upstream(self) -> str: ...  # its short name


def push_target(g: GitRepo, position: Tracking) -> PushTarget:
    """Where `git push` with no arguments would send the branch (see the module doc);
    a SyncStopped where git would refuse."""
    branch = position.branch
    remote = push_remote(g, branch, fetch_remote=position.remote)
    if g.config_values(f"remote.{remote}.push") or g.config(f"remote.{remote}.mirror") == "true":
        # git pushes what those refspecs say (possibly several refs): let it.
        return PushTarget(remote=remote, dest=None, tracking_ref=None)
    mode = g.config("push.default") or "simple"
    if mode not in PUSH_DEFAULTS:
        raise _refused(f"push.default has an unknown value {mode!r}", "set it to simple")
    if mode == "nothing":
        raise _refused(
            'push.default is "nothing", so git push would push nothing',
            "push it yourself (git push <remote> <branch>), or sync with --no-push",
        )
    if mode == "matching":
        tracking = tracking_ref(g, remote, f"refs/heads/{branch}")
        return PushTarget(remote=remote, dest=None, tracking_ref=tracking)
    dest = _refspec_dest(branch, mode, remote=remote, position=position)
    return PushTarget(remote=remote, dest=dest, tracking_ref=tracking_ref(g, remote, dest))


def push_remote(g: GitRepo, branch: str, *, fetch_remote: str | None) -> str:
    """The remote `git push` picks for `branch`."""
    for key in (f"branch.{branch}.pushRemote", "remote.pushDefault"):
        value = g.config(key)
        if value:
            return value
    if fetch_remote:
        return fetch_remote
    remotes = g.remotes()
    return remotes[0] if len(remotes) == 1 else "origin"


def push_elsewhere(g: GitRepo, unpublished: Unpublished) -> PushTarget | None:
    """For a branch whose upstream the remote lacks: where `git push` goes when that is
    another remote (a fork; pushRemote or pushDefault), else None (sync publishes the
    branch to its upstream and tracks it)."""
    remote = push_remote(g, unpublished.branch, fetch_remote=unpublished.remote)
    return None if remote == unpublished.remote else push_target(g, unpublished)


def _refspec_dest(branch: str, mode: str, *, remote: str, position: Tracking) -> str:
    same_remote = remote == position.remote
    own = f"refs/heads/{branch}"
    if mode == "current" or (mode == "simple" and not same_remote):
        return own
    if not same_remote:  # upstream (or its old name, tracking)
        raise _refused(
            f"push.default is upstream and '{remote}' is not the remote of "
            f"'{branch}''s upstream ({position.upstream}), so git push would refuse",
            f"push it yourself (git push {remote} {branch}), or sync with --no-push",
        )
    if mode == "simple" and position.dest != own:
        raise _refused(
            f"the upstream of '{branch}' ({position.upstream}) has another name, "
            "so git push (push.default simple) would refuse",
            f"push it yourself (git push {remote} HEAD:{position.dest}), or set "
            "push.default to upstream",
        )
    return position.dest


def tracking_ref(g: GitRepo, remote: str, dest: str) -> str | None:
    """The remote-tracking ref that mirrors `dest` on `remote` (from its fetch
    refspecs), or None."""
    for spec in g.config_values(f"remote.{remote}.fetch"):
        src, _, dst = spec.lstrip("+").partition(":")
        if src.endswith("/*") and dst.endswith("/*") and dest.startswith(src[:-1]):
            return dst[:-1] + dest[len(src) - 1 :]
        if src == dest and dst:
            return dst
    return None


def _refused(message: str, hint: str) -> SyncStopped:
    return SyncStopped(message + "; nothing was changed", code="push_refused", hint=hint)
