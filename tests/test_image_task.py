"""Image fitting (issue 5): reading every mode, the 25% training grid, PSNR, outputs, SAPE's heat map."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sape_geo import MethodConfig, load_model
from sape_geo.imaging import ImageReadError, read_image
from sape_geo.metrics import intersection_over_union, psnr
from sape_geo_apps.cli import main
from sape_geo_plugins.image import (
    ImageFit,
    ImageSettings,
    default_fit_config,
    default_method_settings,
    default_sigmas,
    fit_image,
    load_image_task,
    prepare_image,
    training_pixel_mask,
    write_png,
)

TINY = dict(num_frequencies=32, hidden_dim=48, num_hidden_layers=2)


def smooth_left_checker_right(size: int = 40, period: float = 6.0) -> np.ndarray:
    """Grey image: constant 0.5 on the left half, a checker of ``period`` pixels on the right half."""
    rows, columns = np.mgrid[0:size, 0:size]
    checker = 0.5 + 0.4 * np.sin(2 * np.pi * columns / period) * np.sin(2 * np.pi * rows / period)
    return np.where(columns >= size // 2, checker, 0.5)


def save(path, array):
    Image.fromarray(array).save(path)
    return path


def test_psnr_matches_definition_and_clamps():
    target = np.zeros((4, 4, 3))
    assert psnr(np.full_like(target, 0.1), target) == pytest.approx(20.0)
    assert psnr(np.full_like(target, -5.0), target) == pytest.approx(100.0)  # clamped to 0: perfect
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    noisy = target.copy()
    noisy[1:, :] = 0.5
    assert psnr(noisy, target, mask) == pytest.approx(100.0)
    assert psnr(noisy, target, ~mask) < 10.0
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((2, 2)), np.zeros((3, 2)))


def test_iou_of_labellings():
    a = np.array([1, 1, 1, 0, 0], bool)
    b = np.array([0, 1, 1, 1, 0], bool)
    assert intersection_over_union(a, b) == pytest.approx(2 / 4)
    assert intersection_over_union(a, a) == 1.0
    assert intersection_over_union(np.zeros(3, bool), np.zeros(3, bool)) == 1.0


def test_training_grid_is_every_second_row_and_column():
    mask = training_pixel_mask(6, 8)
    assert mask.sum() == 3 * 4
    assert mask[0, 0] and mask[2, 4] and not mask[1, 0] and not mask[0, 1]


@pytest.mark.parametrize(
    "array, mode, channels, has_alpha, bit_depth, written_mode",
    [
        (np.full((10, 12), 200, np.uint8), "L", 1, False, 8, "L"),
        (np.full((10, 12), 40000, np.uint16), "I;16", 1, False, 16, "I;16"),
        (np.full((10, 12, 3), 90, np.uint8), "RGB", 3, False, 8, "RGB"),
        (np.full((10, 12, 4), 90, np.uint8), "RGBA", 4, True, 8, "RGBA"),
        (np.full((10, 12, 2), 90, np.uint8), "LA", 2, True, 8, "LA"),
    ],
)
def test_every_mode_round_trips_into_its_family(tmp_path, array, mode, channels, has_alpha, bit_depth, written_mode):
    path = save(tmp_path / "in.png", array)
    prepared = prepare_image(read_image(path), max_size=None)
    assert prepared.values.shape == (10, 12, channels)
    assert prepared.has_alpha == has_alpha and prepared.bit_depth == bit_depth
    out = tmp_path / "out.png"
    write_png(out, prepared.values, prepared.has_alpha, prepared.bit_depth)
    with Image.open(out) as written:
        assert written.mode == written_mode and written.size == (12, 10)
        back = np.asarray(written)
    assert np.abs(back.astype(np.int64) - array.astype(np.int64)).max() <= 1


def test_palette_image_is_fitted_as_colour(tmp_path):
    palette = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) % 4, mode="L").convert("P")
    palette.save(tmp_path / "p.png")
    assert prepare_image(read_image(tmp_path / "p.png"), None).channels == 3


def test_max_size_downscales_long_side_and_keeps_aspect(tmp_path):
    path = save(tmp_path / "wide.png", np.zeros((50, 200, 3), np.uint8))
    prepared = prepare_image(read_image(path), max_size=64)
    assert prepared.values.shape == (16, 64, 3)
    assert prepared.source["width"] == 200


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        load_image_task(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageReadError, match="junk.png"):
        load_image_task(tmp_path / "junk.png")
    tiny = save(tmp_path / "tiny.png", np.zeros((2, 9), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        load_image_task(tiny)
    with pytest.raises(ValueError, match="max_size"):
        ImageSettings(max_size=2)


def test_grid_follows_training_density_and_minibatches_smooth(tmp_path):
    path = save(tmp_path / "g.png", np.zeros((21, 40), np.uint8))
    task = load_image_task(path, ImageSettings(max_size=None))
    assert task.train_shape == (11, 20)
    assert task.mask_domain().resolution == (11, 20) and task.mask_domain().smoothing_steps == 1
    batched = load_image_task(path, ImageSettings(max_size=None, batch_size=50))
    assert not batched.full_batch and batched.mask_domain().smoothing_steps == 5  # ceil(220 / 50)
    batch = batched.batch(0, torch.Generator().manual_seed(0))
    assert batch.coords.shape == (50, 2) and batch.data["target"].shape == (50, 1)


def test_default_sigma_sape_twice_ff():
    sigmas = default_sigmas(128)
    assert sigmas["sape-ff"] == pytest.approx(2 * sigmas["ff"])


def test_baseline_settings_follow_the_training_grid():
    # Every method's size-dependent setting scales with the training grid: SIREN gets its published
    # omega_0 = 30 at a 256 px image (128 training samples), the RBF grid's narrowest bumps stay wider
    # than the training pixels' spacing, and the Fourier methods get default_sigmas.
    for side in (24, 128, 256):
        settings = default_method_settings(side)
        assert settings["siren"]["omega_0"] == pytest.approx(30.0 * side / 128)
        assert settings["rbfg"]["rbf_min_bandwidth"] > 2.0 / side
        assert settings["sape-rbfg"] == settings["rbfg"]
        assert {name: values["sigma"] for name, values in settings.items() if "sigma" in values} == default_sigmas(side)
        MethodConfig("siren", **settings["siren"])  # valid settings
        MethodConfig("rbfg", **settings["rbfg"])


def test_default_loop_decays_the_learning_rate():
    fit = default_fit_config()
    assert fit.lr_schedule == "cosine" and fit.lr_final_factor < 1.0
    assert default_fit_config("siren").lr < fit.lr  # SIREN keeps its own, smaller rate
    assert default_fit_config("ff", steps=7, seed=3).steps == 7


def test_quality_clock_scores_a_fit_in_eval_mode_and_restores_training(tmp_path):
    from sape_geo.experiment import run_task
    from bench.curves import QualityClock, plot_quality_vs_time, quality_at

    path = save(tmp_path / "checker.png", np.round(smooth_left_checker_right(16) * 255).astype(np.uint8))
    task = load_image_task(path, ImageSettings(max_size=None))
    modes = []

    def evaluate(model):
        modes.append((model.training, torch.is_grad_enabled()))
        return task.evaluate(model)["psnr_all_db"]

    clock = QualityClock(evaluate, at_steps=[0, 2])
    seen_training = []
    result = run_task(task, MethodConfig("sape-ff", sigma=2.0, **TINY), default_fit_config("sape-ff", steps=5, progress_bar=False, device="cpu"),
                      None, callbacks=[clock, lambda step, loss, model: seen_training.append(model.training)])
    assert clock.finish(result.model).step == 4
    assert [r.step for r in clock.readings] == [0, 2, 4]
    assert modes == [(False, False)] * 3 and all(seen_training)  # scored in eval mode, trained in train mode
    seconds = [r.seconds for r in clock.readings]
    assert seconds == sorted(seconds) and all(r.cpu_seconds >= 0 for r in clock.readings)
    assert quality_at(clock.points, seconds[1]) == clock.readings[1].quality and quality_at(clock.points, -1.0) is None
    plot_quality_vs_time({"sape-ff": clock.points}, tmp_path / "curves.png", "PSNR (dB)", "checker")
    assert (tmp_path / "curves.png").stat().st_size > 0


@pytest.fixture(scope="module")
def checker_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checker")
    path = save(folder / "checker.png", np.round(smooth_left_checker_right() * 255).astype(np.uint8))
    results = {}
    for method in ("none", "sape-ff"):
        config = MethodConfig(method, sigma=6.0, **TINY)
        results[method] = fit_image(path, config, out=folder / method, steps=800, progress_bar=False, device="cpu")
    return results


def test_run_directory_holds_every_output(checker_runs):
    run = checker_runs["sape-ff"].path
    for name in ("config.json", "metrics.json", "history.csv", "model.pt", "progress.npy", "result.png", "heatmap.png"):
        assert (run / name).is_file(), name
    assert np.load(run / "progress.npy").shape == (40, 40)
    with Image.open(run / "result.png") as result:
        assert result.mode == "L" and result.size == (40, 40)
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"psnr_all_db", "psnr_heldout_db", "psnr_train_db"} <= set(metrics)
    config = json.loads((run / "config.json").read_text())
    assert config["task"]["grid_resolution"] == [20, 20] and len(config["task"]["input"]["sha256"]) == 64
    # The saved model reproduces the PSNR written to metrics.json.
    task = load_image_task(config["task"]["input"]["path"], ImageSettings())
    assert psnr(task.predict(load_model(run)), task.image.values) == pytest.approx(metrics["psnr_all_db"], abs=1e-3)


def test_psnr_all_lies_between_train_and_heldout(checker_runs):
    m = checker_runs["sape-ff"].metrics
    assert m["psnr_train_db"] >= m["psnr_all_db"] >= m["psnr_heldout_db"]


def test_sape_beats_no_encoding_on_checker(checker_runs):
    assert checker_runs["sape-ff"].metrics["psnr_all_db"] > checker_runs["none"].metrics["psnr_all_db"] + 3.0


def test_sape_opens_high_frequencies_only_where_the_image_has_detail(checker_runs):
    progress = checker_runs["sape-ff"].progress
    smooth, detailed = progress[:, :16].mean(), progress[:, 24:].mean()
    assert detailed > 2.5 * smooth
    assert detailed > 8.0


def test_cli_runs_and_reports_bad_files(tmp_path, capsys):
    path = save(tmp_path / "rgba.png", np.random.default_rng(0).integers(0, 255, (12, 16, 4), dtype=np.uint8))
    out = tmp_path / "run"
    code = main(["image", str(path), "--steps", "3", "--hidden", "16", "--layers", "1", "--frequencies", "4",
                 "--quiet", "--threads", "1", "--out", str(out)])
    assert code == 0
    with Image.open(out / "result.png") as result:
        assert result.mode == "RGBA" and result.size == (16, 12)
    assert "PSNR all" in capsys.readouterr().out
    assert main(["image", str(tmp_path / "nope.png"), "--steps", "3", "--out", str(tmp_path / "r2")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "r2" / "metrics.json").exists()


def test_task_class_is_reusable_for_in_memory_images():
    from sape_geo_plugins.image import FittedImage

    values = np.random.default_rng(1).random((8, 10, 3)).astype(np.float32)
    task = ImageFit(FittedImage(values, False, 8, {}), ImageSettings(max_size=None))
    assert task.out_dim == 3 and task.train_coords.shape == (4 * 5, 2)
    assert float(task.train_coords.min()) == -1.0
