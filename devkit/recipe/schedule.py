"""Which tasks run, and when: each task at most once per invocation (a second
request waits for the first run and shares its record), its needs first, one after
another or, with `parallel: true`, side by side in worker threads (at most --jobs at
once). Nothing new starts once a task failed or a signal arrived."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

from devkit.recipe import signals
from devkit.recipe.context import Run
from devkit.recipe.model import Task
from devkit.recipe.report import TaskRecord
from devkit.recipe.tasks import run_task


class Scheduler:
    def __init__(self, run: Run) -> None:
        self.run = run
        self.records: dict[str, TaskRecord] = {}
        self.order: list[str] = []  # tasks in the order they finished
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def ensure(self, name: str, fds: tuple[int, ...] = ()) -> TaskRecord:
        """Run a task unless it already ran (or is running) in this invocation."""
        with self._lock:
            record = self.records.get(name)
            running = self._running.get(name)
            if record is None and running is None:
                self._running[name] = threading.Event()
        if record is not None:
            return record
        if running is not None:
            running.wait()
            return self.records[name]
        self._needs_first(name)
        return self._run(name, fds)

    def _needs_first(self, name: str) -> None:
        """Run the tasks that `name` needs one by one (transitively), deepest first, in
        the order and with the stops of `needs()`, but without recursion: a chain of
        hundreds of needs would otherwise nest a few Python calls per task and exhaust
        the stack. Each task then finds its needs already done."""
        stack = [(name, iter(self._sequential_needs(name, claimed=True)))]
        while stack:
            current, needs = stack[-1]
            need = next(needs, None)
            if need is not None:
                stack.append((need, iter(self._sequential_needs(need))))
                continue
            stack.pop()
            if not stack:
                return  # `name` itself runs in ensure()
            record = self.ensure(current)
            if not record.ok or signals.interrupted():
                stack[-1] = (stack[-1][0], iter(()))  # the rest of these needs never start

    def _sequential_needs(self, name: str, *, claimed: bool = False) -> list[str]:
        """The needs of a task that has not started (or that this thread `claimed`) and
        runs them one by one (parallel needs start in worker threads, each with a stack
        of its own)."""
        with self._lock:
            started = not claimed and (name in self.records or name in self._running)
        task = self.run.recipe.tasks[name]
        if started or (task.parallel and len(task.needs) > 1):
            return []
        return [str(need) for need in task.needs]

    def _run(self, name: str, fds: tuple[int, ...]) -> TaskRecord:
        record = TaskRecord(name, "failed", 1, message="internal error")
        try:
            record = run_task(self.run, self.run.recipe.tasks[name], self, fds)
        finally:
            with self._lock:
                self.records[name] = record
                self.order.append(name)
                event = self._running.pop(name)
            event.set()
        return record

    def needs(self, task: Task) -> TaskRecord | None:
        """Run the task's needs; the first one that did not succeed, if any."""
        names = [str(need) for need in task.needs]
        if task.parallel and len(names) > 1:
            records = self._side_by_side(names)
        else:
            records = self._one_by_one(names)
        return next((record for record in records if not record.ok), None)

    def _one_by_one(self, names: list[str]) -> list[TaskRecord]:
        records = []
        for name in names:
            record = self.ensure(name)
            records.append(record)
            if not record.ok or signals.interrupted():
                break
        return records

    def _side_by_side(self, names: list[str]) -> list[TaskRecord]:
        jobs = max(1, self.run.options.jobs or len(names))
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="task") as pool:
            futures = [pool.submit(self._needed, name) for name in names]
            wait(futures)
        return [record for future in futures if (record := future.result()) is not None]

    def _needed(self, name: str) -> TaskRecord | None:
        if self.run.failure is not None or signals.interrupted():
            return None  # something already failed: start nothing new
        return self.ensure(name)


__all__ = ["Scheduler"]
