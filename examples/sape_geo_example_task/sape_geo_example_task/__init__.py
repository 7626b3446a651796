"""An example third-party sape-geo task: fit a 2-D function that is smooth on the left half of
``[-1, 1]^2`` and rippled on the right half, from a grid of samples.

Everything a task plugin needs is here, in four parts:

1. a settings dataclass (:class:`RippleSettings`);
2. a :class:`sape_geo.Task`: where SAPE keeps progress, the points of a step, the per-point loss, the
   metrics, the heat map, and the product it writes into the run directory;
3. a one-call Python function (:func:`fit_ripple`) that hands the task to :func:`sape_geo.run_task`;
4. a :class:`sape_geo.TaskPlugin` named ``PLUGIN``, which ``pyproject.toml`` declares in the entry-point
   group ``sape_geo.tasks``; installing the package adds ``sape-geo ripple``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from sape_geo import Batch, FitConfig, MethodConfig, RunResult, Task, TaskPlugin, run_task
from sape_geo.methods import MaskDomain
from sape_geo.registry import add_common_arguments, fit_config_from_args, method_config_from_args

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

    def export(self, model, run) -> None:
        run.write_array("result.npy", self.predict(model).astype(np.float32))

    def describe(self) -> dict:
        return {"task": self.name, **asdict(self.settings)}


def fit_ripple(method: str = "sape-ff", out=None, steps: int = DEFAULT_STEPS, settings: RippleSettings = RippleSettings(),
               **fit_options) -> RunResult:
    """Python API: fit the ripple function with ``method``; ``out`` is the run directory (None: none)."""
    return run_task(RippleTask(settings), MethodConfig(method, sigma=DEFAULT_SIGMA, num_hidden_layers=2),
                    FitConfig(steps=steps, **fit_options), out)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    task = parser.add_argument_group("task")
    task.add_argument("--resolution", type=int, default=RippleSettings.resolution, help="samples per side (default %(default)s)")
    task.add_argument("--frequency", type=float, default=RippleSettings.frequency, help="ripples per unit (default %(default)s)")
    add_common_arguments(parser, default_steps=DEFAULT_STEPS, default_hidden_layers=2)


def _run(args: argparse.Namespace) -> RunResult:
    task = RippleTask(RippleSettings(resolution=args.resolution, frequency=args.frequency))
    method = method_config_from_args(args, default_sigma=DEFAULT_SIGMA)
    return run_task(task, method, fit_config_from_args(args), args.out, args.overwrite, extra_config={"argv": vars(args)})


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
    add_arguments=_add_arguments,
    run=_run,
    summarise=_summarise,
)
