"""The error every geometry reader raises and the check of a point array, shared by mesh and
point-cloud I/O (:mod:`sape_geo.geometry.mesh_io`, :mod:`sape_geo.geometry.point_clouds`).

They live apart from both so each reader imports them without importing the other: ``mesh_io`` reads
scans through ``point_clouds``, and ``point_clouds`` raises the same error.
"""

from __future__ import annotations

import os

import numpy as np

from sape_geo.arrays import from_tensor


class MeshInputError(ValueError):
    """A mesh or point-cloud file (or array) that cannot be used; the message names the file and the fault."""


def source_name(source: str | os.PathLike | None) -> str:
    """How a message names an input: its path, or ``mesh`` for an array."""
    return str(source) if source is not None else "mesh"


def check_points(points: np.ndarray, source: str | os.PathLike | None = None, what: str = "points") -> np.ndarray:
    """``(n, 3)`` float64 copy of ``points``; :class:`MeshInputError` for a wrong shape, empty or non-finite input."""
    array = np.asarray(from_tensor(points), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise MeshInputError(f"{source_name(source)}: {what} must be an (n, 3) array, got shape {array.shape}")
    if array.shape[0] == 0:
        raise MeshInputError(f"{source_name(source)}: no {what}")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise MeshInputError(f"{source_name(source)}: {int(bad.sum())} {what} have NaN/Inf coordinates (first: index {first})")
    return np.ascontiguousarray(array)
