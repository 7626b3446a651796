"""An example third-party sape-geo task: fit a 2-D function that is smooth on the left half of
``[-1, 1]^2`` and rippled on the right half, from a grid of samples.

Everything a task plugin needs is here, in four parts:

1. a settings dataclass (:class:`RippleSettings`): its documented fields become the command's options
   (``--resolution``, ``--frequency``), the batch runner's settings and ``config.json``'s record;
2. a :class:`sape_geo.Task`: where SAPE keeps progress, the points of a step, the per-point loss, the
   metrics, the heat map, the product returned in memory and the files it writes into the run directory;
3. a :class:`sape_geo.TaskPlugin` named ``PLUGIN`` (settings, how to make the task, this task's
   defaults), which ``pyproject.toml`` declares in the entry-point group ``sape_geo.tasks``; installing the
   package adds ``sape-geo ripple`` with every shared option (method, loop, output);
4. a one-call Python function (:func:`fit_ripple`) on :func:`sape_geo.run_plugin`, the run path every task
   shares.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from sape_geo import Batch, MaskDomain, RunResult, Task, TaskPlugin, run_plugin

DEFAULT_STEPS = 500
DEFAULT_SIGMA = 8.0


def ripple(x: np.ndarray, y: np.ndarray, frequency: float) -> np.ndarray:
    """A smooth bump for ``x <= 0``, concentric ripples of ``frequency`` cycles per unit for ``x > 0``."""
    smooth = 0.5 * np.exp(-4.0 * ((x + 0.5) ** 2 + y**2))
    rippled = 0.5 * np.sin(2.0 * np.pi * frequency * np.hypot(x - 0.5, y))
    return np.where(x <= 0.0, smooth, rippled)


@dataclass(frozen=True)
class RippleSettings:
    """Settings of the ripple task.

    Attributes
    ----------
    resolution : training samples per side of the grid on ``[-1, 1]^2`` (SAPE keeps one progress node each).
    frequency : ripples per unit on the right half.
    """

    resolution: int = 32
    frequency: float = 3.0

    def __post_init__(self) -> None:
        if self.resolution < 4:
            raise ValueError(f"resolution must be at least 4, got {self.resolution}")
        if not self.frequency > 0:
            raise ValueError(f"frequency must be positive, got {self.frequency}")


class RippleTask(Task):
    """Fit ``z = f(x, y)`` on a grid of samples; per-point loss = squared error."""

    name = "ripple"
    in_dim = 2
    out_dim = 1

    def __init__(self, settings: RippleSettings = RippleSettings()) -> None:
        self.settings = settings
        axis = np.linspace(-1.0, 1.0, settings.resolution)
        x, y = np.meshgrid(axis, axis, indexing="xy")
        self.points = torch.tensor(np.column_stack([x.ravel(), y.ravel()]), dtype=torch.float32)
        self.values = torch.tensor(ripple(x, y, settings.frequency).ravel(), dtype=torch.float32)[:, None]
        self.index = torch.arange(self.points.shape[0])

    def mask_domain(self) -> MaskDomain:
        return MaskDomain("grid", resolution=(self.settings.resolution,) * 2)

    def to(self, device: torch.device) -> None:
        self.points, self.values, self.index = self.points.to(device), self.values.to(device), self.index.to(device)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        return Batch(self.points, self.index, {"target": self.values})

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        per_point = ((output - batch.data["target"]) ** 2).sum(dim=1)
        return per_point.mean(), per_point

    def predict(self, model) -> np.ndarray:
        """The network on the grid, ``(resolution, resolution)``."""
        size = self.settings.resolution
        return model(self.points)[:, 0].detach().cpu().numpy().reshape(size, size)

    def evaluate(self, model) -> dict[str, float]:
        prediction = self.predict(model)
        error = (prediction - self.values[:, 0].cpu().numpy().reshape(prediction.shape)) ** 2
        half = error.shape[1] // 2
        progress = self.progress_map(model)
        return {
            "mse_smooth_half": float(error[:, :half].mean()),
            "mse_rippled_half": float(error[:, half:].mean()),
            "progress_smooth_half_levels": float(progress[:, :half].mean()),
            "progress_rippled_half_levels": float(progress[:, half:].mean()),
        }

    def progress_map(self, model) -> np.ndarray:
        size = self.settings.resolution
        return model.progress(self.points).detach().cpu().numpy().reshape(size, size)

    def product(self, model) -> dict[str, np.ndarray]:
        """``prediction``: the fitted grid ``(resolution, resolution)``, returned in ``RunResult.extras``."""
        return {"prediction": self.predict(model)}

    def export(self, model, run) -> None:
        run.write_array("result.npy", self.predict(model).astype(np.float32))

    def describe(self) -> dict:
        return {"task": self.name, **asdict(self.settings)}


def _summarise(result: RunResult) -> list[str]:
    m = result.metrics
    return [f"MSE smooth half {m['mse_smooth_half']:.2e}   rippled half {m['mse_rippled_half']:.2e}"]


PLUGIN = TaskPlugin(
    name="ripple",
    summary="example plugin: a 2-D function, smooth on the left, rippled on the right",
    description=(
        "Fit z = f(x, y) on a grid of samples of [-1, 1]^2: a smooth bump on the left half, ripples on the\n"
        "right. Writes RUN/result.npy (the fitted grid) and the usual run files.\n\n"
        "example: sape-geo ripple --method sape-ff --out runs/ripple"
    ),
    settings=RippleSettings,
    make_task=RippleTask,  # called as make_task(settings, **inputs); this task has no inputs
    defaults={"steps": DEFAULT_STEPS, "sigma": DEFAULT_SIGMA, "num_hidden_layers": 2},
    summarise=_summarise,
)


def fit_ripple(method: str = "sape-ff", out=None, settings: RippleSettings | None = None, **overrides) -> RunResult:
    """Python API: fit the ripple function with ``method``; ``out`` is the run directory (None: none);
    ``overrides`` are settings of the task, the loop or the method (``steps=100``, ``resolution=16``)."""
    return run_plugin(PLUGIN, {}, settings, method, out, **overrides)
