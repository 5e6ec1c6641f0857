"""`devkit fleet install`: put this devkit on every host, over the ssh connection.

Per host: probe its Python (one small program, no files written), refuse a host the
pack does not fit, send the pack through ssh's stdin unless the host has it already,
and check that the installed devkit answers with this version. On the host everything
lives in `${XDG_DATA_HOME:-~/.local/share}/devkit/packs/<version>-<hash>/`, written to a
temporary folder first and renamed into place, so a dropped connection never leaves a
half-installed pack that looks complete. Running it again sends nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from devkit import __version__, process
from devkit.fleet.pack import LAUNCHER, Pack, compatibility
from devkit.fleet.ssh import Master, Reach

INSTALL_TIMEOUT = 600.0
PROBE_TIMEOUT = 60.0

# Runs on the host (any Python 3): what the pack needs to know of it, and whether this
# pack is there already.
_CHECK = """\
import json, os, platform, sys
base = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"),
                    "devkit", "packs")
pack = os.path.join(base, sys.argv[1])
print(json.dumps({
    "implementation": sys.implementation.name,
    "python": "%d.%d" % sys.version_info[:2],
    "machine": platform.machine(),
    "platform": sys.platform,
    "libc": " ".join(platform.libc_ver()),
    "pack": pack,
    "present": os.path.isfile(os.path.join(pack, "ready")),
}))
"""

# Runs on the host: read the pack from stdin, check its hash, unpack it beside its
# final place and rename it there; `ready` is written last.
_RECEIVE = """\
import hashlib, io, json, os, shutil, sys, tempfile, zipfile
name, expected = sys.argv[1], sys.argv[2]
data = sys.stdin.buffer.read()
if hashlib.sha256(data).hexdigest() != expected:
    sys.exit("the pack arrived damaged (%d bytes)" % len(data))
base = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"),
                    "devkit", "packs")
os.makedirs(base, mode=0o700, exist_ok=True)
final = os.path.join(base, name)
if not os.path.isfile(os.path.join(final, "ready")):
    temp = tempfile.mkdtemp(prefix=".incoming-", dir=base)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            target = os.path.realpath(os.path.join(temp, info.filename))
            if not target.startswith(os.path.realpath(temp) + os.sep):
                sys.exit("unsafe name in the pack: %r" % info.filename)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(archive.read(info))
            os.chmod(target, (info.external_attr >> 16) & 0o755 or 0o644)
    with open(os.path.join(temp, "ready"), "w") as ready:
        ready.write("devkit pack\\n")
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.rename(temp, final)
print(json.dumps({"pack": final}))
"""


@dataclass(frozen=True)
class Installed:
    host: str
    status: str  # installed | present | unreachable | incompatible | failed
    message: str = ""
    pack: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("installed", "present")

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "status": self.status, "ok": self.ok,
                "message": self.message, "pack": self.pack}  # fmt: skip


def remote_devkit(pack_path: str) -> list[str]:
    """The command that runs the installed devkit on a host (then its arguments)."""
    return ["python3", "-I", "-S", f"{pack_path}/{LAUNCHER}"]


def install_on(
    master: Master, pack: Pack, env: Mapping[str, str], send: Callable[[], bytes]
) -> Installed:
    host = master.host.name
    probed = process.run_captured(
        master.command(["python3", "-I", "-c", _CHECK, pack.name]), env=env, timeout=PROBE_TIMEOUT
    )
    if probed.status != 0:
        reason = _last_line(probed.stderr) or f"exit {probed.status}"
        if probed.status == 127:
            reason = "python3 is not installed there"
        return Installed(host, "failed", f"cannot run python3: {reason}")
    answer = json.loads(probed.stdout)
    problem = compatibility(answer)
    if problem is not None:
        return Installed(host, "incompatible", problem)
    status = "present"
    if not answer["present"]:
        received = process.run_captured(
            master.command(["python3", "-I", "-c", _RECEIVE, pack.name, pack.sha256]),
            env=env,
            input=send(),
            timeout=INSTALL_TIMEOUT,
        )
        if received.status != 0:
            return Installed(host, "failed", _last_line(received.stderr) or "the copy failed")
        status = "installed"
    path = str(answer["pack"])
    version = process.run_captured(
        master.command([*remote_devkit(path), "--version"]), env=env, timeout=PROBE_TIMEOUT
    )
    expected = f"devkit {__version__}"
    if version.status != 0 or version.stdout.decode(errors="replace").strip() != expected:
        detail = _last_line(version.stderr) or version.stdout.decode(errors="replace").strip()
        return Installed(host, "failed", f"the installed devkit does not start: {detail}", path)
    return Installed(host, status, expected, path)


def install_all(
    reached: Sequence[Reach],
    masters: Mapping[str, Master],
    pack: Pack,
    env: Mapping[str, str],
    forks: int,
) -> list[Installed]:
    """Every reached host at most `forks` at a time; the unreached ones as they were."""

    def one(reach: Reach) -> Installed:
        if not reach.ok:
            return Installed(reach.host.name, "unreachable", f"{reach.problem}: {reach.message}")
        return install_on(masters[reach.host.name], pack, env, lambda: pack.data)

    with ThreadPoolExecutor(max_workers=max(1, forks)) as pool:
        return list(pool.map(one, reached))


def _last_line(data: bytes) -> str:
    lines = [line for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
