"""Reference metrics of a mesh transfer (NumPy + libigl; not differentiable, not used in losses).

Units: distances are reported in **percent of the target's bounding-box diagonal** (``*_pct_diag``),
so shapes of any size compare; squared distances in units of the squared diagonal (``*_diag2``).

- Chamfer L1 (``chamfer_l1_pct_diag``): ``mean_a d(a, B) + mean_b d(b, A)`` over dense surface samples
  of the result ``A`` and of the target ``B``, ``d`` the non-squared distance to the other **surface**
  (libigl's point-to-mesh distance; to the nearest point for a point-cloud target).
- Chamfer L2 (``chamfer_l2_diag2``): the same with squared distances.
- Hausdorff (``hausdorff_pct_diag``): ``max(sup_a d(a, B), sup_b d(b, A))`` over the vertices plus the
  dense samples of each side.
- Dirichlet and conformal energies over the source's area (``dirichlet_ratio``, ``conformal_ratio``):
  identity/rigid = 1 and 0; see :mod:`sape_geo.geometry.energies` (computed here independently by
  SVD). **Free of scale**: the Jacobians are divided by the map's overall scale
  ``sqrt(result area / source area)`` first, so any similarity (a source in micrometres or kilometres)
  gives 1 and 0, and only the change of shape counts.
- ``flipped_triangles``: result triangles facing the wrong way. With a target surface: the triangle's
  normal against the normal of the target face closest to its centroid, counted against the
  (area-weighted) majority so a target with the opposite orientation convention does not flip
  everything. With a point-cloud target: triangles that fold over (normal against the summed normals
  of their edge neighbours) in the result but not in the source.
- ``degenerate_triangles``: result triangles whose area fell below 1e-8 of their source area (scaled
  by the overall area ratio) or that have zero area.
- ``folded_edges`` (and ``source_folded_edges``, the same count on the source): interior edges (shared
  by exactly two triangles) whose two triangle normals are more than 120 degrees apart, i.e. a crease
  sharper than 60 degrees of opening: a crumple. Zero-area triangles' edges are not counted.
- ``inverted_triangles``: result triangles whose orientation turned against the map's. The map's local
  rotation at triangle ``t`` is the best-fit rotation ``R_t`` (Kabsch, ``det = +1``) of the edge vectors
  of every triangle around ``t``'s three corners, source -> result (the ARAP rotation of those
  one-rings); ``t`` is inverted when its result normal points against ``R_t n_t`` (the source normal
  carried by that rotation). A mirroring map (an alignment with negative determinant) turns every
  normal, so the count is taken against the area-weighted majority, as for ``flipped_triangles``.
  Unlike ``flipped_triangles`` it needs no target and does not count a source's own creases.
- ``marker_error_pct_diag`` and ``correspondence_error_pct_diag`` (:func:`correspondence_metrics`):
  where source vertices landed against where held-back landmarks or a dense ground truth put them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import igl
import numpy as np
import scipy.sparse
from scipy.spatial import cKDTree

from sape_geo.geometry.mesh_io import bbox_diagonal, face_areas, face_edges
from sape_geo.geometry.rotations import best_rotations, vertex_covariances
from sape_geo.geometry.sampling import sample_surface

if TYPE_CHECKING:
    from sape_geo.geometry.landmarks import Landmarks


class SurfaceDistance:
    """Squared distances from query points to a fixed surface (libigl AABB tree, built once) or, when
    ``faces`` is None, to the nearest of fixed points (k-d tree).

    Parameters
    ----------
    vertices : (n, 3) surface vertices or points.
    faces : (m, 3) triangles, or None for a point cloud.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray | None) -> None:
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = None if faces is None else np.ascontiguousarray(faces, dtype=np.int64)
        if self.faces is None:
            self._tree = cKDTree(self.vertices)
        else:
            self._tree = igl.AABB()
            self._tree.init(self.vertices, self.faces)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Squared distances ``(k,)`` from ``points`` ``(k, 3)``."""
        return self.closest(points)[0]

    def closest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances ``(k,)`` and the closest surface points (or nearest points) ``(k, 3)``."""
        points = np.ascontiguousarray(points, dtype=np.float64)
        if self.faces is None:
            distances, nearest = self._tree.query(points)
            return distances**2, self.vertices[nearest]
        squared, _, closest = self._tree.squared_distance(self.vertices, self.faces, points)
        return squared, closest

    def closest_faces(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Squared distances ``(k,)``, closest face ids ``(k,)`` and closest points ``(k, 3)`` (surfaces only)."""
        if self.faces is None:
            raise ValueError("a point cloud has no faces")
        points = np.ascontiguousarray(points, dtype=np.float64)
        squared, faces, closest = self._tree.squared_distance(self.vertices, self.faces, points)
        return squared, np.asarray(faces, dtype=np.int64).reshape(-1), closest


@dataclass(frozen=True)
class TargetShape:
    """A target surface (``faces`` given) or point cloud (``faces`` None), with dense samples for metrics."""

    vertices: np.ndarray
    faces: np.ndarray | None
    samples: np.ndarray

    @property
    def diagonal(self) -> float:
        return bbox_diagonal(self.vertices if self.faces is None else self.vertices[np.unique(self.faces)])

    def squared_distances(self, points: np.ndarray) -> np.ndarray:
        """Squared distance from ``points`` ``(n, 3)`` to the target surface (or nearest target point)."""
        return SurfaceDistance(self.vertices, self.faces)(points)

    def closest_normals(self, points: np.ndarray) -> np.ndarray:
        """Unit normal ``(n, 3)`` of the target face closest to each point (mesh targets only)."""
        if self.faces is None:
            raise ValueError("a point-cloud target has no face normals")
        _, face_ids, _ = igl.point_mesh_squared_distance(np.ascontiguousarray(points, dtype=np.float64), self.vertices, self.faces)
        normals = _face_normals(self.vertices, self.faces[face_ids])
        return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)


def make_target(vertices: np.ndarray, faces: np.ndarray | None, samples: int = 20000, seed: int = 0) -> TargetShape:
    """A :class:`TargetShape` with ``samples`` surface samples (a point cloud is its own sample set)."""
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    if faces is None:
        return TargetShape(vertices, None, vertices)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    return TargetShape(vertices, faces, sample_surface(vertices, faces, samples, seed))


def surface_distances(
    vertices: np.ndarray, faces: np.ndarray, target: TargetShape, samples: int = 20000, seed: int = 0
) -> dict[str, float]:
    """Chamfer L1/L2 and Hausdorff between a result mesh and a target, normalised by the target's diagonal."""
    diagonal = target.diagonal
    result_samples = sample_surface(vertices, faces, samples, seed)
    result_to_target = np.sqrt(np.maximum(target.squared_distances(result_samples), 0.0))
    vertex_to_target = np.sqrt(np.maximum(target.squared_distances(vertices[np.unique(faces)]), 0.0))
    target_queries = target.samples if target.faces is None else np.vstack([target.samples, target.vertices[np.unique(target.faces)]])
    squared_to_result = igl.point_mesh_squared_distance(target_queries, np.ascontiguousarray(vertices, dtype=np.float64), np.ascontiguousarray(faces, dtype=np.int64))[0]
    target_to_result = np.sqrt(np.maximum(squared_to_result, 0.0))
    target_samples_to_result = target_to_result[: target.samples.shape[0]]
    chamfer_l1 = result_to_target.mean() + target_samples_to_result.mean()
    chamfer_l2 = (result_to_target**2).mean() + (target_samples_to_result**2).mean()
    hausdorff = max(result_to_target.max(), vertex_to_target.max(), target_to_result.max())
    return {
        "chamfer_l1_pct_diag": float(100.0 * chamfer_l1 / diagonal),
        "chamfer_l2_diag2": float(chamfer_l2 / diagonal**2),
        "hausdorff_pct_diag": float(100.0 * hausdorff / diagonal),
        "target_diagonal": float(diagonal),
    }


def singular_values(source: np.ndarray, result: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values ``(m, 2)`` of each triangle's Jacobian (source triangle in its own 2-D frame) and source areas ``(m,)``."""
    e1 = source[faces[:, 1]] - source[faces[:, 0]]
    e2 = source[faces[:, 2]] - source[faces[:, 0]]
    normal = np.cross(e1, e2)
    double_area = np.linalg.norm(normal, axis=1)
    x_axis = e1 / np.linalg.norm(e1, axis=1, keepdims=True)
    y_axis = np.cross(normal / double_area[:, None], x_axis)
    rest = np.zeros((faces.shape[0], 2, 2))
    rest[:, 0, 0] = np.linalg.norm(e1, axis=1)
    rest[:, 0, 1] = (e2 * x_axis).sum(axis=1)
    rest[:, 1, 1] = (e2 * y_axis).sum(axis=1)
    deformed = np.stack([result[faces[:, 1]] - result[faces[:, 0]], result[faces[:, 2]] - result[faces[:, 0]]], axis=2)
    jacobians = deformed @ np.linalg.inv(rest)
    return np.linalg.svd(jacobians, compute_uv=False), 0.5 * double_area


def distortion_energies(source: np.ndarray, result: np.ndarray, faces: np.ndarray, free_of_scale: bool = True,
                        weights: np.ndarray | None = None) -> dict[str, float]:
    """``dirichlet_ratio`` = E_D / A_source and ``conformal_ratio`` = E_C / A_source (see the module docstring);
    ``free_of_scale`` divides the map's overall scale out first (the reported metrics). ``weights`` ``(m,)``
    scale each triangle's area (a polygon's symmetric triangulation, :meth:`Polygons.fans`)."""
    sigma, areas = singular_values(source, result, faces)
    weights = np.ones(len(faces)) if weights is None else np.asarray(weights, dtype=np.float64)
    areas = areas * weights
    total = areas.sum()
    if free_of_scale:
        sigma = sigma / np.sqrt(max((weights * face_areas(result, faces)).sum(), 1e-300) / max(total, 1e-300))
    dirichlet = 0.5 * (areas * (sigma**2).sum(axis=1)).sum()
    conformal = 0.5 * (areas * (sigma[:, 0] - sigma[:, 1]) ** 2).sum()
    return {"dirichlet_ratio": float(dirichlet / total), "conformal_ratio": float(conformal / total)}


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted (unnormalised) face normals ``(m, 3)``."""
    return np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])


def _fold_mask(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangles whose normal points against the area-weighted normal sum of their edge neighbours."""
    normals = _face_normals(vertices, faces)
    neighbour_normals = _edge_adjacency(faces) @ normals
    return (normals * neighbour_normals).sum(axis=1) < 0


def _edge_adjacency(faces: np.ndarray) -> scipy.sparse.csr_matrix:
    """Face-face adjacency through shared edges ``(m, m)``."""
    m = faces.shape[0]
    edges, owner = face_edges(faces)
    _, edge_id = np.unique(edges, axis=0, return_inverse=True)
    incidence = scipy.sparse.csr_matrix((np.ones(owner.size), (owner, edge_id.reshape(-1))), shape=(m, int(edge_id.max()) + 1))
    adjacency = (incidence @ incidence.T).tocsr()
    adjacency.setdiag(0)
    adjacency.eliminate_zeros()
    return adjacency


FOLD_ANGLE_DEGREES = 120.0


def _unit_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit face normals ``(m, 3)`` (zero for zero-area faces) and a mask of faces with an area."""
    normals = _face_normals(vertices, faces)
    lengths = np.linalg.norm(normals, axis=1)
    valid = lengths > 0
    return np.where(valid[:, None], normals / np.maximum(lengths, 1e-300)[:, None], 0.0), valid


def interior_edge_faces(faces: np.ndarray) -> np.ndarray:
    """``(e, 2)`` the two faces of every edge shared by exactly two faces (non-manifold edges excluded)."""
    edges, owner = face_edges(faces)
    _, inverse, counts = np.unique(edges, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    pairs = counts[inverse[order]] == 2
    chosen = order[pairs].reshape(-1, 2)  # each two-face edge's two entries are adjacent after the sort
    return owner[chosen]


def folded_edge_mask(vertices: np.ndarray, faces: np.ndarray, angle_degrees: float = FOLD_ANGLE_DEGREES,
                     edge_faces: np.ndarray | None = None) -> np.ndarray:
    """``(e,)`` True for interior edges (see :func:`interior_edge_faces`) whose triangles' normals are more
    than ``angle_degrees`` apart."""
    edge_faces = interior_edge_faces(faces) if edge_faces is None else edge_faces
    normals, valid = _unit_normals(np.asarray(vertices, dtype=np.float64), faces)
    cosine = (normals[edge_faces[:, 0]] * normals[edge_faces[:, 1]]).sum(axis=1)
    return (cosine < np.cos(np.radians(angle_degrees))) & valid[edge_faces].all(axis=1)


def folded_edges(vertices: np.ndarray, faces: np.ndarray, angle_degrees: float = FOLD_ANGLE_DEGREES) -> int:
    """Interior edges whose two triangle normals are more than ``angle_degrees`` apart (a crumple)."""
    return int(folded_edge_mask(vertices, faces, angle_degrees).sum())


def local_rotations(source: np.ndarray, result: np.ndarray, faces: np.ndarray, triangles: np.ndarray | None = None) -> np.ndarray:
    """``(m, 3, 3)`` per triangle: the best-fit rotation (det +1) of the edges of all triangles around its
    three corners, source -> result (see ``inverted_triangles`` in the module docstring). ``triangles``:
    indices into ``faces`` ``(k,)`` to measure only those, ``(k, 3, 3)``; the covariances are then summed
    over the triangles at their corners only (each corner's covariance whole: the same rotations)."""
    if triangles is None:
        return best_rotations(vertex_covariances(source, result, faces)[faces].sum(axis=1))
    corners = np.zeros(source.shape[0], dtype=bool)
    corners[faces[triangles]] = True
    around = faces[corners[faces].any(axis=1)]
    return best_rotations(vertex_covariances(source, result, around)[faces[triangles]].sum(axis=1))


def inverted_triangle_mask(source: np.ndarray, result: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(m,)`` True for triangles whose result normal points against the source normal carried by the
    map's local rotation (see the module docstring), against the area-weighted majority."""
    source = np.asarray(source, dtype=np.float64)
    result = np.asarray(result, dtype=np.float64)
    expected = np.einsum("kab,kb->ka", local_rotations(source, result, faces), _face_normals(source, faces))
    agreement = (_face_normals(result, faces) * expected).sum(axis=1)
    majority = 1.0 if agreement.sum() >= 0 else -1.0
    return agreement * majority < 0


def triangle_quality(source: np.ndarray, result: np.ndarray, faces: np.ndarray, target: TargetShape | None = None) -> dict[str, int]:
    """``flipped_triangles`` and ``degenerate_triangles`` of the result (see the module docstring)."""
    source_areas = face_areas(source, faces)
    result_areas = face_areas(result, faces)
    overall = result_areas.sum() / max(source_areas.sum(), 1e-300)
    degenerate = (result_areas <= 1e-8 * source_areas * overall) | (result_areas == 0)
    if target is not None and target.faces is not None:
        normals = _face_normals(result, faces)
        centroids = result[faces].mean(axis=1)
        agreement = (normals * target.closest_normals(centroids)).sum(axis=1)
        majority = 1.0 if agreement.sum() >= 0 else -1.0  # the sum of area-weighted agreements
        flipped = (agreement * majority < 0) & ~degenerate
    else:
        flipped = _fold_mask(result, faces) & ~_fold_mask(source, faces)
    inverted = inverted_triangle_mask(source, result, faces) & ~degenerate
    edge_faces = interior_edge_faces(faces)  # one adjacency for both meshes: they share the faces
    return {
        "flipped_triangles": int(flipped.sum()),
        "degenerate_triangles": int(degenerate.sum()),
        "inverted_triangles": int(inverted.sum()),
        "folded_edges": int(folded_edge_mask(result, faces, edge_faces=edge_faces).sum()),
        "source_folded_edges": int(folded_edge_mask(source, faces, edge_faces=edge_faces).sum()),
    }


def transfer_metrics(
    source: np.ndarray, result: np.ndarray, faces: np.ndarray, target: TargetShape, samples: int = 20000, seed: int = 0
) -> dict[str, float]:
    """Every metric of a transfer result (all of this module's numbers in one dictionary)."""
    metrics: dict[str, float] = {}
    metrics.update(surface_distances(result, faces, target, samples, seed))
    metrics.update(distortion_energies(source, result, faces))
    metrics.update(triangle_quality(source, result, faces, target))
    return metrics


def correspondence_metrics(
    vertices: np.ndarray, diagonal: float, held_back: Landmarks | None, truth: np.ndarray | None, observed: np.ndarray | None = None
) -> dict[str, float]:
    """``marker_error_pct_diag`` / ``_max_`` at held-back landmarks and ``correspondence_error_pct_diag``
    / ``_max_`` against a dense ground truth: distances from where each source vertex landed to where it
    belongs, in % of the target's diagonal. With ``observed`` ``(n,)`` bool, also the means over the
    observed and the inferred vertices apart (``marker_error_observed_pct_diag``,
    ``..._inferred_pct_diag``; a part without any vertex is left out)."""
    metrics: dict[str, float] = {}
    checks = []
    if held_back is not None:
        checks.append(("marker_error", held_back.source_indices, held_back.target_positions))
    if truth is not None:
        known = np.flatnonzero(np.isfinite(truth).all(axis=1))
        checks.append(("correspondence_error", known, truth[known]))
    for name, indices, positions in checks:
        error = np.linalg.norm(vertices[indices] - positions, axis=1)
        metrics[f"{name}_pct_diag"] = float(100.0 * error.mean() / diagonal)
        metrics[f"{name}_max_pct_diag"] = float(100.0 * error.max() / diagonal)
        if observed is not None:
            for part, chosen in (("observed", observed[indices]), ("inferred", ~observed[indices])):
                if chosen.any():
                    metrics[f"{name}_{part}_pct_diag"] = float(100.0 * error[chosen].mean() / diagonal)
    return metrics
