"""TEMPORARY: the hand-written command-line helpers of plugins not yet generated from their settings.

A task plugin is a :class:`TaskPlugin` object exposed through the entry-point group ``sape_geo.tasks``::

    [project.entry-points."sape_geo.tasks"]
    fit1d = "sape_geo_plugins.fit1d:PLUGIN"

so a third-party package adds a task (and its ``sape-geo`` subcommand) by being installed, without
editing this repository. The core never imports a plugin by name.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from sape_geo.catalogue import DEFAULT_METHOD, method_descriptions, method_names
from sape_geo.config import FitConfig, MethodConfig

ENTRY_POINT_GROUP = "sape_geo.tasks"
# Torch threads of every task command: one. A step's matrices are small, so extra intra-op threads gain
# little and, on a shared or busy CPU, wait on each other (the transfer demo took 321 s with torch's 2
# threads on a loaded 2-core machine, 58 s with 1); one thread also gives the same numbers on every
# machine, and batch runs scale by running jobs side by side. --threads N for one large fit on an idle
# machine.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class TaskPlugin:
    """A task as the command line and batch runner see it.

    Attributes
    ----------
    name : the ``sape-geo`` subcommand, e.g. ``"fit1d"``.
    summary : one line for ``sape-geo --help``.
    description : the subcommand's ``--help`` text (what it does, its inputs and outputs).
    add_arguments : adds the task's own arguments (and the common ones) to its parser.
    run : runs the task from parsed arguments; returns a :class:`~sape_geo.experiment.RunResult`.
    summarise : optional; lines describing a finished run for the one-screen summary.
    """

    name: str
    summary: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Any]
    summarise: Callable[[Any], list[str]] | None = None


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
    """The installed task plugin called ``name``, importing only its module; None if there is none.

    :func:`discover_tasks` imports every plugin and its libraries; a worker that runs one task should
    not pay for the others.
    """
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        plugin = entry_point.load()
        if isinstance(plugin, TaskPlugin) and plugin.name == name:
            return plugin
    # a plugin whose entry point is named differently from its task: the full scan finds it
    return discover_tasks().get(name)


def _whole_number_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    return _whole_number_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return _whole_number_at_least(text, 0)


def positive_float(text: str) -> float:
    """argparse type: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def _method_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``; the value is read as JSON (``64``, ``2.2``, ``true``), else kept as text."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if parsed is None or not isinstance(parsed, (bool, int, float, str)):
        raise argparse.ArgumentTypeError(f"a method option's value must be a number, true/false or text, got {value!r}")
    return key.strip(), parsed


def _method_help() -> str:
    lines = [f"{name}: {text}" for name, text in method_descriptions().items()]
    return f"method (default {DEFAULT_METHOD}). " + "; ".join(lines)


def add_common_arguments(
    parser: argparse.ArgumentParser,
    *,
    default_steps: int,
    default_lr: float = 1e-3,
    default_hidden_layers: int = 3,
    default_epsilon: float = 1e-3,
    sigma_help: str = "Fourier-feature sigma in cycles per unit of the normalised [-1, 1] domain",
) -> None:
    """Options every task shares: method and its sizes, the loop, the run directory."""
    group = parser.add_argument_group("method")
    group.add_argument("--method", default=DEFAULT_METHOD, choices=method_names(), metavar="M", help=_method_help())
    group.add_argument("--sigma", type=positive_float, default=None, help=f"{sigma_help} (default: the task's, per method)")
    group.add_argument("--frequencies", type=positive_int, default=256, help="Fourier frequencies = SAPE levels (default 256)")
    group.add_argument("--hidden", type=positive_int, default=256, help="MLP width (default 256)")
    group.add_argument("--layers", type=positive_int, default=default_hidden_layers, help=f"MLP hidden layers (default {default_hidden_layers})")
    group.add_argument("--epsilon", type=float, default=default_epsilon, help=f"SAPE loss threshold (default {default_epsilon:g})")
    group.add_argument(
        "--open-fraction", type=float, default=None, metavar="F",
        help="pff and SAPE schedules: every level can be open by F x the steps, in (0, 1] (default: the task's; the paper's 0.5)",
    )
    group.add_argument("--omega0", type=positive_float, default=30.0, help="SIREN first-layer frequency scale (default 30)")
    group.add_argument(
        "--method-option", type=_method_option, action="append", default=[], metavar="KEY=VALUE",
        help="a method-specific setting, repeatable (e.g. --method-option bandlimit=64 for sasnet)",
    )

    loop = parser.add_argument_group("optimisation")
    loop.add_argument("--steps", type=positive_int, default=default_steps, help=f"optimisation steps (default {default_steps})")
    loop.add_argument("--lr", type=positive_float, default=default_lr, help=f"Adam learning rate (default {default_lr:g})")
    loop.add_argument("--seed", type=int, default=0, help="seed of every random generator (default 0)")
    loop.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    loop.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS,
                      help=f"CPU threads for torch (default {DEFAULT_THREADS}: faster on a busy machine, the same numbers everywhere)")
    loop.add_argument("--snapshots", type=non_negative_int, default=0, metavar="EVERY", help="save a playback frame every EVERY steps (default 0 = none)")
    loop.add_argument("--quiet", action="store_true", help="no progress bar")

    output = parser.add_argument_group("output")
    output.add_argument("--out", required=True, help="run directory to create (must be empty or missing)")
    output.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    output.add_argument("--json", action="store_true", help="after the summary, print metrics.json")


def method_config_from_args(
    args: argparse.Namespace, sigma_by_method: Mapping[str, float] | None = None, default_sigma: float = 10.0, **fixed: Any
) -> MethodConfig:
    """The :class:`MethodConfig` the common arguments describe.

    ``--sigma`` wins; otherwise ``sigma_by_method[method]`` (a task's tuned default) or ``default_sigma``.
    ``--open-fraction``, when given, wins over an ``open_fraction`` in ``fixed``.
    """
    sigma = args.sigma if args.sigma is not None else dict(sigma_by_method or {}).get(args.method, default_sigma)
    if getattr(args, "open_fraction", None) is not None:
        fixed["open_fraction"] = args.open_fraction
    command_line_options = dict(getattr(args, "method_option", None) or [])
    if command_line_options:
        fixed["options"] = tuple(sorted({**dict(fixed.get("options", ())), **command_line_options}.items()))
    return MethodConfig(
        name=args.method,
        sigma=float(sigma),
        num_frequencies=args.frequencies,
        hidden_dim=args.hidden,
        num_hidden_layers=args.layers,
        omega_0=args.omega0,
        epsilon=args.epsilon,
        **fixed,
    )


def fit_config_from_args(args: argparse.Namespace, **fixed: Any) -> FitConfig:
    """The :class:`FitConfig` the common arguments describe."""
    return FitConfig(
        steps=args.steps,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        progress_bar=not args.quiet,
        threads=args.threads,
        snapshot_every=args.snapshots,
        **fixed,
    )
