"""Load a recipe and check all of it before anything runs: shape (schema), references
(needs, task steps, default), dependency cycles, placeholders and dotenv files. Every
problem is collected; RecipeInvalid carries them all, each at its `file:line:col`."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devkit.recipe.errors import Diagnostic, Position, RecipeInvalid
from devkit.recipe.fields import INVALID, Checker, did_you_mean, offset_position
from devkit.recipe.fleetblock import fleet_block
from devkit.recipe.includes import load_includes
from devkit.recipe.loader import (
    NUL_MESSAGE,
    PosDict,
    PosList,
    SourceFile,
    Text,
    load_yaml,
    read_recipe_text,
)
from devkit.recipe.model import (
    LOCALHOST,
    Arg,
    Dotenv,
    FleetHost,
    Lock,
    Recipe,
    Require,
    Retry,
    Step,
    Task,
)
from devkit.recipe.schema import COMMON_STEP_FIELDS, check_structure
from devkit.recipe.secrets import hidden_from, task_secrets, without
from devkit.recipe.secrets import placeholder as secret_placeholder
from devkit.recipe.template import (
    Placeholder,
    TemplateSyntaxError,
    parse_template,
    shell_problems,
)
from devkit.recipe.vars import (
    LOOP_NAMES,
    STEP_FIELDS,
    STEPS_ROOT,
    Scope,
    UndefinedVariable,
    VariableCycle,
    loop_items,
    whole_value,
)
from devkit.recipe.vartypes import (
    Described,
    FromCommand,
    FromEnv,
    MissingValue,
    ValueShapeError,
    not_a_loop,
    not_text,
)

if TYPE_CHECKING:
    from devkit.recipe.computed import CommandValues
    from devkit.recipe.stepoutputs import StepOutputs

DEFAULT_GRACE = 5.0
_NOT_YET = "(created when the run starts)"
SUPPORTED_VERSION = 1
# `task:` steps nested deeper than this are refused: each level costs about a dozen
# Python frames, and Python allows 1000 (a chain of `needs:` has no such limit).
MAX_TASK_NESTING = 32


# Variables devkit defines from the host a recipe runs on (see host_variables).
HOST_VARIABLES = ("host", "vars")


def builtin_vars(
    recipe_path: Path, run_dir: str = _NOT_YET, host: FleetHost = LOCALHOST
) -> dict[str, Any]:
    """Variables devkit defines: the recipe's folder, where devkit was started, a
    fresh temporary folder for this run (removed when the run ends), and the host."""
    return {
        "recipe_dir": str(recipe_path.parent),
        "invocation_dir": os.getcwd(),
        "run_dir": run_dir,
        **host_variables(host),
    }


def host_variables(host: FleetHost) -> dict[str, Any]:
    """`host` ({name, groups}) and `vars` (the inventory's variables of the host), as
    mapping values: `{{ host.name }}`, `{{ vars.app_dir }}`, `for: "{{ host.groups }}"`.
    Inventory values arrive as JSON: numbers and booleans become text as YAML writes
    them (4, true), null becomes empty text."""
    origin = f"host {host.name}"
    return {
        "host": Described({"name": host.name, "groups": tuple(host.groups)}, origin),
        "vars": Described({k: _as_value(v) for k, v in host.vars.items()}, origin),
    }


def _as_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _as_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_as_value(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def recipe_scope(
    recipe: Recipe,
    *,
    cli_vars: Mapping[str, str],
    environ: Mapping[str, str],
    task: Task | None = None,
    run_dir: str | None = None,
    commands: CommandValues | None = None,
    outputs: StepOutputs | None = None,
    args: Mapping[str, str] | None = None,
    task_scope: tuple[str, Path | None] = ("", None),
) -> Scope:
    """The variables a task (or, with task=None, the recipe) sees, by precedence;
    `task_scope`: the namespace and folder of a task from an included file."""
    return Scope(
        args=args,
        namespace=task_scope[0],
        directory=task_scope[1],
        commands=commands,
        outputs=outputs,
        cli=cli_vars,
        task=task.vars if task else {},
        recipe=recipe.vars,
        dotenv=recipe.dotenv_values,
        environ=environ,
        builtins=builtin_vars(recipe.path, run_dir or _NOT_YET, recipe.host),
    )


def load_recipe(
    path: Path,
    *,
    cli_vars: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    display_name: str | None = None,
    host: FleetHost = LOCALHOST,
) -> Recipe:
    """Read, check and build a recipe; raise RecipeInvalid listing every problem.

    `host`: the host the recipe will run on, as `{{ host.name }}`, `{{ host.groups }}`
    and `{{ vars.NAME }}` see it (default: localhost, no groups, no variables). A fleet
    controller checks the recipe once per host with that host's inventory variables,
    so that `{{ vars.missing }}` is refused, naming the key and the host, before any
    host runs anything; the remote devkit loads it again with the same host."""
    _refuse_host_variables(cli_vars or {})
    name = display_name or str(path)
    text = read_recipe_text(path)
    root, source, diagnostics = load_yaml(text, name=name)
    chk = Checker(source)
    chk.diagnostics.extend(diagnostics)
    if root is None and not diagnostics:
        chk.error(Position(name, 1, 1), "the recipe is empty: it needs at least 'tasks:'")
    tree = check_structure(root, chk) if root is not None else None
    recipe = None
    builder = _Builder(path.resolve(), name, chk, dict(cli_vars or {}), environ, host=host)
    if tree is not None:
        recipe = builder.build(tree)
    if chk.diagnostics or recipe is None:
        raise RecipeInvalid(name, chk.diagnostics)
    check_cli_vars(cli_vars or {}, declared_variables(recipe) | builder.referenced)
    return recipe


def declared_variables(recipe: Recipe) -> set[str]:
    """The names the recipe declares: its `vars:` and every task's."""
    names = set(recipe.vars)
    for task in recipe.tasks.values():
        names.update(task.vars)
    return names


def _refuse_host_variables(cli_vars: Mapping[str, str]) -> None:
    from devkit.errors import InvalidInput

    reserved = sorted(name for name in cli_vars if name in HOST_VARIABLES)
    if reserved:
        raise InvalidInput(
            f"--var {reserved[0]}=... cannot set {reserved[0]!r}: devkit defines it",
            code="unknown_var",
            hint="{{ host.name }} and {{ vars.NAME }} come from the inventory on fleet runs",
        )


def check_cli_vars(cli_vars: Mapping[str, str], known: set[str]) -> None:
    """A `--var` the recipe neither declares nor uses is a typo that would silently
    deploy the default: refuse it (exit 2), as just does."""
    from devkit.errors import InvalidInput

    unknown = sorted(name for name in cli_vars if name not in known)
    if unknown:
        first = unknown[0]
        names = ", ".join(sorted(known)) or "none"
        raise InvalidInput(
            f"unknown variable {first!r} in --var {first}=..." + did_you_mean(first, sorted(known)),
            code="unknown_var",
            hint=f"the recipe's variables: {names}",
        )


def parse_dotenv(text: str, source: SourceFile, chk: Checker) -> dict[str, str]:
    """KEY=VALUE lines; `export`, comments, '...' and "..." (with \\n escapes) allowed."""
    values: dict[str, str] = {}
    pattern = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = pattern.fullmatch(line)
        if match is None:
            chk.error(Position(source.name, number, 1), "expected KEY=VALUE")
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if "\0" in value:
            chk.error(Position(source.name, number, 1), NUL_MESSAGE)
        values[key] = value
    return values


class _Builder:
    def __init__(
        self,
        path: Path,
        name: str,
        chk: Checker,
        cli_vars: dict[str, str],
        environ: Mapping[str, str] | None,
        including: tuple[Path, ...] = (),
        host: FleetHost = LOCALHOST,
    ) -> None:
        self.path = path
        self.host = host
        self.including = including  # the files that include this one (cycle check)
        self.own_tasks: set[str] = set()  # the tasks of this file, not of its includes
        self.name = name
        self.chk = chk
        self.cli_vars = cli_vars
        self.environ = dict(os.environ if environ is None else environ)
        self.cycles_reported: set[frozenset[str]] = set()
        self.task_secrets: set[str] = set()
        self.referenced: set[str] = set()  # every variable a placeholder names
        self.unset: dict[str | None, dict[str, Diagnostic]] = {}
        self.using: str | None = None  # the task whose texts are being checked
        # Step ids: where each is, and those that ran before the text being checked
        # (None: not a step's text, so no step output exists yet).
        self.step_ids: dict[str, tuple[str, Position]] = {}
        self.available: set[str] | None = None

    def error(self, pos: Position, message: str) -> None:
        self.chk.error(pos, message)

    # -- building ----------------------------------------------------------------------

    def build(self, tree: Mapping[str, Any]) -> Recipe | None:
        version = tree.get("version", SUPPORTED_VERSION)
        if version != SUPPORTED_VERSION:
            self.error(
                tree.key_pos["version"],  # type: ignore[attr-defined]
                f"unsupported recipe version {version}: this devkit reads version 1",
            )
        dotenv = tuple(self._dotenv_ref(item) for item in tree.get("dotenv", ()))
        dotenv_values = self._read_dotenv(dotenv)
        raw_tasks: Mapping[str, Any] = tree.get("tasks", {})
        tasks: dict[str, Task] = {}
        for task_name, raw in raw_tasks.items():
            if raw is INVALID:
                continue
            key_pos = raw_tasks.key_pos[task_name]  # type: ignore[attr-defined]
            tasks[task_name] = self._task(task_name, raw, key_pos)
        self.own_tasks = set(tasks)
        included = load_includes(self, tree.get("includes", {}))
        for name in included.tasks.keys() & tasks.keys():
            self.error(tasks[name].position, f"task {name!r} is also a task of an include")
        recipe_timeout = tree.get("timeout")
        recipe = Recipe(
            path=self.path,
            name=self.name,
            description=str(tree.get("description", "")),
            vars=dict(tree.get("vars", {})),
            env=dict(tree.get("env", {})),
            dotenv=dotenv,
            dotenv_values={**included.dotenv_values, **dotenv_values},
            secrets=tuple(
                dict.fromkeys([*(str(s) for s in tree.get("secrets", ())), *included.secrets])
            ),
            tasks={**tasks, **included.tasks},
            default=str(tree["default"]) if "default" in tree else None,
            grace=float(tree.get("grace", DEFAULT_GRACE)),
            timeout=float(recipe_timeout) if recipe_timeout is not None else None,
            log=tree.get("log"),
            host=self.host,
            fleet=fleet_block(tree.get("fleet")),
        )
        self._check_reserved(tree)
        self._check_references(recipe, raw_tasks, tree)
        before = len(self.chk.diagnostics)
        self._check_cycles(recipe)
        if len(self.chk.diagnostics) == before:  # depth has no meaning in a cycle
            self._check_nesting(recipe)
        self._check_placeholders(recipe)
        self._check_shell_syntax(recipe)
        unset = {task: tuple(uses.values()) for task, uses in self.unset.items()}
        unset.update(included.unset)
        return dataclasses.replace(recipe, unset=unset) if unset else recipe

    def _check_reserved(self, tree: Mapping[str, Any]) -> None:
        """`host` and `vars` are devkit's (the host a recipe runs on): a recipe's own
        variable of that name would hide the inventory's values on a fleet run."""
        tables = [tree.get("vars", {})]
        for raw in tree.get("tasks", {}).values():
            if isinstance(raw, PosDict):
                tables.append(raw.get("vars", {}))
        for table in tables:
            for name in HOST_VARIABLES:
                if name in table:
                    self.error(
                        table.key_pos[name],
                        f"variable {name!r} is defined by devkit (the host the recipe runs"
                        f" on: {{{{ {name}.{'name' if name == 'host' else 'NAME'} }}}});"
                        " rename this one",
                    )

    def _check_shell_syntax(self, recipe: Recipe) -> None:
        """Every shell text through one `bash -n`: a syntax error in a later step is
        found before the earlier steps run."""
        from devkit.recipe.syntax import shell_syntax_problems

        texts = [text for task in recipe.tasks.values() for text in _shell_texts(task)]
        self.chk.diagnostics.extend(shell_syntax_problems(texts, self.chk.source))

    def _dotenv_ref(self, item: Text) -> Dotenv:
        optional = item.endswith("?")
        return Dotenv(str(item[:-1] if optional else item), optional, item.pos)

    def _read_dotenv(self, refs: tuple[Dotenv, ...]) -> dict[str, str]:
        values: dict[str, str] = {}
        for ref in refs:
            if "\0" in ref.path:
                continue  # reported by the loader; no file can have that name
            file = self.path.parent / ref.path
            try:
                text = file.read_text(encoding="utf-8")
            except FileNotFoundError:
                if not ref.optional:
                    self.error(
                        ref.position,
                        f"dotenv file not found: {file} (write '{ref.path}?' if it is optional)",
                    )
                continue
            except (OSError, UnicodeDecodeError) as error:
                self.error(ref.position, f"cannot read dotenv file {file}: {error}")
                continue
            source = SourceFile(str(file), text)
            values.update(parse_dotenv(text, source, _Forward(source, self.chk)))
        return values

    def _task(self, name: str, raw: Any, position: Position) -> Task:
        if isinstance(raw, PosList):  # a bare list of steps
            return Task(name=name, position=position, steps=self._steps(raw))
        lock = raw.get("lock")
        requires = tuple(self._require(item) for item in raw.get("requires", ()))
        confirm = raw.get("confirm")
        return Task(
            name=name,
            position=position,
            desc=str(raw.get("desc", "")),
            vars=dict(raw.get("vars", {})),
            env=dict(raw.get("env", {})),
            needs=tuple(raw.get("needs", ())),
            parallel=bool(raw.get("parallel", False)),
            sources=tuple(raw.get("sources", ())),
            outputs=tuple(raw.get("outputs", ())),
            lock=self._lock(lock) if lock is not None else None,
            confirm=(f"Run task '{name}'?" if confirm == "true" else str(confirm))
            if confirm is not None
            else None,
            requires=requires,
            steps=self._steps(raw.get("steps", ())),
            on_failure=self._steps(raw.get("on_failure", ())),
            finally_=self._steps(raw.get("finally", ())),
            platforms=tuple(str(p) for p in raw.get("platforms", ())),
            timeout=raw.get("timeout"),
            secrets=tuple(str(s) for s in raw.get("secrets", ())),
            condition=raw.get("if"),
            args=self._args(raw.get("args", ())),
            fleet=fleet_block(raw.get("fleet")),
        )

    def _args(self, raw: Any) -> tuple[Arg, ...]:
        args: list[Arg] = []
        for item in raw:
            spec = item if isinstance(item, PosDict) else {"name": item}
            if "name" not in spec:
                continue  # reported by the schema
            name = spec["name"]
            default = str(spec["default"]) if "default" in spec else None
            if any(arg.name == name for arg in args):
                self.error(name.pos, f"duplicate argument {str(name)!r}")
                continue
            if default is None and args and args[-1].default is not None:
                self.error(name.pos, "an argument without a default cannot follow one with")
            args.append(Arg(str(name), default, name.pos))
        return tuple(args)

    def _lock(self, raw: Any) -> Lock:
        if isinstance(raw, PosDict):
            # A missing `path` is already reported by the schema; build on to find more.
            path = raw["path"] if "path" in raw else _empty_text(raw.pos)
            return Lock(path, float(raw.get("wait", 0.0)), raw.pos)
        return Lock(raw, 0.0, raw.pos)

    def _require(self, raw: Any) -> Require:
        if isinstance(raw, PosDict):
            # A missing `run` is already reported by the schema; build on to find more.
            check = raw["run"] if "run" in raw else _empty_text(raw.pos)
            message = str(raw.get("message") or f"requirement failed: {check}")
            return Require(check, message, raw.pos)
        return Require(raw, f"requirement failed: {raw}", raw.pos)

    def _steps(self, raw_steps: Any) -> tuple[Step, ...]:
        return tuple(self._step(raw) for raw in raw_steps)

    def _step(self, raw: PosDict) -> Step:
        from devkit.recipe.steps import REGISTRY

        kind = REGISTRY[raw.kind]  # type: ignore[attr-defined]
        options = {k: v for k, v in raw.items() if k not in _STEP_KEYS and k != kind.key}
        value = raw[kind.key]
        if isinstance(value, PosList):
            value = tuple(value)
        loop = raw.get("for")
        if isinstance(loop, PosList):
            loop = tuple(loop)
        retry_raw = raw.get("retry")
        retry = Retry()
        if retry_raw:
            retry = Retry(
                attempts=int(retry_raw.get("attempts", 1)),
                delay=float(retry_raw.get("delay", 0.0)),
                backoff=float(retry_raw.get("backoff", 1.0)),
            )
        return Step(
            kind=kind.key,
            value=value,
            options=options,
            position=raw.pos,
            name=raw.get("name"),
            cwd=raw.get("cwd"),
            env=dict(raw.get("env", {})),
            timeout=raw.get("timeout"),
            grace=raw.get("grace"),
            retry=retry,
            continue_on_error=bool(raw.get("continue_on_error", False)),
            condition=raw.get("if"),
            loop=loop,
            platforms=tuple(str(p) for p in raw.get("platforms", ())),
            stdin=bool(raw.get("stdin", False)),
            id=raw.get("id"),
        )

    # -- cross checks -----------------------------------------------------------------

    def _check_references(self, recipe: Recipe, raw_tasks: Mapping[str, Any], tree: Any) -> None:
        known = list(recipe.tasks)

        def check(name: Any, where: str) -> None:
            if str(name) not in recipe.tasks:
                pos = name.pos if isinstance(name, Text) else tree.pos
                self.error(
                    pos, f"unknown task {str(name)!r} in {where}" + did_you_mean(str(name), known)
                )

        def takes_no_required(name: Any) -> None:
            target = recipe.tasks.get(str(name))
            required = [a.name for a in target.args if a.default is None] if target else []
            if required:
                pos = name.pos if isinstance(name, Text) else tree.pos
                self.error(
                    pos,
                    f"task {str(name)!r} needs the argument {required[0].upper()}, which only"
                    " the command line can give (give it a default to run it from here)",
                )

        for task in self._own(recipe):
            for need in task.needs:
                check(need, f"'needs' of task '{task.name}'")
                takes_no_required(need)
            for step in _all_steps(task):
                if step.kind == "task":
                    check(step.value, f"a task step of task '{task.name}'")
                    takes_no_required(step.value)
        if "default" in tree:
            check(tree["default"], "'default'")
        if not raw_tasks and "tasks" in tree:
            self.error(tree["tasks"].pos, "the recipe has no tasks")

    def _own(self, recipe: Recipe) -> list[Task]:
        """This file's tasks (an included file's were checked when it was loaded)."""
        return [task for task in recipe.tasks.values() if task.name in self.own_tasks]

    def _check_cycles(self, recipe: Recipe) -> None:
        """Report each dependency cycle (needs and task steps) once, for this file's
        tasks (an included file's were checked when it was loaded). Depth-first without
        recursion: a chain of thousands of tasks must not exhaust Python's stack."""
        edges = {name: targets for name, targets in task_edges(recipe).items()
                 if name in self.own_tasks}  # fmt: skip
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        reported: set[frozenset[str]] = set()
        for root in edges:
            if root in state:
                continue
            state[root] = 1
            path, stack = [root], [iter(edges[root])]
            while stack:
                target = next(stack[-1], None)
                if target is None:
                    stack.pop()
                    state[path.pop()] = 2
                elif state.get(target) == 1:
                    cycle = [*path[path.index(target) :], target]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.error(
                            recipe.tasks[target].position,
                            "dependency cycle: " + " -> ".join(cycle),
                        )
                elif target not in state:
                    state[target] = 1
                    path.append(target)
                    stack.append(iter(edges.get(target, ())))

    def _check_nesting(self, recipe: Recipe) -> None:
        """Refuse `task:` steps nested deeper than MAX_TASK_NESTING. Each level runs
        inside the step that called it, so it costs stack; needs cost none (they run
        before their task, one by one or in worker threads), so they count zero."""
        depth: dict[str, int] = {}
        for name in post_order(task_edges(recipe)):
            task = recipe.tasks[name]
            called = {str(s.value) for s in _all_steps(task) if s.kind == "task"}
            depth[name] = max(
                [0]
                + [depth.get(str(n), 0) for n in task.needs]
                + [depth.get(n, 0) + 1 for n in called]
            )
        deepest = max(depth, key=lambda name: depth[name], default=None)
        if deepest is not None and depth[deepest] > MAX_TASK_NESTING:
            self.error(
                recipe.tasks[deepest].position,
                f"task '{deepest}' nests {depth[deepest]} levels of 'task:' steps; devkit"
                f" allows {MAX_TASK_NESTING} (use 'needs:' for a chain: it has no limit)",
            )

    def _check_step_ids(self, recipe: Recipe) -> None:
        for task in self._own(recipe):
            for step in _all_steps(task):
                if step.id is None:
                    continue
                pos = getattr(step.id, "pos", step.position)
                if step.loop is not None:
                    self.error(pos, "a step with 'for' runs several times: it cannot have an 'id'")
                elif step.id in self.step_ids:
                    first = self.step_ids[step.id][1]
                    self.error(
                        pos, f"duplicate step id {step.id!r} (first used at line {first.line})"
                    )
                else:
                    self.step_ids[step.id] = (task.name, pos)

    def _needed(self, recipe: Recipe, name: str) -> set[str]:
        """The tasks that run before this one's steps: its needs, theirs, and so on."""
        seen: set[str] = set()
        pending = [str(need) for need in recipe.tasks[name].needs]
        while pending:
            need = pending.pop()
            if need not in seen and need in recipe.tasks:
                seen.add(need)
                pending.extend(str(n) for n in recipe.tasks[need].needs)
        return seen

    def _check_placeholders(self, recipe: Recipe) -> None:
        self.task_secrets = task_secrets(recipe)
        self._check_step_ids(recipe)
        builtins = builtin_vars(recipe.path, host=recipe.host)
        recipe_scope = self._scope(recipe, {}, builtins)
        # A variable without a value is a problem only for the tasks that use it: the
        # uses are recorded per task (None: every task) and checked when a run starts.
        self.using = ""
        for value in recipe.vars.values():
            for text in value_texts(value):
                self._check_text(text, recipe_scope, allow_item=False)
        self.using = None
        for text in command_texts(recipe.vars):
            self._check_shell(text)
        for value in recipe.env.values():
            self._check_text(value, recipe_scope, allow_item=False)
        if recipe.log is not None:
            self._check_text(recipe.log, recipe_scope, allow_item=False)
        for task in self._own(recipe):
            self.using = task.name
            scope = self._scope(recipe, task.vars, builtins, task)
            for text in _task_texts(task):
                self._check_text(text, scope, allow_item=False)
            needed = self._needed(recipe, task.name)
            self.available = {i for i, (owner, _) in self.step_ids.items() if owner in needed}
            if task.condition is not None:  # runs after the needs: their outputs exist
                self._check_text(task.condition, scope, allow_item=False)
            for step in _all_steps(task):
                self._check_step(step, scope)
                if step.id is not None:
                    self.available.add(step.id)
            self.available = None
            for text in _shell_texts(task):
                self._check_shell(text)

    def _check_step(self, step: Step, scope: Scope) -> None:
        items = None
        if isinstance(step.loop, Text):
            try:
                list_ok = whole_value(parse_template(str(step.loop))) is not None
            except TemplateSyntaxError:
                return  # reported by the schema
            self._check_text(step.loop, scope, allow_item=False, list_ok=list_ok)
            items = self._static_items(step.loop, scope)
        elif step.loop is not None:
            items = list(step.loop)
        for text in _step_texts(step):
            self._check_text(text, scope, allow_item=step.loop is not None, items=items)

    def _static_items(self, loop: Text, scope: Scope) -> list[Any] | None:
        """The items of a `for:` as far as validation knows them: the list of a list
        variable, or one text standing for every file a glob may match."""
        try:
            listed = loop_items(parse_template(str(loop)), scope)
        except (KeyError, ValueError, TemplateSyntaxError):
            return None  # reported where the 'for' text itself is checked
        return [str(loop)] if listed is None else listed

    def _check_shell(self, text: Text) -> None:
        """Placeholders in shell text where no value can go (a quoted heredoc, a comment)."""
        if "{{" not in text:
            return
        try:
            template = parse_template(str(text))
        except TemplateSyntaxError:
            return  # already reported by the schema
        for offset, message in shell_problems(template):
            self.error(offset_position(text, offset), message)

    def _scope(
        self,
        recipe: Recipe,
        task_vars: Mapping[str, str],
        builtins: Mapping[str, Any],
        task: Task | None = None,
    ) -> Scope:
        # Checking needs no secret values (placeholders stand in), and a task does not
        # see the secrets only other tasks declare (devkit/recipe/secrets.py).
        hidden = hidden_from(recipe, task)
        declared = (*recipe.secrets, *(task.secrets if task else ()))
        return Scope(
            # A required argument's value is known only when a run starts.
            args={
                arg.name: arg.default or f"<{arg.name.upper()}>"
                for arg in (task.args if task else ())
            },
            cli=self.cli_vars,
            task=task_vars,
            recipe=recipe.vars,
            dotenv=without(recipe.dotenv_values, hidden),
            environ={
                **{name: secret_placeholder(name) for name in declared},
                **without(self.environ, hidden),
            },
            builtins=builtins,
        )

    def _check_env(self, name: str, pos: Position, scope: Scope) -> None:
        if name in scope.environment:
            return
        if name in self.task_secrets:
            self.error(
                pos,
                f"secret {name!r} is declared by another task only:"
                " add it to this task's 'secrets' (or the recipe's)",
            )
        else:
            self.error(pos, f"environment variable {name!r} is not set (for {{{{ env.{name} }}}})")

    def _check_text(
        self,
        text: Text,
        scope: Scope,
        *,
        allow_item: bool,
        list_ok: bool = False,
        items: list[Any] | None = None,
    ) -> None:
        if not isinstance(text, Text) or "{{" not in text:
            return  # a value that failed its check is already reported
        try:
            template = parse_template(str(text))
        except TemplateSyntaxError:
            return  # already reported by the schema
        self.referenced.update(p.name for p in template.placeholders if not p.env)
        for placeholder in template.placeholders:
            pos = offset_position(text, placeholder.offset)
            if placeholder.env:
                self._check_env(placeholder.name, pos, scope)
                continue
            if placeholder.name in LOOP_NAMES and not scope.knows(placeholder.name):
                if not allow_item:
                    self.error(
                        pos, f"{{{{ {placeholder.name} }}}} is only defined in a step with 'for:'"
                    )
                for item in items or ():
                    if self._check_value(placeholder, pos, scope.with_item(item), list_ok=False):
                        break  # one message per placeholder, not one per item
                continue
            if placeholder.name == STEPS_ROOT and not scope.knows(STEPS_ROOT):
                self._check_step_reference(placeholder, pos)
                continue
            if not scope.knows(placeholder.name):
                self.error(
                    pos,
                    f"undefined variable {placeholder.name!r}"
                    + did_you_mean(placeholder.name, scope.names()),
                )
                continue
            self._check_value(placeholder, pos, scope, list_ok=list_ok)

    def _check_step_reference(self, placeholder: Placeholder, pos: Position) -> None:
        """`{{ steps.ID.stdout }}` names a step that runs before the text is used."""
        path, label = placeholder.path, placeholder.label
        if len(path) != 2 or path[1] not in STEP_FIELDS:
            self.error(pos, f"{{{{ {label} }}}}: write {{{{ steps.ID.stdout }}}}")
            return
        step_id = path[0]
        if step_id not in self.step_ids:
            self.error(
                pos, f"unknown step id {step_id!r}" + did_you_mean(step_id, list(self.step_ids))
            )
            return
        if self.available is None:
            self.error(pos, f"{{{{ {label} }}}} has a value only in steps, after step {step_id!r}")
            return
        if step_id not in self.available:
            owner = self.step_ids[step_id][0]
            where = (
                "it is this step or a later one of this task"
                if owner == self.using
                else f"it is in task {owner!r}, which is not among the needs of task {self.using!r}"
            )
            self.error(pos, f"step {step_id!r} does not run before this: {where}")

    def _check_value(
        self, placeholder: Placeholder, pos: Position, scope: Scope, *, list_ok: bool
    ) -> bool:
        """Resolve a placeholder as a run would; True when a problem was reported."""
        try:
            value = scope.resolve(placeholder)
            if list_ok and isinstance(value, Mapping):
                raise not_a_loop(placeholder.label)
            if not isinstance(value, str) and not (list_ok and isinstance(value, (list, tuple))):
                raise not_text(placeholder.label, value)
        except VariableCycle as cycle:
            key = frozenset(cycle.chain)
            if key not in self.cycles_reported:
                self.cycles_reported.add(key)
                self.error(pos, f"variables refer to each other in a cycle: {cycle}")
            return True
        except UndefinedVariable:
            return False  # reported where that variable's own value is checked
        except MissingValue as missing:
            if self.using != "":  # "": a recipe variable's own value (checked where used)
                uses = self.unset.setdefault(self.using, {})
                uses.setdefault(missing.label, self.chk.source.diagnostic(pos, str(missing)))
            return False
        except ValueShapeError as error:
            # A problem inside another variable's value is reported there, once.
            if error.label in (placeholder.label, placeholder.name) or error.label in LOOP_NAMES:
                self.error(pos, str(error))
                return True
        return False


_STEP_KEYS = frozenset(COMMON_STEP_FIELDS)


class _Forward(Checker):
    """A checker for a dotenv file that records into the recipe's checker. It never
    shows the offending line: a dotenv file holds secrets."""

    def __init__(self, source: SourceFile, target: Checker) -> None:
        super().__init__(source)
        self.diagnostics = target.diagnostics

    def error(self, pos: Position, message: str) -> None:
        self.diagnostics.append(Diagnostic(pos, message))


def post_order(edges: Mapping[str, list[str]], roots: Iterable[str] | None = None) -> list[str]:
    """Every task reachable from `roots` (all of them by default), each after the tasks
    it leads to (the graph has no cycles). Without recursion: a chain of thousands of
    tasks must not exhaust Python's stack."""
    done: dict[str, None] = {}
    for root in edges if roots is None else roots:
        if root in done:
            continue
        entered = {root}
        stack = [(root, iter(edges[root]))]
        while stack:
            name, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                stack.pop()
                done[name] = None
            elif target not in done and target not in entered:
                entered.add(target)
                stack.append((target, iter(edges[target])))
    return list(done)


def task_edges(recipe: Recipe) -> dict[str, list[str]]:
    """Each task's needs, then the tasks its `task:` steps run (known names only)."""
    edges: dict[str, list[str]] = {}
    for task in recipe.tasks.values():
        called = [str(s.value) for s in _all_steps(task) if s.kind == "task"]
        edges[task.name] = [n for n in [*map(str, task.needs), *called] if n in recipe.tasks]
    return edges


def _all_steps(task: Task) -> Iterator[Step]:
    yield from task.steps
    yield from task.on_failure
    yield from task.finally_


def command_texts(variables: Mapping[str, Any]) -> Iterator[Text]:
    """The shell text of `sh:` variables."""
    for value in variables.values():
        if isinstance(value, FromCommand):
            yield value.command


def value_texts(value: Any) -> Iterator[Text]:
    """The texts in a variable's value (a list's items, a mapping's values)."""
    if isinstance(value, Text):
        yield value
    elif isinstance(value, FromEnv):
        yield from value_texts(value.default)
    elif isinstance(value, FromCommand):
        yield value.command
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from value_texts(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from value_texts(item)


def _task_texts(task: Task) -> Iterator[Text]:
    for value in task.vars.values():
        yield from value_texts(value)
    yield from task.env.values()
    yield from task.sources
    yield from task.outputs
    if task.lock is not None:
        yield task.lock.path
    for require in task.requires:
        yield require.check


def _empty_text(pos: Position) -> Text:
    text = Text("")
    text.pos, text.quoted, text.null = pos, False, True
    return text


def _shell_texts(task: Task) -> Iterator[Text]:
    """The texts bash runs: `sh:` variables, `requires:` checks, `if:` and `run:`."""
    yield from command_texts(task.vars)
    if task.condition is not None:
        yield task.condition
    for require in task.requires:
        yield require.check
    for step in _all_steps(task):
        if step.condition is not None:
            yield step.condition
        if step.kind == "run" and isinstance(step.value, Text):
            yield step.value


def _step_texts(step: Step) -> Iterator[Text]:
    yield from _texts(step.value)
    if isinstance(step.name, Text):
        yield step.name
    yield from _texts(step.options)
    if step.cwd is not None:
        yield step.cwd
    yield from step.env.values()
    if step.condition is not None:
        yield step.condition
    if isinstance(step.loop, tuple):
        yield from _texts(step.loop)


def _texts(value: Any) -> Iterator[Text]:
    if isinstance(value, Text):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _texts(item)


RecipeBuilder = _Builder  # for includes.py: an included file is built the same way
