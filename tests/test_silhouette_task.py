"""The silhouette task: calibration, the Chamfer loss and its per-point feedback, scores, outputs, SAPE."""

import json
import math

import numpy as np
import pytest
import torch

from sape_geo import MaskDomain, MethodConfig, ModelSpec, build_model
from sape_geo.fitting import FitConfig
from sape_geo.geometry.polygon import read_polyline, self_intersections, signed_area
from sape_geo_apps.cli import main
from sape_geo_plugins.silhouette import SilhouetteSettings, SilhouetteError, SilhouetteFit, fit_silhouette, load_silhouette, score_curve
from sape_geo_plugins.silhouette.outline import silhouette_from_polyline
from sape_geo_plugins.silhouette.shapes import render_polygons, save_silhouette_image, star_outline
from sape_geo_plugins.silhouette.task import calibrate_to_circle, curve_parameters, unit_circle

TINY = dict(num_frequencies=32, hidden_dim=64, num_hidden_layers=2, rbf_max_channels=128)
QUICK = SilhouetteSettings(points=96, target_samples=384, mask_resolution=32, calibration_steps=150, calibration_lr=3e-3)
FIT = dict(progress_bar=False, threads=1, lr=1e-3)


@pytest.fixture(scope="module")
def star_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("star") / "star.png"
    save_silhouette_image(path, render_polygons([star_outline(5, inner=0.5)], 64, 0.1))
    return path


def test_curve_parameters_are_periodic_and_in_the_core_domain():
    coords = curve_parameters(8)
    assert coords.shape == (8, 1)
    assert float(coords.min()) == -1.0 and float(coords.max()) < 1.0
    circle = unit_circle(coords)
    assert torch.allclose(circle[0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(circle[2], torch.tensor([0.0, 1.0]), atol=1e-6)  # s = 1/4


@pytest.mark.parametrize("method", ["sape-ff", "pff"])
def test_calibration_fits_the_circle_and_leaves_the_mask_closed(method):
    coords = curve_parameters(64)
    domain = MaskDomain("grid", resolution=(16,), periodic=(True,))
    model = build_model(ModelSpec(MethodConfig(method, sigma=3.0, **TINY), 1, 2, 500, domain))
    with torch.no_grad():
        before = float(((model(coords, torch.arange(64)) - unit_circle(coords)) ** 2).sum(1).mean())
    metrics = calibrate_to_circle(model, coords, FitConfig(progress_bar=False, threads=1), steps=200, lr=3e-3)
    assert metrics["calibration_mse"] < 0.02 < before
    assert model.mask_mean_progress() == 0.0  # calibration changed weights only
    # Closed channels were silenced: opening every level leaves the calibrated curve where it is.
    assert metrics["calibration_silenced_channels"] == model.encoding.out_dim - 1
    index = torch.arange(64)
    with torch.no_grad():
        calibrated = model(coords, index)
        progress = model.mask.location_progress if method == "sape-ff" else model.mask.global_progress
        progress.fill_(float(model.encoding.num_levels))
        assert torch.allclose(model(coords, index), calibrated, atol=1e-6)


def test_calibration_keeps_open_channels_of_static_encodings():
    coords = curve_parameters(32)
    model = build_model(ModelSpec(MethodConfig("ff", sigma=3.0, **TINY), 1, 2, 100, MaskDomain("samples", num_samples=32)))
    first_layer = model.mlp[0].weight.detach().clone()
    metrics = calibrate_to_circle(model, coords, FitConfig(progress_bar=False, threads=1), steps=0, lr=1e-3)
    assert metrics["calibration_silenced_channels"] == 0
    assert torch.equal(model.mlp[0].weight, first_layer)


def test_chamfer_loss_feedback_flags_the_misplaced_point():
    square = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]])
    task = SilhouetteFit(silhouette_from_polyline(square), SilhouetteSettings(points=100, target_samples=400, data_term="chamfer"))
    on_target = task.target_points[::4].clone()
    total, before = task.loss(on_target, None)
    assert float(total) < 1e-3 and float(before.max()) < 1e-3
    moved = on_target.clone()
    moved[10, 1] += 0.5  # half the normalised radius off the outline
    total_moved, per_point = task.loss(moved.requires_grad_(), None)
    assert float(total_moved.detach()) > float(total)
    assert int(per_point.argmax()) == 10 and float(per_point[10]) > 0.2
    # The outline samples the moved point left behind now pull its neighbours: they report misfit too.
    assert float(per_point[9] + per_point[11]) > 1.5 * float(before[9] + before[11])
    total_moved.backward()


def test_ordered_loss_pulls_each_point_to_its_own_outline_sample():
    square = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]])
    task = SilhouetteFit(silhouette_from_polyline(square), SilhouetteSettings(points=100))
    targets = task.ordered_points
    # The targets trace the outline once, in the calibrated circle's direction, each one in the
    # direction of its circle point (arc length along a square differs from the angle by < 0.11 rad).
    assert signed_area(targets.numpy()) > 0
    circle = unit_circle(task.coords)
    angle = torch.atan2(circle[:, 0] * targets[:, 1] - circle[:, 1] * targets[:, 0], (circle * targets).sum(dim=1))
    assert float(angle.abs().max()) < 0.11
    assert len(self_intersections(targets.numpy())) == 0
    total, per_point = task.loss(targets.clone(), None)
    assert float(total) == 0.0 and float(per_point.max()) == 0.0
    # The same points, shuffled, cover the outline exactly (Chamfer 0) but are far from their own samples.
    shuffled = targets[torch.randperm(100, generator=torch.Generator().manual_seed(0))]
    assert float(task.loss(shuffled, None)[0]) > 0.3
    chamfer = SilhouetteFit(task.target, SilhouetteSettings(points=100, target_samples=100, data_term="chamfer"))
    chamfer.target_points = targets.clone()
    assert float(chamfer.loss(shuffled, None)[0]) < 1e-9


def test_tangled_stretches_report_no_loss_to_sape():
    square = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]])
    task = SilhouetteFit(silhouette_from_polyline(square), SilhouetteSettings(points=40))
    output = task.ordered_points + 0.1
    task.guard.tangled = torch.zeros(40, dtype=torch.bool)
    task.guard.tangled[5:9] = True
    _, per_point = task.loss(output, None)
    assert float(per_point[5:9].abs().max()) == 0.0 and float(per_point[:5].min()) > 0.0
    plain = SilhouetteFit(task.target, SilhouetteSettings(points=40, tangle_feedback=False))
    plain.guard.tangled = task.guard.tangled
    assert float(plain.loss(output, None)[1][5:9].min()) > 0.0


def test_score_counts_self_intersections_of_a_folded_curve():
    square = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]])
    target = silhouette_from_polyline(square)
    assert score_curve(square, target)["self_intersections"] == 0 and score_curve(square, target)["simple"]
    bow_tie = square[[0, 2, 1, 3]]
    scores = score_curve(bow_tie, target)
    assert scores["self_intersections"] == 1 and not scores["simple"]


def test_score_counts_area_outside_the_image(tmp_path):
    coverage = render_polygons([star_outline(6, inner=0.7)], 80, -0.05)
    save_silhouette_image(tmp_path / "cropped.png", coverage)
    target = load_silhouette(tmp_path / "cropped.png")
    perfect = score_curve(target.outline, target)
    assert perfect["iou"] == 1.0 and perfect["chamfer_l1_px"] < 0.5
    centre = target.outline.mean(axis=0)
    grown = score_curve((target.outline - centre) * 1.2 + centre, target)
    # A shape grown by 1.2 about its centre has 1.44 times the area: IoU = 1 / 1.44 when nothing is cut off.
    assert grown["iou"] == pytest.approx(1 / 1.44, abs=0.02)
    assert grown["chamfer_l1_px"] > 2.0


def test_fit_writes_the_run_directory_in_pixel_coordinates(tmp_path, star_png):
    method = MethodConfig("sape-ff", sigma=2.0, epsilon=1e-3, **TINY)
    result = fit_silhouette(star_png, method, tmp_path / "run", points=QUICK.points, steps=400, settings=QUICK, **FIT)
    run = result.path
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["iou"] > 0.95, metrics["iou"]
    assert metrics["self_intersections"] == 0 and metrics["simple"] is True
    assert metrics["calibration_steps"] == QUICK.calibration_steps
    lines = (run / "result.csv").read_text().splitlines()
    assert len(lines) == QUICK.points and all(len(line.split(",")) == 2 for line in lines)
    curve = read_polyline(run / "result.csv")
    assert curve.shape == (QUICK.points, 2)
    target = load_silhouette(star_png)
    def box_centre(points):
        return (points.min(axis=0) + points.max(axis=0)) / 2

    assert np.abs(box_centre(curve) - box_centre(target.outline)).max() < 1.5  # the image's pixel frame
    assert score_curve(curve, target)["iou"] == pytest.approx(metrics["iou"], abs=2e-3)
    assert np.load(run / "progress.npy").shape == (QUICK.points,)
    assert (run / "result.png").stat().st_size > 1000
    config = json.loads((run / "config.json").read_text())
    assert config["task"]["input"]["sha256"] and config["task"]["target"]["foreground"] == "light on dark"


def toothed_half_circle(teeth: int = 10, samples: int = 400) -> np.ndarray:
    """Radius 1 on the left half; square-ish teeth between radii 0.8 and 1 on the right half."""
    angle = np.arange(samples) * 2 * np.pi / samples
    right = np.cos(angle) > 0
    phase = (angle * teeth * 2 / (2 * np.pi)) % 1.0
    radius = np.where(right & (phase > 0.5), 0.8, 1.0)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)]) * 100 + 120


@pytest.mark.parametrize("data_term, factor", [("ordered", 1.5), ("chamfer", 2.0)])
def test_sape_opens_frequencies_where_the_outline_has_detail(data_term, factor):
    # The ordered term also charges the smooth half for sliding its points along the outline to their
    # arc-length places, so there the contrast is lower than with Chamfer, which lets points slide freely.
    target = silhouette_from_polyline(toothed_half_circle())
    config = SilhouetteSettings(points=128, target_samples=800, mask_resolution=64, calibration_steps=300, calibration_lr=3e-3,
                              data_term=data_term)
    method = MethodConfig("sape-ff", sigma=6.0, epsilon=5e-3, **TINY)
    result = fit_silhouette(target, method, None, points=config.points, steps=300, settings=config, **FIT)
    task = SilhouetteFit(target, config)
    curve = task.curve(result.model.cpu())
    progress = result.progress
    smooth = curve[:, 0] < 120 - 30
    detailed = curve[:, 0] > 120 + 30
    assert progress[detailed].mean() > factor * progress[smooth].mean() + 1.0, (progress[detailed].mean(), progress[smooth].mean())


@pytest.mark.parametrize("method", ["none", "siren", "ff", "pff", "sape-ff", "rbfg", "sape-rbfg"])
def test_every_method_runs_through_the_same_task(method, star_png):
    config = SilhouetteSettings(points=48, target_samples=192, mask_resolution=0, calibration_steps=10)
    result = fit_silhouette(star_png, MethodConfig(method, sigma=3.0, **TINY), None, points=48, steps=15, settings=config, **FIT)
    assert 0.0 <= result.metrics["iou"] <= 1.0 and math.isfinite(result.metrics["chamfer_l1_px"])


def test_command_line_runs_and_summarises(tmp_path, star_png, capsys):
    out = tmp_path / "cli"
    args = ["silhouette", str(star_png), "--out", str(out), "--steps", "20", "--points", "64", "--frequencies", "16",
            "--hidden", "32", "--calibration-steps", "10", "--threads", "1", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "IoU" in printed and str(out) in printed
    assert "self-intersection" in printed and "Hausdorff" in printed
    assert len((out / "result.csv").read_text().splitlines()) == 64
    assert main(args) == 2  # the run directory exists: refused, not overwritten


def test_command_line_fits_the_component_asked_for(tmp_path, capsys):
    both = render_polygons([star_outline(5) * 0.5 + [0.9, 0.0], star_outline(5) * 0.3 + [-1.2, 0.0]], 96, 0.05)
    save_silhouette_image(tmp_path / "two.png", both)
    common = ["--steps", "5", "--points", "32", "--frequencies", "8", "--hidden", "16", "--calibration-steps", "5",
              "--threads", "1", "--quiet"]
    assert main(["silhouette", str(tmp_path / "two.png"), "--out", str(tmp_path / "small"), "--component", "1", *common]) == 0
    printed = capsys.readouterr().out
    assert "holds 2 separate shapes: fitted number 1 by size" in printed
    config = json.loads((tmp_path / "small" / "config.json").read_text())
    assert "fitted number 1" in config["task"]["target"]["notes"][0]
    assert main(["silhouette", str(tmp_path / "two.png"), "--out", str(tmp_path / "none"), "--component", "5", *common]) == 2
    captured = capsys.readouterr()
    assert "holds 2 shape(s)" in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "none").exists()


def test_help_says_holes_are_outside_the_outline(capsys):
    with pytest.raises(SystemExit):
        main(["silhouette", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "holes are outside the outline" in text.lower() and "--component" in text and "--data-term" in text


def test_in_memory_inputs_and_product():
    disc = np.hypot(*np.mgrid[-40:40, -40:40]) < 25
    config = SilhouetteSettings(points=48, mask_resolution=0, calibration_steps=50, calibration_lr=3e-3)
    from_image = fit_silhouette(disc, MethodConfig("ff", sigma=1.0, **TINY), None, points=48, steps=60, settings=config, **FIT)
    curve = from_image.extras["curve"]
    assert curve.shape == (48, 2) and from_image.path is None
    assert np.abs(curve.mean(axis=0) - 39.5).max() < 3.0  # the disc's centre, in pixel coordinates
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    from_polyline = fit_silhouette(square, MethodConfig("ff", sigma=1.0, **TINY), None, points=48, steps=60, settings=config, **FIT)
    assert from_polyline.metrics["iou"] > 0.8 and from_polyline.extras["curve"].shape == (48, 2)
    with pytest.raises(SilhouetteError, match="expected a"):
        fit_silhouette(np.zeros((4, 4, 5)), "sape-ff", None, steps=1)  # (H, W, 2) is grey + alpha
