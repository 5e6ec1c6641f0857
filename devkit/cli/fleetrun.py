"""`devkit run RECIPE --hosts ...`: the recipe on many hosts, shown host by host."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from devkit.console import CommandResult, Console, StatusSink, printable
from devkit.errors import DevkitError, InvalidInput, OperationFailed, interrupted_exit_code
from devkit.redaction import redact

if TYPE_CHECKING:
    from devkit.fleet.inventory import Host
    from devkit.fleet.run import FleetReport, HostResult
    from devkit.recipe.model import FleetHost, Recipe

# Exit codes of a fleet run (README "Exit codes"): beyond 0 (every host ok), 1 (a host
# failed), 2 (invalid input: nothing ran) and 128+signal (interrupted).
EXIT_UNREACHABLE = 5  # no host failed, but some could not be reached
EXIT_THRESHOLD = 6  # max_fail_percentage stopped the run: later batches never ran
PHASE_SYMBOLS = {"ok": "✓", "failed": "✗", "unreachable": "✗", "interrupted": "✗", "not_run": "-"}


@dataclass(frozen=True)
class FleetFlags:
    hosts: str | None
    inventory: Path | None
    limit: str | None
    forks: int | None
    serial: str | None
    max_fail_percentage: float | None
    connect_timeout: int
    accept_new_host_keys: bool
    timestamps: bool = False  # of the controller's lines (the hosts' runs are not asked)
    log: Path | None = None

    @property
    def wanted(self) -> bool:
        return self.hosts is not None or self.inventory is not None


@dataclass(frozen=True)
class RunFlags:
    """The flags of `devkit run` that the hosts' devkit gets too."""

    tasks: tuple[str, ...]
    cli_vars: Mapping[str, str]
    dry_run: bool
    force: bool
    yes: bool
    jobs: int | None


def select_hosts(flags: FleetFlags, pattern: str | None) -> list[Host]:
    from devkit.fleet.inventory import choose_hosts

    return choose_hosts(flags.hosts, flags.inventory, limit=flags.limit, pattern=pattern)


def parse_serial(text: str | None) -> list[int | str] | None:
    """`--serial 1,25%` -> [1, "25%"]."""
    if text is None:
        return None
    sizes: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        number = part[:-1] if part.endswith("%") else part
        if not number.isdigit() or int(number) < 1 or (part.endswith("%") and int(number) > 100):
            raise InvalidInput(
                f"invalid --serial {text!r}",
                code="usage",
                hint="batch sizes: numbers or percentages, e.g. --serial 1,25%",
            )
        sizes.append(part if part.endswith("%") else int(part))
    return sizes


def fleet_command(
    console: Console, recipe_path: Path, run: RunFlags, flags: FleetFlags, *, check: bool
) -> CommandResult:
    """`devkit run RECIPE --hosts/--inventory`: the recipe is checked for every host
    (with its variables) before any host is contacted; `--check` stops there."""
    plan = load_for_hosts(console, recipe_path, run, flags)
    recipe, hosts = plan.recipe, plan.hosts
    if check:
        console.outcome(True, f"{printable(recipe.name)} is valid for {len(hosts)} host(s)")
        return CommandResult("run", {"recipe": recipe.name, "hosts": [h.name for h in hosts]})
    return run_on_fleet(console, plan, run, flags)


@dataclass(frozen=True)
class FleetPlan:
    """What a fleet run will do, settled before any host is contacted."""

    recipe: Recipe  # as the first valid host sees it
    hosts: list[Host]
    tasks: tuple[str, ...]  # the tasks named on the command line, arguments bound
    settings: dict[str, Any]  # the fleet: block, then the flags


def load_for_hosts(
    console: Console, recipe_path: Path, run: RunFlags, flags: FleetFlags
) -> FleetPlan:
    """The recipe as the first host that passes sees it (its `fleet:` block narrows
    the hosts), then checked once per distinct set of groups and variables of the hosts
    that remain: `{{ vars.app_dir }}` missing on one host stops the run, naming it."""
    from devkit.recipe.arguments import bind_arguments
    from devkit.recipe.errors import RecipeInvalid

    candidates = select_hosts(flags, None)
    checked: dict[str, Recipe | RecipeInvalid] = {}
    first: Recipe | None = None
    for host in candidates:
        outcome = _check_for(checked, recipe_path, host, run.cli_vars)
        if not isinstance(outcome, RecipeInvalid):
            first = outcome
            break
    if first is None:
        _raise_invalid(console, candidates[0], checked)
    assert first is not None
    named, _ = bind_arguments(first, run.tasks)
    settings = _fleet_settings(first, named, flags)
    hosts = select_hosts(flags, settings.get("hosts"))
    for host in hosts:
        if isinstance(_check_for(checked, recipe_path, host, run.cli_vars), RecipeInvalid):
            _raise_invalid(console, host, checked)
    return FleetPlan(first, hosts, named, settings)


def _host_key(host: Host) -> str:
    return json.dumps([list(host.groups), host.vars], sort_keys=True, default=str)


def _check_for(
    checked: dict[str, Any], recipe_path: Path, host: Host, cli_vars: Mapping[str, str]
) -> Any:
    from devkit.recipe.errors import RecipeInvalid
    from devkit.recipe.validate import load_recipe

    key = _host_key(host)
    if key not in checked:
        try:
            checked[key] = load_recipe(
                recipe_path,
                cli_vars=cli_vars,
                display_name=str(recipe_path),
                host=_fleet_host(host),
            )
        except RecipeInvalid as error:
            checked[key] = error
    return checked[key]


def _fleet_host(host: Host) -> FleetHost:
    from devkit.recipe.model import FleetHost

    return FleetHost(host.name, tuple(host.groups), dict(host.vars))


def _raise_invalid(console: Console, host: Host, checked: Mapping[str, Any]) -> None:
    from devkit.recipe.errors import RecipeInvalid

    error = checked[_host_key(host)]
    for diagnostic in error.diagnostics:
        for line in diagnostic.render().splitlines():
            console.notice(printable(line))
    raise RecipeInvalid(f"{error.file} (for host {host.name})", error.diagnostics)


def run_on_fleet(
    console: Console, fleet_plan: FleetPlan, run: RunFlags, flags: FleetFlags
) -> CommandResult:
    from devkit.fleet.pack import current_pack
    from devkit.fleet.remote import request_files, request_line
    from devkit.fleet.run import FleetOptions, FleetRun, HostJob
    from devkit.fleet.ssh import SshSettings, connections
    from devkit.recipe.runner import plan

    recipe, hosts, settings = fleet_plan.recipe, fleet_plan.hosts, fleet_plan.settings
    planned = plan(recipe, fleet_plan.tasks or _default(recipe))
    secrets = _secrets(recipe, planned, run.dry_run)
    _register_secrets(list(secrets.values()))
    files = request_files(recipe)  # read once, sent to every host
    jobs = [
        HostJob(host, request_line(recipe, host=_fleet_host(host), cli_vars=run.cli_vars,
                                   secrets=secrets, files=files))
        for host in hosts
    ]  # fmt: skip
    options = FleetOptions(
        ssh=SshSettings(
            connect_timeout=flags.connect_timeout, accept_new_host_keys=flags.accept_new_host_keys
        ),
        remote_args=_remote_args(run),
        forks=int(settings.get("forks") or 10),
        serial=settings.get("serial"),
        max_fail_percentage=settings.get("max_fail_percentage"),
    )
    width = max(len(host.name) for host in hosts)
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(_open_log(flags.log)) if flags.log else None
        with console.live_status() as status:
            observer = FleetConsoleObserver(
                console, status, width, len(hosts), timestamps=flags.timestamps, log=log
            )
            status.update(f"preparing devkit for {len(hosts)} host(s)")
            pack = current_pack()
            with connections() as pool:
                report = FleetRun(jobs, options, pack, observer, os.environ, pool.folder).run()
        return _finish(console, recipe, report, log)


def _open_log(path: Path) -> TextIO:
    try:
        return path.open("a", encoding="utf-8")
    except OSError as error:
        raise InvalidInput(
            f"cannot open log file {path}: {error.strerror}",
            code="usage",
            hint="pass a writable path to --log",
        ) from None


def _default(recipe: Recipe) -> tuple[str, ...]:
    task = recipe.default_task()
    return (task,) if task else ()


def _fleet_settings(recipe: Recipe, tasks: Sequence[str], flags: FleetFlags) -> dict[str, Any]:
    """The recipe's (and its tasks') `fleet:` block, then the command line's flags."""
    from dataclasses import asdict

    from devkit.fleet.batches import fleet_settings

    merged = asdict(fleet_settings(recipe, tasks))
    given = {
        "forks": flags.forks,
        "serial": parse_serial(flags.serial),
        "max_fail_percentage": flags.max_fail_percentage,
    }
    merged.update({key: value for key, value in given.items() if value is not None})
    return merged


def _secrets(recipe: Recipe, planned: Sequence[str], dry_run: bool) -> dict[str, str]:
    """The values of the secrets the run needs, read here (the hosts get them on stdin);
    a missing one stops the run before any host is contacted."""
    from devkit.recipe.secrets import run_secrets, task_secrets
    from devkit.recipe.vars import environment as run_environment

    environment = run_environment(os.environ, recipe.dotenv_values)
    run_secrets(recipe, environment, planned, dry_run=dry_run)
    declared = {*recipe.secrets, *task_secrets(recipe)}
    return {name: environment[name] for name in sorted(declared) if name in environment}


def _register_secrets(values: Sequence[str]) -> None:
    """Hosts mask their own output; this masks what the controller prints (the recap,
    ssh's messages, a host that never started its devkit)."""
    from devkit import redaction
    from devkit.recipe.mask import Masker

    if values:
        redaction.mask_everywhere(Masker(values).text)


def _remote_args(run: RunFlags) -> tuple[str, ...]:
    args = ["run", "--fleet-stdin"]
    args += ["--dry-run"] * run.dry_run + ["--force"] * run.force + ["--yes"] * run.yes
    if run.jobs is not None:
        args += ["--jobs", str(run.jobs)]
    return (*args, *run.tasks)


class FleetConsoleObserver:
    """Every host's lines, prefixed with its name (aligned), and a live status line."""

    def __init__(
        self,
        console: Console,
        status: StatusSink,
        width: int,
        total: int,
        *,
        timestamps: bool = False,
        log: TextIO | None = None,
    ) -> None:
        self.console = console
        self.status = status
        self.width = width
        self.total = total
        self.timestamps = timestamps
        self.log = log  # every line, with its time and masked, whatever -q says
        self.lock = threading.Lock()
        self.phases: dict[str, str] = {}
        self.finished: dict[str, str] = {}
        self.open: dict[str, str] = {}  # a host's unfinished output line

    def _line(self, host: str, text: str, style: str | None = None) -> None:
        line = f"{printable(host).ljust(self.width)} | {text}"
        stamp = f"{datetime.now():%Y-%m-%d %H:%M:%S} "
        if self.log is not None:
            with self.lock:
                self.log.write(redact(stamp + line) + "\n")
                self.log.flush()
        if self.console.quiet:
            return
        if self.timestamps:
            line = stamp + line
        with self.lock:
            if self.console.json_mode:
                self.console.notice(line, style=style)
            else:
                self.console.line(line, style=style)

    def _update(self) -> None:
        running = [f"{h} › {p}" for h, p in self.phases.items()]
        failed = sum(s != "ok" for s in self.finished.values())
        head = f"{len(self.finished)}/{self.total} done, {failed} not ok"
        self.status.update("  ".join([head, *running[:3]]))

    def batch_started(self, number: int, total: int, hosts: Sequence[str]) -> None:
        if total > 1 and not self.console.quiet:
            with self.lock:
                self.console.line(f"── batch {number}/{total}: {len(hosts)} host(s)", style="bold")

    def host_phase(self, host: str, phase: str) -> None:
        with self.lock:
            self.phases[host] = phase
            self._update()

    def host_event(self, host: str, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        if kind == "step_started":
            label = str(event.get("label", ""))
            self.host_phase(host, label)
            self._line(host, f"• {printable(label)}", "cyan")
        elif kind == "output":
            self._output(host, str(event.get("text", "")), bool(event.get("end", True)))
        elif kind == "step_finished":
            self._step_finished(host, event)
        elif kind == "task_started":
            self._line(host, f"▶ {printable(str(event.get('task', '')))}", "bold")
        elif kind == "note":
            self._line(host, printable(str(event.get("text", ""))), "dim")

    def _output(self, host: str, text: str, end: bool) -> None:
        text = self.open.pop(host, "") + text
        if not end:
            *lines, self.open[host] = text.split("\n")
        else:
            lines = text.split("\n")
        for line in lines:
            self._line(host, f"  {printable(line)}")

    def _step_finished(self, host: str, event: Mapping[str, Any]) -> None:
        name = printable(str(event.get("name", "")))
        status = event.get("status")
        took = f"({float(event.get('duration') or 0):.1f} s)"
        message = printable(str(event.get("message") or ""))
        if status == "ok":
            self._line(host, f"✓ {name} {took}", "green")
        elif status == "skipped":
            self._line(host, f"- {name} skipped: {message}", "dim")
        elif status == "planned":
            self._line(host, f"would run: {printable(str(event.get('command') or name))}")
        elif status == "ignored":
            self._line(host, f"✗ {name} failed, ignored (continue_on_error) {took}", "yellow")
        else:
            code = event.get("exit_code")
            self._line(host, f"✗ {name} {status} (exit {code}) {took}", "bold red")

    def host_stderr(self, host: str, line: str) -> None:
        self._line(host, f"! {printable(line)}", "yellow")

    def host_finished(self, result: HostResult) -> None:
        if result.host in self.open:
            self._line(result.host, f"  {printable(self.open.pop(result.host))}")
        if result.status in ("unreachable", "failed") and result.document is None:
            self._line(result.host, f"✗ {result.status}: {printable(result.message)}", "red")
        with self.lock:
            self.phases.pop(result.host, None)
            self.finished[result.host] = result.status
            self._update()


def _finish(
    console: Console, recipe: Recipe, report: FleetReport, log: TextIO | None
) -> CommandResult:
    from devkit.fleet.hosts import natural_key

    results = sorted(report.results, key=lambda r: natural_key(r.host))
    _recap(console, results)
    counts = {s: sum(r.status == s for r in results) for s in PHASE_SYMBOLS}
    parts = [f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n]
    summary = (
        f"{printable(recipe.name)} on {len(results)} host(s): {', '.join(parts)}"
        f" in {report.duration:.1f} s"
    )
    console.summary(summary)
    if log is not None:
        log.write(redact(f"{datetime.now():%Y-%m-%d %H:%M:%S} {summary}") + "\n")
    data = {
        "recipe": recipe.name,
        "hosts": [r.to_json() for r in results],
        "counts": counts,
        "batches": report.batches,
        "threshold_stop": report.threshold_stop,
        "duration": round(report.duration, 3),
    }
    errors = tuple(_host_error(r) for r in results if r.status in ("failed", "unreachable"))
    exit_code = _exit_code(report, counts)
    if report.threshold_stop:
        errors += (
            OperationFailed(
                f"stopped after batch {report.batches}: too many hosts failed",
                code="threshold_reached",
                hint="the later batches never ran; fix the failed hosts and run again",
            ),
        )
    if report.interrupted is not None:
        from devkit.cli.common import interrupted

        errors += (interrupted(message="interrupted", hint="the hosts' cleanup steps ran"),)
    return CommandResult("run", data, errors, exit_code)


def _exit_code(report: FleetReport, counts: Mapping[str, int]) -> int:
    if report.interrupted is not None:
        return int(interrupted_exit_code(report.interrupted))
    if report.threshold_stop:
        return EXIT_THRESHOLD
    if counts["failed"]:
        return 1
    if counts["unreachable"]:
        return EXIT_UNREACHABLE
    return 0


def _host_error(result: HostResult) -> DevkitError:
    where = f" at {result.task} › {result.step}" if result.step else ""
    return OperationFailed(
        f"{result.host}: {result.status}{where}: {result.message}",
        code=f"host_{result.status}",
        details={"host": result.host, "exit_code": result.exit_code},
    )


def _recap(console: Console, results: Sequence[HostResult]) -> None:
    rows = []
    for result in results:
        where = f"{result.task} › {result.step}" if result.step else ""
        note = where or result.message
        if result.status == "ok":
            note = "installed devkit first" if result.installed else ""
        status = f"{PHASE_SYMBOLS[result.status]} {result.status}"
        if result.status == "failed" and result.exit_code is not None:
            status += f" (exit {result.exit_code})"
        rows.append([result.host, status,
                     f"{result.duration:.1f} s", printable(note)])  # fmt: skip
    console.table(["host", "status", "took", "failed at / why"], rows, title="recap")
    for result in results:
        if result.tail and not result.ok:
            console.line(f"last lines on {result.host}:", style="bold")
            for line in result.tail[-10:]:
                console.line(f"  {printable(line)}", style="dim")
