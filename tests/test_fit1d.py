"""The 1-D demo is the smallest proof that the core works (the paper's Fig. 2)."""

import json

import numpy as np
import pytest

from sape_geo import MethodConfig, load_model
from sape_geo_apps.cli import main
from sape_geo_plugins.fit1d import DEFAULT_SIGMA, fit_1d

STEPS = 600


@pytest.fixture(scope="module")
def runs():
    results = {}
    for method in ("ff", "sape-ff"):
        config = MethodConfig(method, sigma=DEFAULT_SIGMA, num_hidden_layers=2)
        results[method] = fit_1d(config, steps=STEPS, seed=0, progress_bar=False, device="cpu")
    return results


def test_sape_heat_map_low_where_smooth_high_where_oscillating(runs):
    metrics = runs["sape-ff"].metrics
    assert metrics["progress_oscillating_region_levels"] > 2.5 * metrics["progress_smooth_region_levels"]
    assert metrics["progress_oscillating_region_levels"] > 30  # it did open high frequencies there
    # FF has everything open everywhere
    assert runs["ff"].metrics["progress_smooth_region_levels"] == pytest.approx(256)


def test_sape_smooth_region_error_well_below_ff_at_same_sigma(runs):
    sape, ff = runs["sape-ff"].metrics, runs["ff"].metrics
    assert sape["mse_smooth_region"] < 0.2 * ff["mse_smooth_region"]
    # and it still fits the oscillating half as well as FF does
    assert sape["mse_oscillating_region"] < 2.0 * ff["mse_oscillating_region"]


def test_cli_writes_complete_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["fit1d", "--method", "sape-ff", "--steps", "40", "--quiet", "--snapshots", "10", "--out", str(out)])
    assert code == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))  # less the run marker
    assert names == sorted(
        ["config.json", "metrics.json", "history.csv", "progress.npy", "result.csv", "result.png", "model.pt", "snapshots.npz"]
    )
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 0 and config["method"]["name"] == "sape-ff" and config["fit"]["steps"] == 40
    assert config["versions"]["torch"] and config["versions"]["numpy"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps_done"] == 40 and np.isfinite(metrics["mse_all"])
    progress = np.load(out / "progress.npy")
    assert progress.shape == (2001,)
    snapshots = np.load(out / "snapshots.npz")
    assert snapshots["prediction"].shape[1] == 2001 and snapshots["step"][-1] == 39
    table = np.loadtxt(out / "result.csv", delimiter=",", skiprows=1)
    assert table.shape == (2001, 4)
    model = load_model(out)  # reloadable, mask state included
    assert model.mask_mean_progress() > 0
    assert "run directory" in capsys.readouterr().out


def test_cli_refuses_existing_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit1d", "--steps", "5", "--quiet", "--out", str(out)]) == 0
    assert main(["fit1d", "--steps", "5", "--quiet", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["fit1d", "--steps", "5", "--quiet", "--out", str(out), "--overwrite"]) == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit1d", "--method", "sape-xyz", "--out", "x"], "invalid choice"),
        (["fit1d", "--steps", "-3", "--out", "x"], "steps must be a positive integer"),
        (["fit1d", "--sigma", "nan", "--out", "x"], "positive finite"),
    ],
)
def test_cli_bad_arguments_clear_error(argv, message, capsys):
    try:  # argparse's own checks exit; the settings' checks return
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_bad_method_setting_creates_no_run_and_keeps_the_old_one(tmp_path, monkeypatch):
    from sape_geo_plugins.fit1d import Regression1D

    from sape_geo import FitConfig, run_task

    with pytest.raises(ValueError, match="no_such_option"):  # refused as soon as the settings are made
        MethodConfig("sasnet", options=(("no_such_option", 1),))

    def refuse(spec):
        raise ValueError("a setting the network cannot be built with")

    monkeypatch.setattr("sape_geo.experiment.build_model", refuse)
    with pytest.raises(ValueError):
        run_task(Regression1D(), MethodConfig("ff"), FitConfig(steps=5, progress_bar=False), tmp_path / "new")
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    monkeypatch.undo()
    fit_1d("ff", out=kept, steps=5, progress_bar=False)
    monkeypatch.setattr("sape_geo.experiment.build_model", refuse)
    with pytest.raises(ValueError):
        run_task(Regression1D(), MethodConfig("ff"), FitConfig(steps=5, progress_bar=False), kept, overwrite=True)
    assert (kept / "metrics.json").is_file()
