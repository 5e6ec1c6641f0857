"""SIGKILL (and SIGTERM) at every git command of a sync's move: the work is never lost.

The move (record the snapshot, write the journal, move files and index, move the
branch, remove the journal) runs a fixed sequence of git commands. A `git` wrapper
(tests/gitflow/holdgit.py) first logs that sequence, so a test can check that the kill
points below are exactly every git command of the move, in order; then, for each
point, it holds that command, kills devkit there and asserts with the git binary and
file bytes: either the repository is exactly as before (HEAD, branches, index entries
and stages, every file byte, untracked files, stashes, worktrees), or the next
`devkit sync` reports `sync_incomplete` and `devkit undo` puts back exactly that state.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.clirun import run_devkit
from tests.gitflow.holdgit import HeldRun, logged_calls, start_held, state, subcommand
from tests.gitflow.scenarios import build_templates, copy_scenario

USER_KEYS = (
    "head",
    "symbolic_head",
    "branches",
    "index",
    "index_tree_status",
    "files",
    "stash",
    "worktrees",
    "in_progress",
)
EXIT = {signal.SIGKILL: -signal.SIGKILL, signal.SIGTERM: 143}


@dataclass(frozen=True)
class Mode:
    name: str
    scenario: str
    args: tuple[str, ...]
    points: tuple[tuple[str, str | None], ...]  # (SUBCOMMAND[:N], argument) in move order


# The nth is counted over the whole sync among calls that carry the argument (as the
# wrapper counts them): classify runs `rev-parse --symbolic-full-name` once before.
TWO_TREES = (
    ("update-ref:1", None),  # record the snapshot's ref
    ("read-tree", "-u"),  # files and index, old tip -> new tip
    ("update-ref", "--stdin"),  # the branch and the `left` ref, one transaction
    ("rev-parse:2", "--symbolic-full-name"),  # HEAD is on the branch at the new tip
)
CARRIED = (
    ("update-ref:1", None),
    ("read-tree", "--reset"),  # files: new tip plus the local changes
    ("read-tree", "-m"),  # the index with the staged changes carried over
    ("update-index", "--refresh"),
    ("update-ref", "--stdin"),
    ("rev-parse:2", "--symbolic-full-name"),
)
MODES = {
    "rebase": Mode("rebase", "plain", ("--mode", "rebase"), TWO_TREES),
    "autostash": Mode("autostash", "overlap", ("--mode", "rebase", "--autostash"), CARRIED),
    "merge": Mode("merge", "plain", ("--mode", "merge"), TWO_TREES),
    "merge-autostash": Mode(
        "merge-autostash", "overlap", ("--mode", "merge", "--autostash"), CARRIED
    ),
    "ff": Mode("ff", "behind", ("--mode", "ff-only", "--autostash"), CARRIED),
}
DEFAULT_MODES = ("rebase", "autostash")


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_templates(tmp_path_factory)


def _sync(
    runs: list[HeldRun], clone: Path, tmp_path: Path, mode: Mode, hold: str, arg: str | None
) -> HeldRun:
    run = start_held(
        ["sync", "--json", *mode.args, str(clone)],
        root=tmp_path,
        hold=hold,
        hold_arg=arg,
        env={"DEVKIT_TEST_LOG": str(tmp_path / "calls.log")},
    )
    runs.append(run)
    return run


def _held_index(calls: list[list[str]], hold: str, arg: str | None) -> int:
    """Which logged call the wrapper holds for SUBCOMMAND[:N] and an argument."""
    wanted, _, nth = hold.partition(":")
    matching = [
        i
        for i, call in enumerate(calls)
        if subcommand(call) == wanted and (arg is None or arg in call)
    ]
    return matching[int(nth or 1) - 1]


@pytest.mark.parametrize(
    "name",
    [
        name if name in DEFAULT_MODES else pytest.param(name, marks=pytest.mark.slow)
        for name in MODES
    ],
)
def test_the_kill_points_are_every_git_command_of_the_move(
    templates: dict[str, Path], tmp_path: Path, runs: list[HeldRun], name: str
) -> None:
    mode = MODES[name]
    clone, _ = copy_scenario(templates[mode.scenario], tmp_path)
    run = _sync(runs, clone, tmp_path, mode, "none", None)
    out, err = run.finish(timeout=60)
    assert run.process.returncode == 0, (out, err)
    calls = logged_calls(tmp_path / "calls.log")
    subcommands = [subcommand(call) for call in calls]
    # The move starts when the snapshot gets its ref and ends before the push, or (when
    # there is nothing to push) before old snapshots are pruned.
    start = _held_index(calls, "update-ref:1", None)
    after = [i for i in range(start, len(calls)) if subcommands[i] in ("push", "for-each-ref")]
    end = after[0] if after else len(calls)
    held = [_held_index(calls, hold, arg) for hold, arg in mode.points]
    assert held == list(range(start, end)), [calls[i] for i in range(start, end)]


def _kill_cases(modes: tuple[str, ...], signums: tuple[int, ...]) -> list[object]:
    return [
        pytest.param(
            name, hold, arg, signum, id=f"{name}-{hold}({arg})-{signal.Signals(signum).name}"
        )
        for name in modes
        for hold, arg in MODES[name].points
        for signum in signums
    ]


# By default: the points where index, files or branch have started to move, in the
# autostash move (where edits used to be lost) and in the two-tree move.
MOVING = ("read-tree", "update-index", "update-ref(--stdin)")
DEFAULT_CASES = [
    case
    for case in _kill_cases(DEFAULT_MODES, (signal.SIGKILL,))
    if any(point in str(case.id) for point in MOVING)  # type: ignore[attr-defined]
]
EVERY_CASE = [
    case
    for case in _kill_cases(tuple(MODES), (signal.SIGKILL, signal.SIGTERM))
    if case not in DEFAULT_CASES  # type: ignore[comparison-overlap]
]


def _kill_at(
    templates: dict[str, Path],
    tmp_path: Path,
    runs: list[HeldRun],
    name: str,
    hold: str,
    arg: str | None,
    signum: int,
    *,
    then_sync: bool,
) -> None:
    mode = MODES[name]
    clone, _ = copy_scenario(templates[mode.scenario], tmp_path)
    before = {key: value for key, value in state(clone).items() if key in USER_KEYS}
    run = _sync(runs, clone, tmp_path, mode, hold, arg)
    run.wait_held()
    if signum == signal.SIGKILL:
        # devkit hands a new child to its guard in one pipe write right after the fork;
        # the held wrapper may report itself before that write (see test_sync_signals).
        time.sleep(0.2)
    run.signal(signum)
    if signum != signal.SIGKILL:
        run.release()  # a critical section: the signal waits for the held git
    out, err = run.finish(timeout=60)
    assert run.process.returncode == EXIT[signum], (out, err)
    assert run.leftovers() == []
    after = {key: value for key, value in state(clone).items() if key in USER_KEYS}
    journal = clone / ".git" / "devkit" / "journal.json"
    if after == before and not journal.exists():
        return  # untouched, and the next sync runs normally
    # A kill after the journal was written: the next sync must say so, even when the
    # move had not changed anything yet.
    assert signum == signal.SIGKILL, "only a SIGKILL may leave the move half-done"
    again = run_devkit(["sync", "--json", *mode.args, str(clone)])
    assert again.returncode == 1, again.stdout
    error = json.loads(again.stdout)["errors"][0]
    assert error["code"] == "sync_incomplete"
    assert "devkit undo" in error["hint"]
    assert {k: v for k, v in state(clone).items() if k in USER_KEYS} == after  # refused
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, (undo.stdout, undo.stderr)
    restored = state(clone)
    changed = [key for key in USER_KEYS if restored[key] != before[key]]
    assert changed == [], {key: (before[key], restored[key]) for key in changed}
    assert not journal.exists()
    if then_sync:
        # And the sync then completes.
        final = run_devkit(["sync", "--json", *mode.args, str(clone)])
        assert final.returncode == 0, final.stdout
        if mode.scenario != "plain":
            assert (clone / "app.txt").read_bytes() == b"1\nTHEIRS\n3\n4\nMINE\n"


@pytest.mark.parametrize(("name", "hold", "arg", "signum"), DEFAULT_CASES)
def test_a_kill_during_the_move_never_loses_work(
    templates: dict[str, Path],
    tmp_path: Path,
    runs: list[HeldRun],
    name: str,
    hold: str,
    arg: str | None,
    signum: int,
) -> None:
    # Re-running the sync after the undo once per mode is enough.
    _kill_at(templates, tmp_path, runs, name, hold, arg, signum, then_sync=hold == "read-tree")


@pytest.mark.slow
@pytest.mark.parametrize(("name", "hold", "arg", "signum"), EVERY_CASE)
def test_every_mode_and_signal_during_the_move_never_loses_work(
    templates: dict[str, Path],
    tmp_path: Path,
    runs: list[HeldRun],
    name: str,
    hold: str,
    arg: str | None,
    signum: int,
) -> None:
    _kill_at(templates, tmp_path, runs, name, hold, arg, signum, then_sync=True)


def test_after_a_kill_every_command_names_the_incomplete_sync(
    templates: dict[str, Path], tmp_path: Path, runs: list[HeldRun]
) -> None:
    mode = MODES["autostash"]
    clone, _ = copy_scenario(templates[mode.scenario], tmp_path)
    before = {key: value for key, value in state(clone).items() if key in USER_KEYS}
    run = _sync(runs, clone, tmp_path, mode, "read-tree", "-m")  # files moved, not the index
    run.wait_held()
    time.sleep(0.2)
    run.signal(signal.SIGKILL)
    run.finish(timeout=30)
    assert (clone / "app.txt").read_bytes() == b"1\nTHEIRS\n3\n4\nMINE\n"
    for args in (
        ["stage", "--json", "--all"],
        ["commit", "--json", "-m", "on top of a half-moved tree"],
        ["conflicts", "--json", "--no-fetch"],
    ):
        refused = run_devkit(args, cwd=clone)
        assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
        assert json.loads(refused.stdout)["errors"][0]["code"] == "sync_incomplete", args
    undo = run_devkit(["undo", str(clone)])
    assert undo.returncode == 0, undo.stderr
    assert {key: value for key, value in state(clone).items() if key in USER_KEYS} == before


def test_an_undo_killed_half_way_is_finished_by_the_next_undo(
    templates: dict[str, Path], tmp_path: Path, runs: list[HeldRun]
) -> None:
    mode = MODES["autostash"]
    clone, _ = copy_scenario(templates[mode.scenario], tmp_path)
    before = {key: value for key, value in state(clone).items() if key in USER_KEYS}
    synced = run_devkit(["sync", "--json", *mode.args, str(clone)])
    assert synced.returncode == 0, synced.stdout
    # The undo's third `cat-file --batch` reads the index file to put back: the files
    # are restored by then, the index not yet.
    run = start_held(
        ["undo", "--json", str(clone)], root=tmp_path, hold="cat-file:3", hold_arg="--batch"
    )
    runs.append(run)
    run.wait_held()
    time.sleep(0.2)
    run.signal(signal.SIGKILL)
    run.finish(timeout=30)
    again = run_devkit(["sync", "--json", *mode.args, str(clone)])
    assert json.loads(again.stdout)["errors"][0]["code"] == "sync_incomplete"
    undo = run_devkit(["undo", "--json", str(clone)])
    assert undo.returncode == 0, undo.stdout
    assert {key: value for key, value in state(clone).items() if key in USER_KEYS} == before
