"""Random points on a triangle mesh's surface, uniform with respect to area (trimesh's sampler)."""

from __future__ import annotations

import numpy as np

from sape_geo.geometry.mesh_io import check_mesh, face_areas


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``count`` points ``(count, 3)`` uniformly distributed over the surface area of ``(V, F)``.

    trimesh draws a face with probability proportional to its area, then a point inside it.

    Parameters
    ----------
    vertices, faces : the mesh, ``(n, 3)`` and ``(m, 3)``.
    count : number of points (>= 0).
    seed : an integer, or a numpy random generator (drawn from, so a caller can thread one stream).

    Raises
    ------
    ValueError : negative count, or a mesh of zero total area.
    """
    import trimesh

    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    V, F = check_mesh(vertices, faces)
    if not float(face_areas(V, F).sum()) > 0.0:
        raise ValueError("cannot sample the surface of a mesh with zero total area")
    mesh = trimesh.Trimesh(V, F, process=False, validate=False)
    points, _ = trimesh.sample.sample_surface(mesh, int(count), seed=seed)
    return np.asarray(points, dtype=np.float64)
