"""Real offscreen pictures (Polyscope's EGL backend, Mesa without a GPU) and the message when EGL is
missing. Each render runs in its own process: Polyscope holds one global context per process."""

import os
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from sape_geo.runs import RunDirectory
from sape_geo_apps.viewer.task_views import RESULT_COLOUR

pytestmark = pytest.mark.slow  # end-to-end runs of seconds each; `make test-fast` leaves them out


def _sape_geo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "sape_geo_apps.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _skip_without_egl(result):
    if result.returncode == 2 and "needs EGL" in result.stderr:
        pytest.skip(f"no EGL on this machine: {result.stderr.strip()}")


@pytest.fixture
def mesh_run(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.write_config({"task": {"task": "any-mesh-task"}, "method": {"name": "sape-ff"}, "seed": 0})
    with run.atomic("result.obj") as temporary:
        trimesh.creation.icosphere(subdivisions=3).export(temporary)
    run.write_metrics({"chamfer": 0.1})
    return run.path


def test_offscreen_screenshot_shows_the_mesh_in_its_colour(mesh_run, tmp_path):
    from PIL import Image

    out = tmp_path / "picture.png"
    result = _sape_geo("view", str(mesh_run), "--screenshot", str(out), "--size", "320x240", "--camera", "front", "--no-metrics")
    _skip_without_egl(result)
    assert result.returncode == 0, result.stderr
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(np.float64) / 255.0
    assert pixels.shape == (240, 320, 3)
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50  # shading, not a flat fill
    background = np.all(pixels > 0.97, axis=2)
    assert 0.2 < background.mean() < 0.9  # white around, the sphere in the middle
    # the sphere's pixels have the result colour's hue (orange: red > green > blue), shaded
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    orange = ~background & (red > green + 0.05) & (green > blue + 0.05)
    assert orange.mean() > 0.1
    assert RESULT_COLOUR[0] > RESULT_COLOUR[1] > RESULT_COLOUR[2]
    centre = pixels[100:140, 140:180]
    assert not np.all(centre > 0.97)  # the front camera looks at the sphere


def test_missing_egl_gives_a_clear_message_not_a_crash(mesh_run, tmp_path):
    # glvnd finds no vendor library through a missing file: the same as a machine without Mesa's EGL
    result = _sape_geo("view", str(mesh_run), "--screenshot", str(tmp_path / "x.png"),
                       env={"__EGL_VENDOR_LIBRARY_FILENAMES": str(tmp_path / "none.json")})
    assert result.returncode == 2  # this machine's setup, not a bug
    assert "needs EGL" in result.stderr and "libegl1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "x.png").exists()


@pytest.fixture
def creature_run(tmp_path):
    """A z-up quadruped (the demo's source), lying along x: stored upright, never told so."""
    run = RunDirectory(tmp_path / "creature")
    run.write_config({"task": {"task": "any-mesh-task"}, "method": {"name": "sape-ff"}, "seed": 0})
    mesh = trimesh.load("assets/creature_source.obj", process=False)
    with run.atomic("result.obj") as temporary:
        mesh.export(temporary)
    run.write_metrics({})
    return run.path


def _content_box(pixels):
    """Rows and columns spanned by non-background pixels."""
    ink = ~np.all(pixels > 0.93, axis=2)  # the soft shadow is near white: not content
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return rows.min(), rows.max(), columns.min(), columns.max()


def test_screenshot_without_flags_fills_the_picture_upright(creature_run, tmp_path):
    from PIL import Image

    out = tmp_path / "picture.png"
    result = _sape_geo("view", str(creature_run), "--screenshot", str(out))
    _skip_without_egl(result)
    assert result.returncode == 0, result.stderr
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(np.float64) / 255.0
    height, width = pixels.shape[:2]
    # the picture takes the shape of a creature standing on z (long, low): wider than 4:3
    assert width / height > 1.6 and abs(width * height - 1024 * 768) < 0.05 * 1024 * 768
    top, bottom, left, right = _content_box(pixels)
    # filled: the creature spans nearly the whole width, centred
    assert (right - left) / width > 0.85
    assert abs((left + right) / 2 - width / 2) < 0.05 * width
    assert (bottom - top) / height > 0.5


def test_movie_plays_the_snapshots(tmp_path):
    from PIL import Image, ImageSequence

    angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    circle = np.column_stack([100 + 60 * np.cos(angles), 100 + 40 * np.sin(angles)])
    run = RunDirectory(tmp_path / "sil")
    run.write_config({"task": {"task": "silhouette"}, "method": {"name": "sape-ff", "num_frequencies": 16}, "seed": 0})
    frames = np.stack([100 + (circle - 100) * scale for scale in (0.3, 0.6, 1.0)])
    run.write_array("progress.npy", np.linspace(0, 16, 60).astype(np.float32))
    with run.atomic("result.csv") as temporary:
        np.savetxt(temporary, circle, delimiter=",")
    with run.atomic("snapshots.npz") as temporary:
        np.savez(temporary, curve=frames, progress=np.zeros((3, 60), np.float32), step=np.array([0, 10, 20]))
    run.write_metrics({"max_progress": 16.0})
    out = tmp_path / "play.gif"
    result = _sape_geo("view", str(run.path), "--movie", str(out), "--size", "240x160")
    _skip_without_egl(result)
    assert result.returncode == 0, result.stderr
    pictures = [np.asarray(frame.convert("RGB")).astype(np.float64) for frame in ImageSequence.Iterator(Image.open(out))]
    assert len(pictures) == 4  # three snapshots, then the final result
    assert pictures[0].shape[:2] == (160 + 62, 240)  # the picture and its colour bar
    # the curve grows: the first frame's ink spans less width than the last's (the camera holds still)
    spans = [np.ptp(np.flatnonzero((~np.all(p[:160] > 235, axis=2))[40:].any(axis=0))) for p in pictures]
    assert spans[0] < 0.5 * spans[-1]
    assert not np.array_equal(pictures[0], pictures[1])
    # no snapshots: a clear error, no file
    bare = RunDirectory(tmp_path / "bare")
    bare.write_config({"task": {"task": "silhouette"}, "method": {"name": "sape-ff"}, "seed": 0})
    with bare.atomic("result.csv") as temporary:
        np.savetxt(temporary, circle, delimiter=",")
    bare.write_metrics({})
    result = _sape_geo("view", str(bare.path), "--movie", str(tmp_path / "none.gif"))
    assert result.returncode == 2 and "no snapshots" in result.stderr and not (tmp_path / "none.gif").exists()


def _picture(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(np.float64) / 255.0


def test_a_quad_template_shows_its_polygon_edges_and_the_metrics(tmp_path):
    """The edges are the quads' own: with --edges the result has dark lines that --no-edges lacks, and
    the line under the picture names the key metrics."""
    from test_viewer import _polygon_transfer_run

    run, _ = _polygon_transfer_run(tmp_path)
    pictures = {}
    for flag in ("--edges", "--no-edges"):
        out = tmp_path / f"{flag}.png"
        result = _sape_geo("view", str(run), "--screenshot", str(out), "--camera", "front", "--quantity", "none", "--size", "600x200", flag)
        _skip_without_egl(result)
        assert result.returncode == 0, result.stderr
        pictures[flag] = _picture(out)
    edges, plain = pictures["--edges"], pictures["--no-edges"]
    assert edges.shape == plain.shape and edges.shape[0] > 200  # the picture and its metrics line
    # the edge lines: pixels of the shapes clearly darker with --edges than without (same camera, same shading)
    darker = (plain[:200] - edges[:200]).mean(axis=2) > 0.15
    lighter = (edges[:200] - plain[:200]).mean(axis=2) > 0.15
    assert darker.sum() > 300 and lighter.sum() < 0.1 * darker.sum()
    # the metrics line is text (dark pixels) in the strip under the picture
    assert (edges[200:].max(axis=2) < 0.5).sum() > 200


def test_a_third_party_run_is_drawn_or_refused_never_a_blank_picture(tmp_path):
    from test_viewer import make_run

    axis = np.linspace(-1.0, 1.0, 24)
    x, y = np.meshgrid(axis, axis)
    values = np.where(x <= 0, 0.5 * np.exp(-4 * ((x + 0.5) ** 2 + y**2)), 0.5 * np.sin(6 * np.pi * np.hypot(x - 0.5, y)))
    run = make_run(tmp_path / "ripple", {"task": "ripple", "resolution": 24}, {"mse_smooth_half": 1e-4},
                   {"result.npy": values.astype(np.float32), "progress.npy": (8 + 8 * (x > 0)).astype(np.float32)})
    out = tmp_path / "ripple.png"
    result = _sape_geo("view", str(run), "--screenshot", str(out))
    _skip_without_egl(result)
    assert result.returncode == 0, result.stderr
    pixels = _picture(out)
    assert (~np.all(pixels > 0.93, axis=2)).mean() > 0.15  # the height field fills the picture
    assert "note: ripple: result.npy drawn as a height field" in result.stdout  # what the picture cannot say
    empty = make_run(tmp_path / "empty", {"task": "ripple"}, {"mse": 1.0}, {"weights.npy": np.zeros(3)})
    result = _sape_geo("view", str(empty), "--screenshot", str(tmp_path / "empty.png"))
    assert result.returncode == 2 and "cannot draw a run of task 'ripple'" in result.stderr
    assert not (tmp_path / "empty.png").exists()
