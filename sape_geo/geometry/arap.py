"""As-rigid-as-possible deformation with landmark handles (libigl's ``arap_precomputation`` /
``arap_solve``, Sorkine and Alexa 2007): the handles land exactly and every one-ring stays as close to a
rotation of its rest shape as it can, so a large pose change (a limb swung round) bends instead of
shearing the way the linear biharmonic field does. See docs/method.md, "Initialisation".

libigl needs every vertex in a face and a handle in every component; vertices it cannot place
(unreferenced, or in a component without a handle) keep the positions of ``initial``.
"""

from __future__ import annotations

import igl
import numpy as np

from sape_geo.geometry.mesh_io import face_components


def arap_deform(
    rest: np.ndarray, faces: np.ndarray, handles: np.ndarray, handle_positions: np.ndarray, initial: np.ndarray,
    iterations: int = 20,
) -> np.ndarray:
    """New positions ``(n, 3)``: ``handles`` at ``handle_positions`` ``(k, 3)``, the rest ARAP-deformed from
    the rest shape ``rest`` ``(n, 3)``, starting from ``initial`` ``(n, 3)`` (e.g. the biharmonic result).

    Parameters
    ----------
    rest : rest positions (the source after the affine alignment).
    faces : (m, 3) non-degenerate triangles.
    handles : (k,) unique vertex ids.
    handle_positions : (k, 3) where they go.
    initial : the starting guess of the local-global iterations.
    iterations : local-global iterations.
    """
    rest = np.ascontiguousarray(rest, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    handles = np.asarray(handles, dtype=np.int64).reshape(-1)
    result = np.array(initial, dtype=np.float64, copy=True)
    labels = face_components(rest.shape[0], faces)
    handled = np.unique(labels[handles])
    handled = handled[handled >= 0]
    keep = np.isin(labels, handled)
    if not keep.any():
        return result
    old_ids = np.flatnonzero(keep)
    new_id = np.full(rest.shape[0], -1, dtype=np.int64)
    new_id[old_ids] = np.arange(old_ids.size)
    sub_faces = new_id[faces]
    sub_faces = np.ascontiguousarray(sub_faces[(sub_faces >= 0).all(axis=1)])
    in_system = keep[handles]
    sub_handles = new_id[handles[in_system]].astype(np.int32)
    data = igl.ARAPData()
    data.max_iter = int(iterations)
    igl.arap_precomputation(rest[old_ids], sub_faces, 3, sub_handles, data)
    solved = igl.arap_solve(np.ascontiguousarray(handle_positions[in_system], dtype=np.float64), data, np.ascontiguousarray(result[old_ids]))
    if np.isfinite(solved).all():
        result[old_ids] = solved
    result[handles] = handle_positions
    return result
