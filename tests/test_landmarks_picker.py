"""The landmark picker: session rules, the file it writes (read back by the mesh-transfer loader), and
the Polyscope front end through the mock backend."""

import numpy as np
import pytest
import trimesh

from sape_geo.geometry.landmarks import load_landmarks
from sape_geo_apps.landmarks_picker import LandmarkSession, open_picker, picked_vertex
from sape_geo_apps.viewer.backend import start_polyscope

ps = pytest.importorskip("polyscope")


@pytest.fixture
def meshes(tmp_path):
    source = trimesh.creation.icosphere(subdivisions=1)
    target = trimesh.creation.box(extents=(1.0, 2.0, 1.0))
    source.export(tmp_path / "source.obj")
    target.export(tmp_path / "target.obj")
    return tmp_path / "source.obj", tmp_path / "target.obj", source, target


def test_pick_pairs_undo_rename_and_save_round_trip(tmp_path):
    target = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    session = LandmarkSession(10, target)
    assert "source vertex first" in session.pick_target(1)
    session.pick_source(3)
    session.pick_target(1, "left ear")
    session.pick_source(5)
    session.pick_target(2)
    session.pick_source(7)
    assert "cancelled" in session.undo()  # the pending pick goes first
    session.pick_source(7)
    session.pick_target(3)
    assert "already has landmark 0" in session.pick_source(3)
    session.rename(1, "nose # tip\n")
    assert session.pairs[1].name == "nose tip"  # no comment marker or line break in a name
    path = tmp_path / "marks.txt"
    session.save(path)
    assert not session.unsaved
    text = path.read_text()
    assert "3 1  # left ear" in text and "7 3  # landmark 2" in text
    marks = load_landmarks(path, 10, target)
    assert marks.source_indices.tolist() == [3, 5, 7]
    assert marks.target_positions.tolist() == target[[1, 2, 3]].tolist()
    assert marks.names == ("left ear", "nose tip", "landmark 2")
    assert "removed landmark 2" in session.undo()
    assert len(session.pairs) == 2 and session.unsaved


def test_load_existing_file_keeps_vertex_ids_and_positions(tmp_path):
    target = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    path = tmp_path / "edit.txt"
    path.write_text("# a header comment\n0 2  # tail\n4 0.5 0.5 0.0  # somewhere on a face\n")
    session = LandmarkSession(6, target)
    assert "loaded 2" in session.load(path)
    assert [pair.target_vertex for pair in session.pairs] == [2, None]
    assert [pair.name for pair in session.pairs] == ["tail", "somewhere on a face"]
    session.save(path)  # a point off the vertices forces the x y z form for every line
    marks = load_landmarks(path, 6, target, minimum=2)
    assert marks.target_positions.tolist() == [[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]]


def test_session_rejects_bad_picks_and_empty_save(tmp_path):
    session = LandmarkSession(4, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="out of range"):
        session.pick_source(4)
    session.pick_source(0)
    with pytest.raises(ValueError, match="out of range"):
        session.pick_target(2)
    with pytest.raises(ValueError, match="no landmarks"):
        session.save(tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists()


def test_picked_vertex_from_vertex_face_or_position():
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
    faces = np.array([[0, 1, 2]])
    assert picked_vertex("vertex", 2, None, faces, np.zeros(3), vertices) == 2
    assert picked_vertex("face", 0, np.array([0.1, 0.7, 0.2]), faces, np.zeros(3), vertices) == 1
    assert picked_vertex("edge", 0, None, faces, np.array([0.1, 0.9, 0.0]), vertices) == 2


def test_picker_window_in_mock_backend(meshes, tmp_path):
    source_path, target_path, source, target = meshes
    out = tmp_path / "pair.txt"
    start_polyscope("mock")
    window = open_picker(source_path, target_path, out, mode="mock")
    assert ps.has_surface_mesh("source") and ps.has_surface_mesh("target")
    # a click on a target face picks its corner with the largest barycentric weight (world -> own frame)
    window.handle_pick("source", "vertex", 4, None, source.vertices[4])
    assert ps.get_point_cloud("pending pick").n_points() == 1
    window.next_name = "corner"
    face = 3
    window.handle_pick("target", "face", face, np.array([0.2, 0.2, 0.6]), np.zeros(3))
    assert window.session.pairs[0].target_vertex == int(target.faces[face][2])
    assert ps.get_point_cloud("target landmarks").n_points() == 1
    assert window.next_name == ""  # ready for the next pair
    ps.frame_tick()  # the panel callback runs (draws the list and the labels)
    window.save()
    marks = load_landmarks(out, len(source.vertices), target.vertices, minimum=1)
    assert marks.source_indices.tolist() == [4] and marks.names == ("corner",)
    start_polyscope("mock")
    reopened = open_picker(source_path, target_path, out, mode="mock")  # the existing file is loaded
    assert [pair.name for pair in reopened.session.pairs] == ["corner"]
    start_polyscope("mock")


def test_picker_refuses_missing_inputs(meshes, tmp_path):
    source_path, target_path, _, _ = meshes
    with pytest.raises(FileNotFoundError):
        open_picker(tmp_path / "nope.obj", target_path, tmp_path / "x.txt", mode="mock")
    with pytest.raises(FileNotFoundError, match="folder"):
        open_picker(source_path, target_path, tmp_path / "no" / "x.txt", mode="mock")


def test_picker_without_display_exits_2_with_the_reason(meshes, tmp_path, monkeypatch, capsys):
    from sape_geo_apps.cli import main

    source_path, target_path, _, _ = meshes
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["landmarks", str(source_path), str(target_path), "--out", str(tmp_path / "pairs.txt")]) == 2
    error = capsys.readouterr().err
    assert "no display found" in error and "unexpected" not in error
    assert not (tmp_path / "pairs.txt").exists()


def test_picker_names_of_many_landmarks_do_not_overlap(tmp_path):
    from sape_geo_apps.viewer.backend import set_camera
    from sape_geo_apps.viewer.framing import boxes_overlap
    from sape_geo_apps.viewer.panel import label_boxes

    # 41 markers with names as long as a cat-to-dog set's, on two round shapes
    sphere = trimesh.creation.icosphere(subdivisions=2)
    sphere.export(tmp_path / "ball.obj")
    trimesh.Trimesh(sphere.vertices * [1.5, 1.0, 1.0], sphere.faces).export(tmp_path / "egg.obj")
    parts = ("front left foot", "back right knee", "left ear tip", "tail mid", "right shoulder", "belly", "nose")
    markers = tmp_path / "markers.yml"
    markers.write_text("markers:\n" + "".join(f'  - "{4 * k}:{4 * k}"  # {parts[k % 7]} {k}\n' for k in range(41)))
    start_polyscope("mock")
    window = open_picker(tmp_path / "ball.obj", tmp_path / "egg.obj", tmp_path / "pairs.txt", load=markers, mode="mock")
    assert [pair.name for pair in window.session.pairs][:2] == ["front left foot 0", "back right knee 1"]
    ps.set_window_size(1024, 500)
    # framed on both shapes (Polyscope's own bounding box may remember an earlier test's)
    set_camera("front", 3, "y", np.vstack([window.source_vertices, window.target_vertices + window.target_offset]))
    anchors, names = window.label_anchors()
    assert len(names) == 82
    corners, sizes = label_boxes(anchors, names)
    assert not boxes_overlap(corners, sizes)
    ps.frame_tick()  # the callback draws them
    start_polyscope("mock")
