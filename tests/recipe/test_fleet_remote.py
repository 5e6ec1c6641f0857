"""The remote side of fleet runs: `host` and `vars` variables, and
`devkit run --fleet-stdin` (the protocol in devkit/cli/remote.py), with real processes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devkit.errors import InvalidInput
from devkit.recipe.errors import RecipeInvalid
from devkit.recipe.model import FleetHost
from devkit.recipe.validate import load_recipe
from tests.recipe.conftest import devkit, wait_for_file, wait_gone

WEB01 = FleetHost("web01", ("web", "prod"), {"app_dir": "/srv/app", "workers": 4, "on": True})


# -- host and vars ------------------------------------------------------------------


def test_host_and_vars_locally_are_localhost_and_empty(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """
        tasks:
          show:
            - echo "name={{ host.name }} groups={{ host.groups.0 }}"
            - for: "{{ host.groups }}"
              run: echo "group={{ item }}"
        """
    )
    done = devkit(["run", "--check"], cwd=tmp_path)
    assert done.returncode == 2  # no groups locally: host.groups.0 does not exist
    assert "host.groups is a list of 0 item(s)" in done.stderr


def test_host_vars_render_and_are_checked_per_host(recipe: Callable[[str], Path]) -> None:
    path = recipe(
        """
        tasks:
          show:
            - echo "{{ host.name }} {{ vars.app_dir }} {{ vars.workers }} {{ vars.on }}"
            - for: "{{ host.groups }}"
              run: echo "{{ item }}"
        """
    )
    loaded = load_recipe(path, host=WEB01)
    assert loaded.host.name == "web01"
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path, host=FleetHost("db1", ("db",), {}))
    text = "\n".join(d.render() for d in caught.value.diagnostics)
    assert "vars has no key 'app_dir'" in text and "for host db1" in text
    assert ":4:" in text  # at the placeholder's line


def test_missing_host_var_names_key_and_host(recipe: Callable[[str], Path]) -> None:
    path = recipe("tasks:\n  a:\n    - echo {{ vars.missing }}\n")
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path, host=WEB01)
    (diagnostic,) = caught.value.diagnostics
    assert "'missing'" in diagnostic.message and "host web01" in diagnostic.message
    assert (diagnostic.position.line, diagnostic.position.col) == (3, 12)


@pytest.mark.parametrize("where", ["recipe", "task"])
@pytest.mark.parametrize("name", ["host", "vars"])
def test_a_recipe_cannot_define_host_or_vars(
    recipe: Callable[[str], Path], where: str, name: str
) -> None:
    if where == "recipe":
        text = f"vars:\n  {name}: x\ntasks:\n  a:\n    - echo hi\n"
    else:
        text = f"tasks:\n  a:\n    vars:\n      {name}: x\n    steps:\n      - echo hi\n"
    path = recipe(text)
    with pytest.raises(RecipeInvalid) as caught:
        load_recipe(path)
    assert any(
        f"variable {name!r} is defined by devkit" in d.message for d in caught.value.diagnostics
    )


def test_var_cannot_set_host(recipe: Callable[[str], Path]) -> None:
    path = recipe("tasks:\n  a:\n    - echo {{ host.name }}\n")
    with pytest.raises(InvalidInput, match="cannot set 'host'"):
        load_recipe(path, cli_vars={"host": "x"})


def test_host_vars_reach_steps_and_dry_run(recipe: Callable[[str], Path], tmp_path: Path) -> None:
    recipe('tasks:\n  a:\n    - echo "on {{ host.name }}"\n')
    done = devkit(["run", "--json"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "on localhost" in done.stderr
    planned = devkit(["run", "--dry-run", "--json"], cwd=tmp_path)
    document = json.loads(planned.stdout)
    assert document["data"]["vars"]["host"] == {"name": "localhost", "groups": []}


# -- output_tail ----------------------------------------------------------------------


def test_failed_step_error_carries_its_last_output_lines_masked(
    recipe: Callable[[str], Path], tmp_path: Path
) -> None:
    recipe(
        """
        secrets: [TOKEN]
        tasks:
          a:
            - echo before
            - |
              for i in $(seq 1 30); do echo "line $i"; done
              printf 'token %s\\n' "$TOKEN"
              printf 'long %s' "$(head -c 10000 /dev/zero | tr '\\0' x)"
              exit 3
        """
    )
    done = devkit(["run", "--json"], cwd=tmp_path, env={"TOKEN": "s3cr3t-value"})
    assert done.returncode == 3
    (error,) = json.loads(done.stdout)["errors"]
    tail = error["details"]["output_tail"]
    assert len(tail) == 20
    assert tail[0] == "line 13" and tail[-2] == "token ***"
    assert tail[-1].startswith("long xxx") and len(tail[-1]) == 4096
    assert "before" not in tail  # only the failed step's lines


# -- devkit run --fleet-stdin ---------------------------------------------------------


def request(files: dict[str, str], **fields: object) -> dict[str, object]:
    """A protocol-1 request for `files` (path -> text); the first file is the recipe."""
    return {
        "protocol": 1,
        "recipe": next(iter(files)),
        "files": {p: base64.b64encode(t.encode()).decode() for p, t in files.items()},
        "host": {"name": "web01", "groups": ["web", "prod"]},
        "vars": {"app_dir": "/srv/app", "workers": 4},
        "cli_vars": {},
        "secrets": {},
        **fields,
    }


class Remote:
    """A real `python -m devkit run --fleet-stdin` with the channel on a pipe."""

    def __init__(self, cache: Path, args: list[str] = (), prelude: str | None = None) -> None:  # type: ignore[assignment]
        env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
        command = [sys.executable, "-m", "devkit", "run", "--fleet-stdin", *args]
        if prelude is not None:  # Python to run before devkit's main (a bug, planted)
            script = f"import sys\n{prelude}\nfrom devkit.__main__ import main\nsys.exit(main())"
            command = [sys.executable, "-c", script, "run", "--fleet-stdin", *args]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )

    def send(self, line: bytes | dict[str, object]) -> None:
        assert self.proc.stdin is not None
        data = line if isinstance(line, bytes) else json.dumps(line).encode() + b"\n"
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def hang_up(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def finish(self, timeout: float = 60) -> tuple[int, list[dict[str, object]], str]:
        """Exit code, events (every stdout line must be one), stderr; the channel stays
        open until devkit exits (unless hang_up closed it)."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out = self.proc.stdout.read()  # to EOF: devkit has exited
        err = self.proc.stderr.read()
        self.proc.wait(timeout=timeout)
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        events = [json.loads(line) for line in out.decode().splitlines()]
        return self.proc.returncode, events, err.decode()

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Callable[..., Remote]]:
    started: list[Remote] = []

    def start(args: list[str] = [], prelude: str | None = None) -> Remote:  # noqa: B006
        started.append(Remote(tmp_path / "cache", args, prelude))
        return started[-1]

    yield start
    for one in started:
        one.close()


def runs_folder(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "devkit" / "runs"


DEPLOY = """\
secrets: [DB_PASSWORD]
tasks:
  deploy:
    - echo "on {{ host.name }} ({{ host.groups.1 }}) in {{ vars.app_dir }} x{{ vars.workers }}"
    - run: printf 'pw=%s\\n' "$DB_PASSWORD"; cat lib/data.txt
    - name: reads nothing
      run: cat; echo "read, done"
    - name: even with stdin
      stdin: true
      run: cat; echo "stdin, done"
"""


def test_fleet_run_streams_events_and_reuses_its_folder(
    remote: Callable[..., Remote], tmp_path: Path
) -> None:
    runs = runs_folder(tmp_path)
    runs.mkdir(parents=True)
    old, recent = runs / ("0" * 64), runs / ("1" * 64)
    for folder, days in ((old, 31), (recent, 29)):
        folder.mkdir()
        os.utime(folder, (time.time() - days * 86400,) * 2)
    files = {"deploy.yaml": DEPLOY, "lib/data.txt": "data line\n"}
    sent = request(files, secrets={"DB_PASSWORD": "hunter2-s3cret"})
    one = remote()
    one.send(sent)  # the channel stays open: `cat` steps must not wait on it
    code, events, err = one.finish()
    assert code == 0, events[-1]["document"]["errors"]  # type: ignore[index]
    assert err == ""
    kinds = [event["event"] for event in events]
    assert kinds[0] == "task_started" and kinds[-2:] == ["task_finished", "result"]
    texts = [e["text"] for e in events if e["event"] == "output"]
    assert texts == [
        "on web01 (prod) in /srv/app x4",
        "pw=***\ndata line",
        "read, done",
        "stdin, done",
    ]
    result = events[-1]
    assert result["exit_code"] == 0 and result["document"]["ok"] is True  # type: ignore[index]
    assert "hunter2-s3cret" not in json.dumps(events)
    # the folder: named by the files, private, pruned of what nobody used for 30 days
    (folder,) = [p for p in runs.iterdir() if p not in (old, recent)]
    canonical = json.dumps(sent["files"], sort_keys=True, separators=(",", ":"))
    assert folder.name == hashlib.sha256(canonical.encode()).hexdigest()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "lib" / "data.txt").read_text() == "data line\n"
    assert not old.exists() and recent.exists()
    # a second run reuses it (and its state), and marks it used
    os.utime(folder, (time.time() - 10 * 86400,) * 2)
    again = remote(["deploy"])
    again.send(sent)
    code, events, _ = again.finish()
    assert code == 0, events[-1]
    assert sorted(runs.iterdir()) == sorted([folder, recent])
    assert time.time() - folder.stat().st_mtime < 3600


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"not json\n", "not JSON"),
        (json.dumps(request({"../up.yaml": "tasks: {}"})).encode() + b"\n", "'../up.yaml'"),
        (b"", "stdin ended"),
    ],
)
def test_bad_input_is_a_result_event_not_a_traceback(
    remote: Callable[..., Remote], line: bytes, expected: str
) -> None:
    one = remote()
    one.send(line)
    one.hang_up()
    code, events, err = one.finish()
    assert code == 2 and err == ""
    (result,) = events
    (error,) = result["document"]["errors"]  # type: ignore[index]
    assert error["code"] == "invalid_input" and expected in error["message"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"protocol": 2}, "protocol 2"),
        ({"recipe": "other.yaml"}, "'recipe' must name"),
        ({"files": {"/etc/x.yaml": ""}}, "'/etc/x.yaml'"),
        ({"files": {"a\0.yaml": ""}}, "is not a relative path"),
        ({"files": {"a/./b.yaml": ""}}, "is not a relative path"),
        ({"host": {"groups": []}}, "host.name"),
        ({"secrets": {"A": 1}}, "'secrets'"),
        ({"files": {"devkit.yaml": "!!"}}, "not base64"),
    ],
)
def test_request_is_checked(change: dict[str, object], expected: str) -> None:
    from devkit.fleet.remote import decoded_files, parse_request

    document = {**request({"devkit.yaml": "tasks: {}"}), **change}
    if "files" in change and "recipe" not in change:
        document["recipe"] = next(iter(change["files"]))  # type: ignore[call-overload]
    with pytest.raises(InvalidInput, match=re.escape(expected)):
        decoded_files(parse_request(json.dumps(document).encode()))


def test_recipe_invalid_on_the_host_names_key_and_host(remote: Callable[..., Remote]) -> None:
    one = remote()
    one.send(request({"devkit.yaml": "tasks:\n  a:\n    - echo {{ vars.nope }}\n"}))
    code, events, err = one.finish()
    assert code == 2 and err == ""
    (result,) = events
    (error,) = result["document"]["errors"]  # type: ignore[index]
    (diagnostic,) = error["details"]["diagnostics"]
    assert diagnostic["file"] == "devkit.yaml" and diagnostic["line"] == 3
    assert "'nope'" in diagnostic["message"] and "host web01" in diagnostic["message"]


def test_failed_step_exit_code_and_output_tail(remote: Callable[..., Remote]) -> None:
    one = remote()
    recipe_text = "tasks:\n  a:\n    - echo one; echo two; exit 7\n"
    one.send(request({"devkit.yaml": recipe_text}))
    code, events, _ = one.finish()
    assert code == 7
    finished = [e for e in events if e["event"] == "step_finished"]
    assert finished[0]["status"] == "failed" and finished[0]["exit_code"] == 7
    (error,) = events[-1]["document"]["errors"]  # type: ignore[index]
    assert error["code"] == "step_failed" and error["details"]["output_tail"] == ["one", "two"]


def test_internal_error_is_exit_3_with_a_result_event(remote: Callable[..., Remote]) -> None:
    prelude = (
        "import devkit.fleet.remote as remote\n"
        "def broken(line): raise RuntimeError('planted bug')\n"
        "remote.parse_request = broken"
    )
    one = remote(prelude=prelude)
    one.send(request({"devkit.yaml": "tasks: {a: [echo]}"}))
    code, events, err = one.finish()
    assert code == 3 and err == ""
    (result,) = events
    (error,) = result["document"]["errors"]  # type: ignore[index]
    assert error["code"] == "internal_error" and "planted bug" in error["message"]


def test_controller_gone_stops_the_step_runs_finally_and_exits_129(
    remote: Callable[..., Remote], tmp_path: Path
) -> None:
    """EOF on stdin mid-step: the step's whole process group is stopped, `finally:`
    runs, the result event is still the last line; no secret was ever in an argv."""
    marks = tmp_path / "marks"
    marks.mkdir()
    recipe_text = textwrap.dedent(
        f"""\
        secrets: [DB_PASSWORD]
        tasks:
          deploy:
            steps:
              - run: |
                  sleep 300 &
                  echo $! > {marks}/child
                  echo "$DB_PASSWORD" | wc -c > {marks}/started
                  wait
              - echo never
            finally:
              - echo cleaned > {marks}/finally
        """
    )
    one = remote()
    one.send(request({"devkit.yaml": recipe_text}, secrets={"DB_PASSWORD": "pw-in-argv?"}))
    wait_for_file(marks / "started")
    child = int(wait_for_file(marks / "child"))
    for pid in [one.proc.pid, *descendants(one.proc.pid)]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            assert b"pw-in-argv?" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    one.hang_up()
    code, events, err = one.finish()
    assert code == 129, events[-1]
    assert err == ""
    assert (marks / "finally").read_text() == "cleaned\n"
    assert wait_gone(child)
    result = events[-1]
    assert result["event"] == "result" and result["exit_code"] == 129
    (error,) = result["document"]["errors"]  # type: ignore[index]
    assert error["code"] == "interrupted" and error["details"]["signal"] == "SIGHUP"
    assert not any(e.get("text") == "never" for e in events)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found
