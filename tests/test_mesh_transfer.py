"""Mesh transfer end to end: the pipeline's stages, the task, the Python API, the command line, bad input."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sape_geo.geometry.landmarks import LandmarkError
from sape_geo.geometry.mesh_io import MeshInputError, load_mesh
from sape_geo.geometry.rotations import best_rotations
from sape_geo.methods import MethodConfig, ModelSpec, build_model
from sape_geo.networks import FieldModel
from sape_geo.runs import RunDirectory
from sape_geo_apps.cli import main
from sape_geo_plugins.mesh_transfer import (
    MeshTransferTask,
    TransferSettings,
    default_method_config,
    prepare_transfer,
    transfer_mesh,
)
from sape_geo_plugins.mesh_transfer.command import PLUGIN
from sape_geo_plugins.mesh_transfer.command import DEFAULT_EPSILON, DEFAULT_SIGMA

from conftest import ROOT  # noqa: E402
SMALL = dict(hidden_dim=32, num_frequencies=16)
FAST = TransferSettings(surface_samples=800, target_batch=800)


def _creatures():
    spec = importlib.util.spec_from_file_location("make_creatures", ROOT / "assets" / "make_creatures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A small creature pair made by the project's generator (low resolution, few faces)."""
    return _creatures().make_pair("creature", tmp_path_factory.mktemp("pair"), resolution=40, scale=0.15)


@pytest.fixture(scope="module")
def prepared(pair):
    return prepare_transfer(pair["source"], pair["target"], pair["landmarks"], target_samples=3000, metric_samples=3000)


def test_generator_makes_different_tessellations_with_landmarks_on_vertices(pair):
    source_V, source_F = load_mesh(pair["source"])
    target_V, target_F = load_mesh(pair["target"])
    assert source_V.shape[0] != target_V.shape[0]
    rows = [line.split("#")[0].split() for line in pair["landmarks"].read_text().splitlines()]
    rows = [r for r in rows if r]
    assert len(rows) == 8
    assert all(0 <= int(s) < len(source_V) and 0 <= int(t) < len(target_V) for s, t in rows)


def test_landmarks_land_exactly_after_the_biharmonic_stage(prepared):
    marks = prepared.landmarks
    np.testing.assert_allclose(prepared.initial_vertices[marks.source_indices], marks.target_positions, atol=1e-9)
    affine_error = np.abs(prepared.affine_vertices[marks.source_indices] - marks.target_positions).max()
    assert affine_error > 1e-3  # the affine fit alone does not reach them: the biharmonic stage does
    # init "auto" also tries ARAP (and keeps the biharmonic field here: it turns no triangle over)
    assert set(prepared.stage_seconds) == {"load_seconds", "align_seconds", "biharmonic_seconds", "arap_seconds"}
    assert prepared.init == "biharmonic"
    np.testing.assert_array_equal(prepared.initial_vertices, prepared.biharmonic_vertices)


def test_arap_initialisation_lands_the_landmarks_and_keeps_a_bent_limb_rigid(tmp_path):
    """A bar bent 90 degrees at its middle by landmarks at both ends: ARAP keeps the triangles near rigid
    (lower Dirichlet) where the biharmonic field shears them; auto picks ARAP only if biharmonic inverts."""
    import trimesh

    bar = trimesh.creation.box(extents=(4.0, 0.5, 0.5))
    bar = bar.subdivide().subdivide().subdivide()
    V, F = np.array(bar.vertices), np.array(bar.faces)
    left = np.flatnonzero(V[:, 0] < -1.9)
    right = np.flatnonzero(V[:, 0] > 1.9)
    handles = np.concatenate([left, right])
    bent = np.stack([-V[right, 1], V[right, 0], V[right, 2]], axis=1)  # the right end swung 90 degrees about z
    targets = np.vstack([V[left], bent])
    prepared = prepare_transfer((V, F), (V, F), (handles, targets), init="arap", target_samples=500, metric_samples=500)
    np.testing.assert_allclose(prepared.initial_vertices[handles], targets, atol=1e-6)
    assert prepared.init == "arap" and "arap_seconds" in prepared.stage_seconds
    arap = prepared.evaluate(prepared.initial_vertices)
    biharmonic = prepared.evaluate(prepared.biharmonic_vertices)
    assert arap["conformal_ratio"] < biharmonic["conformal_ratio"]


@pytest.mark.parametrize("method", ["sape-ff", "siren", "rbfg"])
def test_step_zero_reproduces_the_initialisation(prepared, method):
    task = MeshTransferTask(prepared, FAST)
    spec = ModelSpec(default_method_config(method, **SMALL), 3, 3, 10, task.mask_domain(), zero_output=True)
    vertices = task.result_vertices(build_model(spec))
    np.testing.assert_allclose(vertices, prepared.initial_vertices, atol=1e-5 * prepared.target.diagonal)


def test_per_vertex_and_grid_mask_domains(prepared):
    per_vertex = MeshTransferTask(prepared, TransferSettings(mask_resolution=0)).mask_domain()
    assert per_vertex.kind == "samples" and per_vertex.num_samples == len(prepared.source_vertices)
    grid = MeshTransferTask(prepared, TransferSettings(mask_resolution=8)).mask_domain()
    assert grid.kind == "grid" and grid.resolution == (8, 8, 8)


def test_loss_is_differentiable_and_feedback_is_the_vertex_distance(prepared):
    task = MeshTransferTask(prepared, FAST)
    batch = task.batch(0, torch.Generator().manual_seed(0))
    output = torch.zeros_like(task.initial, requires_grad=True)
    total, per_point = task.loss(output, batch)
    total.backward()
    assert output.grad.abs().sum() > 0
    assert per_point.shape == (task.initial.shape[0],)
    diagonal_normalised = prepared.target.diagonal * prepared.normalisation.matrix[0, 0]
    expected = np.sqrt(prepared.target.squared_distances(prepared.initial_vertices)) * prepared.normalisation.matrix[0, 0]
    np.testing.assert_allclose(per_point.numpy(), expected, atol=1e-4 * diagonal_normalised)


def test_two_sided_feedback_charges_an_unreached_target_part_to_its_nearest_vertex(prepared):
    task = MeshTransferTask(prepared, TransferSettings(surface_samples=800, target_batch=800, feedback="two-sided"))
    deformed = task.initial.clone()
    far = deformed[0] + torch.tensor([0.0, 0.0, 0.5])  # a target sample no part of the surface reaches
    target = torch.cat([deformed[:5], far[None]])
    target_to_surface = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 0.25])  # squared distances
    uncovered = task.uncovered_distances(deformed, target, target_to_surface)
    nearest = int(((deformed - far) ** 2).sum(dim=1).argmin())
    assert uncovered[nearest] == pytest.approx(0.5 if nearest not in range(5) else np.sqrt(0.25 / 2))
    assert (uncovered > 0).sum() == 1
    batch = task.batch(0, torch.Generator().manual_seed(0))
    _, two_sided = task.loss(torch.zeros_like(task.initial), batch)
    _, vertex_only = MeshTransferTask(prepared, FAST).loss(torch.zeros_like(task.initial), batch)
    assert (two_sided >= vertex_only - 1e-6).all() and (two_sided > vertex_only + 1e-6).any()


def test_transfer_end_to_end_improves_on_the_initialisation(pair, prepared, tmp_path):
    result = transfer_mesh(
        None, None, method=default_method_config("sape-ff", **SMALL), out=tmp_path / "run", steps=60,
        settings=FAST, prepared=prepared, progress_bar=False, threads=1, snapshot_every=20,
    )
    metrics = result.metrics
    assert metrics["chamfer_l1_pct_diag"] < metrics["init_chamfer_l1_pct_diag"]
    assert metrics["flipped_triangles"] <= metrics["init_flipped_triangles"] + 5
    assert 0.5 < metrics["dirichlet_ratio"] < 3.0
    run = tmp_path / "run"
    for name in ("config.json", "metrics.json", "history.csv", "progress.npy", "model.pt", "result.obj", "init.obj", "snapshots.npz"):
        assert (run / name).is_file(), name
    V, F = load_mesh(run / "result.obj")
    np.testing.assert_array_equal(F, prepared.source_faces)
    np.testing.assert_allclose(V, result.vertices, atol=1e-8)
    assert result.heatmap.shape == (len(V),) and np.load(run / "progress.npy").shape == (len(V),)
    snapshots = np.load(run / "snapshots.npz")
    assert snapshots["vertices"].shape[1:] == V.shape
    saved = json.loads((run / "metrics.json").read_text())
    for key in ("chamfer_l1_pct_diag", "chamfer_l2_diag2", "hausdorff_pct_diag", "dirichlet_ratio", "conformal_ratio",
                "flipped_triangles", "degenerate_triangles", "load_seconds", "biharmonic_seconds", "fit_seconds"):
        assert key in saved, key


@pytest.mark.parametrize("method", ["affine", "biharmonic"])
def test_initialisation_only_methods(prepared, tmp_path, method):
    result = transfer_mesh(None, None, method=method, out=tmp_path / method, prepared=prepared)
    expected = prepared.affine_vertices if method == "affine" else prepared.initial_vertices
    np.testing.assert_allclose(result.vertices, expected)
    assert (tmp_path / method / "result.obj").is_file() and (tmp_path / method / "metrics.json").is_file()
    error = result.metrics["landmark_error_max_pct_diag"]
    assert (error < 1e-6) == (method == "biharmonic")


def test_result_is_in_the_target_frame_for_a_scaled_moved_copy(pair):
    V, F = load_mesh(pair["source"])
    target = 40.0 * V + [100.0, -5.0, 7.0]  # other units, other place
    ids = np.array([0, len(V) // 3, len(V) // 2, len(V) - 1, 17])
    result = transfer_mesh((V, F), (target, F), (ids, target[ids]), method="biharmonic")
    np.testing.assert_allclose(result.vertices, target, atol=1e-8 * 40)
    assert result.metrics["chamfer_l1_pct_diag"] < 1e-6


def test_point_cloud_target_without_landmarks(pair, tmp_path):
    V, F = load_mesh(pair["target"])
    cloud = tmp_path / "cloud.xyz"
    np.savetxt(cloud, V)
    result = transfer_mesh(
        pair["source"], cloud, align="principal-axes", method=default_method_config("ff", **SMALL), steps=20,
        settings=FAST, progress_bar=False, threads=1,
    )
    assert result.prepared.target.faces is None
    assert result.metrics["chamfer_l1_pct_diag"] < result.metrics["init_chamfer_l1_pct_diag"]


def test_no_landmarks_without_an_alignment_is_an_error(pair):
    with pytest.raises(LandmarkError, match="no landmarks"):
        prepare_transfer(pair["source"], pair["target"])


def test_a_diverging_run_keeps_the_last_good_state(prepared, tmp_path):
    result = transfer_mesh(
        None, None, method=default_method_config("ff", **SMALL), out=tmp_path / "run", steps=40, prepared=prepared,
        settings=FAST, progress_bar=False, threads=1, lr=50.0, lr_schedule="constant", divergence_factor=2.0,
    )
    assert result.metrics["stop_reason"] in ("diverged", "non_finite")
    assert np.isfinite(result.vertices).all()
    assert (tmp_path / "run" / "result.obj").is_file()


class _NaNModel(FieldModel):
    def forward(self, coords, index=None):
        return torch.full_like(coords, float("nan"))


def test_never_a_partial_result_obj(prepared, tmp_path):
    run = RunDirectory(tmp_path / "run")
    with pytest.raises(ValueError, match="NaN"):
        MeshTransferTask(prepared, FAST).export(_NaNModel(), run)
    assert not (tmp_path / "run" / "result.obj").exists()


# ---------------------------------------------------------------- command line


def _cli(pair, out, *extra):
    return main(["transfer", str(pair["source"]), str(pair["target"]), "--out", str(out), "--quiet", "--threads", "1",
                 "--hidden", "16", "--frequencies", "8", "--samples", "500", "--target-batch", "500", *extra])


def test_command_line_runs_and_prints_the_summary(pair, tmp_path, capsys):
    assert _cli(pair, tmp_path / "cli", "--landmarks", str(pair["landmarks"]), "--steps", "5",
                "--open-fraction", "0.25") == 0
    printed = capsys.readouterr().out
    for text in ("Chamfer%", "initialisation", "result", "landmarks", "heat map", "result.obj"):
        assert text in printed, text
    config = json.loads((tmp_path / "cli" / "config.json").read_text())
    method = config["model"]["method"]
    assert method["hidden_dim"] == 16
    assert method["sigma"] == DEFAULT_SIGMA["sape-ff"] and method["epsilon"] == DEFAULT_EPSILON  # the task's defaults
    assert method["open_fraction"] == 0.25 and method["options"] == {}
    # sape-ff takes no method options: one that is given reaches the method and is refused, not ignored
    assert _cli(pair, tmp_path / "bogus", "--landmarks", str(pair["landmarks"]), "--steps", "5", "--method-option", "note=7") == 2
    assert "takes no method options, got note" in capsys.readouterr().err and not (tmp_path / "bogus").exists()


def test_command_line_baseline_method(pair, tmp_path, capsys):
    assert _cli(pair, tmp_path / "bh", "--landmarks", str(pair["landmarks"]), "--method", "biharmonic") == 0
    assert (tmp_path / "bh" / "result.obj").is_file()


def test_command_line_errors(pair, tmp_path, capsys):
    assert _cli(pair, tmp_path / "a") == 2
    assert "--align" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1\n1 2\n99999 3\n")
    assert _cli(pair, tmp_path / "b", "--landmarks", str(bad)) == 2
    assert "line 3" in capsys.readouterr().err
    assert not (tmp_path / "b" / "result.obj").exists()
    broken = tmp_path / "broken.obj"
    broken.write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    assert main(["transfer", str(broken), str(pair["target"]), "--align", "bounding-box", "--out", str(tmp_path / "c"), "--quiet"]) == 2
    assert "NaN" in capsys.readouterr().err


def test_bad_mesh_is_a_mesh_input_error(tmp_path, pair):
    empty = tmp_path / "empty.off"
    empty.write_text("OFF\n0 0 0\n")
    with pytest.raises(MeshInputError):
        prepare_transfer(empty, pair["target"], alignment="bounding-box")


def _dirty_source(pair, tmp_path):
    """The creature source with a repeated-index face, a zero-area face, a duplicated face (reversed
    order), two unreferenced vertices (one in the middle of the vertex list): all must come back."""
    V, F = load_mesh(pair["source"])
    middle = len(V) // 2
    V = np.vstack([V[:middle], [[5.0, 5.0, 5.0]], V[middle:], [[-5.0, 0.0, 0.0]]])
    F = np.where(F >= middle, F + 1, F)
    a, b, c = F[3]
    collinear = len(V)
    V = np.vstack([V, V[a]])  # a copy of corner a: the face (a, b, copy) has exactly zero area
    F = np.vstack([F[:10], [[a, a, b]], F[10:20], [[c, b, a]], [[a, b, collinear]], F[20:]])
    path = tmp_path / "dirty.obj"
    path.write_text("".join(f"v {x:.10f} {y:.10f} {z:.10f}\n" for x, y, z in V) + "".join(f"f {i + 1} {j + 1} {k + 1}\n" for i, j, k in F))
    marks = []
    for line in pair["landmarks"].read_text().splitlines():
        fields = line.split("#")[0].split()
        if fields:
            marks.append(f"{int(fields[0]) + (int(fields[0]) >= middle)} {' '.join(fields[1:])}\n")
    landmark_path = tmp_path / "dirty_landmarks.txt"
    landmark_path.write_text("".join(marks))
    return path, landmark_path, V, F


@pytest.mark.parametrize("method", ["biharmonic", "sape-ff"])
def test_result_keeps_every_face_and_vertex_of_a_dirty_source(pair, tmp_path, method):
    path, landmarks, V, F = _dirty_source(pair, tmp_path)
    with pytest.warns(UserWarning):
        prepared = prepare_transfer(path, pair["target"], landmarks, target_samples=2000, metric_samples=2000)
    assert prepared.source_faces.shape == F.shape and (~prepared.usable_faces).sum() == 3
    config = default_method_config("sape-ff", **SMALL) if method == "sape-ff" else method
    result = transfer_mesh(None, None, method=config, out=tmp_path / method, steps=10, settings=FAST, prepared=prepared,
                           progress_bar=False, threads=1)
    saved_V, saved_F = load_mesh(tmp_path / method / "result.obj", repair=False)
    np.testing.assert_array_equal(saved_F, F)
    assert saved_V.shape == V.shape and np.isfinite(saved_V).all()
    np.testing.assert_array_equal(result.faces, F)
    assert np.isfinite(result.metrics["chamfer_l1_pct_diag"]) and np.isfinite(result.metrics["conformal_ratio"])


def test_held_back_markers_and_same_connectivity_ground_truth(pair, tmp_path):
    V, F = load_mesh(pair["source"])
    moved = V * 1.5 + [0.1, 0.0, 0.0]
    target = tmp_path / "same_faces.obj"
    target.write_text("".join(f"v {x:.10f} {y:.10f} {z:.10f}\n" for x, y, z in moved) + "".join(f"f {i + 1} {j + 1} {k + 1}\n" for i, j, k in F))
    markers = tmp_path / "markers.yml"
    markers.write_text("markers:\n" + "".join(f'  - "{i}:{i}"  # vertex {i}\n' for i in (3, 50, 120, 200, 260)))
    prepared = prepare_transfer(pair["source"], target, (np.array([0, 40, 90, 150, 210, 250]), moved[[0, 40, 90, 150, 210, 250]]),
                                target_samples=2000, metric_samples=2000, check_landmarks=markers)
    assert prepared.ground_truth_source.startswith("same connectivity")
    metrics = prepared.evaluate(prepared.initial_vertices)
    # the source is a similarity of the target: the affine fit is exact, so is the correspondence
    assert metrics["correspondence_error_pct_diag"] < 1e-6 and metrics["marker_error_max_pct_diag"] < 1e-6
    metrics = prepared.evaluate(prepared.initial_vertices + [0.01, 0.0, 0.0])
    shift = 100 * 0.01 / prepared.target.diagonal
    assert metrics["correspondence_error_pct_diag"] == pytest.approx(shift) and metrics["marker_error_pct_diag"] == pytest.approx(shift)
    other = prepare_transfer(pair["source"], pair["target"], pair["landmarks"], target_samples=2000, metric_samples=2000)
    assert other.ground_truth is None and "correspondence_error_pct_diag" not in other.evaluate(other.initial_vertices)


def test_a_source_identical_to_its_target_comes_back_unchanged(pair, tmp_path):
    V, F = load_mesh(pair["target"])
    marks = (np.array([0, len(V) // 3, len(V) // 2, 2 * len(V) // 3, len(V) - 1]), V[[0, len(V) // 3, len(V) // 2, 2 * len(V) // 3, len(V) - 1]])
    result = transfer_mesh((V, F), pair["target"], marks, method=default_method_config("sape-ff", **SMALL), out=tmp_path / "same",
                           steps=20, settings=FAST, progress_bar=False, threads=1)
    np.testing.assert_allclose(result.vertices, V, atol=1e-9 * np.ptp(V))
    assert result.metrics["stop_reason"] == "already_fits" and result.metrics["folded_edges"] == result.metrics["source_folded_edges"]
    assert json.loads((tmp_path / "same" / "metrics.json").read_text())["stop_reason"] == "already_fits"


@pytest.mark.parametrize("scale", [1e-6, 1e3])
def test_source_units_do_not_change_the_result(pair, prepared, scale):
    V, F = load_mesh(pair["source"])
    with pytest.warns(UserWarning):
        scaled = prepare_transfer((V * scale, F), pair["target"], pair["landmarks"], target_samples=3000, metric_samples=3000)
    np.testing.assert_allclose(scaled.initial_vertices, prepared.initial_vertices, atol=1e-7 * prepared.target.diagonal)
    config = default_method_config("sape-ff", **SMALL)
    reference = transfer_mesh(None, None, method=config, steps=15, settings=FAST, prepared=prepared, progress_bar=False, threads=1)
    result = transfer_mesh(None, None, method=config, steps=15, settings=FAST, prepared=scaled, progress_bar=False, threads=1)
    np.testing.assert_allclose(result.vertices, reference.vertices, atol=1e-4 * prepared.target.diagonal)
    for key in ("dirichlet_ratio", "conformal_ratio", "chamfer_l1_pct_diag", "folded_edges", "inverted_triangles"):
        assert result.metrics[key] == pytest.approx(reference.metrics[key], rel=1e-3, abs=1e-6), key


def test_fold_penalty_is_zero_on_the_source_shape_and_grows_with_a_crease(prepared):
    task = MeshTransferTask(prepared, FAST)
    source = torch.tensor(prepared.normalisation.apply(prepared.source_vertices), dtype=torch.float32)
    assert float(task.fold_excess(source).max()) < 1e-5  # the source's own creases are allowed (up to rounding)
    creased = source.clone()
    edge = task.edge_faces[0]
    apex = [v for v in task.faces[edge[1]].tolist() if v not in task.faces[edge[0]].tolist()][0]
    shared = [v for v in task.faces[edge[0]].tolist() if v in task.faces[edge[1]].tolist()]
    other = [v for v in task.faces[edge[0]].tolist() if v not in shared][0]
    middle = 0.5 * (source[shared[0]] + source[shared[1]])
    creased[apex] = middle + 0.9 * (source[other] - middle)  # folded back onto its neighbour
    excess = task.fold_excess(creased)
    assert float(excess.max()) > 0.5
    batch = task.batch(0, torch.Generator().manual_seed(0))
    folded_loss, _ = task.loss(creased - task.initial, batch)
    plain_loss, _ = MeshTransferTask(prepared, TransferSettings(surface_samples=800, target_batch=800, fold_weight=0.0)).loss(creased - task.initial, batch)
    assert float(folded_loss) > float(plain_loss)


def test_inversion_barrier_is_zero_on_the_source_and_charges_a_turned_triangle(prepared):
    task = MeshTransferTask(prepared, TransferSettings(surface_samples=800, target_batch=800, inversion_weight=1.0))
    source = torch.tensor(prepared.normalisation.apply(prepared.source_vertices), dtype=torch.float32)
    assert float(task.inversion_excess(source).max()) == 0.0
    task._expected_normals = None  # measured again for the next shape
    face = task.faces[0]
    turned = source.clone()
    opposite = turned[face[1]] + turned[face[2]] - turned[face[0]]  # corner 0 mirrored across its edge
    turned[face[0]] = opposite
    excess = task.inversion_excess(turned)
    assert float(excess[0]) > 0.5 and int((excess > 0).sum()) <= 10
    batch = task.batch(0, torch.Generator().manual_seed(0))
    task._expected_normals = None
    barrier_loss, _ = task.loss(turned - task.initial, batch)
    plain_loss, _ = MeshTransferTask(prepared, FAST).loss(turned - task.initial, batch)
    assert float(barrier_loss) > float(plain_loss)


def test_inversion_barrier_measures_again_only_around_turned_triangles_and_matches_a_full_measure(prepared, monkeypatch):
    import sape_geo.geometry.metrics as metrics_module

    settings = TransferSettings(surface_samples=800, target_batch=800, inversion_weight=1.0)
    task = MeshTransferTask(prepared, settings)
    source = torch.tensor(prepared.normalisation.apply(prepared.source_vertices), dtype=torch.float32)
    task.inversion_excess(source)  # the first measure: every triangle
    face = task.faces[0]
    turned = source.clone()
    turned[face[0]] = turned[face[1]] + turned[face[2]] - turned[face[0]]  # corner 0 mirrored across its edge
    measured = []
    monkeypatch.setattr(metrics_module, "best_rotations", lambda covariances: measured.append(len(covariances)) or best_rotations(covariances))
    again = task.inversion_excess(turned)
    assert 0 < measured[0] < 0.2 * task.faces.shape[0]  # only the triangles around the turned one
    full = MeshTransferTask(prepared, settings).inversion_excess(turned)
    assert float(again[0]) > 0.5
    torch.testing.assert_close(again, full, atol=1e-6, rtol=0)
    # a triangle that keeps its normal while everything around it turns over (a half-turn about its first
    # edge): its own normal agrees with the one it was given, but it is measured again too
    task = MeshTransferTask(prepared, settings)
    task.inversion_excess(source)
    axis = source[face[1]] - source[face[0]]
    axis = axis / axis.norm()
    half_turn = 2.0 * torch.outer(axis, axis) - torch.eye(3)
    left_behind = source[face[0]] + (source - source[face[0]]) @ half_turn.T
    left_behind[face[2]] = source[face[2]]
    again = task.inversion_excess(left_behind)
    assert float(again[0]) > 0.5
    torch.testing.assert_close(again, MeshTransferTask(prepared, settings).inversion_excess(left_behind), atol=1e-6, rtol=0)


def test_sape_epsilon_follows_the_initialisation_residuals(prepared):
    task = MeshTransferTask(prepared, TransferSettings(epsilon_fraction=0.25))
    residual = float(task.vertex_distances(task.initial).median())
    assert task.method_defaults("sape-ff") == {"epsilon": pytest.approx(0.25 * residual)}
    assert MeshTransferTask(prepared, TransferSettings(epsilon_fraction=0.0)).method_defaults("sape-ff") == {}
    method, _ = PLUGIN.configs("sape-ff", {"epsilon": 0.01}, task=task)
    assert method.epsilon == 0.01  # an explicit --epsilon wins


def test_kept_correspondences_match_the_exact_surface_chamfer_and_hold_their_batch(prepared):
    kept = MeshTransferTask(prepared, TransferSettings(surface_samples=800, target_batch=800, correspondence_every=4))
    exact = MeshTransferTask(prepared, FAST)
    generator = torch.Generator().manual_seed(0)
    batches = [kept.batch(step, generator) for step in range(5)]
    assert all(b is batches[0] for b in batches[1:4]) and batches[4] is not batches[0]
    output = torch.zeros_like(kept.initial)
    kept_loss, _ = kept.loss(output, batches[0])
    exact_loss, _ = exact.loss(output, batches[0])
    assert float(kept_loss) == pytest.approx(float(exact_loss), rel=0.05)
    moved = torch.full_like(output, 0.002)  # a small shift: the kept triangles stay the closest
    assert float(kept.loss(moved, batches[0])[0]) == pytest.approx(float(exact.loss(moved, batches[0])[0]), rel=0.05)
