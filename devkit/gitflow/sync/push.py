"""push: publish the branch and read `git push --porcelain`, so that a rejected push is
a failure, never a success."""

from __future__ import annotations

from devkit.gitflow.gitcmd import GitRepo
from devkit.gitflow.sync.model import SyncLog, SyncStopped


def push(
    g: GitRepo,
    branch: str,
    remote: str,
    dest: str | None,
    log: SyncLog,
    *,
    lease: str | None = None,
    set_upstream: bool = False,
) -> bool:
    """Push the branch to `dest` on `remote` (dest None: no refspec, git's own
    `remote.<name>.push` or `push.default=matching` decide, as for `git push <remote>`);
    True when the remote changed. A rejected push is a SyncStopped, never a success."""
    g.check_remote_is_safe(remote)
    args = ["push", "--porcelain"]
    if set_upstream:
        args.append("--set-upstream")
    if lease is not None and dest is not None:
        args += [f"--force-with-lease={dest}:{lease}", "--force-if-includes"]
    args += ["--", remote] + ([f"refs/heads/{branch}:{dest}"] if dest else [])
    log.note(f"pushing to {remote}")
    out = g.run(args, check=False, timeout=g.network_timeout, env=g.network_env())
    outcome = parse_push_porcelain(out.text)
    if out.ok and outcome and all(flag in " *+=-" for flag, _, _ in outcome):
        where = dest.removeprefix("refs/heads/") if dest else "matching branches"
        log.note(f"pushed {branch} to {remote} ({where})")
        return any(flag != "=" for flag, _, _ in outcome)
    reasons = [summary for flag, _, summary in outcome if flag == "!"]
    reason = reasons[0] if reasons else out.reason()
    raise SyncStopped(
        f"push to {remote} was rejected: {reason}",
        code="push_rejected",
        hint="someone else pushed or the remote refused it; run devkit sync again"
        if "stale" in reason or "fetch first" in reason or "non-fast-forward" in reason
        else "check the remote's rules and your permissions, then sync again",
    )


def parse_push_porcelain(text: str) -> list[tuple[str, str, str]]:
    """(flag, 'src:dst', summary) for each ref line of `git push --porcelain`."""
    lines = []
    for line in text.splitlines():
        if not line or line.startswith("To ") or line == "Done" or "\t" not in line:
            continue
        flag = line[0]
        parts = line[1:].lstrip("\t").split("\t")
        if len(parts) >= 2:
            lines.append((flag, parts[0], parts[1]))
    return lines
