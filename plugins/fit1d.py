"""1-D regression, the paper's Fig. 2 setting: a signal smooth on the left and oscillating fast on the
right, learned from a few dozen samples.

It is the smallest proof that the core works: with a high Fourier sigma, FF fits the samples but fills
the smooth half with high-frequency noise between them; SAPE opens high frequencies only where the
loss stays high (the oscillating half), so its heat map is low on the left and high on the right.

Command: ``sape-geo fit1d --method sape-ff --out RUN``. Python: :func:`fit_1d`.
"""

from __future__ import annotations

import argparse
import io
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from sape_geo.experiment import RunResult, run_task
from sape_geo.fitting import Batch, FitConfig, Task
from sape_geo.methods import MaskDomain, MethodConfig
from sape_geo.networks import FieldModel
from sape_geo.registry import TaskPlugin, add_common_arguments, fit_config_from_args, method_config_from_args
from sape_geo.runs import RunDirectory, write_text_atomic

SMOOTH_REGION = (-1.0, -0.1)
OSCILLATING_REGION = (0.1, 1.0)
DEFAULT_SIGMA = 12.0
DEFAULT_STEPS = 1500


def smooth_then_oscillating(x: np.ndarray, frequency: float = 6.0) -> np.ndarray:
    """``0.5 sin(pi (x + 1))`` on ``[-1, 0]`` (half a period), ``0.5 sin(2 pi frequency x)`` on ``(0, 1]``.

    Both halves are 0 at ``x = 0``, so the signal is continuous; only its frequency content changes.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.0, 0.5 * np.sin(np.pi * (x + 1.0)), 0.5 * np.sin(2.0 * np.pi * frequency * x))


@dataclass(frozen=True)
class Regression1DConfig:
    """Settings of the 1-D task.

    Attributes
    ----------
    train_samples : evenly spaced training samples on ``[-1, 1]`` (the SAPE grid has one node each).
    eval_samples : evenly spaced points where the result and the metrics are computed.
    frequency : oscillations per unit on the right half.
    """

    train_samples: int = 64
    eval_samples: int = 2001
    frequency: float = 6.0

    def __post_init__(self) -> None:
        if self.train_samples < 4 or self.eval_samples < 4:
            raise ValueError("need at least 4 training and 4 evaluation samples")
        if not (self.frequency > 0 and math.isfinite(self.frequency)):
            raise ValueError("frequency must be positive")


class Regression1D(Task):
    """Fit ``y = f(x)`` on a few dozen samples; per-point loss = squared error."""

    name = "fit1d"
    in_dim = 1
    out_dim = 1

    def __init__(self, config: Regression1DConfig = Regression1DConfig()) -> None:
        self.config = config
        x_train = np.linspace(-1.0, 1.0, config.train_samples)
        x_eval = np.linspace(-1.0, 1.0, config.eval_samples)
        self.x_train = torch.tensor(x_train, dtype=torch.float32)[:, None]
        self.y_train = torch.tensor(smooth_then_oscillating(x_train, config.frequency), dtype=torch.float32)[:, None]
        self.x_eval = torch.tensor(x_eval, dtype=torch.float32)[:, None]
        self.y_eval = torch.tensor(smooth_then_oscillating(x_eval, config.frequency), dtype=torch.float32)[:, None]
        self.sample_index = torch.arange(config.train_samples)

    def mask_domain(self) -> MaskDomain:
        # Grid nodes at the training samples: the density the paper found best (Fig. 7 right), and
        # progress can be read anywhere on [-1, 1] for the dense result.
        return MaskDomain("grid", resolution=(self.config.train_samples,))

    def to(self, device: torch.device) -> None:
        for name in ("x_train", "y_train", "x_eval", "y_eval", "sample_index"):
            setattr(self, name, getattr(self, name).to(device))

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        return Batch(self.x_train, self.sample_index, {"target": self.y_train})

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        per_point = ((output - batch.data["target"]) ** 2).sum(dim=1)
        return per_point.mean(), per_point

    def predict(self, model: FieldModel) -> np.ndarray:
        """The network on the evaluation points, ``(eval_samples,)``."""
        return model(self.x_eval)[:, 0].detach().cpu().numpy()

    def evaluate(self, model: FieldModel) -> dict[str, float]:
        prediction = self.predict(model)
        target = self.y_eval[:, 0].cpu().numpy()
        x = self.x_eval[:, 0].cpu().numpy()
        squared = (prediction - target) ** 2
        smooth = (x >= SMOOTH_REGION[0]) & (x <= SMOOTH_REGION[1])
        oscillating = (x >= OSCILLATING_REGION[0]) & (x <= OSCILLATING_REGION[1])
        progress = self.progress_map(model)
        train_error = (model(self.x_train)[:, 0] - self.y_train[:, 0]) ** 2
        return {
            "mse_all": float(squared.mean()),
            "mse_smooth_region": float(squared[smooth].mean()),
            "mse_oscillating_region": float(squared[oscillating].mean()),
            "mse_train": float(train_error.mean()),
            "progress_smooth_region_levels": float(progress[smooth].mean()),
            "progress_oscillating_region_levels": float(progress[oscillating].mean()),
        }

    def progress_map(self, model: FieldModel) -> np.ndarray:
        return model.progress(self.x_eval).detach().cpu().numpy()

    def snapshot(self, model: FieldModel) -> dict[str, np.ndarray]:
        return {"prediction": self.predict(model), "progress": self.progress_map(model)}

    def export(self, model: FieldModel, run: RunDirectory) -> None:
        x = self.x_eval[:, 0].cpu().numpy()
        prediction = self.predict(model)
        target = self.y_eval[:, 0].cpu().numpy()
        progress = self.progress_map(model)
        table = np.column_stack([x, target, prediction, progress])
        buffer = io.StringIO()
        np.savetxt(buffer, table, delimiter=",", header="x,target,prediction,progress", comments="", fmt="%.7g")
        write_text_atomic(run.file("result.csv"), buffer.getvalue())
        with run.atomic("result.png") as temporary:
            plot_regression(
                temporary, x, target, prediction, progress, self.x_train[:, 0].cpu().numpy(),
                self.y_train[:, 0].cpu().numpy(), float(getattr(model, "max_progress", 0.0)),
            )

    def describe(self) -> dict:
        return {"task": self.name, "signal": "smooth_then_oscillating", **self.config.__dict__}


def plot_regression(path, x, target, prediction, progress, x_train, y_train, max_progress: float) -> None:
    """Two panels: the fit against the signal and samples; the frequency heat map below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True, height_ratios=(3, 1), layout="constrained")
    top.plot(x, target, color="0.6", lw=2, label="signal")
    top.plot(x, prediction, color="tab:blue", lw=1.2, label="network")
    top.scatter(x_train, y_train, s=12, color="black", zorder=3, label="training samples")
    top.legend(loc="upper left", fontsize=8)
    top.set_ylabel("f(x)")
    extent = (x[0], x[-1], 0, 1)
    heat = bottom.imshow(progress[None, :], aspect="auto", cmap="inferno", extent=extent, vmin=0, vmax=max(max_progress, 1e-6))
    bottom.set_yticks([])
    bottom.set_xlabel("x")
    bottom.set_ylabel("heat map", fontsize=8)
    figure.colorbar(heat, ax=[top, bottom], location="right", shrink=0.35, anchor=(0.0, 0.0), label="levels open")
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)


def fit_1d(
    method: str | MethodConfig = "sape-ff",
    out: str | os.PathLike | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    config: Regression1DConfig = Regression1DConfig(),
    overwrite: bool = False,
    **fit_options,
) -> RunResult:
    """Python API: fit the 1-D signal with ``method`` and (optionally) write a run directory.

    Example
    -------
    >>> result = fit_1d("sape-ff", steps=300, progress_bar=False)  # doctest: +SKIP
    >>> result.metrics["mse_smooth_region"]  # doctest: +SKIP
    """
    method_config = method if isinstance(method, MethodConfig) else MethodConfig(name=method, sigma=DEFAULT_SIGMA, num_hidden_layers=2)
    return run_task(Regression1D(config), method_config, FitConfig(steps=steps, seed=seed, **fit_options), out, overwrite)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    task = parser.add_argument_group("task")
    task.add_argument("--train-samples", type=int, default=64, help="training samples on [-1, 1] (default 64)")
    task.add_argument("--frequency", type=float, default=6.0, help="oscillations per unit on the right half (default 6)")
    add_common_arguments(parser, default_steps=DEFAULT_STEPS, default_hidden_layers=2)


def _run(args: argparse.Namespace) -> RunResult:
    task = Regression1D(Regression1DConfig(train_samples=args.train_samples, frequency=args.frequency))
    method = method_config_from_args(args, default_sigma=DEFAULT_SIGMA)
    return run_task(task, method, fit_config_from_args(args), args.out, args.overwrite, extra_config={"argv": vars(args)})


def _summarise(result: RunResult) -> list[str]:
    m = result.metrics
    return [
        f"MSE smooth half {m['mse_smooth_region']:.2e}   oscillating half {m['mse_oscillating_region']:.2e}",
        f"heat map (levels open) smooth half {m['progress_smooth_region_levels']:.1f}   "
        f"oscillating half {m['progress_oscillating_region_levels']:.1f}   of {m['max_progress']:.0f}",
    ]


PLUGIN = TaskPlugin(
    name="fit1d",
    summary="1-D regression demo: smooth on the left, oscillating on the right (the paper's Fig. 2)",
    description=(
        "Fit a 1-D signal that is smooth on [-1, 0] and oscillates fast on (0, 1] from a few dozen evenly\n"
        "spaced samples. With a high Fourier sigma, ff fills the smooth half with noise between the samples;\n"
        "sape-ff opens high frequencies only where the loss stays above --epsilon, so its heat map is low\n"
        "on the left and high on the right.\n\n"
        "Writes RUN/result.csv (x, target, prediction, progress), RUN/result.png (plot + heat map) and the\n"
        "usual run files.\n\n"
        "example: sape-geo fit1d --method sape-ff --out runs/fit1d-sape"
    ),
    add_arguments=_add_arguments,
    run=_run,
    summarise=_summarise,
)
