"""The polygons of a mesh file as written (quads, n-gons), for drawing a tessellation's real edges.

``sape_geo.geometry.mesh_io.load_mesh`` triangulates on load (every energy works on triangles), and
trimesh triangulates quads too, so the viewer reads the face lists itself: a minimal reader of OBJ
``f`` lines and OFF face rows, nothing else. Vertex positions still come from ``load_mesh``, which keeps
the file's vertex order, so the corner indices read here index those vertices.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

POLYGON_SUFFIXES = (".obj", ".off")
"""Files whose polygons the viewer reads; others are drawn as the triangles ``load_mesh`` gives."""


class PolygonReadError(ValueError):
    """A face line that cannot be read; the message names the file and the line."""


def read_polygons(path: str | os.PathLike) -> list[np.ndarray] | None:
    """The faces of an OBJ or OFF file as written: one array of 0-based corner indices per face, in
    file order. None for other formats, and for files whose faces are all triangles (nothing to add to
    the triangles ``load_mesh`` gives).

    Raises
    ------
    PolygonReadError : a malformed face line (OBJ: ``f v``, ``v/vt``, ``v//vn``, ``v/vt/vn``; negative
        indices count back from the latest vertex).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".obj":
        polygons = _obj_polygons(path)
    elif suffix == ".off":
        polygons = _off_polygons(path)
    else:
        return None
    if all(len(polygon) == 3 for polygon in polygons):
        return None
    return polygons


def _obj_polygons(path: Path) -> list[np.ndarray]:
    polygons: list[np.ndarray] = []
    vertex_count = 0
    # utf-8-sig: a byte-order mark (Windows tools write one) is not part of the first line
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if fields[0] == "v":
                vertex_count += 1
            elif fields[0] == "f":
                try:
                    indices = [int(token.split("/", 1)[0]) for token in fields[1:]]
                except ValueError:
                    raise PolygonReadError(f"{path}, line {number}: malformed face {line.strip()!r}") from None
                polygons.append(np.array([index - 1 if index > 0 else vertex_count + index for index in indices], dtype=np.int64))
    return polygons


def _off_polygons(path: Path) -> list[np.ndarray]:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        rows = [line.split("#", 1)[0].split() for line in handle]
    rows = [row for row in rows if row]
    if not rows or not rows[0][0].endswith("OFF"):
        return []
    header = rows[0][1:] if len(rows[0]) > 1 else rows[1]
    body = rows[1:] if len(rows[0]) > 1 else rows[2:]
    try:
        vertex_count, face_count = int(header[0]), int(header[1])
        faces = body[vertex_count:vertex_count + face_count]
        return [np.array(row[1:1 + int(row[0])], dtype=np.int64) for row in faces]
    except (IndexError, ValueError):
        raise PolygonReadError(f"{path}: malformed OFF header or face rows") from None


def fan_triangles(polygons: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each polygon as a fan of triangles from its first corner (as ``load_mesh`` triangulates OBJ).

    Returns
    -------
    triangles : (T, 3) int, T = sum of (corners - 2).
    owner : (T,) index of the polygon each triangle belongs to.
    """
    triangles = [np.column_stack([np.full(len(p) - 2, p[0]), p[1:-1], p[2:]]) for p in polygons if len(p) >= 3]
    owner = [np.full(len(p) - 2, k) for k, p in enumerate(polygons) if len(p) >= 3]
    if not triangles:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(triangles).astype(np.int64), np.concatenate(owner).astype(np.int64)


def per_polygon(values: np.ndarray, weights: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """(count,) the ``weights``-weighted mean of per-triangle ``values`` over each polygon's triangles."""
    total = np.bincount(owner, weights=values * weights, minlength=count)
    weight = np.bincount(owner, weights=weights, minlength=count)
    return total / np.maximum(weight, 1e-300)

