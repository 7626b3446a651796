"""Run a task end to end into a run directory, and read runs back.

:func:`run_task` is what every plugin's command and Python API call: it is the only place that knows
the order of the run directory's files, so no plugin repeats it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sape_geo.fitting import Callback, FitConfig, FitResult, NetworkFree, Task, choose_device, fit
from sape_geo.methods import MethodConfig, ModelSpec, build_model
from sape_geo.networks import FieldModel
from sape_geo.runs import (
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PROGRESS_FILE,
    SNAPSHOTS_FILE,
    RunDirectory,
    read_json,
)


@dataclass
class RunResult:
    """The outcome of :func:`run_task`.

    Attributes
    ----------
    path : the run directory (None when run without one).
    metrics : final metrics (also in ``metrics.json``).
    progress : the heat map written to ``progress.npy``.
    model : the trained network (on the device it was trained on); None for a method the task answered
        without one (:meth:`~sape_geo.fitting.Task.without_network`).
    fit : the loop's history and stop reason (None without a network).
    extras : the task's product in memory (:meth:`~sape_geo.fitting.Task.product`).
    task : the task that ran (its prepared inputs, for a Python API that returns more than the run).
    """

    path: Path | None
    metrics: dict[str, Any]
    progress: np.ndarray
    model: FieldModel | None
    fit: FitResult | None
    extras: dict[str, Any] = field(default_factory=dict)
    task: Task | None = None


def _status(fit_config: FitConfig, message: str) -> None:
    """A status line on stderr, where the progress bar was (not with ``progress_bar=False``)."""
    if fit_config.progress_bar:
        print(message, file=sys.stderr, flush=True)


def write_run(
    run: RunDirectory,
    config: Mapping[str, Any] | None,
    metrics: dict[str, Any],
    progress: np.ndarray,
    export: Callable[[RunDirectory], None],
    history: Sequence[Mapping[str, float]] = (),
    model: FieldModel | None = None,
    snapshots: Sequence[Mapping[str, np.ndarray]] = (),
) -> Path:
    """The one run writer: completes ``run`` (opened before the work, so a folder that cannot be
    written fails early and stays locked while the work runs), or discards it and changes nothing.

    Order of writes: ``config.json`` first (None: already written when the run was opened, so a run
    that crashes says what it was), then ``history.csv``, ``model.pt`` (when there is a
    network), ``progress.npy``, the task's ``result.*`` (``export(run)``), ``snapshots.npz``, and
    ``metrics.json`` last, which marks the run complete. The files are written into a folder beside
    ``out`` that replaces ``out`` only when complete (:class:`~sape_geo.runs.RunDirectory`): an
    interrupted or failed write leaves the previous run as it was. ``metrics["export_seconds"]`` is set.
    """
    try:
        started = time.perf_counter()
        if config is not None:
            run.write_config(dict(config))
        run.write_history(list(history))
        if model is not None:
            run.save_model(model)
        run.write_array(PROGRESS_FILE, progress)
        export(run)
        if snapshots:
            run.write_arrays(SNAPSHOTS_FILE, _stack_snapshots(list(snapshots)))
        metrics["export_seconds"] = time.perf_counter() - started
        run.write_metrics(metrics)
    except BaseException:
        # Interrupted or failed: the folder being built goes, the previous run (if any) stays as it was.
        run.discard()
        raise
    return run.path


def run_task(
    task: Task,
    method: MethodConfig | str,
    fit_config: FitConfig,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    extra_config: Mapping[str, Any] | None = None,
    extra_metrics: Mapping[str, Any] | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Build the method's network for ``task``, fit it, evaluate it, and (with ``out``) write the run
    directory through :func:`write_run`.

    Parameters
    ----------
    task : the task to fit (its :meth:`~sape_geo.fitting.Task.initialise`, ``finish``, ``evaluate``,
        ``product`` and ``export`` are called here, in that order).
    method, fit_config : method and loop settings. A method the task answers without a network
        (:meth:`~sape_geo.fitting.Task.without_network`; by name when the catalogue has no network
        for it) writes the same run directory less ``model.pt``, ``history.csv`` entries and the
        network's settings.
    out : run directory; None fits without writing anything.
    overwrite : replace an existing run directory (one this tool wrote; see :mod:`sape_geo.runs`).
    extra_config : more settings for ``config.json`` (e.g. the command line).
    extra_metrics : metrics measured before fitting (e.g. seconds of preprocessing stages).
    callbacks : more ``callback(step, loss, model)`` calls after every step, after the task's own
        (e.g. to record quality against wall time).

    Returns
    -------
    :class:`RunResult`; ``extras`` holds the task's product in memory (:meth:`~sape_geo.fitting.Task.product`).
    """
    name = method if isinstance(method, str) else method.name
    answer = task.without_network(name)
    if answer is not None:
        return _run_without_network(task, name, answer, fit_config, out, overwrite, extra_config)
    if isinstance(method, str):
        raise ValueError(f"method {name!r}: {task.name} has no answer for it without a network, and the catalogue no network")
    spec = ModelSpec(
        method=method,
        in_dim=task.in_dim,
        out_dim=task.out_dim,
        total_steps=fit_config.steps,
        domain=task.mask_domain(),
        zero_output=task.zero_output,
        seed=fit_config.seed,
    )
    # A bad method setting, device or output folder must fail before anything is fitted.
    choose_device(fit_config.device)
    model = build_model(spec)
    run = RunDirectory(out, overwrite=overwrite) if out is not None else None
    try:
        if run is not None:
            run.write_config(
                {
                    "task": task.describe(),
                    "method": method.to_dict(),
                    "fit": fit_config.to_dict(),
                    "model": spec.to_dict(),
                    "seed": fit_config.seed,
                    **(extra_config or {}),
                }
            )
        initial_metrics = dict(task.initialise(model, fit_config))
        result = fit(task, model, fit_config, callbacks=(*task.callbacks(), *callbacks))
        finish_metrics = task.finish(model)
        model.eval()
        # after the progress bar closes, say what the seconds until the summary are spent on
        _status(fit_config, f"{task.name}: evaluating ({task.evaluation_summary})")
        evaluation_started = time.perf_counter()
        with torch.no_grad():
            metrics = {**(extra_metrics or {}), **initial_metrics, **finish_metrics}
            metrics.update(task.evaluate(model))
            progress = np.asarray(task.progress_map(model), dtype=np.float32)
            product = dict(task.product(model))
    except BaseException:
        if run is not None:
            run.discard()
        raise
    metrics.update(
        {
            "fit_seconds": result.seconds,
            "evaluate_seconds": time.perf_counter() - evaluation_started,
            "steps_done": result.steps_done,
            "final_loss": result.history[-1]["loss"] if result.history else float("nan"),
            # the mean of the heat map (progress.npy: vertices, pixels, curve points) ...
            "mean_progress": float(progress.mean()) if progress.size else 0.0,
            "std_progress": float(progress.std()) if progress.size else 0.0,  # the heat map's spread
            # ... and of the mask's own locations (grid nodes or samples), as in history.csv
            "mask_mean_progress": float(model.mask_mean_progress()),
            "max_progress": float(model.max_progress),
            "parameters": sum(p.numel() for p in model.parameters()),
            "stop_reason": result.stop_reason,
            "stop_message": result.message,
        }
    )
    path = None
    if run is not None:
        _status(fit_config, f"{task.name}: {metrics['evaluate_seconds']:.1f} s; writing the run directory {run.path}")

        def export(run: RunDirectory) -> None:
            with torch.no_grad():
                task.export(model, run)

        path = write_run(run, None, metrics, progress, export, result.history, model, result.snapshots)
    return RunResult(path, metrics, progress, model, result, product, task)


def _run_without_network(
    task: Task, method: str, answer: Callable[[], NetworkFree], fit_config: FitConfig, out: str | os.PathLike | None,
    overwrite: bool, extra_config: Mapping[str, Any] | None,
) -> RunResult:
    """:func:`run_task` for a method the task answers without a network: the run directory opened
    before the work, the same writer, no network files."""
    run = RunDirectory(out, overwrite=overwrite) if out is not None else None  # a bad folder fails before the work
    try:
        result = answer()
    except BaseException:
        if run is not None:
            run.discard()
        raise
    path = None
    if run is not None:
        config = {"task": task.describe(), "method": {"name": method}, "seed": fit_config.seed, **(extra_config or {})}
        path = write_run(run, config, result.metrics, result.progress, result.export)
    return RunResult(path, result.metrics, result.progress, None, None, result.product, task)


def _stack_snapshots(frames: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Frames of equal keys -> one array per key with a leading frame axis."""
    return {key: np.stack([np.asarray(frame[key]) for frame in frames]) for key in frames[0]}


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> FieldModel:
    """Rebuild a trained network from ``model.pt`` (or a run directory holding one), mask state included."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    payload = torch.load(path, map_location=map_location, weights_only=True)
    model = build_model(ModelSpec.from_dict(payload["spec"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(map_location)


@dataclass
class LoadedRun:
    """A finished run read back from disk."""

    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    progress: np.ndarray | None

    def model(self) -> FieldModel:
        return load_model(self.path)


def load_run(path: str | os.PathLike) -> LoadedRun:
    """Read ``config.json``, ``metrics.json`` and ``progress.npy`` of a run directory."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a sape-geo run directory (no {CONFIG_FILE})")
    if not (path / METRICS_FILE).is_file():
        raise FileNotFoundError(f"{path} is an unfinished run (no {METRICS_FILE})")
    progress_path = path / PROGRESS_FILE
    progress = np.load(progress_path) if progress_path.is_file() else None
    return LoadedRun(path, read_json(path / CONFIG_FILE), read_json(path / METRICS_FILE), progress)
