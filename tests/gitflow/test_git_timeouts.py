"""Timeouts of git's network commands without `ps` or `pgrep` on PATH: devkit stops
the whole process group of a git that hangs (git and its `git remote-http`) itself."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitflow.holdgit import HeldRun, assert_same, start_held, state
from tests.gitrepos import git, make_remote
from tests.proctools import path_without, processes_with


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


def test_fetch_from_a_server_that_never_answers_times_out_without_ps(
    tmp_path: Path, black_hole: int, runs: list[HeldRun]
) -> None:
    remote = make_remote(tmp_path / "net")
    clone = remote.clone("me")
    marker = f"blackhole-{uuid.uuid4().hex[:10]}"
    git(clone, "remote", "set-url", "origin", f"http://127.0.0.1:{black_hole}/{marker}.git")
    before = state(clone)
    limited = path_without(tmp_path, "ps", "pgrep")
    start = time.monotonic()
    run = start_held(
        ["sync", "--mode", "ff-only", "--json", str(clone)],
        root=tmp_path,
        hold="",
        env={"DEVKIT_GIT_TIMEOUT": "2"},
        path=limited,
    )
    runs.append(run)
    out, err = run.finish(timeout=60)
    took = time.monotonic() - start
    assert took < 20, f"devkit took {took:.1f} s"
    assert run.process.returncode == 1, (out, err)
    assert '"code": "git_timeout"' in out
    assert "within 2 s" in out
    assert processes_with(marker) == []  # no `git remote-http ... URL` left
    assert run.leftovers() == []
    assert_same(before, clone)


def test_conflicts_fetch_times_out_the_same_way(
    tmp_path: Path, black_hole: int, runs: list[HeldRun]
) -> None:
    remote = make_remote(tmp_path / "net")
    clone = remote.clone("me")
    marker = f"blackhole-{uuid.uuid4().hex[:10]}"
    git(clone, "remote", "set-url", "origin", f"http://127.0.0.1:{black_hole}/{marker}.git")
    start = time.monotonic()
    run = start_held(
        ["conflicts", "--json"],
        root=tmp_path,
        hold="",
        env={"DEVKIT_GIT_TIMEOUT": "1"},
        path=path_without(tmp_path, "ps", "pgrep"),
        cwd=clone,
    )
    runs.append(run)
    out, err = run.finish(timeout=60)
    assert time.monotonic() - start < 20
    assert run.process.returncode == 1, (out, err)
    assert '"code": "git_timeout"' in out
    assert processes_with(marker) == []
    assert run.leftovers() == []
