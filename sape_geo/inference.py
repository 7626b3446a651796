"""Evaluating a trained field on many points without holding every activation in memory at once.

Dense outputs (every pixel of an image, a marching-cubes grid, a million IoU samples) are far larger
than a training batch; these helpers run the network chunk by chunk under ``torch.no_grad``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sape_geo.networks import FieldModel

DEFAULT_CHUNK = 65536


def _model_device(model: FieldModel) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def predict_in_chunks(model: FieldModel, coords: Tensor, chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """The network's output at ``coords`` ``(N, d)`` -> ``(N, out_dim)`` on the CPU, ``chunk_size`` at a time.

    Coordinates are moved to the model's device chunk by chunk, so the caller may keep them on the CPU.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    device = _model_device(model)
    parts = [model(coords[start:start + chunk_size].to(device)).cpu() for start in range(0, coords.shape[0], chunk_size)]
    if not parts:
        return torch.zeros(0, model.out_dim)
    return torch.cat(parts)


@torch.no_grad()
def progress_in_chunks(model: FieldModel, coords: Tensor, chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """The heat map (encoding levels open) at ``coords`` ``(N, d)`` -> ``(N,)`` on the CPU."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    device = _model_device(model)
    parts = [model.progress(coords[start:start + chunk_size].to(device)).cpu() for start in range(0, coords.shape[0], chunk_size)]
    if not parts:
        return torch.zeros(0)
    return torch.cat(parts)
