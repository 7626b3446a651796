"""Mesh and point-cloud input/output with validation: plain ``(V, F)`` arrays in and out.

PLY and STL go through trimesh with ``process=False, maintain_order=True`` so the file's vertex order
is kept (mesh transfer promises the source's vertex order in its result). OBJ and OFF are read by
sape_geo's own parser (:mod:`~sape_geo.geometry.polygon_text`, the one template files use), so a file
reads the same as a source and as a target: trimesh's OBJ loader re-indexes vertices through texture
coordinates and drops unreferenced vertices when ``vt`` lines are present, which would break that
promise, and its OFF loader fails on a file that mixes pentagons (or larger) with other sizes; the
parser also names the line of a malformed entry. Polygons are triangulated as fans from their first
corner, in file order. STL stores a triangle soup, so its coincident corners are merged (in order of
first appearance) to recover the connectivity the file meant.

Validation splits into what is fatal (:class:`MeshInputError`: missing or unreadable file, no
vertices or faces, NaN/Inf coordinates, face indices out of range) and what can be repaired safely
without moving or renumbering a vertex (faces with a repeated index, zero-area faces, duplicated
faces: they are dropped with a :class:`MeshRepairWarning`). Everything else (open boundaries,
non-manifold edges, several components, unreferenced vertices) is counted in a :class:`MeshReport`,
and the caller decides whether it matters.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from sape_geo.geometry.checks import MeshInputError, check_points
from sape_geo.geometry.checks import source_name as _name
from sape_geo.geometry.polygon_text import parse_obj, parse_off
from sape_geo.arrays import from_tensor
from sape_geo.atomic import atomic_path
from sape_geo.textfiles import without_byte_order_mark

MESH_SUFFIXES = (".obj", ".off", ".ply", ".stl")
POINT_CLOUD_SUFFIXES = (".ply", ".pcd", ".xyz", ".obj", ".off")

# A face whose area is below this fraction of the squared bounding-box diagonal is degenerate: it has
# no normal and gives infinite Jacobians in the energies.
DEGENERATE_AREA_FRACTION = 1e-14


class MeshRepairWarning(UserWarning):
    """Input was repaired (degenerate or duplicated faces dropped, STL corners merged)."""


@dataclass(frozen=True)
class MeshReport:
    """What :func:`inspect_mesh` found in a triangle mesh.

    Attributes
    ----------
    num_vertices, num_faces : sizes.
    unreferenced_vertices : vertices no face uses (kept, so the vertex order stays the file's).
    degenerate_faces : faces with a repeated index or (numerically) zero area.
    duplicate_faces : faces repeating another face's vertex set.
    boundary_edges : edges with one incident face (an open mesh has some).
    boundary_loops : closed boundary curves (holes).
    non_manifold_edges : edges with more than two incident faces.
    components : connected components of the faces (unreferenced vertices not counted).
    bbox_diagonal : length of the bounding box diagonal of the referenced vertices, in file units.
    """

    num_vertices: int
    num_faces: int
    unreferenced_vertices: int
    degenerate_faces: int
    duplicate_faces: int
    boundary_edges: int
    boundary_loops: int
    non_manifold_edges: int
    components: int
    bbox_diagonal: float

    @property
    def is_closed(self) -> bool:
        return self.boundary_edges == 0

    @property
    def is_edge_manifold(self) -> bool:
        return self.non_manifold_edges == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line, e.g. ``"2562 vertices, 5120 faces, closed, 1 component"``."""
        parts = [f"{self.num_vertices} vertices", f"{self.num_faces} faces"]
        parts.append("closed" if self.is_closed else f"open ({self.boundary_loops} boundary loops)")
        parts.append(f"{self.components} component{'s' if self.components != 1 else ''}")
        if self.non_manifold_edges:
            parts.append(f"{self.non_manifold_edges} non-manifold edges")
        if self.unreferenced_vertices:
            parts.append(f"{self.unreferenced_vertices} unreferenced vertices")
        if self.degenerate_faces or self.duplicate_faces:
            parts.append(f"{self.degenerate_faces} degenerate + {self.duplicate_faces} duplicate faces")
        return ", ".join(parts)


def check_mesh(vertices: np.ndarray, faces: np.ndarray, source: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated copies ``V`` ``(n, 3)`` float64 and ``F`` ``(m, 3)`` int64 of a triangle mesh.

    Raises
    ------
    MeshInputError : wrong shapes, no vertices or faces, NaN/Inf coordinates, face indices out of range.
    """
    V = check_points(vertices, source, "vertices")
    F = np.asarray(from_tensor(faces))
    if F.ndim != 2 or F.shape[1] != 3:
        raise MeshInputError(f"{_name(source)}: faces must be an (m, 3) array of triangles, got shape {F.shape}")
    if F.shape[0] == 0:
        raise MeshInputError(f"{_name(source)}: the mesh has no faces")
    if not np.issubdtype(F.dtype, np.integer):
        if not np.all(np.isfinite(F)) or not np.all(F == np.round(F)):
            raise MeshInputError(f"{_name(source)}: face indices must be whole numbers")
    F = np.ascontiguousarray(F, dtype=np.int64)
    out_of_range = (F < 0) | (F >= V.shape[0])
    if out_of_range.any():
        face = int(np.flatnonzero(out_of_range.any(axis=1))[0])
        raise MeshInputError(
            f"{_name(source)}: face {face} uses vertex {F[face].tolist()} but the mesh has {V.shape[0]} vertices (0-based)"
        )
    return V, F


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangle areas ``(m,)`` in squared input units."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def bbox_diagonal(points: np.ndarray) -> float:
    """Length of the axis-aligned bounding box diagonal of ``points`` ``(n, 3)``."""
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def degenerate_face_mask(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(m,)`` True for faces with a repeated vertex index or (numerically) zero area."""
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    used = np.unique(faces)
    scale = bbox_diagonal(vertices[used]) if used.size else 0.0
    tiny = face_areas(vertices, faces) <= DEGENERATE_AREA_FRACTION * max(scale, 1e-300) ** 2
    return repeated | tiny


def duplicate_face_mask(faces: np.ndarray) -> np.ndarray:
    """``(m,)`` True for every face whose vertex set already appeared in an earlier face."""
    keys = np.sort(faces, axis=1)
    _, first = np.unique(keys, axis=0, return_index=True)
    duplicate = np.ones(faces.shape[0], dtype=bool)
    duplicate[first] = False
    return duplicate


def face_edges(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every face's three edges ``(3m, 2)``, vertex ids sorted so shared edges compare equal, and the
    face each belongs to ``(3m,)``."""
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return edges, np.tile(np.arange(faces.shape[0]), 3)


def edge_face_counts(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique undirected edges ``(e, 2)`` and how many faces use each ``(e,)``."""
    edges, _ = face_edges(faces)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    return unique, counts


def face_components(num_vertices: int, faces: np.ndarray) -> np.ndarray:
    """Component label per vertex ``(n,)`` (connected through faces); unreferenced vertices get -1."""
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = scipy.sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(num_vertices, num_vertices))
    _, labels = scipy.sparse.csgraph.connected_components(graph, directed=False)
    referenced = np.zeros(num_vertices, dtype=bool)
    referenced[faces.ravel()] = True
    # Relabel so that only referenced vertices count and labels are 0..k-1 in order of first vertex.
    result = np.full(num_vertices, -1, dtype=np.int64)
    _, compact = np.unique(labels[referenced], return_inverse=True)
    result[referenced] = compact
    return result


def _boundary_loop_count(boundary_edges: np.ndarray) -> int:
    """Closed boundary curves = connected components of the graph of boundary edges."""
    if boundary_edges.shape[0] == 0:
        return 0
    nodes, inverse = np.unique(boundary_edges, return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    graph = scipy.sparse.coo_matrix(
        (np.ones(inverse.shape[0]), (inverse[:, 0], inverse[:, 1])), shape=(nodes.size, nodes.size)
    )
    return int(scipy.sparse.csgraph.connected_components(graph, directed=False)[0])


def inspect_mesh(vertices: np.ndarray, faces: np.ndarray) -> MeshReport:
    """Count what may matter about a validated triangle mesh (see :class:`MeshReport`)."""
    referenced = np.zeros(vertices.shape[0], dtype=bool)
    referenced[faces.ravel()] = True
    edges, counts = edge_face_counts(faces)
    labels = face_components(vertices.shape[0], faces)
    return MeshReport(
        num_vertices=int(vertices.shape[0]),
        num_faces=int(faces.shape[0]),
        unreferenced_vertices=int((~referenced).sum()),
        degenerate_faces=int(degenerate_face_mask(vertices, faces).sum()),
        duplicate_faces=int(duplicate_face_mask(faces).sum()),
        boundary_edges=int((counts == 1).sum()),
        boundary_loops=_boundary_loop_count(edges[counts == 1]),
        non_manifold_edges=int((counts > 2).sum()),
        components=int(labels.max() + 1) if labels.size else 0,
        bbox_diagonal=bbox_diagonal(vertices[referenced]),
    )


def usable_face_mask(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(m,)`` True for the faces that energies and samples can use: not degenerate (repeated index or
    zero area) and not a repeat of an earlier usable face. :func:`repair_faces` keeps exactly these."""
    usable = ~degenerate_face_mask(vertices, faces)
    if usable.any():
        kept = np.flatnonzero(usable)
        usable[kept[duplicate_face_mask(faces[kept])]] = False
    return usable


def repair_faces(vertices: np.ndarray, faces: np.ndarray, source: str | os.PathLike | None = None) -> np.ndarray:
    """Drop degenerate and duplicated faces (safe: no vertex moves or is renumbered), warning if any.

    Raises
    ------
    MeshInputError : nothing is left after the repair.
    """
    degenerate = degenerate_face_mask(vertices, faces)
    kept = faces[~degenerate]
    duplicate = duplicate_face_mask(kept) if kept.shape[0] else np.zeros(0, dtype=bool)
    kept = kept[~duplicate]
    if degenerate.any() or duplicate.any():
        warnings.warn(
            f"{_name(source)}: dropped {int(degenerate.sum())} degenerate (zero-area or repeated-index) and "
            f"{int(duplicate.sum())} duplicated faces; vertices are unchanged",
            MeshRepairWarning,
            stacklevel=3,
        )
    if kept.shape[0] == 0:
        raise MeshInputError(f"{_name(source)}: every face is degenerate; nothing is left of the mesh")
    return kept


def merge_coincident_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge exactly coincident vertices, keeping the order of first appearance (for STL triangle soups)."""
    _, first, inverse = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return vertices[first[order]], rank[inverse.reshape(-1)][faces]


def _resolve(path: str | os.PathLike, suffixes: tuple[str, ...], what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{what} path is a directory, not a file: {path}")
    if path.suffix.lower() not in suffixes:
        raise MeshInputError(f"{path}: unsupported {what} format {path.suffix!r}; use one of {', '.join(suffixes)}")
    return path


def read_polygon_text(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(n, 3)`` and triangles ``(m, 3)`` (0-based, file order) of an OBJ or OFF file, read by
    :mod:`~sape_geo.geometry.polygon_text` (the parser template files use); polygons of any size become
    fans from their first corner (:meth:`~sape_geo.geometry.polygon_mesh.Polygons.triangulate`), in file
    order. Faces may be absent (a point cloud).

    Raises
    ------
    MeshInputError : a malformed entry or a face that refers to a missing vertex; names the line.
    """
    path = Path(path)
    data = path.read_bytes()
    if path.suffix.lower() == ".obj":  # a broken vt or vn reference does not matter to positions and faces
        vertices, polygons = parse_obj(path, data, check_references=False)[:2]
    else:
        vertices, polygons = parse_off(path, data)[:2]
    return vertices, polygons.triangulate()[0]


def _read_any(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles (possibly none) of any supported file."""
    if path.suffix.lower() in (".obj", ".off"):
        return read_polygon_text(path)
    if path.suffix.lower() in (".pcd", ".xyz"):  # scans: open3d reads them (and millions of points) best
        from sape_geo.geometry.point_clouds import read_point_cloud

        return read_point_cloud(path)[0], np.zeros((0, 3), dtype=np.int64)
    loaded = _trimesh_load(path)
    if hasattr(loaded, "geometry"):  # a Scene: empty, or several objects; keep their order
        parts = [g for g in loaded.geometry.values() if hasattr(g, "vertices")]
        vertices, faces, offset = [], [], 0
        for part in parts:
            vertices.append(np.asarray(part.vertices, dtype=np.float64))
            part_faces = np.asarray(getattr(part, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
            faces.append(part_faces + offset)
            offset += len(part.vertices)
        if not parts:
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        return np.concatenate(vertices), np.concatenate(faces)
    faces = getattr(loaded, "faces", None)
    faces = np.zeros((0, 3), dtype=np.int64) if faces is None else np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    return np.asarray(loaded.vertices, dtype=np.float64), faces


def _trimesh_load(path: Path):
    import trimesh

    try:
        if path.suffix.lower() == ".stl":  # often binary, its 80-byte header free text: trimesh reads it as it is
            return trimesh.load(str(path), process=False, maintain_order=True)
        with without_byte_order_mark(path) as readable:
            return trimesh.load(str(readable), process=False, maintain_order=True)
    except Exception as error:  # trimesh raises many types for malformed files; name the file instead
        raise MeshInputError(f"{path}: could not be read as {path.suffix[1:].upper()}: {error}") from None


def load_mesh(path: str | os.PathLike, repair: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh: ``V`` ``(n, 3)`` float64 in file units, ``F`` ``(m, 3)`` int64, 0-based.

    OBJ, OFF, PLY and STL; polygons are triangulated; the file's vertex order is kept (STL corners are
    merged, see the module docstring).

    Parameters
    ----------
    path : the mesh file.
    repair : drop degenerate and duplicated faces with a :class:`MeshRepairWarning` (vertices are never
        moved or renumbered); False keeps them.

    Raises
    ------
    FileNotFoundError : no such file.
    MeshInputError : unsupported suffix, unreadable file, no faces, NaN/Inf, indices out of range.

    Example
    -------
    >>> V, F = load_mesh("assets/creature_source.obj")  # doctest: +SKIP
    """
    path = _resolve(path, MESH_SUFFIXES, "mesh")
    vertices, faces = _read_any(path)
    return _validated_mesh(path, vertices, faces, repair)


def _validated_mesh(path: Path, vertices: np.ndarray, faces: np.ndarray, repair: bool) -> tuple[np.ndarray, np.ndarray]:
    if vertices.shape[0] == 0:
        raise MeshInputError(f"{path}: no vertices found (empty or malformed file)")
    if faces.shape[0] == 0:
        raise MeshInputError(f"{path}: no faces found; a mesh is needed here (point clouds are only accepted as targets)")
    V, F = check_mesh(vertices, faces, path)
    if path.suffix.lower() == ".stl":
        V, F = merge_coincident_vertices(V, F)
    if repair:
        F = repair_faces(V, F, path)
    return V, F


def load_point_cloud(path: str | os.PathLike) -> np.ndarray:
    """Read points ``(n, 3)`` float64: PLY/PCD/XYZ/OBJ/OFF without faces, or the vertices of a mesh file
    (:func:`sape_geo.geometry.point_clouds.read_point_cloud` also gives a scan's normals).

    Raises
    ------
    FileNotFoundError, MeshInputError : as :func:`load_mesh`.
    """
    path = _resolve(path, POINT_CLOUD_SUFFIXES, "point cloud")
    points, _ = _read_any(path)
    if points.shape[0] == 0:
        raise MeshInputError(f"{path}: no points found (empty or malformed file)")
    return check_points(points, path, "points")


def load_mesh_or_points(path: str | os.PathLike, repair: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """A mesh ``(V, F)`` when the file has faces, else a point cloud ``(P, None)`` (for targets)."""
    path = _resolve(path, MESH_SUFFIXES + POINT_CLOUD_SUFFIXES, "mesh or point cloud")
    vertices, faces = _read_any(path)
    if faces.shape[0] > 0:
        return _validated_mesh(path, vertices, faces, repair)
    if vertices.shape[0] == 0:
        raise MeshInputError(f"{path}: no points found (empty or malformed file)")
    return check_points(vertices, path, "points"), None


def save_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write ``(V, F)`` atomically (OBJ, OFF, PLY or STL by suffix), vertex order as given, every vertex kept.

    Raises
    ------
    MeshInputError : invalid arrays or an unsupported suffix; nothing is written then.
    """
    import trimesh

    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise MeshInputError(f"{path}: cannot write {path.suffix!r}; use one of {', '.join(MESH_SUFFIXES)}")
    V, F = check_mesh(vertices, faces, path)
    mesh = trimesh.Trimesh(V, F, process=False, validate=False)
    with atomic_path(path) as temporary:
        if path.suffix.lower() == ".obj":
            # 10 decimals instead of trimesh's 8: a round trip must not move landmarks visibly.
            temporary.write_text(trimesh.exchange.obj.export_obj(mesh, include_normals=False, digits=10))
        else:
            mesh.export(temporary)
    return path
