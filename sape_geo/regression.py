"""The smallest task: regress fixed targets at fixed points (squared error per point).

The 1-D demo fits its signal with it, and the silhouette task calibrates its network to the unit
circle with it before the outline fit.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sape_geo.config import MaskDomain
from sape_geo.fitting import Batch, Task
from sape_geo.networks import FieldModel


class PointRegression(Task):
    """Fit ``targets`` ``(N, out_dim)`` at ``coords`` ``(N, in_dim)`` with full batches; the per-point
    loss is the squared error summed over the output channels, the total its mean.

    Parameters
    ----------
    coords, targets : the samples (float tensors on any device).
    domain : where SAPE keeps progress (default: one progress per sample).
    """

    name = "regression"

    def __init__(self, coords: Tensor, targets: Tensor, domain: MaskDomain | None = None) -> None:
        if coords.ndim != 2 or targets.ndim != 2 or coords.shape[0] != targets.shape[0]:
            raise ValueError(f"coords (N, d) and targets (N, k) must have one row per sample, got {tuple(coords.shape)} and {tuple(targets.shape)}")
        self.coords, self.targets = coords, targets
        self.index = torch.arange(coords.shape[0], device=coords.device)
        self.in_dim, self.out_dim = coords.shape[1], targets.shape[1]
        self.domain = domain if domain is not None else MaskDomain("samples", num_samples=coords.shape[0])

    def mask_domain(self) -> MaskDomain:
        return self.domain

    def to(self, device: torch.device) -> None:
        self.coords, self.targets, self.index = self.coords.to(device), self.targets.to(device), self.index.to(device)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        return Batch(self.coords, self.index, {"target": self.targets})

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        per_point = ((output - batch.data["target"]) ** 2).sum(dim=1)
        return per_point.mean(), per_point

    def progress_map(self, model: FieldModel) -> np.ndarray:
        return model.progress(self.coords, self.index).detach().cpu().numpy()
