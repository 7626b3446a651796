"""OBJ and OFF files parsed into positions and polygons: the one parser behind template files
(:mod:`~sape_geo.geometry.template_file`, which writes them back with new positions) and the meshes and
targets :mod:`~sape_geo.geometry.mesh_io` loads, so a file reads the same wherever it is given.

Files are parsed as bytes, so a comment may hold any bytes. A UTF-8 byte-order mark is set aside; a
UTF-16 file (Notepad's "Unicode") is parsed as its UTF-8 transcoding; :func:`join_lines` puts either
back. Lines keep their own line ends (a writer gives back every line it does not change, byte for byte).

- **OBJ**: ``v`` (3 coordinates; more numbers, a ``w`` or a colour, may follow), ``vt``, ``vn``, ``f``
  (corners ``v``, ``v/vt``, ``v//vn`` or ``v/vt/vn``; negative indices count back from the latest
  entry), ``l`` / ``p`` (their vertices checked), ``g`` and ``o`` (the groups of the faces that follow);
  other lines are kept and not read.
- **OFF** (``OFF``, ``COFF``, ``NOFF``, ``CNOFF``): counts on the keyword's line or the next, a vertex a
  line (colours or normals may follow), faces of any size.

A malformed entry, a face that refers to a missing vertex, ``vt`` or ``vn`` (``vt``, ``vn`` and ``l`` /
``p`` only where the file will be written back: ``check_references``), an OBJ line continuation
(``\\``) and binary OFF are a :class:`~sape_geo.geometry.checks.MeshInputError` naming the file and
its line.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sape_geo.geometry.checks import MeshInputError
from sape_geo.geometry.polygon_mesh import Polygons

_UTF16_ENCODINGS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}


def split_lines(data: bytes) -> tuple[bytes, list[bytes]]:
    """The byte-order mark (or ``b""``) and the lines with their own line ends, as UTF-8 bytes (a UTF-16
    file is transcoded; :func:`join_lines` encodes it back)."""
    if data[:2] in _UTF16_ENCODINGS:
        bom = data[:2]
        return bom, data[2:].decode(_UTF16_ENCODINGS[bom], errors="replace").encode("utf-8").splitlines(keepends=True)
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    return bom, data[len(bom):].splitlines(keepends=True)


def join_lines(bom: bytes, lines: list[bytes]) -> bytes:
    """The file's bytes from :func:`split_lines`' ``bom`` and (possibly changed) ``lines``, in the file's encoding."""
    text = b"".join(lines)
    return bom + (text.decode("utf-8").encode(_UTF16_ENCODINGS[bom]) if bom in _UTF16_ENCODINGS else text)


def parse_floats(tokens: list[bytes], path: Path, where: str, count: int = 3) -> list[float]:
    """The first ``count`` of ``tokens`` as numbers; ``where`` (``"line 4"``) names the entry in the error.

    Raises
    ------
    MeshInputError : a token is not a number, or fewer than ``count`` tokens.
    """
    try:
        values = [float(token) for token in tokens[:count]]
    except ValueError:
        raise MeshInputError(f"{path}, {where}: malformed number in {b' '.join(tokens).decode(errors='replace')!r}") from None
    if len(values) != count:
        raise MeshInputError(f"{path}, {where}: needs {count} numbers, got {b' '.join(tokens).decode(errors='replace')!r}")
    return values


def _xyz(tokens: list[bytes], path: Path, number: int) -> list[float]:
    """The first three of ``tokens`` as numbers; :func:`parse_floats` names line ``number`` when they are
    not (the message is built only then: a file has a vertex a line)."""
    try:
        return [float(tokens[0]), float(tokens[1]), float(tokens[2])]
    except (ValueError, IndexError):
        return parse_floats(tokens, path, f"line {number}")


# ----- OBJ ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjLayout:
    """Where an OBJ file's entries are, for writing it back."""

    bom: bytes
    lines: list[bytes]
    vertex_lines: np.ndarray  # line of each v
    normal_lines: np.ndarray  # line of each vn
    normals: np.ndarray  # (k, 3) as read
    corner_normals: np.ndarray  # (c,) vn id of every face corner, -1 where none


def _resolve(token: bytes, count: int, what: str, path: Path, number: int) -> int:
    try:
        index = int(token)
    except ValueError:
        raise MeshInputError(f"{path}, line {number}: malformed {what} index {token.decode(errors='replace')!r}") from None
    resolved = index - 1 if index > 0 else count + index
    if index == 0 or not 0 <= resolved < count:
        raise MeshInputError(f"{path}, line {number}: a face refers to {what} {index}, but only {count} {what} lines "
                             "are defined before it (OBJ indices are 1-based)")
    return resolved


def _plain_corners(tokens: list[bytes], count: int, with_attributes: bool) -> list[int] | None:
    """The 0-based vertex ids of a face's corner ``tokens`` when every one is a 1-based index up to
    ``count`` (``v``; with ``with_attributes``, ``v/vt/vn`` of which only ``v`` is read): the common case,
    read in one pass for speed. None otherwise (negative indices, errors): resolve them one by one."""
    try:
        corners = [int(token.split(b"/", 1)[0]) - 1 for token in tokens] if with_attributes else [int(token) - 1 for token in tokens]
    except ValueError:
        return None
    return corners if len(corners) >= 3 and min(corners) >= 0 and max(corners) < count else None


def parse_obj(
    path: Path, data: bytes, check_references: bool = True
) -> tuple[np.ndarray, Polygons, dict[str, np.ndarray], ObjLayout]:
    """An OBJ file's vertices ``(n, 3)`` (file order), its polygons, its ``g``/``o`` groups (name -> the
    sorted vertex ids of their faces) and its layout. ``data``: the file's bytes, ``path`` its name.

    ``check_references``: also refuse what only a copy written back would carry broken: a face corner's
    ``vt`` or ``vn`` that does not exist, a malformed corner, an ``l`` or ``p`` line's missing vertex.
    False reads positions and faces alone, as a target needs them (the layout then cannot write the
    file back).
    """
    bom, lines = split_lines(data)
    vertices: list[list[float]] = []
    vertex_lines: list[int] = []
    normals: list[list[float]] = []
    normal_lines: list[int] = []
    textures = 0
    faces: list[list[int]] = []
    corner_normals: list[int] = []
    face_groups: list[tuple[str, ...]] = []
    current: tuple[str, ...] = ()
    current_object: tuple[str, ...] = ()
    for index, raw in enumerate(lines):
        number = index + 1
        body = raw.split(b"#", 1)[0] if b"#" in raw else raw
        if b"\\" in body and body.rstrip().endswith(b"\\"):
            raise MeshInputError(f"{path}, line {number}: a line continuation ('\\') is not read; join the line first")
        tokens = body.split()
        if not tokens:
            continue
        keyword = tokens[0]
        if keyword == b"v":
            vertices.append(_xyz(tokens[1:], path, number))
            vertex_lines.append(index)
        elif keyword == b"vt":
            textures += 1
        elif keyword == b"vn":
            normals.append(_xyz(tokens[1:], path, number))
            normal_lines.append(index)
        elif keyword == b"f":
            # Without attributes to check (a target, or corners without "/"), plain corners are read at once.
            slashes = b"/" in body
            face = _plain_corners(tokens[1:], len(vertices), slashes) if not (check_references and slashes) else None
            if face is not None:
                corner_normals.extend([-1] * len(face) if check_references else ())
            else:
                face = []
                for token in tokens[1:]:
                    parts = token.split(b"/")
                    if check_references and len(parts) > 3:
                        raise MeshInputError(f"{path}, line {number}: malformed face corner {token.decode(errors='replace')!r}")
                    face.append(_resolve(parts[0], len(vertices), "vertex", path, number))
                    if check_references:
                        if len(parts) > 1 and parts[1]:
                            _resolve(parts[1], textures, "texture coordinate (vt)", path, number)
                        corner_normals.append(_resolve(parts[2], len(normals), "normal (vn)", path, number) if len(parts) > 2 and parts[2] else -1)
                if len(face) < 3:
                    raise MeshInputError(f"{path}, line {number}: a face needs at least 3 vertices: {raw.strip().decode(errors='replace')!r}")
            faces.append(face)
            face_groups.append(current + current_object)
        elif keyword in (b"l", b"p") and check_references:
            for token in tokens[1:]:
                _resolve(token.split(b"/")[0], len(vertices), "vertex", path, number)
        elif keyword == b"g":
            current = tuple(token.decode(errors="replace") for token in tokens[1:])
        elif keyword == b"o":
            current_object = tuple(token.decode(errors="replace") for token in tokens[1:2])
    polygons = Polygons.from_lists(faces)
    groups: dict[str, list[int]] = {}
    for face_id, names in enumerate(face_groups):
        for name in names:
            groups.setdefault(name, []).append(face_id)
    group_vertices = {
        name: np.unique(np.concatenate([polygons.corners[polygons.offsets[f]:polygons.offsets[f + 1]] for f in ids])) for name, ids in groups.items()
    }
    layout = ObjLayout(bom, lines, np.asarray(vertex_lines, dtype=np.int64), np.asarray(normal_lines, dtype=np.int64),
                       np.asarray(normals, dtype=np.float64).reshape(-1, 3), np.asarray(corner_normals, dtype=np.int64))
    return np.asarray(vertices, dtype=np.float64).reshape(-1, 3), polygons, group_vertices, layout


# ----- OFF ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TextLayout:
    """Where the vertex lines of a text file of one vertex a line (OFF, XYZ) are, for writing it back."""

    bom: bytes
    lines: list[bytes]
    vertex_lines: np.ndarray
    normals: bool = False  # NOFF: three normal components follow each vertex's coordinates


def parse_off(path: Path, data: bytes) -> tuple[np.ndarray, Polygons, TextLayout]:
    """An OFF file's vertices ``(n, 3)``, its polygons (any sizes, file order) and its layout."""
    bom, lines = split_lines(data)
    meaningful = [(k, (line.split(b"#", 1)[0] if b"#" in line else line).split()) for k, line in enumerate(lines)]
    meaningful = [(k, tokens) for k, tokens in meaningful if tokens]
    if not meaningful:
        raise MeshInputError(f"{path}: empty OFF file")
    head = meaningful[0][1]
    keyword = head[0].decode(errors="replace")
    if keyword not in ("OFF", "COFF", "NOFF", "CNOFF", "NCOFF"):
        raise MeshInputError(f"{path}, line {meaningful[0][0] + 1}: OFF variant {keyword!r} is not read (OFF, COFF, NOFF, CNOFF)")
    if any(token.upper() == b"BINARY" for token in head[1:]):
        raise MeshInputError(f"{path}: binary OFF is not read; write it as text")
    rest = meaningful[1:]
    if len(head) > 1:  # the counts on the keyword's line
        rest = [(meaningful[0][0], head[1:])] + rest
    if not rest:
        raise MeshInputError(f"{path}: no counts line")
    try:
        num_vertices, num_faces = int(rest[0][1][0]), int(rest[0][1][1])
    except (ValueError, IndexError):
        raise MeshInputError(f"{path}, line {rest[0][0] + 1}: expected 'vertices faces edges' counts") from None
    vertex_rows = rest[1:1 + num_vertices]
    face_rows = rest[1 + num_vertices:1 + num_vertices + num_faces]
    if len(vertex_rows) < num_vertices or len(face_rows) < num_faces:
        raise MeshInputError(f"{path}: the file declares {num_vertices} vertices and {num_faces} faces but ends early")
    vertices = [_xyz(tokens, path, k + 1) for k, tokens in vertex_rows]
    faces = []
    for k, tokens in face_rows:
        try:
            count = int(tokens[0])
            face = [int(token) for token in tokens[1:1 + count]]
        except (ValueError, IndexError):
            raise MeshInputError(f"{path}, line {k + 1}: malformed face") from None
        if len(face) != count or count < 3:
            raise MeshInputError(f"{path}, line {k + 1}: a face needs at least 3 vertex ids and as many as it declares")
        if min(face) < 0 or max(face) >= num_vertices:
            raise MeshInputError(f"{path}, line {k + 1}: a face refers to vertex {max(face) if max(face) >= num_vertices else min(face)}, "
                                 f"but there are {num_vertices} vertices (0-based)")
        faces.append(face)
    layout = TextLayout(bom, lines, np.array([k for k, _ in vertex_rows], dtype=np.int64), normals="N" in keyword)
    return np.asarray(vertices, dtype=np.float64).reshape(-1, 3), Polygons.from_lists(faces), layout
