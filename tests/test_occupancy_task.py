"""3-D occupancy (issue 5): robust inside labels, the paper's training mix, IoU, marching cubes, outputs."""

import json

import numpy as np
import pytest
import trimesh

from sape_geo import MethodConfig, load_model
from sape_geo.geometry.alignment import normalising_transform
from sape_geo.geometry.inside import inside_mask, winding_numbers
from sape_geo.geometry.mesh_io import MeshInputError, load_mesh
from sape_geo.geometry.sampling import sample_surface
from sape_geo_apps.cli import main
from sape_geo_plugins.occupancy import (
    SHAPE_HALF_EXTENT,
    Occupancy,
    OccupancySettings,
    fit_occupancy,
    training_points,
)

# The pool mix is pinned (10 % uniform) so the tiny fits below stay what they test, whatever the default:
# with 6000 points a larger uniform share leaves the far field too few samples per grid cell to settle.
TINY_CONFIG = OccupancySettings(train_points=6000, batch_size=1024, resolution=8, smoothing_steps=4,
                              eval_points=3000, mesh_resolution=28, uniform_fraction=0.1, wide_fraction=0.1)
TINY_METHOD = dict(num_frequencies=24, hidden_dim=48, num_hidden_layers=2, epsilon=1e-2)


def sphere(radius=1.0, centre=(0.0, 0.0, 0.0), subdivisions=3):
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(mesh.vertices) + np.asarray(centre), np.asarray(mesh.faces, dtype=np.int64)


def test_inside_labels_on_closed_open_and_flipped_spheres():
    V, F = sphere()
    points = np.array([[0.0, 0.0, 0.0], [0.5, 0.2, -0.3], [1.5, 0.0, 0.0], [0.0, -3.0, 0.0]])
    expected = [True, True, False, False]
    assert inside_mask(V, F, points).tolist() == expected
    assert winding_numbers(V, F, points[:1])[0] == pytest.approx(1.0, abs=1e-2)
    # Inward-facing triangles: winding number -1 inside, same labels.
    assert inside_mask(V, F[:, ::-1], points).tolist() == expected
    # A hole (a few faces removed around one pole) still leaves the centre inside.
    top = np.argsort(-V[F].mean(axis=1)[:, 2])[:12]
    open_faces = np.delete(F, top, axis=0)
    assert not trimesh.Trimesh(V, open_faces, process=False).is_watertight
    assert inside_mask(V, open_faces, points).tolist() == expected


def test_surface_samples_lie_on_the_surface_and_follow_area():
    V, F = sphere(radius=2.0)
    points = sample_surface(V, F, 5000, np.random.default_rng(0))
    assert np.linalg.norm(points, axis=1) == pytest.approx(2.0, abs=0.05)
    assert np.array_equal(points, sample_surface(V, F, 5000, np.random.default_rng(0)))
    # Two triangles, one with 9x the area of the other: about 90% of the samples land on the big one.
    V2 = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [10, 0, 0], [13, 0, 0], [10, 3, 0]], float)
    F2 = np.array([[0, 1, 2], [3, 4, 5]])
    on_big = (sample_surface(V2, F2, 20000, np.random.default_rng(1))[:, 0] >= 10).mean()
    assert on_big == pytest.approx(0.9, abs=0.01)


def test_training_mix_has_the_papers_three_thirds():
    V, F = sphere(radius=0.9)
    points = training_points(V, F, 30000, np.random.default_rng(0))
    radius = np.linalg.norm(points, axis=1)
    uniform, wide, narrow = points[:10000], radius[10000:20000], radius[20000:]
    assert np.abs(uniform).max() <= 1.0 and np.abs(uniform).mean() == pytest.approx(0.5, abs=0.02)
    assert np.std(wide - 0.9) == pytest.approx(0.1, rel=0.1)
    assert np.std(narrow - 0.9) == pytest.approx(0.01, rel=0.1)


def test_training_mix_follows_the_configured_shares_and_bands():
    V, F = sphere(radius=0.9)
    config = OccupancySettings(train_points=20000, uniform_fraction=0.1, wide_fraction=0.2, wide_sigma=0.05, narrow_sigma=0.004)
    assert config.pool_sizes() == (2000, 4000, 14000)
    assert config.narrow_fraction == pytest.approx(0.7)
    points = training_points(V, F, 20000, np.random.default_rng(0), config)
    radius = np.linalg.norm(points, axis=1)
    assert np.abs(points[:2000]).max() <= 1.0
    assert np.std(radius[2000:6000] - 0.9) == pytest.approx(0.05, rel=0.1)
    assert np.std(radius[6000:] - 0.9) == pytest.approx(0.004, rel=0.1)
    for bad in (dict(uniform_fraction=0.7, wide_fraction=0.5), dict(wide_fraction=-0.1), dict(narrow_sigma=0.0),
                dict(hard_fraction=1.5)):
        with pytest.raises(ValueError):
            OccupancySettings(**bad)


def test_hard_batches_favour_points_with_high_loss_and_restart_with_each_fit():
    import torch

    V, F = sphere(radius=0.9)
    config = OccupancySettings(train_points=3000, batch_size=1000, hard_fraction=0.5, eval_points=10)
    task = Occupancy(V, F, config)
    generator = torch.Generator().manual_seed(0)
    first = task.batch(0, generator)
    assert first.coords.shape == (1000, 3) and first.data["pool_index"].shape == (1000,)
    # every point seen so far has a tiny loss except points 0..9: the hard half of a batch goes to those
    task._pool_loss[:] = 0.0
    task._pool_loss[:10] = 5.0
    later = task.batch(1, generator)
    assert (later.data["pool_index"][500:] < 10).float().mean() > 0.9
    assert (later.data["pool_index"][:500] < 10).float().mean() < 0.05
    # the loss of a batch is recorded per pool point
    logits = torch.zeros(1000, 1)
    task.loss(logits, later)
    assert torch.allclose(task._pool_loss[later.data["pool_index"]], torch.full((1000,), float(np.log(2.0))))
    # a new fit (step 0) forgets the old losses
    task.batch(0, generator)
    assert task._pool_loss.max() < 2.0 and task._pool_loss.min() > 1.0


def test_method_and_loop_defaults_per_method():
    from sape_geo_plugins.occupancy import DEFAULT_STEPS, PER_METHOD_DEFAULTS, default_fit_config, default_method_config

    assert default_method_config("sape-ff").sigma == PER_METHOD_DEFAULTS["sape-ff"]["sigma"]
    assert default_method_config("ff").sigma == PER_METHOD_DEFAULTS["ff"]["sigma"]
    assert default_method_config("sape-ff").epsilon == pytest.approx(1e-2)
    fit = default_fit_config("sape-ff", seed=3)
    assert (fit.steps, fit.lr_schedule, fit.seed) == (DEFAULT_STEPS, "cosine", 3)
    assert default_fit_config("ff", steps=7).steps == 7


def test_normalisation_maps_longest_side_and_inverts():
    V = np.array([[0, 0, 0], [4, 0, 0], [0, 2, 0], [0, 0, 1]], float) + 10
    norm = normalising_transform(V, SHAPE_HALF_EXTENT)  # the normalisation the task uses
    mapped = norm.apply(V)
    assert mapped[:, 0].min() == pytest.approx(-SHAPE_HALF_EXTENT) and mapped[:, 0].max() == pytest.approx(SHAPE_HALF_EXTENT)
    assert np.allclose(norm.inverse().apply(mapped), V)
    with pytest.raises(ValueError, match="no extent"):
        normalising_transform(np.ones((4, 3)), SHAPE_HALF_EXTENT)


@pytest.fixture(scope="module")
def sphere_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("occupancy")
    V, F = sphere(radius=3.0, centre=(10.0, -2.0, 5.0))
    path = folder / "sphere.ply"
    trimesh.Trimesh(V, F, process=False).export(path)
    method = MethodConfig("sape-ff", sigma=2.0, **TINY_METHOD)
    return fit_occupancy(path, method, out=folder / "run", steps=600, lr=3e-3, settings=TINY_CONFIG,
                         progress_bar=False, device="cpu")


def test_run_directory_holds_every_output(sphere_run):
    run = sphere_run.path
    for name in ("config.json", "metrics.json", "history.csv", "model.pt", "progress.npy", "result.ply", "heatmap_slices.png"):
        assert (run / name).is_file(), name
    assert np.load(run / "progress.npy").shape == (8, 8, 8)
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"iou_uniform", "iou_near_surface"} <= set(metrics)
    config = json.loads((run / "config.json").read_text())
    assert config["task"]["resolution"] == 8 and config["model"]["domain"]["smoothing_steps"] == 4
    load_model(run)  # reloadable


def test_fitted_sphere_scores_and_surface_in_input_frame(sphere_run):
    metrics = sphere_run.metrics
    assert metrics["iou_uniform"] > 0.9
    assert metrics["iou_near_surface"] > 0.5
    V, F = load_mesh(sphere_run.path / "result.ply")
    radius = np.linalg.norm(V - np.array([10.0, -2.0, 5.0]), axis=1)
    assert np.median(radius) == pytest.approx(3.0, rel=0.05)
    # Outward normals: positive signed volume, close to the sphere's.
    volume = trimesh.Trimesh(V, F, process=False).volume
    assert volume == pytest.approx(4.0 / 3.0 * np.pi * 27.0, rel=0.15)


def test_sape_progress_higher_near_the_surface_than_far_away(sphere_run):
    progress = sphere_run.progress  # (8, 8, 8) on linspace(-1, 1, 8)^3
    axis = np.linspace(-1.0, 1.0, 8)
    radius = np.linalg.norm(np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1), axis=-1)
    near = np.abs(radius - SHAPE_HALF_EXTENT) < 0.2
    far = radius > 1.4
    assert progress[near].mean() > progress[far].mean() + 5.0


def test_task_rejects_bad_settings_and_meshes(tmp_path):
    with pytest.raises(ValueError, match="train_points"):
        OccupancySettings(train_points=1)
    with pytest.raises(ValueError, match="no extent"):
        Occupancy(np.zeros((3, 3)), np.array([[0, 1, 2]]), TINY_CONFIG)
    (tmp_path / "empty.obj").write_text("# nothing here\n")
    with pytest.raises(MeshInputError):
        fit_occupancy(tmp_path / "empty.obj", steps=1, settings=TINY_CONFIG)


def test_cli_on_an_open_mesh_and_on_a_missing_file(tmp_path, capsys):
    V, F = sphere(radius=1.0, subdivisions=2)
    top = np.argsort(-V[F].mean(axis=1)[:, 2])[:5]
    path = tmp_path / "open.obj"
    trimesh.Trimesh(V, np.delete(F, top, axis=0), process=False).export(path)
    out = tmp_path / "run"
    code = main(["occupancy", str(path), "--steps", "5", "--resolution", "4", "--train-points", "900", "--batch-size", "300",
                 "--eval-points", "500", "--mesh-resolution", "12", "--hidden", "16", "--layers", "1", "--frequencies", "4",
                 "--quiet", "--threads", "1", "--out", str(out)])
    assert code == 0
    assert "IoU uniform" in capsys.readouterr().out
    assert (out / "metrics.json").is_file()
    assert main(["occupancy", str(tmp_path / "missing.stl"), "--out", str(tmp_path / "r2")]) == 2
    assert "missing.stl" in capsys.readouterr().err
