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
