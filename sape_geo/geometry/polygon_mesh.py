"""Polygon meshes (triangles, quads, n-gons) as one offsets array, their triangulations and their validity.

A :class:`Polygons` holds every face's corner list in file order: the corners of polygon ``i`` are
``corners[offsets[i]:offsets[i + 1]]`` (0-based vertex ids). Energies, samples and the libigl solves
work on a triangulation (:meth:`Polygons.triangulate`), outputs stay polygonal.

Two triangulations (docs/method.md, "Polygon templates"):

- :meth:`Polygons.triangulate`, the working one: triangles as they are, a quad split along its shorter
  diagonal (the better-shaped pair), larger polygons as a fan from their first corner.
- :meth:`Polygons.fans`, the symmetric one for the conformal energy: every fan of a polygon (one from
  each corner) at weight ``1 / k``. For a quad that is both diagonal splits at half weight each, so a
  quad counts once, as a quad, not as two triangles of different shape; a triangle is itself at weight 1.

Validity metrics of a map ``source -> result`` that keeps the polygons (:func:`polygon_metrics`):

- non-planarity of each polygon: the largest distance of its corners to their least-squares plane,
  divided by the polygon's mean edge length (scale-free; 0 for a triangle or a planar polygon);
- turned polygons: the polygon's (Newell) normal points against the source polygon's normal carried
  by the map's local rotation (the rotation of the edges around its corners, as
  :func:`sape_geo.geometry.metrics.inverted_triangle_mask` does for triangles);
- folded polygon edges: edges between two polygons whose normals are more than 120 degrees apart (the
  triangle count ``folded_edges`` also counts a quad bent along its own diagonal, and depends on the
  triangulation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Polygons:
    """Faces of any size, in file order.

    Attributes
    ----------
    offsets : ``(m + 1,)`` int64, polygon ``i`` owns ``corners[offsets[i]:offsets[i + 1]]``.
    corners : ``(offsets[-1],)`` int64 vertex ids, 0-based, in each face's winding order.
    """

    offsets: np.ndarray
    corners: np.ndarray

    @classmethod
    def from_lists(cls, faces: list[list[int]] | list[tuple[int, ...]]) -> "Polygons":
        sizes = np.fromiter((len(face) for face in faces), dtype=np.int64, count=len(faces))
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        corners = np.fromiter((v for face in faces for v in face), dtype=np.int64, count=int(offsets[-1]))
        return cls(offsets, corners)

    @classmethod
    def from_triangles(cls, faces: np.ndarray) -> "Polygons":
        faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
        return cls(np.arange(0, 3 * faces.shape[0] + 1, 3, dtype=np.int64), faces.reshape(-1).copy())

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def sizes(self) -> np.ndarray:
        """Corners per polygon ``(m,)``."""
        return np.diff(self.offsets)

    @property
    def is_triangles(self) -> bool:
        return bool((self.sizes == 3).all())

    @property
    def owner(self) -> np.ndarray:
        """The polygon of each corner ``(c,)``."""
        return np.repeat(np.arange(len(self)), self.sizes)

    @property
    def next_corner(self) -> np.ndarray:
        """Position in ``corners`` of each corner's successor in its polygon (cyclic) ``(c,)``."""
        following = np.arange(1, self.corners.size + 1)
        last = self.offsets[1:] - 1
        following[last] = self.offsets[:-1]
        return following

    def to_list(self) -> list[list[int]]:
        return [self.corners[a:b].tolist() for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def edges(self) -> np.ndarray:
        """Unique undirected polygon edges ``(e, 2)`` (sorted ids): what a viewer draws, not the triangulation's."""
        pairs = np.sort(np.column_stack([self.corners, self.corners[self.next_corner]]), axis=1)
        return np.unique(pairs, axis=0) if pairs.size else pairs.reshape(0, 2)

    def _groups(self):
        """``(size, polygon ids, (g, size) corner array)`` per polygon size."""
        sizes = self.sizes
        for size in np.unique(sizes):
            ids = np.flatnonzero(sizes == size)
            yield int(size), ids, self.corners[self.offsets[ids][:, None] + np.arange(size)]

    def triangulate(self, vertices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The working triangulation: triangles ``(t, 3)`` and the polygon of each ``(t,)``, in polygon order.

        Quads split along their shorter diagonal (in ``vertices`` ``(n, 3)``), larger polygons as a fan
        from their first corner. Without ``vertices`` every polygon is a fan from its first corner (how
        :mod:`~sape_geo.geometry.mesh_io` triangulates an OBJ or OFF file).
        """
        triangles, owners = [], []
        for size, ids, corners in self._groups():
            if size == 4 and vertices is not None:
                diagonal_ac = np.linalg.norm(vertices[corners[:, 2]] - vertices[corners[:, 0]], axis=1)
                diagonal_bd = np.linalg.norm(vertices[corners[:, 3]] - vertices[corners[:, 1]], axis=1)
                start = np.where(diagonal_ac <= diagonal_bd, 0, 1)[:, None]
                corners = np.take_along_axis(corners, (start + np.arange(4)) % 4, axis=1)
            fan = np.stack([np.stack([corners[:, 0], corners[:, j], corners[:, j + 1]], axis=1) for j in range(1, size - 1)], axis=1)
            triangles.append(fan.reshape(-1, 3))
            owners.append(np.repeat(ids, size - 2))
        return _in_polygon_order(triangles, owners)

    def fans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The symmetric triangulation: every fan of each polygon, triangles ``(t, 3)``, their polygon
        ``(t,)`` and weights ``(t,)`` (``1 / k`` for a ``k``-gon's fans; 1 for a triangle)."""
        triangles, owners = [], []
        for size, ids, corners in self._groups():
            starts = [0] if size == 3 else range(size)
            index = np.array([[(s, s + j, s + j + 1) for j in range(1, size - 1)] for s in starts]) % size
            triangles.append(corners[:, index].reshape(-1, 3))
            owners.append(np.repeat(ids, index.shape[0] * index.shape[1]))
        triangles, owners = _in_polygon_order(triangles, owners)
        sizes = self.sizes[owners]
        return triangles, owners, np.where(sizes == 3, 1.0, 1.0 / sizes)


def _in_polygon_order(triangles: list[np.ndarray], owners: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not triangles:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    triangles, owners = np.concatenate(triangles), np.concatenate(owners)
    order = np.argsort(owners, kind="stable")
    return triangles[order].astype(np.int64), owners[order].astype(np.int64)


def polygon_normals(vertices: np.ndarray, polygons: Polygons) -> np.ndarray:
    """Newell area vectors ``(m, 3)``: the normal of each polygon times its (projected) area; well defined
    for non-planar polygons."""
    points = vertices[polygons.corners]
    centroids = np.add.reduceat(points, polygons.offsets[:-1], axis=0) / polygons.sizes[:, None]
    relative = points - centroids[polygons.owner]
    cross = np.cross(relative, relative[polygons.next_corner])
    return 0.5 * np.add.reduceat(cross, polygons.offsets[:-1], axis=0)


def nonplanarity(vertices: np.ndarray, polygons: Polygons) -> np.ndarray:
    """Per polygon ``(m,)``: the largest distance of its corners to their least-squares plane over its mean
    edge length (scale-free; 0 for triangles)."""
    result = np.zeros(len(polygons))
    for size, ids, corners in polygons._groups():
        if size == 3:
            continue
        points = vertices[corners]
        centred = points - points.mean(axis=1, keepdims=True)
        normal = np.linalg.svd(centred)[2][:, 2]  # the direction of least spread
        height = np.abs(np.einsum("gka,ga->gk", centred, normal)).max(axis=1)
        edge = np.linalg.norm(points - np.roll(points, -1, axis=1), axis=2).mean(axis=1)
        result[ids] = height / np.maximum(edge, 1e-300)
    return result


def turned_polygon_mask(source: np.ndarray, result: np.ndarray, polygons: Polygons, triangles: np.ndarray) -> np.ndarray:
    """``(m,)`` True for polygons whose result normal points against the source normal carried by the map's
    local rotation (edges of ``triangles`` around the polygon's corners, Kabsch), against the area-weighted
    majority (a mirroring alignment turns every normal). Polygons of zero area are not counted."""
    from sape_geo.geometry.rotations import best_rotations, vertex_covariances

    covariance = vertex_covariances(source, result, triangles)
    per_polygon = np.add.reduceat(covariance[polygons.corners], polygons.offsets[:-1], axis=0)
    expected = np.einsum("kab,kb->ka", best_rotations(per_polygon), polygon_normals(source, polygons))
    normals = polygon_normals(result, polygons)
    agreement = (normals * expected).sum(axis=1)
    majority = 1.0 if agreement.sum() >= 0 else -1.0
    return (agreement * majority < 0) & (np.linalg.norm(normals, axis=1) > 0)


def interior_polygon_pairs(polygons: Polygons) -> np.ndarray:
    """``(e, 2)`` the two polygons of every edge shared by exactly two polygons."""
    pairs = np.sort(np.column_stack([polygons.corners, polygons.corners[polygons.next_corner]]), axis=1)
    _, inverse, counts = np.unique(pairs, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    shared = counts[inverse[order]] == 2
    return polygons.owner[order[shared]].reshape(-1, 2)


def folded_polygon_edges(vertices: np.ndarray, polygons: Polygons, angle_degrees: float = 120.0) -> int:
    """Edges between two polygons whose (Newell) normals are more than ``angle_degrees`` apart: the
    polygon mesh's own creases, whatever triangulation it is given (zero-area polygons not counted)."""
    normals = polygon_normals(vertices, polygons)
    lengths = np.linalg.norm(normals, axis=1)
    unit = normals / np.maximum(lengths, 1e-300)[:, None]
    pairs = interior_polygon_pairs(polygons)
    cosine = (unit[pairs[:, 0]] * unit[pairs[:, 1]]).sum(axis=1)
    return int(((cosine < np.cos(np.radians(angle_degrees))) & (lengths[pairs] > 0).all(axis=1)).sum())


def polygon_metrics(source: np.ndarray, result: np.ndarray, polygons: Polygons, triangles: np.ndarray) -> dict[str, float]:
    """``polygon_nonplanarity_mean`` / ``_max`` of the result (over the polygons with more than 3 corners),
    the source's ``source_polygon_nonplanarity_max``, ``turned_polygons`` (see the module docstring), and
    ``folded_polygon_edges`` / ``source_folded_polygon_edges``: edges between polygons whose normals are more
    than 120 degrees apart, counted on the polygons themselves (comparable across triangulations)."""
    larger = polygons.sizes > 3
    result_planarity = nonplanarity(result, polygons)[larger]
    source_planarity = nonplanarity(source, polygons)[larger]
    return {
        "polygons": int(len(polygons)),
        "polygon_nonplanarity_mean": float(result_planarity.mean()) if result_planarity.size else 0.0,
        "polygon_nonplanarity_max": float(result_planarity.max()) if result_planarity.size else 0.0,
        "source_polygon_nonplanarity_max": float(source_planarity.max()) if source_planarity.size else 0.0,
        "turned_polygons": int(turned_polygon_mask(source, result, polygons, triangles).sum()),
        "folded_polygon_edges": folded_polygon_edges(result, polygons),
        "source_folded_polygon_edges": folded_polygon_edges(source, polygons),
    }
