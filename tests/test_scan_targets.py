"""Mesh transfer onto scans: point-cloud targets (PLY, PCD, XYZ) are reduced before the fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sape_geo.geometry.mesh_io import load_mesh, load_mesh_or_points
from sape_geo.geometry.sampling import sample_surface
from sape_geo.geometry.point_clouds import ScanSettings, write_point_cloud
from sape_geo_apps.cli import main
from sape_geo_plugins.mesh_transfer import prepare_transfer

from conftest import ROOT  # noqa: E402
SOURCE = ROOT / "assets" / "creature_source.obj"
TARGET = ROOT / "assets" / "creature_target.obj"
LANDMARKS = ROOT / "assets" / "creature_landmarks.txt"


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A noisy 20,000-point scan of the creature target whose first points are the target's vertices
    (so the bundled landmark file, target vertex indices, still names the right points), plus strays."""
    V, F = load_mesh(TARGET)
    rng = np.random.default_rng(0)
    surface = sample_surface(V, F, 20000 - len(V), seed=0)
    diagonal = np.linalg.norm(np.ptp(V, axis=0))
    surface += rng.normal(scale=1e-3 * diagonal, size=surface.shape)
    strays = V.mean(axis=0) + rng.uniform(-1.0, 1.0, size=(20, 3)) * diagonal
    points = np.vstack([V, surface, strays])
    folder = tmp_path_factory.mktemp("scan")
    return {"points": points, "strays": strays, "diagonal": diagonal, "folder": folder,
            "pcd": write_point_cloud(folder / "scan.pcd", points), "ply": write_point_cloud(folder / "scan.ply", points)}


@pytest.mark.parametrize("suffix", ["pcd", "ply", "xyz"])
def test_scan_files_load_as_point_cloud_targets(scan, suffix):
    path = scan[suffix] if suffix != "xyz" else scan["folder"] / "scan.xyz"
    if suffix == "xyz":
        np.savetxt(path, scan["points"])
    points, faces = load_mesh_or_points(path)
    assert faces is None
    np.testing.assert_allclose(points, scan["points"], atol=1e-6)


def test_a_large_scan_is_reduced_and_landmark_indices_name_the_files_points(scan):
    prepared = prepare_transfer(SOURCE, scan["pcd"], LANDMARKS, target_samples=2000, metric_samples=2000,
                                init="biharmonic", scan=ScanSettings(max_points=3000, remove_outliers=True))
    assert prepared.target.faces is None and prepared.target.vertices.shape[0] <= 3000
    rows = np.loadtxt(LANDMARKS, comments="#", dtype=np.int64)
    np.testing.assert_allclose(prepared.landmarks.target_positions, scan["points"][rows[:, 1]])
    # every stray (far outside the shape) went with the outliers
    distances = np.linalg.norm(prepared.target.vertices[:, None, :] - scan["strays"][None, :, :], axis=2)
    assert distances.min() > 1e-3 * scan["diagonal"]
    assert any("downsampled" in note for note in prepared.notes) and any("outliers" in note for note in prepared.notes)


def test_transfer_command_onto_a_scan(scan, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["transfer", str(SOURCE), str(scan["ply"]), "--landmarks", str(LANDMARKS), "--method", "sape-ff",
                 "--steps", "3", "--hidden", "16", "--frequencies", "8", "--samples", "300", "--target-batch", "300",
                 "--target-points", "2500", "--init", "biharmonic", "--threads", "1", "--out", str(run), "--json"])
    captured = capsys.readouterr()
    output = captured.out
    assert code == 0, output
    assert "transfer: reading" in captured.err and "transfer: evaluating" in captured.err
    assert "scan downsampled to" in output and "(point cloud)" in output
    config = json.loads((run / "config.json").read_text())
    assert config["transfer"]["settings"]["scan"]["max_points"] == 2500 == config["settings"]["scan"]["max_points"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert np.isfinite(metrics["chamfer_l1_pct_diag"])


def test_bad_scan_options_are_refused(scan, tmp_path, capsys):
    code = main(["transfer", str(SOURCE), str(scan["pcd"]), "--landmarks", str(LANDMARKS), "--target-points", "-5",
                 "--method", "biharmonic", "--out", str(tmp_path / "run")])
    assert code == 2
    assert "max_points" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
