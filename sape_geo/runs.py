"""The run directory: the contract between fitting, the viewer, benchmarks and users' scripts.

::

    RUN/
      config.json     every setting, the seed, package versions, input paths and checksums
      metrics.json    final metrics with units in their names; written last: a run is complete iff it exists
      history.csv     step, loss, seconds, mean progress
      progress.npy    final progress per location: the heat map
      result.*        the task's product
      model.pt        weights, encoding buffers and mask state, with the spec to rebuild the network
      snapshots.npz   optional frames for playback

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so a crash
never leaves a half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
PROGRESS_FILE = "progress.npy"
MODEL_FILE = "model.pt"
SNAPSHOTS_FILE = "snapshots.npz"
HISTORY_COLUMNS = ("step", "loss", "seconds", "mean_progress")

_VERSIONED_PACKAGES = ("sape-geo", "torch", "numpy", "scipy", "libigl", "trimesh", "open3d", "polyscope", "scikit-image", "pillow")


class RunDirectoryExistsError(FileExistsError):
    """The output directory already holds files and ``overwrite`` was not given."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; on success rename it into place, else delete it.

    For libraries that write to a path themselves (trimesh, PIL, torch.save). The temporary name keeps
    the final suffix so format detection by extension still works.

    Example
    -------
    >>> with atomic_path(run / "result.obj") as tmp:  # doctest: +SKIP
    ...     mesh.export(tmp)
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f".{final_path.name}.", suffix=f".tmp{final_path.suffix}", dir=final_path.parent
    )
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp creates 0600; results are meant to be shared like any file the user writes.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, final_path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default, allow_nan=True) + "\n")


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_input_file(path: str | os.PathLike) -> dict[str, Any]:
    """Absolute path, size and SHA-256 of an input file, for ``config.json``."""
    path = Path(path)
    return {"path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def environment_versions() -> dict[str, Any]:
    """Python, platform, package versions and the compute device, for ``config.json``."""
    versions: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    versions["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return versions


class RunDirectory:
    """A run's output folder.

    Parameters
    ----------
    path : the folder; created if missing.
    overwrite : if the folder is not empty, replace it (only when it is a previous run directory, i.e.
        holds ``config.json``; any other non-empty folder is refused so user files are never deleted).

    Raises
    ------
    RunDirectoryExistsError : the folder holds files and ``overwrite`` is False, or it is not a run
        directory and would have to be deleted.
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryExistsError(f"{self.path} exists and is not a directory")
        if self.path.is_dir() and any(self.path.iterdir()):
            if not overwrite:
                raise RunDirectoryExistsError(
                    f"run directory {self.path} is not empty; pass --overwrite (overwrite=True) to replace it"
                )
            if not (self.path / CONFIG_FILE).exists():
                raise RunDirectoryExistsError(
                    f"{self.path} is not empty and is not a sape-geo run directory (no {CONFIG_FILE}); "
                    "refusing to delete it even with --overwrite"
                )
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    @contextlib.contextmanager
    def atomic(self, name: str) -> Iterator[Path]:
        """Temporary path for ``name`` that becomes the final file only if the block succeeds."""
        with atomic_path(self.file(name)) as temporary:
            yield temporary

    def write_json(self, name: str, data: Any) -> None:
        write_json_atomic(self.file(name), data)

    def write_config(self, config: Mapping[str, Any]) -> None:
        self.write_json(CONFIG_FILE, {**config, "versions": environment_versions()})

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Write ``metrics.json``; call it last, it marks the run complete."""
        self.write_json(METRICS_FILE, dict(metrics))

    def write_history(self, rows: Sequence[Mapping[str, Any]]) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.file(HISTORY_FILE), buffer.getvalue())

    def write_array(self, name: str, array: np.ndarray) -> None:
        with self.atomic(name) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, np.asarray(array))

    def write_arrays(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        with self.atomic(name) as temporary:
            with open(temporary, "wb") as handle:
                np.savez_compressed(handle, **{key: np.asarray(value) for key, value in arrays.items()})

    def save_model(self, model: torch.nn.Module) -> None:
        """``model.pt``: the spec to rebuild the network (:func:`sape_geo.load_model`) and its state."""
        payload = {"spec": model.spec.to_dict(), "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
        with self.atomic(MODEL_FILE) as temporary:
            torch.save(payload, temporary)

    @property
    def is_complete(self) -> bool:
        return is_complete_run(self.path)


def is_complete_run(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a finished run (its ``metrics.json`` exists; it is written last)."""
    return (Path(path) / METRICS_FILE).is_file()


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
