"""A template file read once and written back with new positions, everything else kept.

:func:`read_template` reads an OBJ, PLY, OFF or XYZ file into a :class:`TemplateFile`: its vertices
``(n, 3)``, its polygons (any size, :class:`~sape_geo.geometry.polygon_mesh.Polygons`), its OBJ groups,
and the file's own bytes. :meth:`TemplateFile.write` writes the same file with new vertex positions:

- **OBJ**: every line in order (``vt``, ``vn``, faces with their ``v/vt/vn`` corners, ``o``/``g``,
  ``usemtl``, ``mtllib``, ``s``, comments, anything else), byte for byte, except the coordinates of the
  ``v`` lines (extra numbers on them, a ``w`` or a colour, stay) and the ``vn`` lines, which are
  **rotated**: each normal by the map's local rotation at the vertices that use it (the Kabsch rotation
  of their one-ring edges, old -> new positions), averaged over those corners and renormalised, so a
  hard edge (split normals) stays hard. A UTF-8 byte-order mark, UTF-16 (Notepad's "Unicode") and CRLF
  line ends are kept. OBJ and OFF are parsed by :mod:`~sape_geo.geometry.polygon_text`, as targets are.
- **PLY**: the header byte for byte; every element and property (colours, custom properties, faces,
  edges) kept in the file's encoding (ASCII, binary little or big endian); only ``x, y, z`` of the
  vertex element change (and ``nx, ny, nz``, rotated as above). In a binary file the other bytes are
  untouched; in an ASCII file the other numbers keep their text.
- **OFF** (``OFF``, ``COFF``, ``NOFF``, ``CNOFF``): every line kept; vertex lines get new coordinates
  (and rotated normals for ``NOFF``), colours stay.
- **XYZ**: a point set, one ``x y z ...`` line per point; the rest of each line stays.

Anything the writer could not give back as it was is refused when the file is read
(:class:`~sape_geo.geometry.mesh_io.MeshInputError`, naming the line or element): OBJ line
continuations, binary OFF, a PLY vertex element with list properties, unknown PLY types, faces that
refer to missing vertices, texture coordinates or normals.

Meshes given as arrays, or formats that cannot be kept (STL), become a template of triangles
(:meth:`TemplateFile.from_arrays`) that :func:`~sape_geo.geometry.mesh_io.save_mesh` writes.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sape_geo.geometry.checks import MeshInputError, check_points
from sape_geo.geometry.polygon_mesh import Polygons
from sape_geo.geometry.polygon_text import ObjLayout, TextLayout, join_lines, parse_floats, parse_obj, parse_off, split_lines
from sape_geo.atomic import atomic_path

TEMPLATE_SUFFIXES = (".obj", ".ply", ".off", ".xyz")
_TOKEN = re.compile(rb"\S+")


@dataclass(frozen=True, eq=False)
class TemplateFile:
    """A mesh or point-set file as read, ready to be written back with new positions.

    Attributes
    ----------
    path : the file read (None for arrays).
    format : ``"obj"``, ``"ply"``, ``"off"``, ``"xyz"`` or ``"arrays"`` (triangles from memory or STL).
    vertices : ``(n, 3)`` float64 positions as read, file order.
    polygons : every face in file order (empty for a point set).
    groups : OBJ ``g`` and ``o`` names -> the vertex ids of their faces (sorted, unique).
    """

    path: Path | None
    format: str
    vertices: np.ndarray
    polygons: Polygons
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    _layout: Any = None

    @property
    def suffix(self) -> str:
        """The suffix its written copy needs (``.obj`` for arrays)."""
        return ".obj" if self.format == "arrays" else f".{self.format}"

    @property
    def has_faces(self) -> bool:
        return len(self.polygons) > 0

    def triangulation(self) -> tuple[np.ndarray, np.ndarray]:
        """Triangles ``(t, 3)`` for internal use and the polygon each belongs to ``(t,)``
        (:meth:`Polygons.triangulate`)."""
        return self.polygons.triangulate(self.vertices)

    @classmethod
    def from_arrays(cls, vertices: np.ndarray, faces: np.ndarray, path: str | os.PathLike | None = None) -> "TemplateFile":
        """A triangle mesh from validated arrays; written back as plain triangles."""
        return cls(Path(path) if path is not None else None, "arrays", vertices, Polygons.from_triangles(faces))

    def write(self, path: str | os.PathLike, vertices: np.ndarray | None = None) -> Path:
        """Write this file with ``vertices`` ``(n, 3)`` (default: its own) atomically; every other line,
        element and property as read (see the module docstring).

        Raises
        ------
        ValueError : ``vertices`` of the wrong shape or with NaN/Inf; nothing is written then.
        """
        new = self.vertices if vertices is None else np.asarray(vertices, dtype=np.float64)
        if new.shape != self.vertices.shape:
            raise ValueError(f"vertices must be {self.vertices.shape} (the template's), got {new.shape}")
        if not np.isfinite(new).all():
            raise ValueError(f"{path}: vertices have NaN/Inf; nothing was written")
        path = Path(path)
        if self.format == "arrays":
            from sape_geo.geometry.mesh_io import save_mesh

            return save_mesh(path, new, self.polygons.corners.reshape(-1, 3))
        data = {"obj": _write_obj, "ply": _write_ply, "off": _write_off, "xyz": _write_xyz}[self.format](self, new)
        with atomic_path(path) as temporary:
            temporary.write_bytes(data)
        return path

    def rotated_normals(self, normals: np.ndarray, corner_vertices: np.ndarray, corner_normals: np.ndarray, new: np.ndarray) -> np.ndarray:
        """``normals`` ``(k, 3)`` rotated by the map's local rotation at the vertices that use them:
        ``corner_vertices`` / ``corner_normals`` ``(c,)`` pair vertex ids with normal ids; normals no
        corner uses are returned as they were."""
        from sape_geo.geometry.rotations import best_rotations, vertex_covariances

        if np.array_equal(new, self.vertices):
            return normals
        triangles, _ = self.triangulation()
        rotations = best_rotations(vertex_covariances(self.vertices, new, triangles)) if triangles.size else np.tile(np.eye(3), (len(new), 1, 1))
        rotated = np.zeros_like(normals)
        np.add.at(rotated, corner_normals, np.einsum("kab,kb->ka", rotations[corner_vertices], normals[corner_normals]))
        length = np.linalg.norm(rotated, axis=1, keepdims=True)
        return np.where(length > 0, rotated / np.maximum(length, 1e-300), normals)


def read_template(path: str | os.PathLike) -> TemplateFile:
    """Read an OBJ, PLY, OFF or XYZ file once into a :class:`TemplateFile` (see the module docstring).

    Raises
    ------
    FileNotFoundError : no such file.
    MeshInputError : an unsupported suffix (naming what cannot be kept), a malformed file, a face
        referring to a missing vertex / ``vt`` / ``vn``, NaN/Inf coordinates; the message names the
        file and the line or element.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in TEMPLATE_SUFFIXES:
        raise MeshInputError(f"{path}: a {suffix or 'suffix-less'} file cannot be written back as it was (only "
                             f"{', '.join(TEMPLATE_SUFFIXES)} keep their structure); convert it first")
    data = path.read_bytes()
    template = {".obj": _read_obj, ".ply": _read_ply, ".off": _read_off, ".xyz": _read_xyz}[suffix](path, data)
    if template.vertices.shape[0] == 0:
        raise MeshInputError(f"{path}: no vertices found (empty or malformed file)")
    check_points(template.vertices, path, "vertices")
    return template


# ----- text helpers ---------------------------------------------------------------------------------

def _number(value: float) -> bytes:
    """Shortest text that reads back as exactly ``value``."""
    return repr(float(value)).encode()


def _replace_tokens(line: bytes, first: int, values: list[bytes | None]) -> bytes:
    """``line`` with its whitespace-separated tokens ``first, first + 1, ...`` replaced by ``values`` (None:
    kept); the whitespace, the other tokens and the line end stay."""
    spans = [match.span() for match in _TOKEN.finditer(line)][first:first + len(values)]
    for (start, end), value in reversed(list(zip(spans, values))):
        if value is not None:
            line = line[:start] + value + line[end:]
    return line


def _changed(new: np.ndarray, old: np.ndarray) -> list[bytes | None]:
    """The text of each of ``new`` ``(3,)`` that differs from ``old`` (None where equal: the file's own
    text stays, so an unchanged position is written back byte for byte)."""
    return [None if a == b else _number(a) for a, b in zip(new, old)]


# ----- OBJ ------------------------------------------------------------------------------------------

def _read_obj(path: Path, data: bytes) -> TemplateFile:
    vertices, polygons, groups, layout = parse_obj(path, data)
    return TemplateFile(path, "obj", vertices, polygons, groups, layout)


def _write_obj(template: TemplateFile, new: np.ndarray) -> bytes:
    layout: ObjLayout = template._layout
    lines = list(layout.lines)
    for vertex, line in enumerate(layout.vertex_lines):
        lines[line] = _replace_tokens(lines[line], 1, _changed(new[vertex], template.vertices[vertex]))
    if layout.normals.size:
        used = layout.corner_normals >= 0
        rotated = template.rotated_normals(layout.normals, template.polygons.corners[used], layout.corner_normals[used], new)
        for normal, line in enumerate(layout.normal_lines):
            lines[line] = _replace_tokens(lines[line], 1, _changed(rotated[normal], layout.normals[normal]))
    return join_lines(layout.bom, lines)


# ----- PLY ------------------------------------------------------------------------------------------

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_FACE_LISTS = ("vertex_indices", "vertex_index")


@dataclass(frozen=True)
class _PlyElement:
    name: str
    count: int
    properties: list[tuple[str, str, str | None]]  # (name, type code, list count type code or None)
    start: int = 0  # binary: byte offset of its first instance; ASCII: index of its first body line


@dataclass(frozen=True)
class _PlyLayout:
    encoding: str  # "ascii", "<" or ">"
    data: bytes
    body_start: int
    body_lines: list[bytes]
    vertex: _PlyElement
    vertex_start: int  # binary: byte offset; ASCII: body line index


def _read_ply_header(path: Path, data: bytes) -> tuple[str, list[_PlyElement], int]:
    end = re.search(rb"end_header[ \t]*\r?\n", data)
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0  # a byte-order mark reads as nothing (and stays)
    if not data.startswith(b"ply", start) or end is None:
        raise MeshInputError(f"{path}: not a PLY file (no 'ply' ... 'end_header' header)")
    encoding, elements = None, []
    for number, line in enumerate(data[start:end.start()].decode("ascii", errors="replace").splitlines(), start=1):
        words = line.split()
        if not words or words[0] in ("ply", "comment", "obj_info"):
            continue
        where = f"header line {number}"
        if words[0] == "format":
            encoding = {"ascii": "ascii", "binary_little_endian": "<", "binary_big_endian": ">"}.get(words[1] if len(words) > 1 else "")
            if encoding is None:
                raise MeshInputError(f"{path}, {where}: unknown PLY format {line.strip()!r}")
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append(_PlyElement(words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            element = elements[-1]
            if len(words) == 5 and words[1] == "list":
                count_type, item_type = _PLY_TYPES.get(words[2]), _PLY_TYPES.get(words[3])
                if count_type is None or item_type is None or "f" in count_type:
                    raise MeshInputError(f"{path}, {where}: element {element.name!r}, list property {words[4]!r} has an unknown "
                                         f"or unusable type ({words[2]} {words[3]})")
                element.properties.append((words[4], item_type, count_type))
            elif len(words) == 3 and words[1] in _PLY_TYPES:
                element.properties.append((words[2], _PLY_TYPES[words[1]], None))
            else:
                raise MeshInputError(f"{path}, {where}: element {element.name!r}: unknown property type in {line.strip()!r}")
        else:
            raise MeshInputError(f"{path}, {where}: cannot read {line.strip()!r}")
    if encoding is None:
        raise MeshInputError(f"{path}: the PLY header has no format line")
    return encoding, elements, end.end()


def _read_ply(path: Path, data: bytes) -> TemplateFile:
    encoding, elements, body_start = _read_ply_header(path, data)
    vertex = next((e for e in elements if e.name == "vertex"), None)
    if vertex is None or not {"x", "y", "z"} <= {p[0] for p in vertex.properties}:
        raise MeshInputError(f"{path}: no 'vertex' element with x, y, z properties")
    if any(p[2] is not None for p in vertex.properties):
        raise MeshInputError(f"{path}: element 'vertex' has a list property; its positions cannot be rewritten in place")
    face = next((e for e in elements if e.name == "face"), None)
    if face is not None:
        lists = [p for p in face.properties if p[0] in _FACE_LISTS and p[2] is not None]
        if not lists or "f" in lists[0][1]:
            raise MeshInputError(f"{path}: element 'face' has no integer list property vertex_indices")
    reader = _read_ply_ascii if encoding == "ascii" else _read_ply_binary
    vertex_table, faces, vertex_start, body_lines = reader(path, data, body_start, elements, encoding)
    vertices = np.column_stack([vertex_table[name] for name in "xyz"]).astype(np.float64)
    polygons = Polygons.from_lists(faces)
    if polygons.corners.size and (polygons.corners.min() < 0 or polygons.corners.max() >= len(vertices)):
        bad = int(np.flatnonzero((polygons.corners < 0) | (polygons.corners >= len(vertices)))[0])
        raise MeshInputError(f"{path}: element 'face' {int(polygons.owner[bad])} refers to vertex {int(polygons.corners[bad])}, "
                             f"but there are {len(vertices)} vertices")
    if (polygons.sizes < 3).any():
        raise MeshInputError(f"{path}: element 'face' {int(np.flatnonzero(polygons.sizes < 3)[0])} has fewer than 3 vertices")
    layout = _PlyLayout(encoding, data, body_start, body_lines, vertex, vertex_start)
    return TemplateFile(path, "ply", vertices, polygons, {}, layout)


def _read_ply_ascii(path, data, body_start, elements, encoding):
    lines = data[body_start:].splitlines(keepends=True)
    rows = [index for index, line in enumerate(lines) if line.strip()]
    position, vertex_table, faces, vertex_start = 0, None, [], 0
    for element in elements:
        chosen = rows[position:position + element.count]
        if len(chosen) < element.count:
            raise MeshInputError(f"{path}: element {element.name!r} needs {element.count} lines, the file ends after {len(chosen)}")
        position += element.count
        if element.name == "vertex":
            vertex_start = chosen[0] if chosen else 0
            if chosen and chosen[-1] - vertex_start + 1 != element.count:
                raise MeshInputError(f"{path}: element 'vertex' has blank lines between its instances; they cannot be kept")
            columns = {name: k for k, (name, _, _) in enumerate(element.properties)}
            table = []
            for offset, line_index in enumerate(chosen):
                tokens = lines[line_index].split()
                if len(tokens) != len(element.properties):
                    raise MeshInputError(f"{path}: element 'vertex' {offset} has {len(tokens)} values, the header declares "
                                         f"{len(element.properties)} (one instance a line)")
                table.append(parse_floats([tokens[columns[name]] for name in "xyz"], path, f"element 'vertex' {offset}"))
            table = np.asarray(table, dtype=np.float64).reshape(-1, 3)
            vertex_table = {name: table[:, k] for k, name in enumerate("xyz")}
        elif element.name == "face":
            for offset, line_index in enumerate(chosen):
                tokens, cursor, corners = lines[line_index].split(), 0, None
                try:
                    for name, _, count_type in element.properties:
                        if count_type is None:
                            cursor += 1
                            continue
                        count = int(tokens[cursor])
                        items = [int(token) for token in tokens[cursor + 1:cursor + 1 + count]]
                        if len(items) != count:
                            raise ValueError
                        cursor += 1 + count
                        if name in _FACE_LISTS and corners is None:
                            corners = items
                except (ValueError, IndexError):
                    raise MeshInputError(f"{path}: element 'face' {offset} is malformed: {lines[line_index].strip().decode(errors='replace')!r}") from None
                faces.append(corners)
    return vertex_table, faces, vertex_start, lines


def _read_ply_binary(path, data, body_start, elements, encoding):
    offset, vertex_table, faces, vertex_start = body_start, None, [], 0
    for element in elements:
        if all(p[2] is None for p in element.properties):
            dtype = np.dtype([(name, encoding + code) for name, code, _ in element.properties])
            if offset + dtype.itemsize * element.count > len(data):
                raise MeshInputError(f"{path}: the file ends inside element {element.name!r}")
            table = np.frombuffer(data, dtype=dtype, count=element.count, offset=offset)
            if element.name == "vertex":
                vertex_table, vertex_start = table, offset
            offset += dtype.itemsize * element.count
            continue
        lists, offset = _read_list_element(path, data, offset, element, encoding)
        if element.name == "face":
            faces = lists
    return vertex_table, faces, vertex_start, []


def _read_list_element(path: Path, data: bytes, offset: int, element: _PlyElement, encoding: str) -> tuple[list[list[int]], int]:
    """The face corner lists of a binary element with list properties (other elements: skipped) and the
    offset after it. When every list has the first instance's length (all triangles, all quads) the
    element is read as one record array; else instances are walked one by one."""
    uniform = _read_uniform_lists(data, offset, element, encoding)
    if uniform is not None:
        return uniform
    lists = []
    try:
        for _ in range(element.count):
            corners = None
            for name, code, count_type in element.properties:
                if count_type is None:
                    offset += np.dtype(code).itemsize
                    continue
                count = int(np.frombuffer(data, encoding + count_type, 1, offset)[0])
                offset += np.dtype(count_type).itemsize
                items = np.frombuffer(data, encoding + code, count, offset)
                offset += items.nbytes
                if name in _FACE_LISTS and corners is None:
                    corners = items.astype(np.int64).tolist()
            lists.append(corners)
    except ValueError:
        raise MeshInputError(f"{path}: the file ends inside element {element.name!r}") from None
    return lists, offset


def _read_uniform_lists(data: bytes, offset: int, element: _PlyElement, encoding: str) -> tuple[list[list[int]], int] | None:
    """:func:`_read_list_element` for an element whose lists all have the first instance's lengths, or None."""
    fields, cursor = [], offset
    try:
        for name, code, count_type in element.properties:
            if count_type is None:
                fields.append((f"s_{name}", encoding + code))
                cursor += np.dtype(code).itemsize
                continue
            count = int(np.frombuffer(data, encoding + count_type, 1, cursor)[0])
            fields += [(f"n_{name}", encoding + count_type), (f"l_{name}", encoding + code, (count,))]
            cursor += np.dtype(count_type).itemsize + count * np.dtype(code).itemsize
        dtype = np.dtype(fields)
        table = np.frombuffer(data, dtype, element.count, offset)
    except ValueError:  # the file ends before element.count such records: sizes differ (or it is cut short)
        return None
    for name, code, count_type in element.properties:
        if count_type is not None and (table[f"n_{name}"] != table.dtype[f"l_{name}"].shape[0]).any():
            return None
    face = next((name for name, _, count_type in element.properties if count_type is not None and name in _FACE_LISTS), None)
    lists = table[f"l_{face}"].astype(np.int64).tolist() if face is not None else [None] * element.count
    return lists, offset + dtype.itemsize * element.count


def _ply_normals(template: TemplateFile, table_normals: np.ndarray, new: np.ndarray) -> np.ndarray:
    corners = template.polygons.corners
    return template.rotated_normals(table_normals, corners, corners, new)


def _write_ply(template: TemplateFile, new: np.ndarray) -> bytes:
    layout: _PlyLayout = template._layout
    names = [p[0] for p in layout.vertex.properties]
    has_normals = {"nx", "ny", "nz"} <= set(names)
    if layout.encoding == "ascii":
        lines = list(layout.body_lines)
        columns = [names.index(name) for name in "xyz"]
        normal_columns = [names.index(name) for name in ("nx", "ny", "nz")] if has_normals else []
        rows = range(layout.vertex_start, layout.vertex_start + layout.vertex.count)
        old_normals = np.array([[float(lines[row].split()[c]) for c in normal_columns] for row in rows]).reshape(-1, 3) if has_normals else None
        rotated = _ply_normals(template, old_normals, new) if has_normals else None
        types = dict((p[0], p[1]) for p in layout.vertex.properties)
        for k, row in enumerate(rows):
            values = {**dict(zip("xyz", zip(new[k], template.vertices[k]))),
                      **(dict(zip(("nx", "ny", "nz"), zip(rotated[k], old_normals[k]))) if has_normals else {})}
            line = lines[row]
            for name, (value, before) in values.items():
                if value != before:
                    line = _replace_tokens(line, names.index(name), [_ply_text(value, types[name])])
            lines[row] = line
        return layout.data[:layout.body_start] + b"".join(lines)
    dtype = np.dtype([(name, layout.encoding + code) for name, code, _ in layout.vertex.properties])
    data = bytearray(layout.data)
    table = np.frombuffer(data, dtype=dtype, count=layout.vertex.count, offset=layout.vertex_start)  # a view into ``data``
    if has_normals:
        rotated = _ply_normals(template, np.column_stack([table[n] for n in ("nx", "ny", "nz")]).astype(np.float64), new)
        for k, name in enumerate(("nx", "ny", "nz")):
            table[name] = _cast(rotated[:, k], table.dtype[name])
    for k, name in enumerate("xyz"):
        table[name] = _cast(new[:, k], table.dtype[name])
    return bytes(data)


def _cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.rint(values).astype(dtype) if dtype.kind in "iu" else values.astype(dtype)


def _ply_text(value: float, code: str) -> bytes:
    if code[0] in "iu":
        return str(int(round(value))).encode()
    return repr(float(np.float32(value))).encode() if code == "f4" else _number(value)


# ----- OFF and XYZ ----------------------------------------------------------------------------------

def _read_off(path: Path, data: bytes) -> TemplateFile:
    vertices, polygons, layout = parse_off(path, data)
    return TemplateFile(path, "off", vertices, polygons, {}, layout)


def _read_xyz(path: Path, data: bytes) -> TemplateFile:
    bom, lines = split_lines(data)
    rows = [(k, line.split()) for k, line in enumerate(lines) if line.strip() and not line.lstrip().startswith(b"#")]
    vertices = [parse_floats(tokens, path, f"line {k + 1}") for k, tokens in rows]
    layout = TextLayout(bom, lines, np.array([k for k, _ in rows], dtype=np.int64))
    return TemplateFile(path, "xyz", np.asarray(vertices, dtype=np.float64).reshape(-1, 3), Polygons.from_lists([]), {}, layout)


def _write_off(template: TemplateFile, new: np.ndarray) -> bytes:
    layout: TextLayout = template._layout
    lines = list(layout.lines)
    rotated = None
    if layout.normals:
        old = np.array([parse_floats(lines[row].split()[3:6], template.path, "normal") for row in layout.vertex_lines]).reshape(-1, 3)
        corners = template.polygons.corners
        rotated = template.rotated_normals(old, corners, corners, new)
    for k, row in enumerate(layout.vertex_lines):
        values = _changed(new[k], template.vertices[k]) + (_changed(rotated[k], old[k]) if rotated is not None else [])
        lines[row] = _replace_tokens(lines[row], 0, values)
    return join_lines(layout.bom, lines)


def _write_xyz(template: TemplateFile, new: np.ndarray) -> bytes:
    layout: TextLayout = template._layout
    lines = list(layout.lines)
    for k, row in enumerate(layout.vertex_lines):
        lines[row] = _replace_tokens(lines[row], 0, _changed(new[k], template.vertices[k]))
    return join_lines(layout.bom, lines)

