"""The large-source benchmark's inputs and its stage measurements, at a size that runs in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import large_source

pytestmark = pytest.mark.slow  # end-to-end runs of seconds each; `make test-fast` leaves them out

# The project's own creature pair (assets/), so the test needs no shared data.
ASSETS = Path(__file__).resolve().parents[1] / "assets"
SOURCE, TARGET = ASSETS / "creature_source.obj", ASSETS / "creature_target.obj"


def test_subdivision_keeps_the_original_vertex_ids_so_landmarks_stay_valid(tmp_path):
    from sape_geo.geometry.mesh_io import load_mesh

    original, original_faces = load_mesh(SOURCE)
    path, vertices, faces = large_source.make_source(1, tmp_path, SOURCE)
    subdivided, subdivided_faces = load_mesh(path)
    assert (vertices, faces) == subdivided.shape[:1] + subdivided_faces.shape[:1] and faces == 4 * len(original_faces)
    np.testing.assert_allclose(subdivided[: len(original)], original, atol=1e-6)
    ids, positions = large_source.make_landmarks(6, SOURCE, TARGET)
    assert len(set(ids.tolist())) == 6 and ids.max() < len(original) and positions.shape == (6, 3)


def test_stages_run_and_write_their_tables(tmp_path):
    # bench/ is not installed: the repository root on the path, as `python -m bench.large_source` from it
    environment = {**os.environ, "SAPE_GEO_BENCH_DIR": str(tmp_path), "PYTHONPATH": str(ASSETS.parent)}
    subprocess.run([sys.executable, "-m", "bench.large_source", "--subdivisions", "0", "--repeats", "1", "--skip-runs",
                    "--name", "tiny", "--source", str(SOURCE), "--target", str(TARGET)], check=True, env=environment, cwd=tmp_path, timeout=300, capture_output=True)
    payload = json.loads((tmp_path / "tiny.json").read_text())
    names = [row["stage"] for row in payload["stages"]]
    assert any(name.startswith("biharmonic: build") for name in names) and any(name.startswith("ARAP") for name in names)
    assert all(row["seconds"] >= 0 for row in payload["stages"])
    for name in ("tiny.md", "tiny.json"):  # no machine-specific path in the results
        text = (tmp_path / name).read_text()
        assert str(large_source.ROOT.parent) not in text and str(tmp_path) not in text and str(ASSETS) not in text
