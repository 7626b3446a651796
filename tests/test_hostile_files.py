"""The hostile-input matrix for the user's files: encodings, value ranges, sizes and shapes that real
tools write. Every input type the README names has a malformed, a huge and an unusual-but-valid file
here (or in tests/test_hostile_inputs.py). Files are generated small and fast: "huge" images are 1-bit
PNGs (a few kB for 400 megapixels).

Command-line cases call the ``sape-geo`` entry point's ``main`` in this process, as
tests/test_hostile_inputs.py does.
"""

from __future__ import annotations

import json
import warnings
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


def test_notepads_utf16_files_are_read(tmp_path):
    # Notepad's "Unicode": UTF-16 with its own BOM, little or big endian.
    (tmp_path / "mesh.obj").write_bytes(MESH_TEXTS["obj"].replace("\n", "\r\n").encode("utf-16"))
    assert np.array_equal(load_mesh(tmp_path / "mesh.obj")[1], TETRAHEDRON_FACES)
    (tmp_path / "marks.txt").write_bytes(b"\xfe\xff" + LANDMARK_TEXTS["txt"].encode("utf-16-be"))
    assert load_landmarks(tmp_path / "marks.txt", 4).names[0] == "nose"


def test_a_binary_stl_whose_header_starts_like_a_byte_order_mark_is_read_as_it_is(tmp_path):
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=1)
    raw = trimesh.exchange.stl.export_stl(sphere)
    (tmp_path / "header.stl").write_bytes(b"\xef\xbb\xbf" + raw[3:])  # the 80-byte header is free text
    assert load_mesh(tmp_path / "header.stl")[1].shape == sphere.faces.shape


# ------------------------------------------------------------------ meshes: malformed, huge, unusual

MALFORMED_MESHES = {
    "short.off": ("OFF\n4 4 0\n0 0 0\n1 0 0\n", "declares 4 vertices and 4 faces but ends early"),
    "two_coordinates.obj": ("v 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n", "line 1: needs 3 numbers"),
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

    sphere = trimesh.creation.icosphere(subdivisions=5)  # 10242 vertices, 20480 faces
    path = tmp_path / f"large.{suffix}"
    sphere.export(path)
    vertices, faces = load_mesh(path)
    assert vertices.shape == (10242, 3) and faces.shape == (20480, 3)


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
    "commas.xyz": ("0,0,0\n1,0,0\n0,1,0\n", "line 1: expected x y z numbers separated by spaces, got '0,0,0'"),
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


# ------------------------------------------------------------------ images: value ranges and masks

TINY_IMAGE = ["--steps", "2", "--hidden", "8", "--layers", "1", "--frequencies", "4", "--quiet", "--threads", "1", "--method", "ff"]


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.uint32])
def test_integer_arrays_holding_8_bit_values_read_as_8_bit(dtype):
    # They were divided by their type's maximum: a black image and a fake 39 dB PSNR.
    from sape_geo.imaging import image_from_array

    photo = np.random.default_rng(3).integers(0, 256, size=(6, 7, 3))
    as_type, as_bytes = image_from_array(photo.astype(dtype)), image_from_array(photo.astype(np.uint8))
    assert np.array_equal(as_type.pixels, as_bytes.pixels)
    assert "read as 8-bit (divided by 255)" in as_type.value_rule


def test_integer_arrays_beyond_8_and_16_bits_follow_the_documented_rule():
    from sape_geo.imaging import ImageReadError, image_from_array

    sixteen = image_from_array(np.array([[0, 1000], [40000, 65535]], dtype=np.int32))
    assert sixteen.pixels.max() == 1.0 and "divided by 65535" in sixteen.value_rule
    counts = image_from_array(np.array([[100_000, 150_000], [200_000, 200_000]], dtype=np.int64))
    assert counts.value_range == (100_000.0, 200_000.0) and counts.pixels[0, 1, 0] == pytest.approx(0.5)
    with pytest.raises(ImageReadError, match="negative"):
        image_from_array(np.array([[-1, 2], [3, 4]], dtype=np.int16))
    with pytest.raises(ImageReadError, match=r"in \[0, 1\].*divide 8-bit values by 255"):
        image_from_array(np.full((4, 4), 200.0))


def test_the_image_summary_says_how_values_were_read(tmp_path):
    from sape_geo_plugins.image import fit_image

    photo = np.random.default_rng(4).integers(0, 256, size=(8, 8, 3))
    result = fit_image(photo.astype(np.int32), "ff", out=tmp_path / "run", steps=2, hidden_dim=8, num_frequencies=4, progress_bar=False)
    assert "values: int32 values 0..255 read as 8-bit (divided by 255)" in result.extras["notes"]
    assert result.metrics["psnr_all_db"] < 20  # not the black image's fake excellence
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["task"]["source"]["value_rule"].startswith("int32")


DISC = np.hypot(*np.mgrid[-24:24, -24:24]) < 15


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, bool])
def test_a_0_1_label_mask_array_is_a_silhouette(dtype):
    from sape_geo_plugins.silhouette import silhouette_from_array

    target = silhouette_from_array(DISC.astype(dtype))
    assert np.array_equal(target.region, DISC) and target.foreground.startswith("light on dark")


def test_a_0_1_label_png_is_a_silhouette(tmp_path):
    from PIL import Image

    from sape_geo_plugins.silhouette import load_silhouette

    Image.fromarray(DISC.astype(np.uint8)).save(tmp_path / "label.png")
    target = load_silhouette(tmp_path / "label.png")
    assert np.array_equal(target.region, DISC) and "label mask of two values, 0 and 1" in target.foreground


@pytest.mark.parametrize("dtype, words", [("<i2", "signed 16-bit"), (">i2", "signed 16-bit"), ("i1", "signed 8-bit"), ("<i4", "signed 32-bit")])
def test_a_signed_integer_tiff_is_stretched_and_its_rule_names_its_type(tmp_path, dtype, words):
    import tifffile  # a scikit-image dependency; PIL cannot write signed 16-bit files

    from sape_geo.imaging import read_image

    heights = (np.arange(16 * 16).reshape(16, 16) % 100 - 50).astype(dtype)  # below and above sea level
    tifffile.imwrite(tmp_path / "heights.tif", heights)
    image = read_image(tmp_path / "heights.tif")
    assert image.value_rule == f"{words} integers stretched from their minimum -50 to their maximum 49"
    assert image.value_range == (-50.0, 49.0)
    assert np.allclose(image.pixels[..., 0], (heights.astype(np.float64) + 50) / 99, atol=1e-6)


LABELS = np.zeros((48, 48), dtype=np.uint8)
LABELS[8:24, 8:40] = 1
LABELS[26:44, 12:36] = 2


def test_a_label_map_of_three_labels_is_refused_as_a_silhouette_naming_its_labels(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(LABELS).save(tmp_path / "segmentation.png")
    code, _, err = cli(capsys, "silhouette", tmp_path / "segmentation.png", "--out", tmp_path / "run", "--quiet")
    assert code == 2 and "uniformly dark" not in err
    assert len(err.strip().splitlines()) == 1 and "a label map of 3 labels (0, 1, 2)" in err and "mask of its own" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("mode", ["L", "I;16", "P"])
def test_a_label_map_is_a_grey_image_stretched_from_its_smallest_to_its_largest_label(tmp_path, mode):
    from PIL import Image

    from sape_geo_plugins.image.task import load_image_task

    saved = Image.fromarray(LABELS.astype(np.uint16 if mode == "I;16" else np.uint8))
    (saved.convert("P") if mode == "P" else saved).save(tmp_path / "segmentation.png")  # P: a palette of grey entries
    image = load_image_task(tmp_path / "segmentation.png").image
    assert sorted(np.unique(image.values).tolist()) == [0.0, 0.5, 1.0]
    assert image.source["value_rule"] == "a label map of 3 labels (0, 1, 2): stretched from 0 to 2 onto [0, 1]"


def test_a_uniform_dark_image_is_still_refused():
    from sape_geo_plugins.silhouette import NoForegroundError, silhouette_from_array

    with pytest.raises(NoForegroundError, match="uniformly dark"):
        silhouette_from_array(np.zeros((16, 16), dtype=np.uint8))


# ------------------------------------------------------------------ images: orientation and frames

def test_a_portrait_photo_stays_portrait(tmp_path):
    from PIL import Image

    from sape_geo.imaging import read_image

    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :10] = 255  # a light band at the left of the stored (landscape) pixels
    picture = Image.fromarray(stored)
    exif = picture.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phones write
    picture.save(tmp_path / "portrait.jpg", exif=exif.tobytes())
    image = read_image(tmp_path / "portrait.jpg")
    assert (image.height, image.width) == (40, 20)
    assert image.pixels[:8].mean() > 0.9 and image.pixels[-8:].mean() < 0.1  # the band is now at the top
    assert any("EXIF orientation (6)" in note for note in image.notes)


def test_a_multi_frame_gif_says_it_used_frame_1(tmp_path, capsys):
    from PIL import Image

    frames = [Image.fromarray(np.pad(np.full((8, 8), v, dtype=np.uint8), 4)) for v in (255, 128, 60)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    code, out, err = cli(capsys, "image", tmp_path / "anim.gif", "--out", tmp_path / "run", *TINY_IMAGE)
    assert code == 0, err
    assert "input: the file holds 3 frames; frame 1 is used" in out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["task"]["source"]["notes"] == ["the file holds 3 frames; frame 1 is used"]


# ------------------------------------------------------------------------------ images: huge files

def blank_png(path: Path, width: int, height: int) -> Path:
    """A black 1-bit PNG written chunk by chunk (PIL would build the whole bitmap first): 0.7 s and
    50 kB for 20000 x 20000 pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def huge_pngs(tmp_path_factory) -> dict[str, Path]:
    """1-bit PNGs of 20000^2 (over PIL's bomb limit) and 13000^2 (under it) pixels."""
    folder = tmp_path_factory.mktemp("huge")
    return {"20k": blank_png(folder / "20k.png", 20000, 20000), "13k": blank_png(folder / "13k.png", 13000, 13000)}


def test_an_image_over_the_bomb_limit_is_exit_2_with_a_clear_line(tmp_path, capsys, huge_pngs):
    for task in ("image", "silhouette"):
        code, _, err = cli(capsys, task, huge_pngs["20k"], "--out", tmp_path / task, "--steps", "2", "--quiet")
        assert code == 2 and "is too large to read (400 megapixels)" in err and "downsize it first" in err
        assert "report" not in err and not (tmp_path / task).exists()


def test_a_huge_image_is_reduced_on_read_before_it_becomes_floats(huge_pngs):
    from sape_geo.imaging import READ_BUDGET_PIXELS, read_image

    image = read_image(huge_pngs["13k"])
    assert image.reduction == 4 and (image.height, image.width) == (3250, 3250)
    assert image.height * image.width <= READ_BUDGET_PIXELS
    assert "13000x13000 px" in image.notes[0] and "reduced 4x on read" in image.notes[0]


def test_a_reduced_silhouette_keeps_the_files_pixel_coordinates(tmp_path, monkeypatch):
    from PIL import Image

    import sape_geo.imaging
    from sape_geo_plugins.silhouette import load_silhouette

    square = np.zeros((120, 120), dtype=np.uint8)
    square[30:90, 20:100] = 255  # columns 20..99, rows 30..89: edges at x 19.5 / 99.5, y 29.5 / 89.5
    Image.fromarray(square).save(tmp_path / "square.png")
    full = load_silhouette(tmp_path / "square.png")
    monkeypatch.setattr(sape_geo.imaging, "READ_BUDGET_PIXELS", 40 * 40)
    reduced = load_silhouette(tmp_path / "square.png")
    assert reduced.grid.spacing == 3.0 and reduced.region.shape == (40, 40)
    assert np.allclose(reduced.outline.min(axis=0), full.outline.min(axis=0), atol=1.0)
    assert np.allclose(reduced.outline.max(axis=0), full.outline.max(axis=0), atol=1.0)
    assert any("reduced 3x on read" in note for note in reduced.notes)


def test_unusual_but_valid_image_modes_are_read(tmp_path):
    from PIL import Image

    from sape_geo.imaging import read_image

    ramp = np.tile(np.arange(0, 65536, 4096, dtype=np.uint16), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "sixteen.png")
    assert read_image(tmp_path / "sixteen.png").bit_depth == 16
    palette = Image.fromarray(np.tile(np.arange(16, dtype=np.uint8), (16, 1))).convert("P")
    palette.info["transparency"] = 0
    palette.save(tmp_path / "palette.png", transparency=0)
    assert read_image(tmp_path / "palette.png").alpha is not None
    Image.fromarray(np.eye(16, dtype=bool)).save(tmp_path / "bits.tif")
    assert read_image(tmp_path / "bits.tif").pixels.max() == 1.0


@pytest.mark.parametrize("suffix", ["png", "jpg", "tif", "gif"])
def test_a_truncated_image_is_one_line(tmp_path, capsys, suffix):
    from PIL import Image

    Image.fromarray(np.random.default_rng(5).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / f"whole.{suffix}")
    raw = (tmp_path / f"whole.{suffix}").read_bytes()
    (tmp_path / f"cut.{suffix}").write_bytes(raw[: len(raw) // 3])
    code, _, err = cli(capsys, "image", tmp_path / f"cut.{suffix}", "--out", tmp_path / "run", *TINY_IMAGE)
    assert code == 2 and f"cut.{suffix}" in err and not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------- polylines

def test_a_bowtie_polyline_is_named_as_crossing_itself_not_collinear(tmp_path, capsys):
    (tmp_path / "bowtie.csv").write_text("0,0\n1,1\n1,0\n0,1\n")
    code, _, err = cli(capsys, "silhouette", tmp_path / "bowtie.csv", "--out", tmp_path / "run", "--steps", "2", "--quiet")
    assert code == 2 and "crosses itself" in err and "x=0.5, y=0.5" in err and "collinear" not in err
    (tmp_path / "line.csv").write_text("0,0\n1,1\n2,2\n")
    code, _, err = cli(capsys, "silhouette", tmp_path / "line.csv", "--out", tmp_path / "run", "--steps", "2", "--quiet")
    assert code == 2 and "collinear" in err


# ---------------------------------------------------------------------------------- occupancy

TINY_OCCUPANCY = ["--steps", "3", "--resolution", "4", "--train-points", "600", "--batch-size", "200", "--eval-points", "300",
                  "--mesh-resolution", "10", "--hidden", "8", "--layers", "1", "--frequencies", "4", "--quiet", "--threads", "1"]


def test_occupancy_orients_an_inconsistently_oriented_closed_mesh_before_labelling(tmp_path, capsys):
    # Half the faces turned over (an STL export): the winding number labelled 0.3 % inside instead of half.
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3)
    faces = np.asarray(sphere.faces).copy()
    flip = np.random.default_rng(6).random(len(faces)) < 0.5
    faces[flip] = faces[flip][:, ::-1]
    trimesh.Trimesh(sphere.vertices, faces, process=False).export(tmp_path / "mixed.stl")
    code, out, err = cli(capsys, "occupancy", tmp_path / "mixed.stl", "--out", tmp_path / "run", *TINY_OCCUPANCY, "--train-points", "4000")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["input_faces_reoriented"] > 0 and metrics["input_misoriented_edges"] > 0
    assert 0.2 < metrics["train_inside_fraction"] < 0.6
    assert "turned over before labelling" in out


def test_orient_faces_keeps_each_shells_intended_side_so_a_cavity_stays_outside():
    import trimesh

    from sape_geo.geometry.inside import inside_mask, misoriented_edges, orient_faces

    outer, inner = trimesh.creation.icosphere(subdivisions=3), trimesh.creation.icosphere(subdivisions=2, radius=0.5)
    vertices = np.concatenate([outer.vertices, inner.vertices])
    faces = np.concatenate([outer.faces, inner.faces[:, ::-1] + len(outer.vertices)])  # a hollow ball: inner shell inward
    kept, none = orient_faces(vertices, faces)
    assert none == 0 and np.array_equal(kept, faces)
    stray = faces.copy()
    stray[:40] = stray[:40, ::-1]  # a few outer triangles turned, as an STL export may
    oriented, flipped = orient_faces(vertices, stray)
    assert flipped == 40 and misoriented_edges(oriented) == 0 and np.array_equal(oriented, faces)
    cavity, wall, outside = [0.0, 0.0, 0.0], [0.75, 0.0, 0.0], [1.5, 0.0, 0.0]
    assert inside_mask(vertices, oriented, np.array([cavity, wall, outside])).tolist() == [False, True, False]


def test_surface_floaters_are_counted_and_left_out_by_the_documented_rule():
    import trimesh

    from sape_geo_plugins.occupancy.task import drop_floaters

    body = trimesh.creation.icosphere(subdivisions=2)
    specks = [trimesh.creation.icosphere(subdivisions=1, radius=0.02).apply_translation([2.0 + k, 0, 0]) for k in range(3)]
    both = trimesh.util.concatenate([body, *specks])
    vertices, faces, found = drop_floaters(np.asarray(both.vertices), np.asarray(both.faces), 0.005)
    assert found["components"] == 4 and found["floaters"] == 3 and 0 < found["floater_area_pct"] < 0.5
    assert faces.shape == body.faces.shape and vertices.shape == body.vertices.shape
    assert drop_floaters(np.asarray(both.vertices), np.asarray(both.faces), 0.0)[2]["floaters"] == 0


def test_occupancy_metrics_count_the_surfaces_pieces(tmp_path, capsys, make_sphere):
    V, F = make_sphere(subdivisions=2)
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in V.tolist()] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in F.tolist()]
    (tmp_path / "ball.obj").write_text("\n".join(lines) + "\n")
    code, out, err = cli(capsys, "occupancy", tmp_path / "ball.obj", "--out", tmp_path / "run", *TINY_OCCUPANCY)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("surface_components_raw", "surface_components", "surface_floaters_removed", "surface_floater_area_pct", "input_components"):
        assert key in metrics
    assert metrics["surface_components"] == metrics["surface_components_raw"] - metrics["surface_floaters_removed"]


def test_a_large_occupancy_mesh_is_fitted_and_reported(tmp_path, capsys):
    import trimesh

    trimesh.creation.icosphere(subdivisions=5).export(tmp_path / "dense.ply")  # 20480 faces, binary PLY
    code, out, err = cli(capsys, "occupancy", tmp_path / "dense.ply", "--out", tmp_path / "run", *TINY_OCCUPANCY)
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["input_closed"] is True and metrics["input_misoriented_edges"] == 0 and metrics["input_components"] == 1


def test_an_unusual_but_valid_occupancy_input_a_glb_scene_is_concatenated(tmp_path):
    import trimesh

    from sape_geo_plugins.occupancy import fit_occupancy

    scene = trimesh.Scene([trimesh.creation.icosphere(2), trimesh.creation.box().apply_translation([3, 0, 0])])
    scene.export(tmp_path / "two.glb")
    result = fit_occupancy(trimesh.load(tmp_path / "two.glb"), "ff", steps=2, train_points=600, batch_size=200, eval_points=300,
                           mesh_resolution=10, hidden_dim=8, num_frequencies=4, progress_bar=False)
    assert "a trimesh.Scene of 2 meshes, concatenated" in result.metrics["notes"]


# ------------------------------------------------------------------- Python API: clear errors

def test_python_api_inputs_are_converted_or_refused_by_name():
    import torch

    from sape_geo_plugins.image import fit_image
    from sape_geo_plugins.occupancy import fit_occupancy
    from sape_geo_plugins.silhouette import fit_silhouette

    tiny = {"steps": 1, "hidden_dim": 8, "num_frequencies": 4, "progress_bar": False}
    with pytest.raises(ValueError, match=r"image: the image array is empty \(shape \(0, 0, 3\)\)"):
        fit_image(np.zeros((0, 0, 3)), "ff", **tiny)
    with pytest.raises(TypeError, match="image must be a file path or an"):
        fit_image(3, "ff", **tiny)
    with pytest.raises(TypeError, match="shape must be an image or polyline file path"):
        fit_silhouette({"x": 1}, "ff", **tiny)
    with pytest.raises(TypeError, match="mesh must be a file path"):
        fit_occupancy([1, 2, 3], "ff", **tiny)
    assert fit_silhouette(torch.tensor(DISC.astype(np.int32)), "ff", **tiny).metrics["iou"] > 0
    assert fit_image(torch.rand(8, 8, 3, requires_grad=True), "ff", **tiny).extras["image"].shape == (8, 8, 3)


def test_transfer_takes_torch_tensors_for_the_target_as_for_the_source(make_sphere):
    import torch

    from sape_geo_plugins.mesh_transfer import transfer_mesh

    source = make_sphere(subdivisions=1)
    target = make_sphere(radius=2.0, centre=(1.0, 0.0, 0.0), subdivisions=2)
    marks = (np.arange(0, 12, 2), target[0][np.arange(0, 12, 2)])  # the icosahedron's corners: same ids at every level
    expected = transfer_mesh(source, target, marks, method="affine").vertices
    tensors = tuple(torch.from_numpy(part) for part in target)
    assert np.allclose(transfer_mesh(tuple(torch.from_numpy(p) for p in source), tensors, marks, method="affine").vertices, expected)
    assert np.allclose(transfer_mesh(source, torch.from_numpy(target[0]), marks, method="affine").vertices, expected)


# --------------------------------------------------------------------------------------------- units

@pytest.mark.slow
@pytest.mark.parametrize("init", ["auto", "arap"])
def test_a_source_in_other_units_gives_the_same_result_up_to_rounding(init):
    # micrometres, millimetres and kilometres onto a target in metres: an absolute tolerance applied to
    # the source before normalisation would show here. What remains is rounding: the biharmonic start
    # differs by ~1e-12 of the diagonal and the fit is bit-identical; libigl's ARAP iterations carry
    # ~1e-13 differences to ~1e-8, which float32 rounding and 30 Adam steps leave at ~1e-5.
    from sape_geo_plugins.mesh_transfer import transfer_mesh

    vertices, faces = load_mesh(ASSETS / "creature_source.obj")
    target = ASSETS / "creature_target.obj"
    marks = ASSETS / "creature_landmarks.txt"

    def fitted(scale: float):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "source and target differ in scale": the point of the test
            result = transfer_mesh((vertices * scale, faces), target, marks, steps=30, init=init, seed=0, surface_samples=800,
                                   target_batch=800, progress_bar=False)
        return result.vertices, result.metrics

    reference, reference_metrics = fitted(1.0)
    diagonal = float(np.linalg.norm(np.ptp(reference, axis=0)))
    for scale in (1e-6, 1e-3, 1e3):
        result, metrics = fitted(scale)
        assert np.abs(result - reference).max() < 1e-4 * diagonal, scale
        assert metrics["folded_edges"] == reference_metrics["folded_edges"]
        assert metrics["chamfer_l1_pct_diag"] == pytest.approx(reference_metrics["chamfer_l1_pct_diag"], rel=1e-3)



# -------------------------------------------------------------- pipelines: large and unusual-but-valid

def test_a_large_pipeline_matrix_is_expanded_and_checked_up_front(tmp_path):
    from sape_geo_apps.batch.pipeline import load_pipeline

    path = tmp_path / "sweep.yaml"
    path.write_text("jobs:\n  - task: fit1d\n    methods: [ff, pff, sape-ff]\n    seeds: [" + ", ".join(map(str, range(40))) + "]\n"
                    "    settings: {frequency: [2, 4, 8]}\n")
    jobs = load_pipeline(path).jobs
    assert len(jobs) == 3 * 40 * 3 and len({job.run_name for job in jobs}) == len(jobs)


def test_an_unusual_but_valid_pipeline_with_crlf_tabs_in_comments_and_anchors_is_read(tmp_path):
    from sape_geo_apps.batch.pipeline import load_pipeline

    text = ("# sweep\t(tabs in a comment)\r\ndefaults:\r\n  settings: &tiny {steps: 3}\r\njobs:\r\n"
            "  - task: fit1d\r\n    methods: [ff]\r\n    settings: *tiny\r\n")
    path = tmp_path / "crlf.yaml"
    path.write_bytes(("\ufeff" + text).encode("utf-8"))
    jobs = load_pipeline(path).jobs
    assert len(jobs) == 1 and "--steps" in jobs[0].command_line


def test_a_huge_polyline_is_checked_for_crossings_by_a_sweep_not_all_pairs(tmp_path):
    # 50 000 vertices: every pair was tested (1.25e9 pairs, many minutes); a sweep along x tests the few that may meet.
    from sape_geo.geometry.polygon import read_polyline, self_intersections

    angles = np.linspace(0.0, 2.0 * np.pi, 50_000, endpoint=False)
    circle = 100.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    np.savetxt(tmp_path / "circle.csv", circle, delimiter=",")
    assert len(self_intersections(read_polyline(tmp_path / "circle.csv"))) == 0
    crossed = circle.copy()
    crossed[[1000, 26_000]] = crossed[[26_000, 1000]]  # two vertices swapped: chords across the disc
    assert len(self_intersections(crossed)) > 0


def test_the_sweep_finds_the_same_pairs_whichever_way_the_polyline_lies():
    # A quarter turn or a mirror (exact in floats) reorders the sweep completely; the pairs may not change.
    from sape_geo.geometry.polygon import self_intersections

    rng = np.random.default_rng(7)
    for _ in range(200):
        points = np.round(rng.random((int(rng.integers(3, 40)), 2)) * 3) / 3  # touching and collinear edges too
        pairs = self_intersections(points, chunk=5)
        assert np.array_equal(self_intersections(points[:, ::-1] * [-1.0, 1.0], chunk=5), pairs)
        assert np.array_equal(self_intersections(points * [-1.0, 1.0], chunk=7), pairs)


def test_a_grey_and_alpha_array_is_an_image_with_alpha():
    from sape_geo.imaging import image_from_array
    from sape_geo_plugins.silhouette import silhouette_from_array

    grey_alpha = np.zeros((48, 48, 2), dtype=np.uint8)
    grey_alpha[..., 1] = 255 * DISC
    image = image_from_array(grey_alpha)
    assert image.pixels.shape == (48, 48, 1) and np.array_equal(image.alpha > 0.5, DISC)
    assert np.array_equal(silhouette_from_array(grey_alpha).region, DISC)


def test_a_spreadsheets_semicolon_csv_with_decimal_commas_is_read(tmp_path):
    path = tmp_path / "marks.csv"
    path.write_text("source;x;y;z;name\n0;0,0;0;0;nose, tip\n1;1,5;0;0;\n2;0;-2,25e1;0;\n")
    marks = load_landmarks(path, 4)
    assert marks.target_positions.tolist() == [[0, 0, 0], [1.5, 0, 0], [0, -22.5, 0]] and marks.names[0] == "nose, tip"


def test_a_png_with_a_transparent_key_colour_has_alpha(tmp_path):
    from PIL import Image

    from sape_geo.imaging import read_image
    from sape_geo_plugins.silhouette import load_silhouette

    grey = np.full((48, 48), 255, dtype=np.uint8)
    grey[DISC] = 200  # a faint disc; white is declared transparent (a tRNS chunk)
    Image.fromarray(grey).save(tmp_path / "keyed.png", transparency=255)
    assert read_image(tmp_path / "keyed.png").alpha is not None
    target = load_silhouette(tmp_path / "keyed.png")
    assert target.foreground == "opaque on transparent" and np.array_equal(target.region, DISC)


def test_tensors_that_require_grad_are_taken_as_their_values_everywhere(make_sphere):
    # np.asarray refuses them ("Can't call numpy() on Tensor that requires grad"): an unexpected error.
    import torch

    from sape_geo.geometry.landmarks import landmarks_from_arrays
    from sape_geo.geometry.mesh_io import check_mesh
    from sape_geo_plugins.mesh_transfer import transfer_mesh

    vertices, faces = make_sphere(subdivisions=1)
    grad = torch.tensor(vertices, requires_grad=True)
    assert np.array_equal(check_mesh(grad, torch.from_numpy(faces))[0], vertices)
    marks = landmarks_from_arrays(torch.arange(0, 12, 2), torch.tensor(vertices[0:12:2] * 2.0, requires_grad=True), len(vertices))
    assert np.allclose(marks.target_positions, vertices[0:12:2] * 2.0)
    result = transfer_mesh((grad, faces), (grad * 2.0, faces), (torch.arange(0, 12, 2), grad[0:12:2] * 2.0), method="affine")
    assert np.allclose(result.vertices, vertices * 2.0)


def test_the_viewer_lays_a_reduced_silhouette_image_under_the_curve_in_the_files_pixels(tmp_path, capsys, monkeypatch):
    from PIL import Image

    import sape_geo.imaging
    from sape_geo_apps.viewer import load_viewer_run, view_of

    square = np.zeros((120, 90), dtype=np.uint8)
    square[30:90, 20:70] = 255
    Image.fromarray(square).save(tmp_path / "square.png")
    monkeypatch.setattr(sape_geo.imaging, "READ_BUDGET_PIXELS", 40 * 30)  # read 3x smaller, as a huge file would be
    code, _, err = cli(capsys, "silhouette", tmp_path / "square.png", "--out", tmp_path / "run", "--steps", "2", "--points", "32", "--quiet")
    assert code == 0, err
    plane = next(item for item in view_of(load_viewer_run(tmp_path / "run")).items if item.name == "target image")
    low, high = plane.vertices[:, :2].min(axis=0), plane.vertices[:, :2].max(axis=0)
    assert low == pytest.approx([-0.5, -119.5]) and high == pytest.approx([89.5, 0.5])  # the file's 90 x 120 pixels, y up
