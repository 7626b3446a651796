"""One run path for every task (sape_geo.registry.run_plugin -> sape_geo.experiment.run_task): a method
the task answers without a network, the run's seed for a task that samples its inputs, config.json
entries the task adds, and keyword overrides split by field name."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from sape_geo.config import MaskDomain
from sape_geo.experiment import run_task
from sape_geo.fitting import Batch, FitConfig, NetworkFree, Task
from sape_geo.registry import Input, TaskPlugin, run_plugin


@dataclass(frozen=True)
class LineSettings:
    """Attributes
    ----------
    points : samples of the line.
    """

    points: int = 16


class LineTask(Task):
    """Fit y = slope * x; the ``exact`` method is answered without a network."""

    def __init__(self, settings: LineSettings, slope: float = 1.0, seed: int = 0) -> None:
        self.settings, self.slope, self.seed = settings, float(slope), seed
        self.x = torch.linspace(-1, 1, settings.points)[:, None]

    def mask_domain(self) -> MaskDomain:
        return MaskDomain("samples", num_samples=self.settings.points)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        return Batch(self.x, torch.arange(self.settings.points))

    def loss(self, output, batch):
        per_point = ((output - self.slope * batch.coords) ** 2).squeeze(1)
        return per_point.mean(), per_point

    def progress_map(self, model) -> np.ndarray:
        return np.zeros(self.settings.points, dtype=np.float32)

    def product(self, model) -> dict:
        return {"y": model(self.x).detach().numpy()}

    def config_entries(self) -> dict:
        return {"line": {"slope": self.slope, "sampled_with_seed": self.seed}}

    def without_network(self, method: str):
        if method != "exact":
            return None

        def answer() -> NetworkFree:
            y = (self.slope * self.x).numpy()
            metrics = {"error": 0.0, "fit_seconds": 0.0, "steps_done": 0, "stop_reason": "completed", "stop_message": ""}
            return NetworkFree(metrics, np.zeros(self.settings.points, np.float32), {"y": y},
                               lambda run: run.write_array("y.npy", y))

        return answer


PLUGIN = TaskPlugin(
    name="line", summary="s", description="d", settings=LineSettings, make_task=LineTask,
    inputs=(Input("slope", "the slope"),), defaults={"steps": 3, "hidden_dim": 8}, extra_methods={"exact": "the line itself"},
)


def test_a_method_without_a_network_writes_the_run_files_less_the_networks(tmp_path):
    result = run_plugin(PLUGIN, {"slope": 2.0}, method="exact", out=tmp_path / "run", points=5, seed=4, progress_bar=False)
    assert result.model is None and result.fit is None and isinstance(result.task, LineTask)
    np.testing.assert_allclose(result.extras["y"][:, 0], np.linspace(-2, 2, 5), atol=1e-6)
    files = {path.name for path in (tmp_path / "run").iterdir()}
    assert {"config.json", "metrics.json", "progress.npy", "y.npy"} <= files and "model.pt" not in files
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    # the task's settings override (points) and the loop's (seed) were told apart by name
    assert config["method"] == {"name": "exact"} and config["seed"] == 4 and config["settings"]["points"] == 5
    assert config["line"] == {"slope": 2.0, "sampled_with_seed": 4}  # the task's own entry, and make_task got the seed


def test_a_network_method_runs_the_loop_on_the_same_path(tmp_path):
    result = run_plugin(PLUGIN, {"slope": 1.0}, method="ff", out=tmp_path / "run", seed=2, progress_bar=False)
    assert result.model is not None and result.metrics["steps_done"] == 3 and result.task.seed == 2
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["method"]["name"] == "ff" and config["line"]["sampled_with_seed"] == 2
    assert (tmp_path / "run" / "model.pt").exists()


def test_a_name_neither_the_task_nor_the_catalogue_answers_is_refused():
    with pytest.raises(ValueError, match="'nothing'"):
        run_task(LineTask(LineSettings()), "nothing", FitConfig(steps=1, progress_bar=False))


def test_the_python_function_takes_the_inputs_then_the_runs_arguments(tmp_path):
    fit_line = PLUGIN.python_function("fit_line", "Fit a line.")
    assert fit_line.__name__ == "fit_line" and fit_line.__doc__ == "Fit a line."
    assert list(inspect.signature(fit_line).parameters) == ["slope", "method", "out", "settings", "overwrite", "callbacks", "overrides"]
    # positional input and method, a task setting and a loop setting by name: the same run as run_plugin's
    result = fit_line(3.0, "exact", tmp_path / "run", points=4, seed=5, progress_bar=False)
    np.testing.assert_allclose(result.extras["y"][:, 0], np.linspace(-3, 3, 4), atol=1e-6)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["line"] == {"slope": 3.0, "sampled_with_seed": 5}
    with pytest.raises(TypeError, match="slope"):
        fit_line(method="exact")


def test_a_plugins_default_configs_are_its_defaults_with_changes():
    assert PLUGIN.default_method_config().hidden_dim == 8 and PLUGIN.default_method_config("ff", hidden_dim=4).hidden_dim == 4
    assert PLUGIN.default_fit_config().steps == 3 and PLUGIN.default_fit_config("ff", steps=7, seed=2).seed == 2
