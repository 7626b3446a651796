"""Inside/outside labels for points against a triangle mesh that may be slightly broken.

The generalised winding number (Jacobson et al. 2013) is 1 inside a closed, consistently oriented
surface and 0 outside, and degrades gracefully on open, non-manifold or self-intersecting meshes
(real Thingi10K files): a small hole changes it by about the solid angle the hole subtends, so
thresholding at 1/2 still labels points well away from the hole correctly. libigl's fast winding number
(Barill et al. 2018) evaluates it with a tree, in roughly ``O(log F)`` per query.

It needs faces that agree on their orientation, though: a closed mesh whose faces point both ways
(common in STL exports, which store each triangle on its own) has a winding number near 0 almost
everywhere. :func:`orient_faces` makes them agree first (libigl's ``bfs_orient`` per connected patch,
each patch keeping the orientation most of its area had).
"""

from __future__ import annotations

import numpy as np

from sape_geo.geometry.mesh_io import check_mesh, check_points, face_areas

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


def misoriented_edges(faces: np.ndarray) -> int:
    """Edges that two faces traverse in the same direction ``(a -> b)``: 0 for a consistently oriented mesh.

    Example
    -------
    >>> misoriented_edges(np.array([[0, 1, 2], [0, 1, 3]]))
    1
    """
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, counts = np.unique(directed, axis=0, return_counts=True)
    return int((counts > 1).sum())


def orient_faces(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, int]:
    """Faces ``(m, 3)`` reordered so that neighbours agree on their orientation, and how many were flipped.

    libigl's ``bfs_orient`` makes each connected patch consistent; each patch then keeps the orientation
    that most of its area had in the file, so a few stray triangles are turned, and a hollow part's inner
    shell, facing inward on purpose, stays so (its cavity keeps winding number 0). Vertices never change.
    """
    import igl

    oriented, patch = igl.bfs_orient(np.ascontiguousarray(faces, dtype=np.int64))
    oriented = np.array(oriented, dtype=np.int64)
    same_turn = _same_turn(oriented, faces)
    areas = face_areas(vertices, faces)
    for label in np.unique(patch):
        members = patch == label
        if areas[members & same_turn].sum() < areas[members & ~same_turn].sum():
            oriented[members] = oriented[members][:, ::-1]
    return oriented, int((~_same_turn(oriented, faces)).sum())


def _same_turn(faces: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``(m,)`` True where a face is a rotation of the reference face's corners (the same orientation)."""
    same = np.zeros(faces.shape[0], dtype=bool)
    for shift in range(3):
        same |= np.all(faces == np.roll(reference, shift, axis=1), axis=1)
    return same
