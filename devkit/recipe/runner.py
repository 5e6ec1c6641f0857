"""Run a validated recipe: tasks once each in dependency order (optionally in
parallel), steps through the step registry, retries, conditions, loops, locks,
up-to-date skipping, cleanup (`on_failure`, `finally`) and Ctrl-C handling.

Core code: nothing here prints. Everything the user sees goes through the
RunObserver, already masked; the optional log gets the same, with timestamps.
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from devkit.errors import DevkitError, ExitCode, InvalidInput
from devkit.recipe.fields import did_you_mean
from devkit.recipe.mask import LineSplitter, Masker
from devkit.recipe.model import Recipe, Step, Task
from devkit.recipe.process import Interruption, become_subreaper, run_in_group
from devkit.recipe.report import RunReport, StepRecord, TaskRecord
from devkit.recipe.state import StateStore, task_lock
from devkit.recipe.steps import REGISTRY, StepOutcome, bash_prefix
from devkit.recipe.template import parse_template, render_plain, render_shell
from devkit.recipe.validate import recipe_scope
from devkit.recipe.vars import Scope

# Cleanup steps (on_failure, finally) without a timeout of their own get this one, so
# that a hung cleanup cannot keep an interrupted run alive for ever.
CLEANUP_TIMEOUT = 300.0


class RunObserver(Protocol):
    """Receives what happens, as it happens (strings already masked)."""

    def task_started(self, task: str) -> None: ...

    def step_started(self, task: str, label: str) -> None: ...

    def output(self, task: str, line: str) -> None: ...

    def step_finished(self, record: StepRecord) -> None: ...

    def task_finished(self, record: TaskRecord) -> None: ...

    def note(self, task: str | None, text: str) -> None: ...

    def confirm(self, question: str) -> bool: ...


@dataclass(frozen=True)
class RunOptions:
    tasks: tuple[str, ...] = ()
    cli_vars: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    force: bool = False
    assume_yes: bool = False
    can_confirm: bool = False
    jobs: int | None = None
    log: TextIO | None = None


def platform_name() -> str:
    return {"win32": "windows", "cygwin": "windows"}.get(
        sys.platform, sys.platform.rstrip("0123456789")
    )


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


class _Failure(Exception):
    """A task cannot go on (lock held, requirement not met, declined)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class Runner:
    def __init__(
        self,
        recipe: Recipe,
        options: RunOptions,
        observer: RunObserver,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.recipe = recipe
        self.options = options
        self.observer = observer
        self.environ = dict(os.environ if environ is None else environ)
        self.environment = {**self.environ, **recipe.dotenv_values}
        self.interruption = Interruption()
        self.state = StateStore(recipe.path)
        self.records: dict[str, TaskRecord] = {}
        self.order: list[str] = []
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._emit_lock = threading.RLock()
        self.failure: str | None = None
        self.failure_code = 0
        self._in_process_main = False
        self.run_dir: str | None = None
        self.masker = Masker(self._secret_values())

    # -- set-up ---------------------------------------------------------------------

    def _secret_values(self) -> list[str]:
        missing = [name for name in self.recipe.secrets if name not in self.environment]
        if missing:
            raise InvalidInput(
                f"secret {', '.join(missing)} is not set in the environment",
                code="missing_secret",
                hint="export it (or put it in the recipe's dotenv file) before running",
            )
        return [self.environment[name] for name in self.recipe.secrets]

    def requested_tasks(self) -> tuple[str, ...]:
        names = self.options.tasks
        if not names:
            default = self.recipe.default_task()
            if default is None:
                raise InvalidInput(
                    f"{self.recipe.name} has several tasks and no 'default'",
                    code="no_task",
                    hint=f"name one: {', '.join(self.recipe.tasks)} (or see --list)",
                )
            names = (default,)
        for name in names:
            if name not in self.recipe.tasks:
                raise InvalidInput(
                    f"unknown task {name!r} in {self.recipe.name}"
                    + did_you_mean(name, list(self.recipe.tasks)),
                    code="unknown_task",
                    hint="see 'devkit run RECIPE --list'",
                )
        return names

    def plan(self, names: Sequence[str]) -> list[str]:
        """Every task the run may reach (needs and task steps), dependencies first."""
        seen: dict[str, None] = {}

        def visit(name: str) -> None:
            if name in seen:
                return
            task = self.recipe.tasks[name]
            for need in task.needs:
                visit(str(need))
            for step in (*task.steps, *task.on_failure, *task.finally_):
                if step.kind == "task":
                    visit(str(step.value))
            seen[name] = None

        for name in names:
            visit(name)
        return list(seen)

    def scope(self, task: Task | None) -> Scope:
        return recipe_scope(
            self.recipe,
            cli_vars=self.options.cli_vars,
            environ=self.environ,
            task=task,
            run_dir=self.run_dir,
        )

    # -- the run --------------------------------------------------------------------

    def run(self) -> RunReport:
        started = time.monotonic()
        names = self.requested_tasks()
        planned = self.plan(names)
        if not self.options.dry_run and not self.options.assume_yes:
            asking = [n for n in planned if self.recipe.tasks[n].confirm]
            if asking and not self.options.can_confirm:
                raise InvalidInput(
                    f"task {asking[0]!r} asks for confirmation and there is no terminal",
                    code="confirmation_required",
                    hint="run it from a terminal, or pass --yes",
                )
        become_subreaper()
        import shutil
        import tempfile

        self.run_dir = tempfile.mkdtemp(prefix="devkit-run-")
        try:
            with self._signals():
                for name in names:
                    record = self.ensure_task(name)
                    if not record.ok or self.interruption.count:
                        break
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        interrupted = self.interruption.count > 0
        if interrupted:
            exit_code = int(ExitCode.INTERRUPTED)
            self.failure = self.failure or "interrupted"
        else:
            exit_code = self.failure_code if self.failure else 0
        variables = {}
        with contextlib.suppress(DevkitError, KeyError, ValueError):
            variables = {k: self.masker.text(v) for k, v in self.scope(None).resolved().items()}
        return RunReport(
            recipe=self.recipe.name,
            requested=names,
            tasks=tuple(self.records[name] for name in self.order),
            exit_code=exit_code,
            interrupted=interrupted,
            dry_run=self.options.dry_run,
            duration=time.monotonic() - started,
            failure=self.failure,
            vars=variables if self.options.dry_run else {},
        )

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            self.interruption.press(signum)
            self._log(None, f"received {signal.Signals(signum).name}: stopping")
            if self._in_process_main:
                raise KeyboardInterrupt

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _fail(self, message: str, exit_code: int) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = self.masker.text(message)
                self.failure_code = exit_code or 1

    # -- output -----------------------------------------------------------------------

    def _log(self, task: str | None, text: str) -> None:
        log = self.options.log
        if log is None:
            return
        stamp = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        prefix = f"[{task}] " if task else ""
        text = text.replace("\n", "\n    ")
        with self._emit_lock:
            log.write(f"{stamp} {prefix}{text}\n")
            log.flush()

    def note(self, task: str | None, text: str) -> None:
        text = self.masker.text(text)
        with self._emit_lock:
            self._log(task, text)
            self.observer.note(task, text)

    def output(self, task: str, line: str) -> None:
        # `line` is already masked by the stream masker.
        with self._emit_lock:
            self._log(task, f"| {line}")
            self.observer.output(task, line)

    # -- tasks ------------------------------------------------------------------------

    def ensure_task(self, name: str) -> TaskRecord:
        """Run a task unless it already ran (or is running) in this invocation."""
        with self._lock:
            done = self.records.get(name)
            if done is not None:
                return done
            event = self._running.get(name)
            mine = event is None
            if mine:
                event = self._running[name] = threading.Event()
        assert event is not None
        if not mine:
            while not event.wait(0.1):
                pass
            return self.records[name]
        record = TaskRecord(name, "failed", 1, message="internal error")
        try:
            record = self._run_task(self.recipe.tasks[name])
        finally:
            with self._lock:
                self.records[name] = record
                self.order.append(name)
                self._running.pop(name)
            event.set()
        return record

    def _run_needs(self, task: Task) -> TaskRecord | None:
        """Run the task's needs; the first one that did not succeed, if any."""
        needs = [str(n) for n in task.needs]
        if not task.parallel or len(needs) < 2:
            for need in needs:
                record = self.ensure_task(need)
                if not record.ok:
                    return record
                if self.interruption.count:
                    return None
            return None
        jobs = self.options.jobs or len(needs)
        with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="task") as pool:
            futures = {pool.submit(self._needed, need): need for need in needs}
            pending = set(futures)
            while pending:
                # A short wait keeps the main thread free to handle Ctrl-C.
                _, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
        records = [f.result() for f in futures]
        return next((r for r in records if r is not None and not r.ok), None)

    def _needed(self, name: str) -> TaskRecord | None:
        if self.failure is not None or self.interruption.count:
            return None  # something already failed: start nothing new
        return self.ensure_task(name)

    def _run_task(self, task: Task) -> TaskRecord:
        started = time.monotonic()
        failed_need = self._run_needs(task)
        if failed_need is not None or (self.interruption.count and not self.options.dry_run):
            status = "interrupted" if self.interruption.count else "blocked"
            reason = f"needed task '{failed_need.name}' failed" if failed_need else "interrupted"
            record = TaskRecord(
                task.name, status, failed_need.exit_code if failed_need else 130, message=reason
            )
            self._task_finished(record)
            return record
        if task.platforms and platform_name() not in task.platforms:
            record = TaskRecord(task.name, "skipped", message=f"not on {platform_name()}")
            self._task_finished(record)
            return record
        with self._emit_lock:
            self._log(task.name, "task started")
            self.observer.task_started(task.name)
        scope = self.scope(task)
        try:
            env = self._task_env(task, scope)
            with self._task_lock(task, scope):
                record = self._run_task_body(task, scope, env, started)
        except _Failure as failure:
            self._fail(
                f"{task.position}: task '{task.name}' failed: {failure.message}", failure.exit_code
            )
            record = TaskRecord(
                task.name,
                "failed",
                failure.exit_code,
                time.monotonic() - started,
                self.masker.text(failure.message),
            )
        self._task_finished(record)
        return record

    def _task_finished(self, record: TaskRecord) -> None:
        with self._emit_lock:
            self._log(
                record.name,
                f"task {record.status}" + (f": {record.message}" if record.message else ""),
            )
            self.observer.task_finished(record)

    @contextlib.contextmanager
    def _task_lock(self, task: Task, scope: Scope) -> Iterator[None]:
        if task.lock is None or self.options.dry_run:
            yield
            return
        path = self._path(render_plain(parse_template(str(task.lock.path)), scope.lookup))
        try:
            with task_lock(
                path,
                wait=task.lock.wait,
                interrupted=lambda: self.interruption.count > 0,
                on_wait=lambda text: self.note(task.name, text),
            ):
                yield
        except DevkitError as error:
            raise _Failure(error.message, int(error.exit_code)) from None

    def _task_env(self, task: Task, scope: Scope) -> dict[str, str]:
        env = dict(self.environment)
        for values in (self.recipe.env, task.env):
            for key, value in values.items():
                env[key] = render_plain(parse_template(str(value)), scope.lookup)
        return env

    def _run_task_body(
        self, task: Task, scope: Scope, env: dict[str, str], started: float
    ) -> TaskRecord:
        dry = self.options.dry_run
        sources = [render_plain(parse_template(str(s)), scope.lookup) for s in task.sources]
        outputs = [render_plain(parse_template(str(s)), scope.lookup) for s in task.outputs]
        if (
            sources
            and not self.options.force
            and self.state.is_up_to_date(task.name, sources, outputs)
        ):
            return TaskRecord(
                task.name,
                "up_to_date",
                0,
                time.monotonic() - started,
                "sources and outputs unchanged (--force runs it anyway)",
            )
        if not dry:
            if task.confirm and not self.options.assume_yes:
                with self._emit_lock:
                    answer = self.observer.confirm(self.masker.text(task.confirm))
                if not answer:
                    raise _Failure("not confirmed", 1)
            for require in task.requires:
                command = render_shell(parse_template(str(require.check)), scope.lookup)
                outcome = self._quiet(task, [*bash_prefix(), command], env)
                if outcome.exit_code != 0:
                    raise _Failure(require.message, 1)
        records: list[StepRecord] = []
        failed = self._run_steps(task, task.steps, scope, env, "steps", records)
        interrupted = self.interruption.count > 0
        if (failed is not None or interrupted) and task.on_failure:
            self._run_steps(task, task.on_failure, scope, env, "on_failure", records)
        if task.finally_:
            # A failing cleanup fails a task that had succeeded so far.
            cleanup = self._run_steps(task, task.finally_, scope, env, "finally", records)
            failed = failed or cleanup
        duration = time.monotonic() - started
        if dry:
            return TaskRecord(task.name, "planned", 0, duration, steps=tuple(records))
        if failed is not None:
            return TaskRecord(
                task.name, "failed", failed.exit_code, duration, failed.message, tuple(records)
            )
        if interrupted:
            return TaskRecord(
                task.name, "interrupted", 130, duration, "interrupted", tuple(records)
            )
        if sources:
            self.state.record(task.name, sources, outputs)
        return TaskRecord(task.name, "ok", 0, duration, steps=tuple(records))

    # -- steps ------------------------------------------------------------------------

    def _run_steps(
        self,
        task: Task,
        steps: Sequence[Step],
        scope: Scope,
        env: dict[str, str],
        phase: str,
        records: list[StepRecord],
    ) -> StepRecord | None:
        """Run steps in order; the record of the step that failed the task, if any.
        Regular steps stop at the first failure; cleanup steps all run."""
        first_failure: StepRecord | None = None
        for step in steps:
            if phase == "steps" and self.interruption.count:
                return None
            failed = self._run_step(task, step, scope, env, phase, records)
            if failed is not None and phase == "steps":
                return failed
            first_failure = first_failure or failed
        return first_failure

    def _items(self, step: Step, scope: Scope, cwd: Path) -> list[str | None]:
        if step.loop is None:
            return [None]
        if isinstance(step.loop, tuple):
            return [render_plain(parse_template(str(t)), scope.lookup) for t in step.loop]
        pattern = render_plain(parse_template(str(step.loop)), scope.lookup)
        full = pattern if os.path.isabs(pattern) else os.path.join(cwd, pattern)
        matches = sorted(glob.glob(full, recursive=True))
        if os.path.isabs(pattern):
            return list(matches)
        return [os.path.relpath(m, cwd) for m in matches]

    def _run_step(
        self,
        task: Task,
        step: Step,
        scope: Scope,
        env: dict[str, str],
        phase: str,
        records: list[StepRecord],
    ) -> StepRecord | None:
        kind = REGISTRY[step.kind]
        label_base = None
        if step.name is not None:
            with contextlib.suppress(KeyError, ValueError):
                label_base = self.masker.text(render_plain(parse_template(step.name), scope.lookup))
        if step.platforms and platform_name() not in step.platforms:
            record = StepRecord(
                task.name,
                label_base or step.kind,
                step.position,
                "skipped",
                message=f"not on {platform_name()}",
                phase=phase,
            )
            self._step_finished(record, records)
            return None
        try:
            cwd = (
                self._path(render_plain(parse_template(str(step.cwd)), scope.lookup))
                if step.cwd
                else self.recipe.directory
            )
            items = self._items(step, scope, cwd)
        except (KeyError, ValueError) as error:
            return self._broken(task, step, phase, records, f"cannot resolve the step: {error}")
        if not items:
            self.note(task.name, f"{label_base or step.kind}: 'for' matched nothing")
        for item in items:
            if phase == "steps" and self.interruption.count:
                return None
            ctx = _StepContext(self, task, step, scope.with_item(item), env, cwd, phase)
            try:
                command = self.masker.text(kind.describe(step, ctx))
            except (KeyError, ValueError) as error:
                return self._broken(task, step, phase, records, f"cannot resolve the step: {error}")
            label = label_base or self.masker.text(_summary(_source_text(step)))
            if item is not None:
                label = f"{label} [{self.masker.text(item)}]"
            if self.options.dry_run:
                record = StepRecord(
                    task.name,
                    label,
                    step.position,
                    "planned",
                    item=item,
                    command=command,
                    phase=phase,
                )
                self._step_finished(record, records)
                continue
            if step.condition is not None:
                check = render_shell(parse_template(str(step.condition)), ctx.scope.lookup)
                result = self._quiet(
                    task, [*bash_prefix(), check], ctx.env(), cwd=cwd, timeout=ctx.timeout()
                )
                if result.exit_code != 0:
                    record = StepRecord(
                        task.name,
                        label,
                        step.position,
                        "skipped",
                        item=item,
                        message=f"condition exited {result.exit_code}",
                        command=command,
                        phase=phase,
                    )
                    self._step_finished(record, records)
                    continue
            record = self._attempts(task, step, ctx, label, command, item, phase)
            self._step_finished(record, records)
            if record.status == "failed":
                return record
        return None

    def _broken(
        self, task: Task, step: Step, phase: str, records: list[StepRecord], message: str
    ) -> StepRecord:
        record = StepRecord(
            task.name,
            step.name or step.kind,
            step.position,
            "failed",
            1,
            message=self.masker.text(message),
            phase=phase,
        )
        self._fail(f"{step.position}: {message}", 1)
        self._step_finished(record, records)
        return record

    def _attempts(
        self,
        task: Task,
        step: Step,
        ctx: _StepContext,
        label: str,
        command: str,
        item: str | None,
        phase: str,
    ) -> StepRecord:
        kind = REGISTRY[step.kind]
        with self._emit_lock:
            self._log(task.name, f"▶ {label}: {command}")
            self.observer.step_started(task.name, label)
        started = time.monotonic()
        attempts = 0
        outcome = StepOutcome(1)
        for attempt in range(1, step.retry.attempts + 1):
            attempts = attempt
            in_main = kind.in_process and threading.current_thread() is threading.main_thread()
            try:
                if kind.in_process:
                    with _environment(ctx.env()):
                        # Ctrl-C raises KeyboardInterrupt only inside the built-in step.
                        self._in_process_main = in_main
                        try:
                            outcome = kind.execute(step, ctx)
                        finally:
                            self._in_process_main = False
                else:
                    outcome = kind.execute(step, ctx)
            except KeyboardInterrupt:
                outcome = StepOutcome(130, message="interrupted", interrupted=True)
            except (KeyError, ValueError) as error:
                outcome = StepOutcome(1, message=f"cannot resolve the step: {error}")
            if outcome.exit_code == 0 or outcome.interrupted or self.interruption.count:
                break
            if attempt < step.retry.attempts:
                delay = step.retry.delay_before(attempt + 1)
                self.note(
                    task.name,
                    f"{label}: attempt {attempt} failed (exit {outcome.exit_code});"
                    f" retrying in {_fmt_seconds(delay)}",
                )
                if self._sleep(delay):
                    break
        duration = time.monotonic() - started
        interrupted = outcome.interrupted or (
            outcome.exit_code != 0 and self.interruption.count > 0
        )
        message = self.masker.text(outcome.message) if outcome.message else None
        if outcome.exit_code == 0:
            status = "ok"
        elif interrupted:
            status = "interrupted"
        elif step.continue_on_error:
            status = "ignored"
        else:
            status = "failed"
        if status in ("failed", "ignored"):
            how = f"exit {outcome.exit_code}"
            if outcome.timed_out:
                how = f"timed out after {_fmt_seconds(ctx.timeout() or 0)} ({how})"
            elif outcome.exit_code > 128 and outcome.exit_code - 128 < 65:
                with contextlib.suppress(ValueError):
                    how += f", killed by {signal.Signals(outcome.exit_code - 128).name}"
            plural = "attempt" if attempts == 1 else "attempts"
            text = (
                f"{step.position}: step '{label}' in task '{task.name}' failed: {how} "
                f"after {attempts} {plural} ({_fmt_seconds(duration)})"
            )
            if message:
                text += f": {message}"
            message = self.masker.text(text)
            if status == "failed":
                self._fail(text, outcome.exit_code)  # keeps only the first failure
        data = self._masked(dict(outcome.data)) if outcome.data is not None else None
        return StepRecord(
            task.name,
            label,
            step.position,
            status,
            outcome.exit_code,
            attempts,
            duration,
            item,
            message,
            command,
            outcome.timed_out,
            phase,
            data,
        )

    def _masked(self, value: Any) -> Any:
        """A built-in step's result with secrets masked in every string."""
        if not self.masker.active:
            return value
        if isinstance(value, str):
            return self.masker.text(value)
        if isinstance(value, dict):
            return {key: self._masked(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._masked(item) for item in value]
        return value

    def _sleep(self, seconds: float) -> bool:
        """Sleep; True when interrupted meanwhile."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.interruption.count:
                return True
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
        return self.interruption.count > 0

    def _step_finished(self, record: StepRecord, records: list[StepRecord]) -> None:
        records.append(record)
        with self._emit_lock:
            mark = {"ok": "✓", "planned": "·", "skipped": "-"}.get(record.status, "✗")
            self._log(
                record.task,
                f"{mark} {record.name} {record.status} "
                f"(exit {record.exit_code}, {_fmt_seconds(record.duration)})"
                + (f": {record.message}" if record.message else ""),
            )
            self.observer.step_finished(record)

    def _quiet(
        self,
        task: Task,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path | None = None,
        timeout: float | None = None,
    ) -> StepOutcome:
        """A check (if:, requires:) whose output goes only to the log."""
        stream = self.masker.stream()
        lines = LineSplitter()

        def sink(data: bytes) -> None:
            for line in lines.feed(stream.feed(data)):
                self._log(task.name, f"  {line}")

        result = run_in_group(
            argv,
            cwd=cwd or self.recipe.directory,
            env=env,
            on_output=sink,
            interruption=self.interruption,
            grace=self.recipe.grace,
            timeout=timeout or task.timeout or self.recipe.timeout,
        )
        for line in lines.feed(stream.flush()) + lines.flush():
            self._log(task.name, f"  {line}")
        return StepOutcome(
            result.exit_code, timed_out=result.timed_out, interrupted=result.interrupted
        )

    def _path(self, text: str) -> Path:
        path = Path(os.path.expanduser(text))
        return path if path.is_absolute() else self.recipe.directory / path


# In-process (built-in) steps see the recipe's environment through os.environ, so
# they run one at a time, with the process environment swapped in and restored.
_ENVIRON_LOCK = threading.Lock()


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    with _ENVIRON_LOCK:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _source_text(step: Step) -> str:
    """The step as written (placeholders not filled in): a stable, short label."""
    value = step.value
    if isinstance(value, tuple):
        return " ".join(str(part) for part in value)
    text = str(value)
    return text if step.kind == "run" else f"{step.kind}: {text}"


def _summary(command: str) -> str:
    first = command.strip().splitlines()[0] if command.strip() else command
    if len(first) > 60:
        first = first[:57] + "..."
    elif "\n" in command.strip():
        first += " ..."
    return first


class _StepContext:
    """The StepContext the step registry sees for one item of one step."""

    def __init__(
        self,
        runner: Runner,
        task: Task,
        step: Step,
        scope: Scope,
        env: Mapping[str, str],
        cwd: Path,
        phase: str,
    ) -> None:
        self.runner = runner
        self.task = task
        self.step = step
        self.scope = scope
        self._env = env
        self.cwd = cwd
        self.phase = phase

    @property
    def base_dir(self) -> Path:
        return self.runner.recipe.directory

    def render(self, text: str, *, shell: bool = False) -> str:
        template = parse_template(str(text))
        if shell:
            return render_shell(template, self.scope.lookup)
        return render_plain(template, self.scope.lookup)

    def path(self, text: str) -> Path:
        return self.runner._path(text)

    def env(self) -> dict[str, str]:
        env = dict(self._env)
        for key, value in self.step.env.items():
            env[key] = self.render(value)
        return env

    def timeout(self) -> float | None:
        timeout = self.step.timeout or self.task.timeout or self.runner.recipe.timeout
        if timeout is None and self.phase != "steps":
            return CLEANUP_TIMEOUT
        return timeout

    def run_process(self, argv: Sequence[str], *, step: Step) -> StepOutcome:
        runner = self.runner
        stream = runner.masker.stream()
        lines = LineSplitter()
        task_name = self.task.name

        def sink(data: bytes) -> None:
            for line in lines.feed(stream.feed(data)):
                runner.output(task_name, line)

        def idle() -> None:
            # A prompt or a progress line without a newline: show it after a pause.
            if lines.partial and not stream.pending:
                for line in lines.flush():
                    runner.output(task_name, line)

        try:
            result = run_in_group(
                argv,
                cwd=self.cwd,
                env=self.env(),
                on_output=sink,
                interruption=runner.interruption,
                timeout=self.timeout(),
                grace=step.grace if step.grace is not None else runner.recipe.grace,
                stdin=step.stdin,
                on_idle=idle,
            )
        except OSError as error:
            return StepOutcome(127, message=f"cannot start {argv[0]!r}: {error.strerror or error}")
        finally:
            for line in lines.feed(stream.flush()) + lines.flush():
                runner.output(task_name, line)
        return StepOutcome(
            result.exit_code,
            timed_out=result.timed_out,
            interrupted=result.interrupted and not result.timed_out,
        )

    def run_task(self, name: str) -> StepOutcome:
        record = self.runner.ensure_task(name)
        if record.ok:
            return StepOutcome(0)
        return StepOutcome(
            record.exit_code or 1,
            message=f"task '{name}' {record.status}",
            interrupted=record.status == "interrupted",
        )

    def report(self, text: str) -> None:
        """A line of a built-in step's own output: shown and logged like a process's."""
        for line in text.splitlines() or [""]:
            self.runner.output(self.task.name, self.runner.masker.text(line))


def run_recipe(
    recipe: Recipe,
    options: RunOptions,
    observer: RunObserver,
    *,
    environ: Mapping[str, str] | None = None,
) -> RunReport:
    """Run the requested tasks (or the default one); never raises for a failing step:
    the report carries the exit code. Raises InvalidInput for an unknown task, a
    missing secret or a confirmation that cannot be asked."""
    return Runner(recipe, options, observer, environ=environ).run()


__all__ = ["RunObserver", "RunOptions", "Runner", "run_recipe"]
