"""Inside/outside labels for points against a triangle mesh that may be slightly broken.

The generalised winding number (Jacobson et al. 2013) is 1 inside a closed, consistently oriented
surface and 0 outside, and degrades gracefully on open, non-manifold or self-intersecting meshes
(real Thingi10K files): a small hole changes it by about the solid angle the hole subtends, so
thresholding at 1/2 still labels points well away from the hole correctly. libigl's fast winding number
(Barill et al. 2018) evaluates it with a tree, in roughly ``O(log F)`` per query.
"""

from __future__ import annotations

import numpy as np

from sape_geo.geometry.mesh_io import check_mesh, check_points

INSIDE_THRESHOLD = 0.5
DEFAULT_CHUNK = 200_000


def winding_numbers(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """Generalised winding number of ``points`` ``(N, 3)`` with respect to the mesh ``(V, F)``, ``(N,)``.

    About 1 inside, 0 outside; the sign flips with the mesh's orientation. Evaluated in chunks of
    ``chunk_size`` points to bound memory.
    """
    import igl

    V, F = check_mesh(vertices, faces)
    queries = np.asarray(points, dtype=np.float64)
    if queries.ndim != 2 or queries.shape[1] != 3:
        raise ValueError(f"points must be an (N, 3) array, got shape {queries.shape}")
    if queries.shape[0] == 0:
        return np.zeros(0)
    queries = check_points(queries, what="query points")
    parts = [igl.fast_winding_number(V, F, queries[start:start + chunk_size]) for start in range(0, queries.shape[0], chunk_size)]
    return np.concatenate(parts)


def inside_mask(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """``(N,)`` booleans, True where ``|winding number| > 1/2`` (1 = inside).

    The absolute value makes the labels independent of the mesh's global orientation (an inward-facing
    mesh has winding number -1 inside).

    Example
    -------
    >>> import trimesh
    >>> sphere = trimesh.creation.icosphere(3)
    >>> inside_mask(sphere.vertices, sphere.faces, np.array([[0.0, 0, 0], [2.0, 0, 0]])).tolist()
    [True, False]
    """
    return np.abs(winding_numbers(vertices, faces, points, chunk_size)) > INSIDE_THRESHOLD
