"""Task plugins: what a task declares, the command line generated from it, and the one run path.

A task plugin is a :class:`TaskPlugin` exposed through the entry-point group ``sape_geo.tasks``::

    [project.entry-points."sape_geo.tasks"]
    ripple = "sape_geo_example_task:PLUGIN"

so a package adds a task (and its ``sape-geo`` subcommand) by being installed. A plugin declares:

- its **settings**, one frozen dataclass whose documented fields become the task's options, the
  batch runner's settings and ``config.json``'s record (:mod:`sape_geo.schema`);
- ``make_task(settings, **inputs) -> Task`` (or ``"module:function"``, imported only when a task runs,
  so ``--help`` never waits for torch); one that samples its inputs takes the run's ``seed=`` too;
- its defaults for the loop and the method, for every method and per method.

:func:`run_plugin` is the one run path of every task, from Python and from the command line. This
module imports neither torch nor any plugin's task module.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from typing import Any

from sape_geo.catalogue import DEFAULT_METHOD, method_descriptions, method_names, resolve
from sape_geo.config import FitConfig, MethodConfig
from sape_geo.schema import add_settings_arguments, explicit_values, flag_of, replace_settings, settings_from_namespace

ENTRY_POINT_GROUP = "sape_geo.tasks"
# Torch threads of every task command: one. A step's matrices are small, so extra intra-op threads gain
# little and, on a shared or busy CPU, wait on each other (the transfer demo took 321 s with torch's 2
# threads on a loaded 2-core machine, 58 s with 1); one thread also gives the same numbers on every
# machine, and batch runs scale by running jobs side by side. --threads N for one large fit on an idle
# machine.
DEFAULT_THREADS = 1
# What a command-line run sets that the Python API leaves to torch (FitConfig.threads None).
_COMMAND_LINE_VALUES = {"threads": DEFAULT_THREADS}

_FIT_FIELDS = frozenset(f.name for f in dataclasses.fields(FitConfig))
_METHOD_FIELDS = frozenset(f.name for f in dataclasses.fields(MethodConfig))
# Loop settings the command line handles itself: the progress bar is --quiet.
_FIT_CLI_EXCLUDE = ("progress_bar",)


@dataclass(frozen=True)
class Input:
    """A positional input of a task: a file path on the command line, a path or an in-memory object
    (array, mesh) from Python.

    Attributes
    ----------
    name : the keyword of ``make_task`` and the batch pipeline's input name.
    help : what the input is and which formats are read.
    metavar : its name in usage lines (default: ``name`` in capitals; ``FILE`` for optional ones).
    optional : an ``--option`` on the command line and a keyword that may be left out (None) in Python.
    """

    name: str
    help: str
    metavar: str | None = None
    optional: bool = False


@dataclass(frozen=True)
class TaskPlugin:
    """A task as the command line, the batch runner and the Python API see it.

    Attributes
    ----------
    name : the ``sape-geo`` subcommand, e.g. ``"fit1d"``.
    summary : one line for ``sape-geo --help``.
    description : the subcommand's ``--help`` text (what it does, its inputs and outputs, an example).
    settings : the task's settings dataclass (frozen, documented ``Attributes``).
    make_task : ``make_task(settings, **inputs) -> Task``, or ``"module:function"`` naming it; with a
        ``seed`` parameter it gets the run's seed (a task that samples its inputs).
    inputs : the positional inputs, in order.
    defaults : this task's :class:`~sape_geo.config.FitConfig` and :class:`~sape_geo.config.MethodConfig`
        values for every method (e.g. ``{"steps": 1500, "num_hidden_layers": 2}``).
    per_method : more defaults by method name (e.g. ``{"ff": {"sigma": 4.0}}``).
    default_notes : a default the task computes from its input, described for ``--help``.
    summarise : ``summarise(result) -> lines`` for the one-screen summary (or ``"module:function"``).
    extra_methods : method names the task accepts besides the networks, answered by its
        :meth:`~sape_geo.fitting.Task.without_network` (mesh transfer's initialisation-only baselines).
    """

    name: str
    summary: str
    description: str
    settings: type
    make_task: Callable[..., Any] | str
    inputs: tuple[Input, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    per_method: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    default_notes: Mapping[str, str] = field(default_factory=dict)
    summarise: Callable[[Any], list[str]] | str | None = None
    extra_methods: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clashes = sorted({f.name for f in dataclasses.fields(self.settings)} & (_FIT_FIELDS | _METHOD_FIELDS))
        if clashes:
            raise ValueError(f"task {self.name!r}: settings field(s) {', '.join(clashes)} clash with the loop's or the method's")
        for name in (*self.defaults, *(k for values in self.per_method.values() for k in values)):
            if name not in _FIT_FIELDS | _METHOD_FIELDS:
                raise ValueError(f"task {self.name!r}: default {name!r} is neither a FitConfig nor a MethodConfig field")

    # -- the command line ---------------------------------------------------------------------------

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The task's options, generated from its settings, :class:`FitConfig` and :class:`MethodConfig`."""
        for item in self.inputs:
            if item.optional:
                parser.add_argument("--" + item.name.replace("_", "-"), dest=item.name, metavar=item.metavar or "FILE", help=item.help)
            else:
                parser.add_argument(item.name, metavar=item.metavar or item.name.upper(), help=item.help)
        add_settings_arguments(parser.add_argument_group(f"{self.name} settings"), self.settings, "task")
        method_group = parser.add_argument_group("method")
        notes = self._notes()
        names = [*method_names(), *self.extra_methods]
        descriptions = {**method_descriptions(), **self.extra_methods}
        notes["name"] = f"{self.default_method}. " + "; ".join(
            f"{name}: {text}" for name, text in descriptions.items()
        )
        defaults = self.command_line_values(self.default_method)
        add_settings_arguments(method_group, MethodConfig, "method", defaults, notes, choices={"name": names})
        loop = parser.add_argument_group("optimisation")
        add_settings_arguments(loop, FitConfig, "fit", defaults, notes, exclude=_FIT_CLI_EXCLUDE)
        loop.add_argument("--quiet", action="store_true", help="no progress bar and no status lines")
        output = parser.add_argument_group("output")
        output.add_argument("--out", required=True, help="run directory to create (must be empty or missing)")
        output.add_argument("--overwrite", action="store_true", help="replace an existing run directory (one sape-geo wrote)")
        output.add_argument("--json", action="store_true", help="after the summary, print metrics.json")

    def _notes(self) -> dict[str, str]:
        notes = dict(self.default_notes)
        base = self.default_values("")
        for name in {key for values in self.per_method.values() for key in values}:
            if name in notes:
                continue
            per = ", ".join(f"{method} {_word(values[name])}" for method, values in self.per_method.items() if name in values)
            notes[name] = f"per method: {per}; others {_word(base.get(name, _class_default(name)))}"
        return notes

    def run(self, args: argparse.Namespace) -> Any:
        """Run the task from parsed command-line arguments (``sape-geo TASK ...`` and batch jobs)."""
        inputs = {item.name: getattr(args, item.name, None) for item in self.inputs}
        settings = settings_from_namespace(self.settings, args, "task")
        method, overrides = self._method_and_overrides(args)
        overrides = {**_COMMAND_LINE_VALUES, **overrides}
        overrides["progress_bar"] = not getattr(args, "quiet", False)
        command_line = {key: value for key, value in vars(args).items() if key not in ("command",)}
        return run_plugin(self, inputs, settings, method, args.out, args.overwrite, extra_config={"argv": command_line}, **overrides)

    def check_args(self, args: argparse.Namespace) -> None:
        """Build the settings and the loop's and method's settings a command line describes, without
        running anything; raises ``ValueError`` for a value they refuse, naming its option
        (``argument --steps: steps must be a positive integer, got 0``). The batch runner checks every
        job so before the first starts."""
        try:
            self._check_args(args)
        except ValueError as error:
            raise ValueError(self._name_the_option(str(error))) from None

    def _name_the_option(self, message: str) -> str:
        for cls in (self.settings, FitConfig, MethodConfig):
            for item in dataclasses.fields(cls):
                if message.startswith(f"{item.name} ") or message.startswith(f"{item.name}:"):
                    return f"argument {flag_of(item)}: {message}"
        return message

    def _check_args(self, args: argparse.Namespace) -> None:
        settings_from_namespace(self.settings, args, "task")
        self.configs(*self._method_and_overrides(args))

    @property
    def default_method(self) -> str:
        """The method a run gets when none is named (``defaults["name"]``, else the core's)."""
        return self.defaults.get("name", DEFAULT_METHOD)

    def _method_and_overrides(self, args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
        """The method a command line names and the loop and method settings it sets explicitly."""
        overrides = {**explicit_values(FitConfig, args, "fit"), **explicit_values(MethodConfig, args, "method")}
        return overrides.pop("name", None) or self.default_method, overrides

    # -- settings -----------------------------------------------------------------------------------

    def command_line_values(self, method: str) -> dict[str, Any]:
        """The loop and method values of ``sape-geo TASK --method METHOD``, as ``--help`` shows them:
        :meth:`default_values`, on :data:`DEFAULT_THREADS` torch threads."""
        return {**_COMMAND_LINE_VALUES, **self.default_values(method)}

    def default_values(self, method: str, overrides: Mapping[str, Any] | None = None, task: Any = None) -> dict[str, Any]:
        """FitConfig and MethodConfig values for ``method``: the plugin's defaults, its per-method ones,
        the task's input-dependent ones (``task.method_defaults``), then ``overrides``."""
        values = {**self.defaults, **self.per_method.get(method, {})}
        if task is not None:
            values.update(task.method_defaults(method))
        values.update(overrides or {})
        return values

    def configs(
        self, method: str | MethodConfig, overrides: Mapping[str, Any] | None = None, task: Any = None
    ) -> tuple[MethodConfig | None, FitConfig]:
        """The method's and the loop's settings for a run of this task.

        ``method`` by name gets this task's defaults for it; a :class:`MethodConfig` is used as given
        (``overrides`` may still change its fields); one of the task's ``extra_methods`` (no network)
        gets ``None`` for the method. Raises ``ValueError`` for an unknown setting.
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - _FIT_FIELDS - _METHOD_FIELDS)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)} for {self.name}; loop settings: "
                             f"{', '.join(sorted(_FIT_FIELDS))}; method settings: {', '.join(sorted(_METHOD_FIELDS - {'name'}))}")
        if isinstance(method, str) and method in self.extra_methods:
            values, method_config = self.default_values(method, overrides, task), None
        elif isinstance(method, MethodConfig):
            values = {**self.default_values(method.name, task=task), **overrides}
            method_config = method.replace(**{k: v for k, v in overrides.items() if k in _METHOD_FIELDS})
        else:
            values = self.default_values(method, overrides, task)
            method_config = MethodConfig(**{"name": method, **{k: v for k, v in values.items() if k in _METHOD_FIELDS and k != "name"}})
        fit_config = FitConfig(**{k: v for k, v in values.items() if k in _FIT_FIELDS})
        return method_config, fit_config

    def python_function(self, name: str, doc: str) -> Callable[..., Any]:
        """The task's one-call Python function, ``name(*inputs, method, out, settings, overwrite,
        callbacks, **overrides)``: the inputs in their declared order (positional or by name; optional
        ones default to None), then the run's arguments, all given to :func:`run_plugin`. ``doc`` is its
        docstring. Each built-in task exports one (``fit_image = PLUGIN.python_function("fit_image", ...)``).
        """
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        signature = inspect.Signature([
            *(inspect.Parameter(item.name, keyword, default=None if item.optional else inspect.Parameter.empty, annotation=Any)
              for item in self.inputs),
            inspect.Parameter("method", keyword, default=self.default_method, annotation=str | MethodConfig),
            inspect.Parameter("out", keyword, default=None, annotation=str | os.PathLike | None),
            inspect.Parameter("settings", keyword, default=None, annotation=self.settings | None),
            inspect.Parameter("overwrite", keyword, default=False, annotation=bool),
            inspect.Parameter("callbacks", keyword, default=(), annotation=Sequence[Callable[..., None]]),
            inspect.Parameter("overrides", inspect.Parameter.VAR_KEYWORD, annotation=Any),
        ])

        def run(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            inputs = {item.name: given[item.name] for item in self.inputs}
            return run_plugin(self, inputs, given["settings"], given["method"], given["out"], given["overwrite"],
                              callbacks=given["callbacks"], **given["overrides"])

        run.__name__ = run.__qualname__ = name
        run.__doc__ = doc
        run.__signature__ = signature  # type: ignore[attr-defined]  # what help() and inspect show
        return run

    def default_method_config(self, method: str | None = None, **changes: Any) -> MethodConfig:
        """This task's defaults for the network method ``method`` (default :attr:`default_method`) as a
        :class:`MethodConfig`; ``changes`` override any field. Each plugin exports it as its own
        ``default_method_config``."""
        return self.configs(method or self.default_method)[0].replace(**changes)

    def default_fit_config(self, method: str | None = None, **changes: Any) -> FitConfig:
        """This task's loop defaults for ``method`` (default :attr:`default_method`) as a :class:`FitConfig`;
        ``changes`` override any field. Each plugin exports it as its own ``default_fit_config``."""
        return self.configs(method or self.default_method, changes)[1]


def _word(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _class_default(name: str) -> Any:
    for cls in (FitConfig, MethodConfig):
        for item in dataclasses.fields(cls):
            if item.name == name:
                return item.default
    return None


def run_plugin(
    plugin: TaskPlugin,
    inputs: Mapping[str, Any],
    settings: Any = None,
    method: str | MethodConfig = DEFAULT_METHOD,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    extra_config: Mapping[str, Any] | None = None,
    callbacks: Sequence[Callable[..., None]] = (),
    make_task: Callable[..., Any] | None = None,
    **overrides: Any,
):
    """The one run path of every task: build the task from its inputs and settings, take the method's
    and the loop's settings (this task's defaults, then ``overrides``), fit (or let the task answer
    without a network, :meth:`~sape_geo.fitting.Task.without_network`), evaluate and, with ``out``,
    write the run directory.

    Parameters
    ----------
    plugin : the task.
    inputs : the task's inputs by name (paths or in-memory objects, see the plugin's ``inputs``).
    settings : the task's settings (default: its dataclass's defaults); a mapping of fields is accepted.
    method : a method name (this task's tuned defaults) or a full :class:`MethodConfig`.
    out : run directory; None fits without writing anything.
    overwrite : replace an existing run directory that sape-geo wrote.
    extra_config : more settings for ``config.json``.
    callbacks : ``callback(step, loss, model)`` after every step.
    make_task : builds the task instead of the plugin's ``make_task``, called the same way (e.g. from
        inputs prepared once for many runs).
    overrides : fields of the task's settings, :class:`FitConfig` or :class:`MethodConfig`
        (``points=160``, ``steps=300``, ``sigma=8``, ``seed=1``), told apart by name.

    Returns
    -------
    :class:`~sape_geo.experiment.RunResult`, whose ``extras`` hold the task's product in memory and
    ``task`` the task that ran.
    """
    if settings is None:
        settings = plugin.settings()
    elif isinstance(settings, Mapping):
        settings = replace_settings(plugin.settings(), settings)
    elif not isinstance(settings, plugin.settings):
        raise TypeError(f"settings of {plugin.name} must be a {plugin.settings.__name__}, got {type(settings).__name__}")
    task_fields = {f.name for f in dataclasses.fields(plugin.settings)}
    if task_fields & set(overrides):
        settings = replace_settings(settings, {k: overrides.pop(k) for k in sorted(task_fields & set(overrides))})
    known = {item.name for item in plugin.inputs}
    required = {item.name for item in plugin.inputs if not item.optional}
    if not required <= set(inputs) <= known:
        raise TypeError(f"{plugin.name} takes the inputs {', '.join(sorted(known)) or 'none'} (required: {', '.join(sorted(required)) or 'none'}), "
                        f"got {', '.join(sorted(inputs)) or 'none'}")
    inputs = {item.name: inputs.get(item.name) for item in plugin.inputs}  # in the declared order
    from sape_geo.experiment import run_task

    # the method's and loop's settings once before the task: a bad one fails before the input is read,
    # and the seed reaches a task that samples its inputs
    seed = plugin.configs(method, overrides)[1].seed
    if plugin.inputs and overrides.get("progress_bar", True):
        # reading a large input (labelling occupancy points, a scan, aligning and initialising a transfer)
        # takes seconds before the progress bar opens
        given = ", ".join(str(value) for value in inputs.values() if isinstance(value, (str, os.PathLike)))
        print(f"{plugin.name}: reading and preparing {given or 'the input'}", file=sys.stderr, flush=True)
    build = make_task or resolve(plugin.make_task)
    task = build(settings, **inputs, **({"seed": seed} if "seed" in inspect.signature(build).parameters else {}))
    method_config, fit_config = plugin.configs(method, overrides, task)  # again: the task's input-dependent defaults
    config = {**task.config_entries(), "settings": dataclasses.asdict(settings), **(extra_config or {})}
    name = method if isinstance(method, str) else method.name
    return run_task(task, method_config or name, fit_config, out, overwrite, extra_config=config, callbacks=callbacks)


def summary_lines(plugin: TaskPlugin, result: Any) -> list[str]:
    """The task's own lines of the one-screen summary."""
    return list(resolve(plugin.summarise)(result)) if plugin.summarise is not None else []


def discover_tasks() -> dict[str, TaskPlugin]:
    """Every installed task plugin by name. A plugin that fails to load is skipped with a warning."""
    plugins: dict[str, TaskPlugin] = {}
    for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            plugin = entry_point.load()
        except Exception as error:  # a broken third-party plugin must not take the CLI down
            warnings.warn(f"task plugin {entry_point.name!r} failed to load: {error}", RuntimeWarning, stacklevel=2)
            continue
        if not isinstance(plugin, TaskPlugin):
            warnings.warn(f"entry point {entry_point.name!r} is not a TaskPlugin", RuntimeWarning, stacklevel=2)
            continue
        plugins[plugin.name] = plugin
    return plugins


@lru_cache(maxsize=None)
def load_task(name: str) -> TaskPlugin | None:
    """The installed task plugin called ``name``, importing only its module; None if there is none."""
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        plugin = entry_point.load()
        if isinstance(plugin, TaskPlugin) and plugin.name == name:
            return plugin
    # a plugin whose entry point is named differently from its task: the full scan finds it
    return discover_tasks().get(name)
