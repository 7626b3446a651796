"""Reading a run directory for the viewer: the files of the run-directory contract, nothing else.

Unlike :func:`sape_geo.experiment.load_run` this also accepts a run that is still going (no
``metrics.json`` yet), so a user can look at a live run's config and snapshots; the panel says so.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sape_geo.runs import CONFIG_FILE, HISTORY_FILE, METRICS_FILE, PROGRESS_FILE, SNAPSHOTS_FILE, read_json


class RunLoadError(ValueError):
    """A run directory or one of its files is missing or malformed; the message names the file."""


@dataclass
class ViewerRun:
    """One run directory as read from disk.

    Attributes
    ----------
    path : the run directory.
    task : the task name (``config.json`` ``["task"]["task"]``).
    config, metrics : the JSON files (metrics empty while the run is unfinished).
    progress : ``progress.npy`` (shape depends on the task), or None.
    snapshots : arrays of ``snapshots.npz`` with a leading frame axis (empty: no playback).
    history : columns of ``history.csv`` (empty when absent).
    complete : ``metrics.json`` exists.
    """

    path: Path
    task: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    progress: np.ndarray | None
    snapshots: dict[str, np.ndarray] = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    complete: bool = True

    @property
    def label(self) -> str:
        return self.path.name or str(self.path)

    @property
    def method(self) -> str:
        return str(self.config.get("method", {}).get("name", "?"))

    @property
    def task_config(self) -> dict[str, Any]:
        return dict(self.config.get("task", {}))

    def file(self, name: str) -> Path:
        return self.path / name

    def result_file(self, suffix: str) -> Path:
        """``result<suffix>`` of the run; RunLoadError when the task did not write it."""
        path = self.path / f"result{suffix}"
        if not path.is_file():
            raise RunLoadError(f"{self.path}: the {self.task!r} run has no result{suffix}")
        return path


def load_viewer_run(path: str | os.PathLike) -> ViewerRun:
    """Read a run directory (finished or still running).

    Raises
    ------
    FileNotFoundError : ``path`` is missing or has no ``config.json``.
    RunLoadError : a file of the run is unreadable (the message names it).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory not found: {path}")
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{path} is not a sape-geo run directory (no {CONFIG_FILE})")
    config = _read_json(config_path)
    if not isinstance(config, dict) or not isinstance(config.get("task"), dict) or "task" not in config["task"]:
        raise RunLoadError(f"{config_path}: no task name (expected a 'task' object with a 'task' entry)")
    metrics_path = path / METRICS_FILE
    metrics = _read_json(metrics_path) if metrics_path.is_file() else {}
    return ViewerRun(
        path=path,
        task=str(config["task"]["task"]),
        config=config,
        metrics=metrics,
        progress=read_optional_array(path / PROGRESS_FILE),
        snapshots=_read_snapshots(path / SNAPSHOTS_FILE),
        history=_read_history(path / HISTORY_FILE),
        complete=metrics_path.is_file(),
    )


def _read_json(path: Path) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError) as error:
        raise RunLoadError(f"cannot read {path}: {error}") from None


def read_optional_array(path: Path) -> np.ndarray | None:
    """The array of ``path`` (a ``.npy`` file), None when there is no such file; RunLoadError when unreadable."""
    if not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise RunLoadError(f"cannot read {path}: {error}") from None


def _read_snapshots(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise RunLoadError(f"cannot read {path}: {error}") from None
    lengths = {key: len(value) for key, value in arrays.items() if value.ndim >= 1}
    if len(set(lengths.values())) > 1:
        raise RunLoadError(f"{path}: arrays have different frame counts {lengths}")
    return arrays


def _read_history(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as error:
        raise RunLoadError(f"cannot read {path}: {error}") from None
    if not rows:
        return {}
    try:
        return {column: np.array([float(row[column]) for row in rows]) for column in rows[0]}
    except (TypeError, ValueError) as error:
        raise RunLoadError(f"{path}: not a table of numbers ({error})") from None
