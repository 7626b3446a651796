"""The local rotation of a map ``source -> result`` between two meshes of the same connectivity: at each
vertex, the rotation (Kabsch, ``det = +1``) that best carries the source's edges around it onto the
result's. Metrics (inverted triangles, turned polygons), template files (rotated normals) and carried
geometry all read a map's local frame from here; it depends on NumPy alone, so the low-level mesh
types can use it too.
"""

from __future__ import annotations

import numpy as np


def vertex_covariances(source: np.ndarray, result: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(n, 3, 3)`` per vertex: the sum of ``e_source e_result^T`` over the edges of its triangles (the
    covariance whose Kabsch rotation is the map's local rotation there)."""
    covariance = np.zeros((source.shape[0], 3, 3))
    for i, j in ((0, 1), (1, 2), (2, 0)):
        outer = np.einsum("ka,kb->kab", source[faces[:, j]] - source[faces[:, i]], result[faces[:, j]] - result[faces[:, i]])
        np.add.at(covariance, faces[:, i], outer)
        np.add.at(covariance, faces[:, j], outer)
    return covariance


def best_rotations(covariances: np.ndarray) -> np.ndarray:
    """``(k, 3, 3)`` the rotations (det +1, Kabsch) that best carry source edges onto result edges, given
    their covariances ``(k, 3, 3)``; the identity where a covariance is zero (no edges)."""
    u, _, vt = np.linalg.svd(covariances)
    sign = np.sign(np.linalg.det(np.transpose(vt, (0, 2, 1)) @ np.transpose(u, (0, 2, 1))))
    sign[sign == 0] = 1.0
    u[:, :, 2] *= sign[:, None]
    rotations = np.transpose(vt, (0, 2, 1)) @ np.transpose(u, (0, 2, 1))
    rotations[~np.abs(covariances).reshape(len(covariances), -1).any(axis=1)] = np.eye(3)
    return rotations
