"""Random points on a triangle mesh's surface, uniform with respect to area."""

from __future__ import annotations

import numpy as np

from sape_geo.geometry.mesh_io import check_mesh, face_areas


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points ``(count, 3)`` uniformly distributed over the surface area of ``(V, F)``.

    A face is drawn with probability proportional to its area, then a point inside it with the
    square-root barycentric rule (uniform over the triangle).

    Parameters
    ----------
    vertices, faces : the mesh, ``(n, 3)`` and ``(m, 3)``.
    count : number of points (>= 0).
    rng : numpy random generator (the caller's seed makes the samples reproducible).

    Raises
    ------
    ValueError : negative count, or a mesh of zero total area.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    V, F = check_mesh(vertices, faces)
    areas = face_areas(V, F)
    total = float(areas.sum())
    if not total > 0.0:
        raise ValueError("cannot sample the surface of a mesh with zero total area")
    chosen = rng.choice(F.shape[0], size=count, p=areas / total)
    first, second = rng.random(count), rng.random(count)
    root = np.sqrt(first)
    a, b, c = (V[F[chosen, k]] for k in range(3))
    return (1.0 - root)[:, None] * a + (root * (1.0 - second))[:, None] * b + (root * second)[:, None] * c
