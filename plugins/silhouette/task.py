"""The silhouette task (docs/method.md, "Silhouettes"): a closed curve ``s in [0, 1) -> R^2`` fitted to an outline.

The network first learns the unit circle ``(cos 2 pi s, sin 2 pi s)`` (:func:`calibrate_to_circle`,
its own small task run through :func:`sape_geo.fitting.fit` with the mask held still), then the
outline, in a frame where the outline is centred and fits the unit disc. The default data term is
order-aware: curve point ``k`` is pulled to the outline sample that follows the others in order
(:func:`~sape_geo.geometry.polygon.ordered_correspondence`), so the curve traces the outline once
instead of covering it as a point set; the paper's symmetric Chamfer distance is kept as
``data_term="chamfer"``. Each curve point's squared misfit is the local loss that drives SAPE on a
periodic 1-D grid over ``s`` (or per curve point), except on stretches that are tangling
(:class:`~sape_geo_plugins.silhouette.validity.SimpleCurveGuard`), which open no higher frequencies.
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.arrays import from_tensor
from sape_geo.fitting import Batch, FitConfig, Task, fit
from sape_geo.geometry.alignment import normalising_transform
from sape_geo.geometry.chamfer import mean_per_nearest, nearest_squared_distances
from sape_geo.geometry.polygon import intersection_points, ordered_correspondence, resample_closed_polyline, self_intersections
from sape_geo.config import MaskDomain
from sape_geo.metrics import intersection_over_union
from sape_geo.networks import FieldModel, MaskedEncodingMLP
from sape_geo.regression import PointRegression
from sape_geo.atomic import write_text_atomic
from sape_geo.provenance import describe_input_file
from sape_geo.runs import RunDirectory

from sape_geo_plugins.silhouette.outline import SilhouetteTarget, load_silhouette, silhouette_from_array
from sape_geo_plugins.silhouette.settings import SilhouetteSettings
from sape_geo_plugins.silhouette.validity import SimpleCurveGuard



def curve_parameters(points: int) -> Tensor:
    """Network inputs ``(points, 1)``: ``s_k = k / points`` mapped to the core's domain as ``2 s - 1``.

    ``s`` is periodic: ``s = 1`` is ``s = 0`` again, so the last point is not repeated.
    """
    s = torch.arange(points, dtype=torch.float32) / points
    return (2.0 * s - 1.0)[:, None]


def unit_circle(coords: Tensor) -> Tensor:
    """``(cos 2 pi s, sin 2 pi s)`` for inputs ``2 s - 1`` ``(N, 1)`` -> ``(N, 2)``."""
    angle = math.pi * (coords[:, 0] + 1.0)
    return torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


class HeldMask(FieldModel):
    """A network whose mask policy ignores feedback: a fit through it changes the weights only.

    Calibration must not open frequencies (the mask would then differ between calibration and the
    real fit, and the calibrated circle would not be what the real fit starts from).
    """

    def __init__(self, model: FieldModel) -> None:
        super().__init__()
        self.model = model
        self.in_dim, self.out_dim = model.in_dim, model.out_dim

    def forward(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        return self.model(coords, index)

    def mask_mean_progress(self) -> float:
        return self.model.mask_mean_progress()


def silence_closed_channels(model: FieldModel, coords: Tensor) -> int:
    """Zero the first-layer weights of encoding channels the mask keeps closed at ``coords`` now.

    A closed channel's weights get no gradient, so they stay random until its level opens; opening it
    would then add random oscillations to the calibrated curve (with SAPE's schedule, dozens of levels
    open within a few hundred steps). Started at zero, a level contributes nothing when it opens and
    grows by gradient only where the loss asks for it. Open channels (every channel of a static
    encoding) keep their initialisation. Returns the number of channels silenced.
    """
    if not isinstance(model, MaskedEncodingMLP) or model.encoding.num_levels == 0:
        return 0
    with torch.no_grad():
        index = torch.arange(coords.shape[0], device=coords.device)
        mask = model.mask.channel_mask(coords, model.encoding.levels, index)
        closed = mask.amax(dim=0) == 0
        model.mlp[0].weight[:, closed] = 0.0
    return int(closed.sum())


def calibrate_to_circle(model: FieldModel, coords: Tensor, fit_config: FitConfig, steps: int, lr: float) -> dict[str, float]:
    """Fit ``model`` to the unit circle at ``coords`` with its mask as built (Adam, constant ``lr``).

    Channels the mask keeps closed are silenced first (:func:`silence_closed_channels`).

    Returns
    -------
    Metrics of the stage: ``calibration_steps``, ``calibration_mse`` (mean squared distance to the
    circle at the end, normalised units) and ``calibration_seconds``.
    """
    silenced = silence_closed_channels(model, coords)
    if steps == 0:
        return {"calibration_steps": 0, "calibration_silenced_channels": silenced}
    task = PointRegression(coords, unit_circle(coords))
    config = fit_config.replace(steps=steps, lr=lr, lr_schedule="constant", early_stop_patience=None, snapshot_every=0)
    result = fit(task, HeldMask(model), config)
    with torch.no_grad():
        device = next(model.parameters()).device
        task.to(device)
        mse = float(task.loss(model(task.coords, task.index), task.batch(0, torch.Generator()))[0])
    return {
        "calibration_steps": result.steps_done,
        "calibration_mse": mse,
        "calibration_seconds": result.seconds,
        "calibration_silenced_channels": silenced,
    }


class SilhouetteFit(Task):
    """The network's closed curve fitted to a target outline, in order (or by Chamfer), kept simple.

    Parameters
    ----------
    target : the outline and the region it encloses (:func:`~sape_geo_plugins.silhouette.outline.load_silhouette`).
    settings : task settings.
    """

    name = "silhouette"
    in_dim = 1
    out_dim = 2

    def __init__(self, target: SilhouetteTarget, settings: SilhouetteSettings = SilhouetteSettings()) -> None:
        self.target = target
        self.settings = settings
        # the outline centred on its bounding box, inside the unit disc
        self.frame = normalising_transform(target.outline, 1.0, fit="radius")
        self.to_input = self.frame.inverse()
        samples = resample_closed_polyline(target.outline, settings.target_samples)
        self.target_points = torch.tensor(self.frame.apply(samples), dtype=torch.float32)
        self.coords = curve_parameters(settings.points)
        self.index = torch.arange(settings.points)
        # The fit starts from the calibrated unit circle, so the ordered targets follow the outline
        # from the sample nearest the circle's first point, in the circle's direction.
        ordered = ordered_correspondence(self.frame.apply(target.outline), unit_circle(self.coords).numpy())
        self.ordered_points = torch.tensor(ordered, dtype=torch.float32)
        self.guard = SimpleCurveGuard(self.normalised_curve, settings.points, settings.check_every)

    def mask_domain(self) -> MaskDomain:
        if self.settings.mask_resolution == 0:
            return MaskDomain("samples", num_samples=self.settings.points)
        return MaskDomain("grid", resolution=(self.settings.mask_resolution,), periodic=(True,))

    def to(self, device: torch.device) -> None:
        self.coords, self.index = self.coords.to(device), self.index.to(device)
        self.target_points = self.target_points.to(device)
        self.ordered_points = self.ordered_points.to(device)
        self.guard.to(device)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        return Batch(self.coords, self.index)

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """The data term (mean over curve points) and each point's squared misfit for SAPE.

        ``ordered``: the squared distance of point ``k`` to its ordered outline sample. ``chamfer``:
        the squared symmetric Chamfer distance; per point, its own squared distance plus the mean of the
        outline samples it is nearest to, so a point next to an outline feature it has not reached yet
        (a thin protrusion) reports that misfit too. Points on a tangling stretch report 0 when
        ``tangle_feedback`` is on.
        """
        if self.settings.data_term == "ordered":
            per_point = ((output - self.ordered_points) ** 2).sum(dim=1)
            total = per_point.mean()
            per_point = per_point.detach()
        else:
            curve_to_target, _ = nearest_squared_distances(output, self.target_points)
            target_to_curve, nearest_curve = nearest_squared_distances(self.target_points, output)
            total = curve_to_target.mean() + target_to_curve.mean()
            per_point = curve_to_target.detach() + mean_per_nearest(target_to_curve, nearest_curve, output.shape[0])
        if self.settings.tangle_feedback:
            per_point = per_point.masked_fill(self.guard.tangled, 0.0)
        return total, per_point

    def normalised_curve(self, model: FieldModel) -> np.ndarray:
        """The closed polyline ``(points, 2)`` in the normalised frame, float64."""
        return model(self.coords, self.index).detach().cpu().numpy().astype(np.float64)

    def callbacks(self) -> tuple[SimpleCurveGuard]:
        return (self.guard,)

    def initialise(self, model: FieldModel, fit_config: FitConfig) -> dict[str, float]:
        """Calibrate the network to the unit circle; the guard sees that circle before the first step
        (the simple state to fall back on)."""
        metrics = calibrate_to_circle(model, self.coords, fit_config, self.settings.calibration_steps, self.settings.calibration_lr)
        self.guard.start(model)
        return metrics

    def product(self, model: FieldModel) -> dict[str, Any]:
        """``curve``: the closed polyline ``(points, 2)`` in the input's coordinates; ``notes``: what the
        input reading decided (other shapes, holes)."""
        return {"curve": self.curve(model), "notes": list(self.target.notes)}

    def finish(self, model: FieldModel) -> dict[str, float]:
        return self.guard.finish(model)

    def curve(self, model: FieldModel) -> np.ndarray:
        """The closed polyline ``(points, 2)`` in the input's coordinates (pixels for images)."""
        return self.to_input.apply(self.normalised_curve(model))

    def progress_map(self, model: FieldModel) -> np.ndarray:
        return model.progress(self.coords, self.index).detach().cpu().numpy()

    def evaluate(self, model: FieldModel) -> dict[str, float]:
        curve = self.curve(model)
        scores = score_curve(curve, self.target)
        return {**scores, "curve_points": self.settings.points, "target_samples": self.settings.target_samples}

    def snapshot(self, model: FieldModel) -> dict[str, np.ndarray]:
        return {"curve": self.curve(model).astype(np.float32), "progress": self.progress_map(model)}

    def export(self, model: FieldModel, run: RunDirectory) -> None:
        from sape_geo_plugins.silhouette.plot import plot_silhouette_fit

        curve = self.curve(model)
        write_text_atomic(run.file("result.csv"), polyline_csv(curve))
        with run.atomic("result.png") as temporary:
            plot_silhouette_fit(
                temporary, curve, self.progress_map(model), self.target, float(getattr(model, "max_progress", 0.0)),
                crossings=intersection_points(curve, self_intersections(curve)),
            )

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.name,
            # A target built in memory (not read from a file) has no checksum to record.
            "input": describe_input_file(self.target.source) if self.target.source.is_file() else {"path": str(self.target.source)},
            "target": self.target.describe(),
            "normalised_frame": self.frame.to_dict(),
            **self.settings.__dict__,
        }


def polyline_csv(curve: np.ndarray) -> str:
    """One ``x,y`` vertex a line, no header, no repeated last vertex."""
    buffer = io.StringIO()
    np.savetxt(buffer, curve, delimiter=",", fmt="%.4f")
    return buffer.getvalue()


def score_curve(curve: np.ndarray, target: SilhouetteTarget) -> dict[str, float]:
    """IoU, Chamfer and Hausdorff distances and self-intersections of a closed curve against the target.

    ``self_intersections``: pairs of the curve's edges that cross, touch or overlap
    (:func:`~sape_geo.geometry.polygon.self_intersections`); 0 means a simple polygon, ``simple``.

    IoU: the curve's polygon and the target region, both filled even-odd at the pixel centres of the
    target's grid, grown wherever the shape touches the border or the curve leaves the grid so neither
    shape is cut off. Chamfer: symmetric, non-squared, between the curve's vertices and the outline
    resampled at one point per pixel of length, in pixels and in % of the outline's bounding-box diagonal.
    """
    crossings = int(len(self_intersections(curve)))
    grid = target.grid
    low = (curve.min(axis=0) - np.asarray(grid.origin)) / grid.spacing
    high = (curve.max(axis=0) - np.asarray(grid.origin)) / grid.spacing
    top = max(int(target.touches[0]), math.ceil(-low[1]))
    bottom = max(int(target.touches[1]), math.ceil(high[1] - (grid.height - 1)))
    left = max(int(target.touches[2]), math.ceil(-low[0]))
    right = max(int(target.touches[3]), math.ceil(high[0] - (grid.width - 1)))
    padded = grid.padded(top, bottom, left, right)
    region = np.pad(target.region, ((top, bottom), (left, right)))
    iou = intersection_over_union(padded.fill(curve), region)

    outline = target.outline
    perimeter = float(np.linalg.norm(np.roll(outline, -1, axis=0) - outline, axis=1).sum())
    dense = torch.tensor(resample_closed_polyline(outline, max(int(perimeter / grid.spacing), 8)))
    curve_tensor = torch.tensor(curve)
    curve_to_target = nearest_squared_distances(curve_tensor, dense)[0].sqrt()
    target_to_curve = nearest_squared_distances(dense, curve_tensor)[0].sqrt()
    chamfer = float(curve_to_target.mean() + target_to_curve.mean())
    hausdorff = float(max(curve_to_target.max(), target_to_curve.max()))
    diagonal = float(np.linalg.norm(outline.max(axis=0) - outline.min(axis=0)))
    unit = "px" if target.kind == "image" else "units"
    return {
        "iou": iou,
        f"chamfer_l1_{unit}": chamfer,
        "chamfer_l1_pct_diag": 100.0 * chamfer / diagonal,
        f"hausdorff_{unit}": hausdorff,
        "hausdorff_pct_diag": 100.0 * hausdorff / diagonal,
        "self_intersections": crossings,
        "simple": crossings == 0,
    }


def make_silhouette_task(settings: SilhouetteSettings, shape: Any) -> SilhouetteFit:
    """The task for ``shape``: an image or closed-polyline file, a loaded :class:`SilhouetteTarget`, or an
    array (a ``(K, 2)`` closed polyline or an image; :func:`silhouette_from_array`)."""
    shape = from_tensor(shape)
    if isinstance(shape, SilhouetteTarget):
        target = shape
    elif isinstance(shape, np.ndarray):
        target = silhouette_from_array(shape, settings.component)
    elif isinstance(shape, (str, os.PathLike)):
        target = load_silhouette(shape, settings.component)
    else:
        raise TypeError(f"shape must be an image or polyline file path, an array or a SilhouetteTarget, got {type(shape).__name__}")
    return SilhouetteFit(target, settings)
