"""Template files (OBJ, PLY, OFF, XYZ) come back with new positions and every other line, element and
property as they were; polygons, their triangulations and their validity metrics."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import numpy as np
import pytest

from sape_geo.geometry.mesh_io import MeshInputError
from sape_geo.geometry.polygon_mesh import Polygons, nonplanarity, polygon_metrics, turned_polygon_mask
from sape_geo.geometry.template_file import read_template

# Every OBJ line type a modelling tool writes: a cube of 6 quads, with UVs, normals, groups, materials.
EVERY_LINE_OBJ = """# exported by a modelling tool
mtllib cube.mtl
o Cube
v -1 -1 -1
v 1 -1 -1 0.5 0.5 0.5
v 1 1 -1
v -1 1 -1
v -1 -1 1
v 1 -1 1
v 1 1 1
v -1 1 1
vt 0 0
vt 1 0
vt 1 1
vt 0 1
vn 0 0 -1
vn 0 0 1
vn 0 -1 0
vn 1 0 0
vn 0 1 0
vn -1 0 0
g body
usemtl skin
s 1
f 1/1/1 4/4/1 3/3/1 2/2/1
f 5/1/2 6/2/2 7/3/2 8/4/2
f 1/1/3 2/2/3 6/3/3 5/4/3
s off
g lid
usemtl metal
f 2/1/4 3/2/4 7/3/4 6/4/4
f 3/1/5 4/2/5 8/3/5 7/4/5
f -4/1/6 -8/2/6 -5/3/6 -1/4/6
l 1 7
"""


def _rotation(angle: float = 0.7) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _keyword(line: bytes) -> bytes:
    tokens = line.split()
    return tokens[0] if tokens else b""


def test_obj_every_line_kept_but_positions_and_rotated_normals(tmp_path):
    source = tmp_path / "cube.obj"
    source.write_bytes(codecs.BOM_UTF8 + EVERY_LINE_OBJ.replace("\n", "\r\n").encode())
    template = read_template(source)
    assert template.vertices.shape == (8, 3) and template.polygons.sizes.tolist() == [4] * 6
    assert set(template.groups) == {"Cube", "body", "lid"} and template.groups["lid"].tolist() == list(range(8))
    moved = 2.0 * template.vertices @ _rotation().T + 5.0
    template.write(tmp_path / "out.obj", moved)
    written = (tmp_path / "out.obj").read_bytes()
    assert written.startswith(codecs.BOM_UTF8)
    before, after = source.read_bytes()[3:].split(b"\r\n"), written[3:].split(b"\r\n")
    assert len(before) == len(after)
    for old, new in zip(before, after):
        if _keyword(old) not in (b"v", b"vn"):
            assert old == new
    again = read_template(tmp_path / "out.obj")
    np.testing.assert_allclose(again.vertices, moved, atol=1e-12)
    assert b"0.5 0.5 0.5" in after[4]  # the vertex colour after the coordinates stays
    old_normals = np.array([[float(x) for x in line.split()[1:]] for line in before if _keyword(line) == b"vn"])
    new_normals = np.array([[float(x) for x in line.split()[1:]] for line in after if _keyword(line) == b"vn"])
    np.testing.assert_allclose(new_normals, old_normals @ _rotation().T, atol=1e-9)  # a rotation turns every normal
    template.write(tmp_path / "same.obj")
    assert (tmp_path / "same.obj").read_bytes() == source.read_bytes()  # unchanged positions: byte for byte


def _quad_grid_obj(size: int = 4) -> str:
    lines = [f"v {i} {j} 0\nvt {i / size} {j / size}" for j in range(size + 1) for i in range(size + 1)]
    index = lambda i, j: j * (size + 1) + i + 1  # noqa: E731
    for j in range(size):
        for i in range(size):
            corners = [index(i, j), index(i + 1, j), index(i + 1, j + 1), index(i, j + 1)]
            lines.append("f " + " ".join(f"{c}/{c}" for c in corners))
    return "\n".join(lines) + "\n"


def test_quad_grid_with_uvs_and_ngons(tmp_path):
    path = tmp_path / "grid.obj"
    path.write_text(_quad_grid_obj() + "v 9 9 0\nv 10 9 0\nv 10.5 9.5 0\nv 10 10 0\nv 9 10 0\nf -5 -4 -3 -2 -1\n")
    template = read_template(path)
    assert template.polygons.sizes.tolist() == [4] * 16 + [5]
    triangles, owner = template.triangulation()
    assert triangles.shape == (16 * 2 + 3, 3) and np.bincount(owner).tolist() == [2] * 16 + [3]
    template.write(tmp_path / "out.obj", template.vertices + [0.0, 0.0, 1.0])
    old, new = path.read_text().splitlines(), (tmp_path / "out.obj").read_text().splitlines()
    assert [a for a in old if not a.startswith("v ")] == [b for b in new if not b.startswith("v ")]
    assert sum(line.startswith("vt ") for line in new) == 25


def test_quad_triangulation_and_symmetric_fans():
    square = np.array([[0.0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0]])
    kite = np.array([[0.0, 0, 0], [1, -3, 0], [2, 0, 0], [1, 0.2, 0]])  # diagonal 1-3 is longer than 0-2
    quad = Polygons.from_lists([[0, 1, 2, 3]])
    triangles, _ = quad.triangulate(kite)
    assert {tuple(sorted(t)) for t in triangles.tolist()} == {(0, 1, 2), (0, 2, 3)}
    fans, owner, weights = Polygons.from_lists([[0, 1, 2], [0, 1, 2, 3]]).fans()
    assert weights[owner == 0].tolist() == [1.0] and np.isclose(weights[owner == 1].sum(), 2.0)  # two triangles' worth
    diagonals = {tuple(sorted(t)) for t in fans[owner == 1].tolist()}
    assert diagonals == {(0, 1, 2), (0, 2, 3), (0, 1, 3), (1, 2, 3)}  # both splits
    assert len(quad.edges()) == 4 and square.shape == (4, 3)


def test_symmetric_fans_give_a_quad_the_mean_of_its_two_splits():
    from sape_geo.geometry.metrics import distortion_energies

    square = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    moved = square.copy()
    moved[2] = [1.0, 1.0, 0.8]  # bent out of its plane: the two diagonal splits disagree
    fans, _, weights = Polygons.from_lists([[0, 1, 2, 3]]).fans()
    energy = lambda faces, w=None: distortion_energies(square, moved, np.array(faces), free_of_scale=False, weights=w)["conformal_ratio"]  # noqa: E731
    split_ac, split_bd = energy([[0, 1, 2], [0, 2, 3]]), energy([[0, 1, 3], [1, 2, 3]])
    assert abs(split_ac - split_bd) > 1e-3
    assert energy(fans, weights) == pytest.approx(0.5 * (split_ac + split_bd))


def test_nonplanarity_and_turned_polygons():
    flat = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0]])
    polygons = Polygons.from_lists([[0, 1, 2, 3], [1, 4, 5, 2]])
    assert np.allclose(nonplanarity(flat, polygons), 0.0)
    lifted = flat.copy()
    lifted[3, 2] = 0.4  # one corner 0.4 off the plane of the others
    values = nonplanarity(lifted, polygons)
    assert values[0] > 0.05 and values[1] == 0.0
    triangles, _ = polygons.triangulate(flat)
    metrics = polygon_metrics(flat, lifted, polygons, triangles)
    assert metrics["polygon_nonplanarity_max"] == pytest.approx(values.max()) and metrics["turned_polygons"] == 0


def test_turned_polygons_count_a_quad_pushed_over_and_nothing_else():
    grid = np.array([[x, y, 0.0] for y in range(5) for x in range(5)], dtype=float)
    quads = Polygons.from_lists([[y * 5 + x, y * 5 + x + 1, (y + 1) * 5 + x + 1, (y + 1) * 5 + x] for y in range(4) for x in range(4)])
    triangles, _ = quads.triangulate(grid)
    for moved in (3.0 * grid @ _rotation().T + 1.0, grid * [1.0, 0.3, 1.0], grid * [-1.0, 1.0, 1.0]):  # similarity, stretch, mirror
        assert turned_polygon_mask(grid, moved, quads, triangles).sum() == 0
    pushed = grid.copy()
    pushed[12] = [6.0, 2.0, 0.0]  # the centre vertex pushed far across its neighbour 13
    turned = turned_polygon_mask(grid, pushed, quads, triangles)
    assert np.flatnonzero(turned).tolist() == [6, 10]  # the two quads between 12 and 13 wind backwards now
    from sape_geo.geometry.polygon_mesh import folded_polygon_edges

    assert folded_polygon_edges(grid, quads) == 0
    sheet = grid.copy()
    right = sheet[:, 0] > 2
    sheet[right, 0], sheet[right, 2] = 4 - sheet[right, 0], 1e-2  # folded flat along x = 2
    assert folded_polygon_edges(sheet, quads) == 4  # the four quad edges on the crease


def _ply(encoding: str, quads: bool = True) -> bytes:
    vertices = np.array([(0, 0, 0, 255, 0, 0, 0.5), (1, 0, 0, 0, 255, 0, 1.5), (1, 1, 0, 0, 0, 255, 2.5), (0, 1, 0, 9, 9, 9, 3.5), (2, 0, 0, 1, 2, 3, 4.5)],
                        dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("quality", "f8")])
    faces = [[0, 1, 2, 3], [1, 4, 2]]
    header = ("ply\nformat {} 1.0\ncomment made by a test\nelement vertex 5\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty double quality\n"
              "element face 2\nproperty list uchar int vertex_indices\nproperty uchar flags\nelement edge 1\nproperty int vertex1\n"
              "property int vertex2\nend_header\n")
    if encoding == "ascii":
        body = "".join(f"{v[0]:g} {v[1]:g} {v[2]:g} {v[3]} {v[4]} {v[5]} {v[6]}\n" for v in vertices.tolist())
        body += "".join(f"{len(f)} {' '.join(map(str, f))} 7\n" for f in faces) + "0 4\n"
        return header.format("ascii").encode() + body.encode()
    order = "<" if encoding == "binary_little_endian" else ">"
    body = vertices.astype(vertices.dtype.newbyteorder(order)).tobytes()
    for face in faces:
        body += np.uint8(len(face)).tobytes() + np.asarray(face, dtype=order + "i4").tobytes() + np.uint8(7).tobytes()
    body += np.asarray([0, 4], dtype=order + "i4").tobytes()
    return header.format(encoding).encode() + body


@pytest.mark.parametrize("encoding", ["ascii", "binary_little_endian", "binary_big_endian"])
def test_ply_keeps_every_element_and_property(tmp_path, encoding):
    path = tmp_path / "colours.ply"
    path.write_bytes(_ply(encoding))
    template = read_template(path)
    assert template.polygons.sizes.tolist() == [4, 3]
    moved = template.vertices * 3.0 + 1.0
    template.write(tmp_path / "out.ply", moved)
    written = (tmp_path / "out.ply").read_bytes()
    np.testing.assert_allclose(read_template(tmp_path / "out.ply").vertices, moved, rtol=1e-6)
    original = path.read_bytes()
    header_end = original.index(b"end_header\n") + len(b"end_header\n")
    assert written[:header_end] == original[:header_end]
    if encoding == "ascii":
        old, new = original[header_end:].splitlines(), written[header_end:].splitlines()
        assert old[5:] == new[5:]  # faces (with their flags) and the edge
        assert [line.split()[3:] for line in old[:5]] == [line.split()[3:] for line in new[:5]]  # colours, quality
    else:
        record = 3 * 4 + 3 + 8
        assert len(written) == len(original)
        for k in range(5):  # colour and quality bytes of every vertex, and everything after the vertices
            start = header_end + k * record
            assert written[start + 12:start + record] == original[start + 12:start + record]
        assert written[header_end + 5 * record:] == original[header_end + 5 * record:]


def test_off_with_colours_and_xyz_points(tmp_path):
    path = tmp_path / "mesh.off"
    path.write_text("COFF\n# a comment\n5 2 0\n0 0 0 255 0 0 255\n1 0 0 0 255 0 255\n1 1 0 0 0 255 255\n0 1 0 1 1 1 255\n2 0 0 1 2 3 255\n"
                    "4 0 1 2 3\n3 1 4 2 10 20 30\n")
    template = read_template(path)
    template.write(tmp_path / "out.off", template.vertices + 0.25)
    old, new = path.read_text().splitlines(), (tmp_path / "out.off").read_text().splitlines()
    assert old[:3] == new[:3] and old[8:] == new[8:]
    assert [line.split()[3:] for line in old[3:8]] == [line.split()[3:] for line in new[3:8]]
    np.testing.assert_allclose(read_template(tmp_path / "out.off").vertices, template.vertices + 0.25)
    points = tmp_path / "markers.xyz"
    points.write_text("# markers\n0 0 0 tip\n1 2 3 heel\n")
    marker = read_template(points)
    assert not marker.has_faces
    marker.write(tmp_path / "moved.xyz", marker.vertices + 1.0)
    assert (tmp_path / "moved.xyz").read_text().splitlines() == ["# markers", "1.0 1.0 1.0 tip", "2.0 3.0 4.0 heel"]


@pytest.mark.parametrize("text, fault", [
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/2 3/1\n", "line 5: a face refers to texture coordinate (vt) 2"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1//1 2//1 3//1\n", "line 4: a face refers to normal (vn) 1"),
    ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 \\\n 3\n", "line 4: a line continuation"),
    ("v 0 0 nan\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "NaN/Inf"),
])
def test_bad_obj_names_the_line(refuses_file, text, fault):
    refuses_file("bad.obj", text, read_template, MeshInputError, re.escape(fault))


def test_bad_ply_and_formats_that_cannot_be_kept(tmp_path):
    path = tmp_path / "bad.ply"
    path.write_bytes(_ply("ascii").replace(b"list uchar int vertex_indices", b"list uchar quad vertex_indices"))
    with pytest.raises(MeshInputError, match="element 'face', list property 'vertex_indices' has an unknown"):
        read_template(path)
    stl = tmp_path / "part.stl"
    stl.write_text("solid x\nendsolid x\n")
    with pytest.raises(MeshInputError, match="cannot be written back as it was"):
        read_template(stl)
    binary_off = tmp_path / "b.off"
    binary_off.write_text("OFF BINARY\n")
    with pytest.raises(MeshInputError, match="binary OFF"):
        read_template(binary_off)


def test_ply_with_a_byte_order_mark_and_crlf(tmp_path):
    path = tmp_path / "bom.ply"
    path.write_bytes(codecs.BOM_UTF8 + _ply("ascii").replace(b"\n", b"\r\n"))
    template = read_template(path)
    template.write(tmp_path / "out.ply", template.vertices + 1.0)
    written = (tmp_path / "out.ply").read_bytes()
    original = path.read_bytes()
    header = original.index(b"end_header\r\n") + len(b"end_header\r\n")
    assert written[:header] == original[:header] and written.count(b"\r\n") == original.count(b"\r\n")
    np.testing.assert_allclose(read_template(tmp_path / "out.ply").vertices, template.vertices + 1.0, rtol=1e-6)


@pytest.mark.parametrize("suffix, text", [
    (".obj", "# Notepad\r\nv 0 0 0\r\nv 1 0 0\r\nv 0 1 0\r\nv 1 1 0\r\nf 1 2 4 3\r\n"),
    (".off", "OFF\r\n4 1 0\r\n0 0 0\r\n1 0 0\r\n0 1 0\r\n1 1 0\r\n4 0 1 3 2\r\n"),
])
@pytest.mark.parametrize("encoding, bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_a_utf16_template_is_read_and_written_back_in_utf16(tmp_path, suffix, text, encoding, bom):
    path = tmp_path / f"notepad{suffix}"
    path.write_bytes(bom + text.encode(encoding))
    template = read_template(path)
    assert template.vertices.shape == (4, 3) and template.polygons.sizes.tolist() == [4]
    template.write(tmp_path / f"out{suffix}", template.vertices + [0.0, 0.0, 0.5])
    written = (tmp_path / f"out{suffix}").read_bytes()
    assert written.startswith(bom)
    old, new = text.split("\r\n"), written[2:].decode(encoding).split("\r\n")  # CRLF kept
    rows = range(1, 5) if suffix == ".obj" else range(2, 6)
    assert [line for k, line in enumerate(new) if k not in rows] == [line for k, line in enumerate(old) if k not in rows]
    assert all(new[k].split()[-1] == "0.5" for k in rows)
    np.testing.assert_allclose(read_template(tmp_path / f"out{suffix}").vertices, template.vertices + [0.0, 0.0, 0.5])
