import math
import time
import warnings

import numpy as np
import pytest
import torch

from sape_geo import (
    Batch,
    FitConfig,
    FitDivergedWarning,
    MaskDomain,
    MethodConfig,
    ModelSpec,
    Task,
    build_model,
    fit,
    load_model,
    method_names,
)
from sape_geo.fitting import choose_device


class LineTask(Task):
    """Fit y = 0.5 x on 16 samples; optionally poison the loss at a chosen step."""

    name = "line"
    in_dim = 1
    out_dim = 1

    def __init__(self, poison_step=None, explode_step=None):
        self.x = torch.linspace(-1, 1, 16)[:, None]
        self.y = 0.5 * self.x
        self.poison_step = poison_step
        self.explode_step = explode_step

    def mask_domain(self):
        return MaskDomain("samples", num_samples=16)

    def batch(self, step, generator):
        return Batch(self.x, torch.arange(16), {"step": step})

    def loss(self, output, batch):
        per_point = ((output - self.y) ** 2)[:, 0]
        total = per_point.mean()
        if batch.data["step"] == self.poison_step:
            total = total * float("nan")
        if batch.data["step"] == self.explode_step:
            total = total + 1e9
        return total, per_point

    def progress_map(self, model):
        return model.progress(self.x, torch.arange(16)).detach().numpy()


def spec(name, steps=50, **method):
    return ModelSpec(MethodConfig(name, num_frequencies=8, hidden_dim=32, num_hidden_layers=2, **method), 1, 1, steps, MaskDomain("samples", 16))


@pytest.mark.parametrize("name", ["none", "siren", "ff", "pff", "sape-ff", "rbfg", "sape-rbfg"])
def test_every_method_builds_and_learns(name):
    task = LineTask()
    model = build_model(spec(name, steps=150, sigma=1.0, rbf_levels=4, rbf_max_channels=64))
    result = fit(task, model, FitConfig(steps=150, lr=3e-3, progress_bar=False, device="cpu"))
    assert result.stop_reason == "completed" and result.steps_done == 150
    assert result.history[-1]["loss"] < 0.5 * result.history[0]["loss"]


def test_method_names_are_the_papers():
    assert {"none", "siren", "ff", "pff", "sape-ff", "rbfg", "sape-rbfg"} <= set(method_names())


def test_unknown_method_and_bad_numbers_raise():
    with pytest.raises(ValueError, match="unknown method"):
        MethodConfig("sape-xyz")
    with pytest.raises(ValueError):
        MethodConfig("ff", sigma=0.0)
    with pytest.raises(ValueError):
        FitConfig(steps=-5)
    with pytest.raises(ValueError):
        FitConfig(steps=10, device="tpu")


def test_configs_are_immutable():
    config = FitConfig(steps=10)
    with pytest.raises(Exception):
        config.steps = 20  # a second run can never see a mutated step count
    assert config.replace(steps=20).steps == 20 and config.steps == 10


def test_zero_output_starts_at_zero():
    model = build_model(ModelSpec(MethodConfig("sape-ff", num_frequencies=8), 3, 3, 10, MaskDomain("samples", 5), zero_output=True))
    out = model(torch.rand(5, 3), torch.arange(5))
    assert torch.count_nonzero(out) == 0


def test_same_seed_same_result():
    results = []
    for _ in range(2):
        model = build_model(spec("sape-ff", sigma=3.0))
        fit(LineTask(), model, FitConfig(steps=30, seed=3, progress_bar=False, device="cpu"))
        results.append(model(torch.linspace(-1, 1, 5)[:, None], torch.arange(5)).detach())
    assert torch.equal(results[0], results[1])


def test_nan_guard_restores_last_good_state():
    task = LineTask(poison_step=40)
    model = build_model(spec("ff", steps=100, sigma=1.0))
    with pytest.warns(FitDivergedWarning, match="step 40"):
        result = fit(task, model, FitConfig(steps=100, progress_bar=False, guard_every=10, device="cpu"))
    assert result.stop_reason == "non_finite" and result.diverged
    assert result.steps_done == 40
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # the restored state is the one saved at step 40 (guard_every=10), i.e. it reproduces step 40's loss
    with torch.no_grad():
        restored_loss = float(((model(task.x, torch.arange(16)) - task.y) ** 2).mean())
    assert math.isfinite(restored_loss)


def test_divergence_guard_stops():
    model = build_model(spec("ff", steps=60, sigma=1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitDivergedWarning)
        result = fit(LineTask(explode_step=20), model, FitConfig(steps=60, progress_bar=False, device="cpu"))
    assert result.stop_reason == "diverged" and result.steps_done == 20


def test_early_stop():
    class ConstantTask(LineTask):
        def loss(self, output, batch):
            per_point = torch.ones(16) + 0 * output[:, 0]
            return per_point.mean(), per_point

    model = build_model(spec("none", steps=500))
    result = fit(ConstantTask(), model, FitConfig(steps=500, early_stop_patience=25, progress_bar=False, device="cpu"))
    assert result.stop_reason == "early_stop" and result.steps_done < 40


def test_a_time_budget_stops_the_fit_and_says_so():
    class SlowTask(LineTask):
        def batch(self, step, generator):
            time.sleep(0.02)
            return super().batch(step, generator)

    model = build_model(spec("none", steps=100_000))
    result = fit(SlowTask(), model, FitConfig(steps=100_000, max_seconds=0.3, progress_bar=False, device="cpu"))
    assert result.stop_reason == "time_budget" and 1 <= result.steps_done < 100 and "0.3 s" in result.message
    with pytest.raises(ValueError, match="max_seconds"):
        FitConfig(max_seconds=0)


def test_sape_progress_follows_loss():
    class HalfTask(LineTask):
        # the right half keeps a high loss, the left half none: only the right half opens levels
        def loss(self, output, batch):
            per_point = ((output - self.y) ** 2)[:, 0]
            per_point = torch.where(self.x[:, 0] > 0, per_point + 1.0, per_point * 0)
            return per_point.mean(), per_point

    model = build_model(spec("sape-ff", steps=100, sigma=2.0, epsilon=0.5))
    fit(HalfTask(), model, FitConfig(steps=100, progress_bar=False, device="cpu"))
    progress = model.progress(LineTask().x, torch.arange(16))
    assert float(progress[:8].max()) == 0.0
    assert float(progress[8:].min()) == pytest.approx(8.0)  # L = 8 levels, all open by T/2


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            choose_device("cuda")


def test_model_roundtrip_with_mask_state(tmp_path):
    from sape_geo.runs import RunDirectory

    model = build_model(spec("sape-ff", sigma=2.0))
    fit(LineTask(), model, FitConfig(steps=50, progress_bar=False, device="cpu"))
    run = RunDirectory(tmp_path / "run")
    run.save_model(model)
    run.write_metrics({})  # completes the run: it is moved into place
    restored = load_model(tmp_path / "run")
    x = torch.linspace(-1, 1, 16)[:, None]
    assert torch.equal(model(x, torch.arange(16)), restored(x, torch.arange(16)))
    assert np.array_equal(model.progress(x, torch.arange(16)).numpy(), restored.progress(x, torch.arange(16)).numpy())
