"""The 1-D regression task (docs/method.md, "1-D regression"): data, loss, metrics and the plot."""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import Tensor

from sape_geo.config import MaskDomain
from sape_geo.networks import FieldModel
from sape_geo.regression import PointRegression
from sape_geo.atomic import write_text_atomic
from sape_geo.runs import RunDirectory

from .settings import Regression1DSettings

SMOOTH_REGION = (-1.0, -0.1)
OSCILLATING_REGION = (0.1, 1.0)


def smooth_then_oscillating(x: np.ndarray, frequency: float = 6.0) -> np.ndarray:
    """``0.5 sin(pi (x + 1))`` on ``[-1, 0]`` (half a period), ``0.5 sin(2 pi frequency x)`` on ``(0, 1]``.

    Both halves are 0 at ``x = 0``, so the signal is continuous; only its frequency content changes.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.0, 0.5 * np.sin(np.pi * (x + 1.0)), 0.5 * np.sin(2.0 * np.pi * frequency * x))


class Regression1D(PointRegression):
    """Fit ``y = f(x)`` on a few dozen samples (:class:`~sape_geo.regression.PointRegression`); the
    metrics, heat map and plot are read on a dense set of evaluation points."""

    name = "fit1d"

    def __init__(self, settings: Regression1DSettings = Regression1DSettings()) -> None:
        self.settings = settings
        x_train = np.linspace(-1.0, 1.0, settings.train_samples)
        x_eval = np.linspace(-1.0, 1.0, settings.eval_samples)
        # Grid nodes at the training samples: the density the paper found best (Fig. 7 right), and
        # progress can be read anywhere on [-1, 1] for the dense result.
        super().__init__(
            torch.tensor(x_train, dtype=torch.float32)[:, None],
            torch.tensor(smooth_then_oscillating(x_train, settings.frequency), dtype=torch.float32)[:, None],
            MaskDomain("grid", resolution=(settings.train_samples,)),
        )
        self.x_eval = torch.tensor(x_eval, dtype=torch.float32)[:, None]
        self.y_eval = torch.tensor(smooth_then_oscillating(x_eval, settings.frequency), dtype=torch.float32)[:, None]

    @property
    def x_train(self) -> Tensor:
        return self.coords

    @property
    def y_train(self) -> Tensor:
        return self.targets

    def to(self, device: torch.device) -> None:
        super().to(device)
        self.x_eval, self.y_eval = self.x_eval.to(device), self.y_eval.to(device)

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

    def product(self, model: FieldModel) -> dict[str, np.ndarray]:
        """``x`` ``(eval_samples,)`` and the network's ``prediction`` there."""
        return {"x": self.x_eval[:, 0].cpu().numpy(), "prediction": self.predict(model)}

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
        return {"task": self.name, "signal": "smooth_then_oscillating", **self.settings.__dict__}


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
