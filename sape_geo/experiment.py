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

from sape_geo.fitting import Callback, FitConfig, FitResult, Task, fit
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
    model : the trained network (on the device it was trained on).
    fit : the loop's history and stop reason.
    """

    path: Path | None
    metrics: dict[str, Any]
    progress: np.ndarray
    model: FieldModel
    fit: FitResult
    extras: dict[str, Any] = field(default_factory=dict)


def _status(fit_config: FitConfig, message: str) -> None:
    """A status line on stderr, where the progress bar was (not with ``progress_bar=False``)."""
    if fit_config.progress_bar:
        print(message, file=sys.stderr, flush=True)


def run_task(
    task: Task,
    method: MethodConfig,
    fit_config: FitConfig,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    zero_output: bool = False,
    extra_config: dict[str, Any] | None = None,
    extra_metrics: dict[str, Any] | None = None,
    initialise: Callable[[FieldModel], Mapping[str, Any]] | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Build the method's network for ``task``, fit it, and write the run directory.

    Order of writes: ``config.json`` first (so a crashed run says what it was), then ``history.csv``,
    ``model.pt``, ``progress.npy``, the task's ``result.*``, ``snapshots.npz``, and ``metrics.json``
    last, which marks the run complete. The files are written into a folder beside ``out`` that
    replaces ``out`` only when complete (:class:`~sape_geo.runs.RunDirectory`): an interrupted or
    failed run leaves the previous run as it was.

    Parameters
    ----------
    task : the task to fit.
    method, fit_config : method and loop settings.
    out : run directory; None fits without writing anything.
    overwrite : replace an existing run directory.
    zero_output : start the network's output at exactly zero (tasks that learn a correction).
    extra_config : more settings for ``config.json`` (e.g. the command line).
    extra_metrics : metrics measured before fitting (e.g. seconds of preprocessing stages).
    initialise : called with the freshly built network before fitting, to start it somewhere other
        than its random initialisation (e.g. calibrate it on a simpler task through :func:`fit`); it
        returns metrics of that stage, recorded with the run's.
    callbacks : more ``callback(step, loss, model)`` calls after every step, after the task's own
        (e.g. to record quality against wall time).
    """
    spec = ModelSpec(
        method=method,
        in_dim=task.in_dim,
        out_dim=task.out_dim,
        total_steps=fit_config.steps,
        domain=task.mask_domain(),
        zero_output=zero_output,
        seed=fit_config.seed,
    )
    # The network first: a bad method setting must fail before the run directory is created, or an
    # existing one replaced.
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
        # Methods with several learning rates (sasnet: backbone vs. mask network) expose their Adam groups.
        parameter_groups = model.parameter_groups() if hasattr(model, "parameter_groups") else None
        initial_metrics = dict(initialise(model)) if initialise is not None else {}
        result = fit(task, model, fit_config, callbacks=(*task.callbacks(), *callbacks), parameter_groups=parameter_groups)
        finish_metrics = task.finish(model)
        model.eval()
        # after the progress bar closes, say what the seconds until the summary are spent on
        _status(fit_config, f"{task.name}: evaluating ({getattr(task, 'evaluation_summary', 'metrics, heat map')})")
        evaluation_started = time.perf_counter()
        with torch.no_grad():
            metrics = {**(extra_metrics or {}), **initial_metrics, **finish_metrics}
            metrics.update(task.evaluate(model))
            progress = np.asarray(task.progress_map(model), dtype=np.float32)
        metrics.update(
            {
                "fit_seconds": result.seconds,
                "evaluate_seconds": time.perf_counter() - evaluation_started,
                "steps_done": result.steps_done,
                "final_loss": result.history[-1]["loss"] if result.history else float("nan"),
                "mean_progress": float(progress.mean()) if progress.size else 0.0,
                "max_progress": float(getattr(model, "max_progress", 0.0)),
                "parameters": sum(p.numel() for p in model.parameters()),
                "stop_reason": result.stop_reason,
                "stop_message": result.message,
            }
        )
        if run is not None:
            _status(fit_config, f"{task.name}: {metrics['evaluate_seconds']:.1f} s; writing the run directory {run.path}")
            export_started = time.perf_counter()
            run.write_history(result.history)
            run.save_model(model)
            run.write_array(PROGRESS_FILE, progress)
            with torch.no_grad():
                task.export(model, run)
            if result.snapshots:
                run.write_arrays(SNAPSHOTS_FILE, _stack_snapshots(result.snapshots))
            metrics["export_seconds"] = time.perf_counter() - export_started
            run.write_metrics(metrics)
    except BaseException:
        # Interrupted or failed: the folder being built goes, the previous run (if any) stays as it was.
        if run is not None:
            run.discard()
        raise
    return RunResult(run.path if run is not None else None, metrics, progress, model, result)


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
