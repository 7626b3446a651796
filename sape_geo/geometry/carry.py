"""Moving other geometry with a deformed surface, and keeping parts rigid (docs/method.md, "Accessories").

**Carrying** (as Houdini's Point Deform or Wrap's accessory binding do): each point ``p`` is bound to
its closest point ``c`` on the rest surface (triangle, barycentric weights ``w``; libigl's
point-to-mesh distance) and keeps its offset ``d = p - c``. After the deformation it goes to

    ``p' = c' + M d``,  ``c' = sum_i w_i v'_i``,  ``M = sum_i w_i s_i R_i``

with, at each corner ``i`` of the bound triangle, ``R_i`` the map's local rotation (the Kabsch rotation
of the vertex's one-ring edges, rest -> deformed, as for the inverted-triangle metric) and ``s_i`` its
local scale ``sqrt(deformed one-ring area / rest one-ring area)``. So an offset keeps its direction
in the body's local frame and grows or shrinks with the body; interpolating the corners' frames
makes the map continuous across triangles. A point on the surface (the source itself) lands exactly
on the deformed surface.

**Rigid parts** (:func:`rigid_projection`): vertices that must move by one similarity per connected
part (an eyeball, a tooth, a button) get the least-squares similarity (Umeyama) of their deformed
positions, applied to their rest shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from sape_geo.geometry.alignment import fit_similarity
from sape_geo.geometry.mesh_io import face_areas
from sape_geo.geometry.rotations import best_rotations, vertex_covariances
from sape_geo.geometry.surface_chamfer import closest_barycentric


@dataclass(frozen=True)
class SurfaceBinding:
    """Points bound to a rest surface.

    Attributes
    ----------
    faces : ``(k,)`` the triangle each point's closest surface point lies on.
    weights : ``(k, 3)`` barycentric coordinates of that closest point.
    offsets : ``(k, 3)`` point minus closest point, in the rest frame's units.
    """

    faces: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray


def bind_points(points: np.ndarray, rest_vertices: np.ndarray, triangles: np.ndarray) -> SurfaceBinding:
    """Bind ``points`` ``(k, 3)`` to the rest surface ``(rest_vertices (n, 3), triangles (m, 3))``."""
    points = np.ascontiguousarray(points, dtype=np.float64)
    rest = np.ascontiguousarray(rest_vertices, dtype=np.float64)
    triangles = np.ascontiguousarray(triangles, dtype=np.int64)
    faces, weights = closest_barycentric(points, rest, triangles)
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
    closest = np.einsum("kc,kca->ka", weights, rest[triangles[faces]])
    return SurfaceBinding(faces, weights, points - closest)


def local_frames(rest_vertices: np.ndarray, deformed_vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per vertex ``(n, 3, 3)``: ``s_v R_v``, the deformation's local rotation times its local scale (see the
    module docstring); the identity for vertices in no triangle."""
    rotations = best_rotations(vertex_covariances(rest_vertices, deformed_vertices, triangles))
    rest_area = np.zeros(rest_vertices.shape[0])
    deformed_area = np.zeros(rest_vertices.shape[0])
    for k in range(3):
        np.add.at(rest_area, triangles[:, k], face_areas(rest_vertices, triangles))
        np.add.at(deformed_area, triangles[:, k], face_areas(deformed_vertices, triangles))
    scale = np.where(rest_area > 0, np.sqrt(deformed_area / np.maximum(rest_area, 1e-300)), 1.0)
    return scale[:, None, None] * rotations


def carry_points(binding: SurfaceBinding, rest_vertices: np.ndarray, deformed_vertices: np.ndarray, triangles: np.ndarray,
                 frames: np.ndarray | None = None) -> np.ndarray:
    """Where the bound points go ``(k, 3)`` when the rest surface becomes ``deformed_vertices`` ``(n, 3)``
    (same triangles); ``frames`` from :func:`local_frames` when already computed."""
    deformed = np.asarray(deformed_vertices, dtype=np.float64)
    frames = local_frames(np.asarray(rest_vertices, dtype=np.float64), deformed, triangles) if frames is None else frames
    corners = triangles[binding.faces]
    anchor = np.einsum("kc,kca->ka", binding.weights, deformed[corners])
    blend = np.einsum("kc,kcab->kab", binding.weights, frames[corners])
    return anchor + np.einsum("kab,kb->ka", blend, binding.offsets)


def connected_parts(vertex_ids: np.ndarray, triangles: np.ndarray, num_vertices: int) -> list[np.ndarray]:
    """The vertices ``vertex_ids`` split into parts connected by triangle edges among themselves."""
    chosen = np.zeros(num_vertices, dtype=bool)
    chosen[vertex_ids] = True
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = edges[chosen[edges].all(axis=1)]
    graph = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(num_vertices, num_vertices))
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    ids = np.unique(vertex_ids)
    return [ids[labels[ids] == label] for label in np.unique(labels[ids])]


def rigid_projection(rest_vertices: np.ndarray, deformed_vertices: np.ndarray, parts: list[np.ndarray]) -> np.ndarray:
    """``deformed_vertices`` ``(n, 3)`` with each part (vertex ids) replaced by the similarity of its rest
    shape that best fits its deformed positions (Umeyama; a translation for parts of fewer than 3
    vertices or with all vertices on a line)."""
    result = np.array(deformed_vertices, dtype=np.float64, copy=True)
    for part in parts:
        rest, moved = rest_vertices[part], result[part]
        try:
            if len(part) < 3:
                raise ValueError
            result[part] = fit_similarity(rest, moved).apply(rest)
        except ValueError:
            result[part] = rest + (moved - rest).mean(axis=0)
    return result
