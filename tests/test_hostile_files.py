"""The hostile-input matrix for the user's files: encodings, value ranges, sizes and shapes that real
tools write. Every input type the README names has a malformed, a huge and an unusual-but-valid file
here (or in tests/test_hostile_inputs.py). Files are generated small and fast: "huge" images are 1-bit
PNGs (a few kB for 400 megapixels).

Command-line cases call the ``sape-geo`` entry point's ``main`` in this process, as
tests/test_hostile_inputs.py does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sape_geo.geometry.landmarks import LandmarkError, load_landmarks
from sape_geo.geometry.mesh_io import MeshInputError, load_mesh, load_mesh_or_points
from sape_geo_apps.cli import main

from conftest import ASSETS, TINY_ARGS  # noqa: E402

BOM = "\ufeff"
TETRAHEDRON = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
TETRAHEDRON_FACES = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Exit code and output of ``sape-geo ARGV`` (argparse exits too); no traceback may reach the user."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, captured.err
    return code, captured.out, captured.err


def _vertex_lines(points: np.ndarray) -> str:
    return "".join(f"{x!r} {y!r} {z!r}\n" for x, y, z in points.tolist())


def _face_lines(faces: np.ndarray) -> str:
    return "".join(f"3 {a} {b} {c}\n" for a, b, c in faces.tolist())


MESH_TEXTS = {
    "obj": "".join(f"v {x} {y} {z}\n" for x, y, z in TETRAHEDRON.tolist())
    + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in TETRAHEDRON_FACES.tolist()),
    "off": f"OFF\n4 4 0\n{_vertex_lines(TETRAHEDRON)}{_face_lines(TETRAHEDRON_FACES)}",
    "ply": "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
    "element face 4\nproperty list uchar int vertex_indices\nend_header\n" + _vertex_lines(TETRAHEDRON) + _face_lines(TETRAHEDRON_FACES),
}
POINT_TEXTS = {
    "xyz": _vertex_lines(TETRAHEDRON),
    "ply": "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    + _vertex_lines(TETRAHEDRON),
    "pcd": "VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 4\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
    "POINTS 4\nDATA ascii\n" + _vertex_lines(TETRAHEDRON),
}


# ----------------------------------------------------------------------------- UTF-8 byte-order mark

@pytest.mark.parametrize("suffix", sorted(MESH_TEXTS))
def test_a_byte_order_mark_before_a_mesh_reads_as_nothing(tmp_path, suffix):
    path = tmp_path / f"bom.{suffix}"
    path.write_text(BOM + MESH_TEXTS[suffix], encoding="utf-8")
    vertices, faces = load_mesh(path)
    assert np.array_equal(vertices, TETRAHEDRON) and np.array_equal(faces, TETRAHEDRON_FACES)


@pytest.mark.parametrize("suffix", sorted(POINT_TEXTS))
def test_a_byte_order_mark_before_a_point_cloud_reads_as_nothing(tmp_path, suffix):
    from sape_geo.geometry.point_clouds import read_point_cloud

    path = tmp_path / f"bom.{suffix}"
    path.write_text(BOM + POINT_TEXTS[suffix], encoding="utf-8")
    points, faces = load_mesh_or_points(path)
    assert faces is None and np.allclose(points, TETRAHEDRON)
    assert np.allclose(read_point_cloud(path)[0], TETRAHEDRON)


def test_an_obj_whose_last_vertex_is_unused_keeps_its_first_vertex_after_a_byte_order_mark(tmp_path):
    # The old reading dropped vertex 1, shifted every face and exited 0 with a scrambled mesh.
    path = tmp_path / "bom.obj"
    path.write_text(BOM + MESH_TEXTS["obj"] + "v 5 5 5\n", encoding="utf-8")
    vertices, faces = load_mesh(path)
    assert vertices.shape == (5, 3) and np.array_equal(vertices[0], [0, 0, 0]) and np.array_equal(faces, TETRAHEDRON_FACES)


LANDMARK_TEXTS = {
    "txt": "0 0.0 0.0 0.0  # nose\n1 1.0 0.0 0.0\n2 0.0 1.0 0.0\n",
    "csv": "source,x,y,z,name\n0,0,0,0,nose\n1,1,0,0,\n2,0,1,0,\n",
    "json": json.dumps([{"source": 0, "position": [0, 0, 0], "name": "nose"}, {"source": 1, "position": [1, 0, 0]},
                        {"source": 2, "position": [0, 1, 0]}]),
}


@pytest.mark.parametrize("suffix", sorted(LANDMARK_TEXTS))
def test_a_byte_order_mark_before_a_landmark_file_reads_as_nothing(tmp_path, suffix):
    path = tmp_path / f"marks.{suffix}"
    path.write_text(BOM + LANDMARK_TEXTS[suffix], encoding="utf-8")
    marks = load_landmarks(path, 4)
    assert marks.source_indices.tolist() == [0, 1, 2] and marks.names[0] == "nose"
    assert np.allclose(marks.target_positions, TETRAHEDRON[:3])


def test_a_byte_order_mark_before_yaml_markers_and_a_polyline_reads_as_nothing(tmp_path):
    from sape_geo.geometry.polygon import read_polyline
    from sape_geo_plugins.mesh_transfer.prepared import read_marker_pairs

    markers = tmp_path / "markers.yml"
    markers.write_text(BOM + 'markers:\n  - "0:1"\n  - "2:3"\n  - "4:5"\n', encoding="utf-8")
    assert read_marker_pairs(markers).tolist() == [[0, 1], [2, 3], [4, 5]]
    polyline = tmp_path / "square.csv"
    polyline.write_text(BOM + "0,0\n1,0\n1,1\n0,1\n", encoding="utf-8")
    assert read_polyline(polyline).tolist() == [[0, 0], [1, 0], [1, 1], [0, 1]]


def test_a_byte_order_mark_before_a_pipeline_reads_as_nothing(tmp_path):
    from sape_geo_apps.batch.pipeline import load_pipeline

    path = tmp_path / "pipeline.yaml"
    path.write_text(BOM + "jobs:\n  - task: fit1d\n    methods: [ff]\n", encoding="utf-8")
    assert len(load_pipeline(path).jobs) == 1


# ------------------------------------------------------------------ meshes: malformed, huge, unusual

MALFORMED_MESHES = {
    "short.off": ("OFF\n4 4 0\n0 0 0\n1 0 0\n", "could not be read as OFF"),
    "two_coordinates.obj": ("v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "line 1: a vertex needs 3 coordinates"),
    "no_y.ply": ("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1\n2\n3\n", "could not be read as PLY"),
    "cut.stl": ("solid x\nfacet normal 0 0 0\nouter loop\nvertex 0 0\nendloop\n", "no vertices found"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_MESHES))
def test_a_malformed_mesh_is_one_line_naming_the_file(tmp_path, capsys, name):
    text, message = MALFORMED_MESHES[name]
    (tmp_path / name).write_text(text)
    code, _, err = cli(capsys, "occupancy", tmp_path / name, "--out", tmp_path / "run", "--steps", "2", "--quiet")
    assert code == 2 and name in err and message in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("suffix", ["obj", "off", "ply", "stl"])
def test_a_large_mesh_loads_whole_in_every_format(tmp_path, suffix):
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=6)  # 40962 vertices, 81920 faces
    path = tmp_path / f"large.{suffix}"
    sphere.export(path)
    vertices, faces = load_mesh(path)
    assert vertices.shape == (40962, 3) and faces.shape == (81920, 3)


def test_unusual_but_valid_obj_lines_are_read(tmp_path):
    # CRLF endings, tabs, vertex colours, negative indices, a quad, groups, texture and normal indices.
    path = tmp_path / "unusual.obj"
    path.write_bytes(
        b"# exported\r\ng body\r\nv\t0 0 0 1 0 0\r\nv 1 0 0 0 1 0\r\nv 1 1 0\r\nv 0 1 0\r\nv 0.5 0.5 1\r\nvt 0 0\r\nvn 0 0 1\r\n"
        b"f -5/1/1 -2/1/1 -3/1/1 -4/1/1\r\nf 1//1 2//1 5//1\r\nf 2 3 5\r\nf 3 4 5\r\nf 4 1 5\r\n"
    )
    vertices, faces = load_mesh(path)
    assert vertices.shape == (5, 3) and faces.shape == (6, 3) and faces[:2].tolist() == [[0, 3, 2], [0, 2, 1]]


# ------------------------------------------------------------- point clouds: malformed, huge, unusual

MALFORMED_CLOUDS = {
    "letters.xyz": ("1 2 3\na b c\n4 5 6\n", "line 2: expected x y z numbers"),
    "two.xyz": ("1 2 3\n4 5\n6 7 8\n", "line 2: expected x y z numbers"),
    "short.pcd": ("VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 5\nHEIGHT 1\nPOINTS 5\nDATA ascii\n1 2 3\n4 5 6\n",
                  "the header promises 5 points but the file holds 2"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_CLOUDS))
def test_a_malformed_point_cloud_is_refused_not_read_in_part(tmp_path, name):
    # open3d skipped the XYZ line silently and padded the PCD with uninitialised memory (1e+243 points).
    from sape_geo.geometry.point_clouds import PointCloudError, read_point_cloud

    text, message = MALFORMED_CLOUDS[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(PointCloudError, match=message):
        read_point_cloud(tmp_path / name)


def test_a_truncated_binary_pcd_is_refused(tmp_path):
    from sape_geo.geometry.point_clouds import PointCloudError, read_point_cloud, write_point_cloud

    write_point_cloud(tmp_path / "whole.pcd", np.random.default_rng(0).random((1000, 3)))
    raw = (tmp_path / "whole.pcd").read_bytes()
    (tmp_path / "cut.pcd").write_bytes(raw[: len(raw) - 3000])
    with pytest.raises(PointCloudError, match="cut.pcd"):
        read_point_cloud(tmp_path / "cut.pcd")


@pytest.mark.parametrize("suffix", ["ply", "pcd", "xyz"])
def test_a_large_point_cloud_is_read_whole(tmp_path, suffix):
    from sape_geo.geometry.point_clouds import read_point_cloud, write_point_cloud

    points = np.random.default_rng(1).random((200_000, 3))
    write_point_cloud(tmp_path / f"scan.{suffix}", points)
    read, _ = read_point_cloud(tmp_path / f"scan.{suffix}")
    assert read.shape == points.shape and np.allclose(read, points, atol=1e-6)


def test_an_xyz_with_normals_and_comments_is_valid(tmp_path):
    from sape_geo.geometry.point_clouds import read_point_cloud

    path = tmp_path / "normals.xyz"
    path.write_text("0 0 0 0 0 1\n1 0 0 0 0 1\n0 1 0 0 0 1\n")
    points, _ = read_point_cloud(path)
    assert np.allclose(points, TETRAHEDRON[:3])


# ----------------------------------------------------------- landmarks: malformed, huge, unusual

MALFORMED_LANDMARKS = {
    "broken.json": ('[{"source": 0, "position": [0, 0, 0]},', "invalid JSON"),
    "three.csv": ("source,x,y,z\n0,0,0,0\n1,1,0\n2,0,1,0\n", "line 3"),
    "words.txt": ("0 0 0 0\none 1 0 0\n2 0 1 0\n", "line 2: source vertex must be a whole number"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_LANDMARKS))
def test_a_malformed_landmark_file_names_its_line(tmp_path, name):
    text, message = MALFORMED_LANDMARKS[name]
    (tmp_path / name).write_text(text)
    with pytest.raises(LandmarkError, match=message):
        load_landmarks(tmp_path / name, 4)


def test_a_large_landmark_file_is_read_whole(tmp_path):
    count = 20_000
    rows = np.random.default_rng(2).random((count, 3))
    path = tmp_path / "dense.txt"
    path.write_text("".join(f"{k} {x!r} {y!r} {z!r}\n" for k, (x, y, z) in enumerate(rows.tolist())))
    marks = load_landmarks(path, count)
    assert len(marks) == count and np.array_equal(marks.target_positions, rows)


def test_unusual_but_valid_landmark_lines_are_read(tmp_path):
    path = tmp_path / "marks.txt"
    path.write_bytes("# source x y z\r\n0\t0 0 0  # nez \u00e9tonn\u00e9\r\n\r\n1, 1, 0, 0\r\n2 0 1 0\r\n".encode("utf-8"))
    marks = load_landmarks(path, 4)
    assert marks.source_indices.tolist() == [0, 1, 2] and marks.names[0] == "nez \u00e9tonn\u00e9"
