"""Which parts of a template a partial scan observes: a per-vertex confidence in [0, 1] (NumPy + libigl).

A scan seen from one side has data on that side only. Each target point is carried to its closest point
on the template (libigl, barycentric coordinates on the closest triangle) and splatted onto that
triangle's corners; the splatted count per unit of template area is the **density of data** at each
vertex, averaged over a few rings of neighbours so that a few points per vertex give a steady estimate.
A vertex is observed with full confidence where the density reaches :data:`OBSERVED_DENSITY` of the
scan's typical density (the area-weighted median over the vertices that receive data at all) and with
none below :data:`UNOBSERVED_DENSITY` of it (docs/method.md, "Partial targets").

Going from the target to the template (not from each template vertex to its nearest target point) is
what tells the sides apart: the back of a body is a short distance from the front's scan points, but no
scan point has the back as its closest template point while the front lies in between.
"""

from __future__ import annotations

import igl
import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from sape_geo.geometry.mesh_io import bbox_diagonal, edge_face_counts, face_areas
from sape_geo.geometry.surface_chamfer import closest_barycentric

# The confidence rises linearly from 0 where a vertex's neighbourhood receives UNOBSERVED_DENSITY of the
# scan's typical density of points per unit area to 1 where it receives OBSERVED_DENSITY. A vertex on
# the edge of the scanned region has about half its neighbourhood covered and gets 0.5; the next ring
# out (a few points spilled over by the neighbourhood sums) gets nothing, so the unseen side next to the
# scan's rim is not pulled onto the rim.
OBSERVED_DENSITY = 0.75
UNOBSERVED_DENSITY = 0.25

# Neighbourhood of the density estimate: enough rings that a fully observed vertex expects this many
# target points around it (Poisson noise about 1/sqrt of it).
POINTS_PER_NEIGHBOURHOOD = 30.0
# ... but no wider than this many rings: a scan far sparser than the template's vertices (or one that
# covers a small patch) would otherwise spread its points over the whole template.
MAX_RINGS = 2


def vertex_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Barycentric vertex areas ``(n,)``: a third of each adjacent triangle's area (0 for loose vertices)."""
    faces = np.asarray(faces, dtype=np.int64)
    thirds = np.repeat(face_areas(np.asarray(vertices, dtype=np.float64), faces) / 3.0, 3)
    return np.bincount(faces.reshape(-1), weights=thirds, minlength=len(vertices))


def _neighbour_average(faces: np.ndarray, count: int) -> scipy.sparse.csr_matrix:
    """The operator that sums a per-vertex quantity over the vertex and its one-ring ``(n, n)``."""
    adjacency = igl.adjacency_matrix(np.ascontiguousarray(faces, dtype=np.int64))
    adjacency = scipy.sparse.csr_matrix(adjacency, shape=(count, count))
    return (adjacency + scipy.sparse.identity(count, format="csr")).tocsr()


def observed_confidence(
    vertices: np.ndarray, faces: np.ndarray, target_points: np.ndarray, max_distance: float | None = None
) -> np.ndarray:
    """Per template vertex, how well the target's points support it: a confidence ``(n,)`` in [0, 1].

    Parameters
    ----------
    vertices : (n, 3) template vertices (any units).
    faces : (m, 3) template triangles (usable ones: no zero-area faces needed).
    target_points : (k, 3) points of the target (scan points, or samples of a target surface), same units.
    max_distance : target points farther than this from the template are strays and count for nothing
        (None: all count).

    Returns
    -------
    ``(n,)`` float64 in [0, 1]: 1 where the template's neighbourhood receives at least
    :data:`OBSERVED_DENSITY` of the scan's typical density of points, 0 below :data:`UNOBSERVED_DENSITY`
    of it, linear in between. Vertices in no face get 0.
    """
    count = vertices.shape[0]
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    points = np.asarray(target_points, dtype=np.float64)
    if points.shape[0] == 0:
        return np.zeros(count)
    face_ids, weights = closest_barycentric(points, vertices, faces)
    if max_distance is not None:
        closest = (weights[:, :, None] * vertices[faces[face_ids]]).sum(axis=1)
        near = ((points - closest) ** 2).sum(axis=1) <= max_distance**2
        face_ids, weights = face_ids[near], weights[near]
    hits = np.bincount(faces[face_ids].reshape(-1), weights=weights.reshape(-1), minlength=count)
    areas = vertex_areas(vertices, faces)
    # Rings so that a fully observed neighbourhood expects POINTS_PER_NEIGHBOURHOOD points: a ring-r
    # neighbourhood holds about 3 r^2 vertices, each expecting points/vertices points.
    per_vertex = points.shape[0] / max(int((areas > 0).sum()), 1)
    rings = int(np.clip(np.ceil(np.sqrt(POINTS_PER_NEIGHBOURHOOD / (3.0 * per_vertex))), 0, MAX_RINGS)) if per_vertex < POINTS_PER_NEIGHBOURHOOD else 0
    spread = _neighbour_average(faces, count)
    for _ in range(rings):
        hits, areas = spread @ hits, spread @ areas
    density = np.divide(hits, areas, out=np.zeros(count), where=areas > 0)
    supported = density > 0
    if not supported.any():
        return np.zeros(count)
    order = np.argsort(density[supported])
    cumulative = np.cumsum(areas[supported][order])
    typical = density[supported][order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]
    return np.clip((density / typical - UNOBSERVED_DENSITY) / (OBSERVED_DENSITY - UNOBSERVED_DENSITY), 0.0, 1.0)


def distance_from_observed(vertices: np.ndarray, faces: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per vertex ``(n,)``: the shortest path along the mesh's edges to a vertex of ``observed`` ``(n,)``
    (bool), over the bounding-box diagonal of ``vertices`` ``(n, 3)``; 0 on the observed vertices, 1 at
    most (a part no path reaches from the observed region, and any vertex when nothing is observed,
    gets 1: as far as anything can be)."""
    count = vertices.shape[0]
    if not np.any(observed):
        return np.ones(count)
    # each undirected edge once: the face-wise edge list repeats an edge two faces use in the same direction
    # (faces oriented inconsistently), and a sparse matrix would add up the repeats into a longer edge
    edges, _ = edge_face_counts(np.asarray(faces, dtype=np.int64))
    lengths = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    graph = scipy.sparse.coo_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(count, count)).tocsr()
    diagonal = max(bbox_diagonal(vertices), 1e-300)
    distance = scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=np.flatnonzero(observed),
                                             min_only=True) / diagonal
    return np.minimum(np.nan_to_num(distance, posinf=1.0), 1.0)


def observed_fraction(confidence: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> float:
    """The area-weighted mean confidence: the share of the template's surface the target observes."""
    areas = vertex_areas(vertices, faces)
    return float((confidence * areas).sum() / max(areas.sum(), 1e-300))


# A surface whose boundary is shorter than this many times the square root of its area has small holes
# only (measured: pair 11's target, 2 boundary edges after welding, 0.14; a hand open at the wrist 0.80; a
# sphere without a 15 % cap 1.58; a hemisphere, as one view sees a ball, 2.8).
SMALL_HOLES_RATIO = 0.5


def is_nearly_closed(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """Whether a surface is closed but for small holes, once coincident vertices are welded.

    Exporters often split vertices along UV seams or per face, which makes every seam look like a
    boundary; a partial scan's boundary is the silhouette of the view, long against the surface's size.

    Parameters
    ----------
    vertices : (n, 3) any units.
    faces : (m, 3) triangles.

    Returns
    -------
    True when the welded surface has no boundary, or a boundary shorter than
    :data:`SMALL_HOLES_RATIO` x sqrt(area).
    """
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    diagonal = float(np.linalg.norm(vertices.max(axis=0) - vertices.min(axis=0))) if len(vertices) else 0.0
    welded, _, _, welded_faces = igl.remove_duplicate_vertices(vertices, faces, 1e-9 * max(diagonal, 1e-300))
    boundary = igl.boundary_facets(np.ascontiguousarray(welded_faces, dtype=np.int64))[0]
    if boundary.size == 0:
        return True
    length = float(np.linalg.norm(welded[boundary[:, 0]] - welded[boundary[:, 1]], axis=1).sum())
    area = float(face_areas(welded, welded_faces).sum())
    return length < SMALL_HOLES_RATIO * np.sqrt(max(area, 1e-300))
