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


def _sape_geo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "sape_geo_apps.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


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
    result = _sape_geo("view", str(mesh_run), "--screenshot", str(out), "--size", "320x240", "--camera", "front")
    if result.returncode == 3:
        pytest.skip(f"no EGL on this machine: {result.stderr.strip()}")
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
    assert result.returncode == 3
    assert "needs EGL" in result.stderr and "libegl1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "x.png").exists()
