"""Mesh and point-cloud I/O: vertex order, triangulation, validation errors, safe repairs, atomic save."""

import numpy as np
import pytest
import trimesh

from sape_geo.geometry.mesh_io import (
    MeshInputError,
    MeshRepairWarning,
    check_mesh,
    inspect_mesh,
    load_mesh,
    load_mesh_or_points,
    load_point_cloud,
    merge_coincident_vertices,
    save_mesh,
)

QUAD_OBJ = """\
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 9 9 9
vt 0 0
vt 1 0
vt 1 1
vt 0 1
f 4/4 1/1 2/2 3/3
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_obj_keeps_vertex_order_and_unreferenced_vertices_and_triangulates_polygons(tmp_path):
    V, F = load_mesh(write(tmp_path, "quad.obj", QUAD_OBJ))
    assert V.shape == (5, 3) and V.dtype == np.float64
    np.testing.assert_array_equal(V[4], [9, 9, 9])
    assert F.shape == (2, 3)
    assert set(F.ravel()) == {0, 1, 2, 3}
    report = inspect_mesh(V, F)
    assert report.unreferenced_vertices == 1
    assert report.boundary_loops == 1 and not report.is_closed


def test_obj_texture_seams_and_negative_indices_do_not_renumber_vertices(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt .5 .5\n"
    text += "f 1/1 2/2 3/3\nf 1/4/1 -2/3/1 -1//1\n"
    V, F = load_mesh(write(tmp_path, "seam.obj", text))
    assert V.shape == (4, 3)
    np.testing.assert_array_equal(F, [[0, 1, 2], [0, 2, 3]])


@pytest.mark.parametrize("suffix", [".obj", ".off", ".ply", ".stl"])
def test_round_trip_every_format(tmp_path, suffix):
    sphere = trimesh.creation.icosphere(subdivisions=1)
    path = save_mesh(tmp_path / f"s{suffix}", sphere.vertices, sphere.faces)
    V, F = load_mesh(path)
    assert V.shape == sphere.vertices.shape
    report = inspect_mesh(V, F)
    assert report.is_closed and report.components == 1 and report.is_edge_manifold
    if suffix != ".stl":  # STL has no shared vertices; its order is the merged order
        np.testing.assert_allclose(V, sphere.vertices, atol=1e-7)
        np.testing.assert_array_equal(F, sphere.faces)


def test_stl_corners_are_merged_in_order_of_first_appearance():
    soup = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    V, F = merge_coincident_vertices(soup, np.array([[0, 1, 2], [3, 4, 5]]))
    np.testing.assert_array_equal(V, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(F, [[0, 1, 2], [1, 3, 2]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no vertices"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no faces"),
        ("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n", "NaN/Inf"),
        ("v 0 0 0\nv 1 0 inf\nv 0 1 0\nf 1 2 3\n", "NaN/Inf"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n", "line 4: a face refers to vertex 7"),
        ("v 0 0 0\nv 1 0 x\nv 0 1 0\nf 1 2 3\n", "line 2: malformed number"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2\n", "line 4: a face needs at least 3"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "1-based"),
    ],
)
def test_bad_files_raise_errors_naming_the_file(refuses_file, text, message):
    refuses_file("bad.obj", text, load_mesh, MeshInputError, message)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.obj"):
        load_mesh(tmp_path / "nothere.obj")
    with pytest.raises(MeshInputError, match="unsupported"):
        load_mesh(write(tmp_path, "a.txt", "v 0 0 0"))


def test_degenerate_and_duplicate_faces_are_dropped_with_a_warning_and_vertices_untouched(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 2 0 0\nf 1 2 3\nf 1 2 4\nf 1 1 3\nf 3 2 1\n"
    with pytest.warns(MeshRepairWarning, match="2 degenerate .* 1 duplicated"):
        V, F = load_mesh(write(tmp_path, "d.obj", text))
    assert V.shape == (4, 3)
    np.testing.assert_array_equal(F, [[0, 1, 2]])
    V2, F2 = load_mesh(tmp_path / "d.obj", repair=False)
    assert F2.shape == (4, 3)


def test_all_degenerate_is_an_error(tmp_path):
    with pytest.raises(MeshInputError, match="every face is degenerate"):
        load_mesh(write(tmp_path, "z.obj", "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n"))


def test_report_counts_components_and_non_manifold_edges():
    a = trimesh.creation.icosphere(subdivisions=1)
    b = a.vertices + [5.0, 0, 0]
    V = np.vstack([a.vertices, b])
    F = np.vstack([a.faces, a.faces + len(a.vertices)])
    assert inspect_mesh(V, F).components == 2
    fin = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], float)
    report = inspect_mesh(fin, np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]]))
    assert report.non_manifold_edges == 1 and not report.is_edge_manifold


def test_check_mesh_rejects_bad_arrays():
    with pytest.raises(MeshInputError, match="out of|uses vertex"):
        check_mesh(np.zeros((3, 3)), np.array([[0, 1, 3]]))
    with pytest.raises(MeshInputError, match=r"\(n, 3\)"):
        check_mesh(np.zeros((3, 2)), np.array([[0, 1, 2]]))
    with pytest.raises(MeshInputError, match="no faces"):
        check_mesh(np.zeros((3, 3)), np.zeros((0, 3), int))


def test_point_clouds_from_xyz_ply_and_faceless_obj(tmp_path):
    points = np.random.default_rng(0).normal(size=(20, 3))
    np.savetxt(tmp_path / "p.xyz", points)
    np.testing.assert_allclose(load_point_cloud(tmp_path / "p.xyz"), points, atol=1e-12)
    trimesh.PointCloud(points).export(tmp_path / "p.ply")
    np.testing.assert_allclose(load_point_cloud(tmp_path / "p.ply"), points, atol=1e-6)
    write(tmp_path, "p.obj", "".join(f"v {x} {y} {z}\n" for x, y, z in points))
    P, F = load_mesh_or_points(tmp_path / "p.obj")
    assert F is None and P.shape == (20, 3)
    V, F = load_mesh_or_points(write(tmp_path, "q.obj", QUAD_OBJ))
    assert F.shape == (2, 3)


def test_save_is_atomic_on_bad_input(tmp_path):
    target = tmp_path / "out.obj"
    with pytest.raises(MeshInputError):
        save_mesh(target, np.array([[0, 0, np.nan]] * 3), np.array([[0, 1, 2]]))
    assert list(tmp_path.iterdir()) == []


POLYGON_OBJ = (
    "# exported\nmtllib m.mtl\no thing\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 2 0.5 0\nv 0.5 -1 0\nvt 0 0\nvn 0 0 1\n"
    "g lid\nf 1/1/1 2/1/1 5/1/1 3/1/1 4/1/1\nusemtl skin\nf -6 -1 -5\ns 1\nf 2 6 5\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_a_target_obj_reads_as_the_template_reader_reads_it(tmp_path, encoding):
    from sape_geo.geometry.template_file import read_template

    path = tmp_path / "polygons.obj"
    path.write_bytes(POLYGON_OBJ.replace("\n", "\r\n").encode(encoding))
    vertices, faces = load_mesh_or_points(path)
    template = read_template(path)
    assert np.array_equal(vertices, template.vertices)
    assert np.array_equal(faces, template.polygons.triangulate()[0])  # the fans of its polygons, in file order
    assert faces.tolist() == [[0, 1, 4], [0, 4, 2], [0, 2, 3], [0, 5, 1], [1, 5, 4]]


def test_a_target_obj_is_refused_in_the_template_readers_words(tmp_path):
    from sape_geo.geometry.template_file import read_template

    path = write(tmp_path, "broken.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n")
    with pytest.raises(MeshInputError) as as_target:
        load_mesh_or_points(path)
    with pytest.raises(MeshInputError) as as_template:
        read_template(path)
    assert str(as_target.value) == str(as_template.value) and "line 4: a face refers to vertex 7" in str(as_target.value)


MIXED_OFF = "OFF\n# a pentagon, a quad, a triangle\n8 3 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n2 0 0\n2 1 0\n-0.5 0.5 0.3\n3 0 0\n5 0 1 2 3 6\n4 1 4 5 2\n3 4 7 5\n"


def test_an_off_target_mixing_polygon_sizes_is_read_as_fans_in_file_order(tmp_path):
    # trimesh's OFF loader failed on any file with a pentagon and another size ("could not be read as OFF").
    vertices, faces = load_mesh_or_points(write(tmp_path, "mixed.off", MIXED_OFF))
    assert vertices.shape == (8, 3)
    assert faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 3, 6], [1, 4, 5], [1, 5, 2], [4, 7, 5]]
    with pytest.warns(MeshRepairWarning, match="dropped 1 degenerate"):  # the same repairs as before: a repeated corner
        assert load_mesh(write(tmp_path, "repeated.off", MIXED_OFF.replace("4 1 4 5 2", "4 1 4 5 5")))[1].shape == (5, 3)
