"""Coordinate networks: an encoded ReLU MLP behind a mask policy, and SIREN.

Every network is a :class:`FieldModel`: ``forward(coords, index) -> (N, out_dim)``, plus the hooks the
fitting loop calls (``feedback`` after each step, ``progress`` for heat maps). Networks without a mask
(SIREN) keep those hooks as no-ops so every method runs through the same loop.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from sape_geo.config import MethodConfig, ModelSpec
from sape_geo.encodings import Encoding
from sape_geo.masks import MaskPolicy


class FieldModel(nn.Module):
    """Base class of every network the fitting loop trains.

    Subclasses implement ``forward(coords (N, d), index (N,) | None) -> (N, out_dim)``.

    Attributes
    ----------
    in_dim, out_dim : input and output sizes.
    spec : how the network was built (:func:`~sape_geo.methods.build_model` sets it; ``model.pt``
        stores it so :func:`~sape_geo.experiment.load_model` can rebuild the network). None for a
        network built by hand.
    """

    in_dim: int
    out_dim: int
    spec: "ModelSpec | None" = None

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Adam parameter groups for :func:`~sape_geo.fitting.fit`: every parameter at the base
        learning rate. A group may carry ``lr_scale`` (its rate = base rate x scale); SASNet gives its
        mask network its own."""
        return [{"params": list(self.parameters()), "lr_scale": 1.0}]

    def feedback(self, coords: Tensor, per_point_loss: Tensor, index: Tensor | None = None) -> None:
        """Called once after each optimisation step with the step's per-point loss ``(N,)``."""

    def progress(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        """Frequency heat map ``(N,)``: how many encoding levels are open at each point."""
        return torch.zeros(coords.shape[0], dtype=coords.dtype, device=coords.device)

    def mask_mean_progress(self) -> float:
        """Mean progress over the mask's own locations (grid nodes, samples; 0 without a mask): what the
        progress bar and ``history.csv`` show. ``metrics.json``'s ``mean_progress`` is the mean of the
        task's heat map (vertices, pixels, curve points) instead."""
        return 0.0

    @property
    def max_progress(self) -> float:
        """The largest value :meth:`progress` can take (the number of levels), for colour scales."""
        return 0.0


def relu_mlp(in_dim: int, hidden_dim: int, num_hidden_layers: int, out_dim: int) -> nn.Sequential:
    """``num_hidden_layers`` ReLU layers of width ``hidden_dim``, then a linear output layer."""
    if num_hidden_layers < 1 or hidden_dim < 1:
        raise ValueError("an MLP needs at least one hidden layer of positive width")
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(num_hidden_layers):
        layers += [nn.Linear(width, hidden_dim), nn.ReLU(inplace=True)]
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class MaskedEncodingMLP(FieldModel):
    """``f_theta(m(t, p) * E(p))``: encoding, mask, ReLU MLP (docs/method.md, "The network").

    Parameters
    ----------
    encoding : the encoding ``E`` (its levels define the mask's levels).
    mask : the mask policy over ``encoding.num_levels`` levels.
    out_dim : output size.
    hidden_dim, num_hidden_layers : the MLP (paper: 3 x 256 for images, 2 x 256 for curves).
    zero_output : start the last layer at zero so the output is exactly 0 at step 0 (used to learn a
        correction on top of an initialisation).
    """

    def __init__(
        self,
        encoding: Encoding,
        mask: MaskPolicy,
        out_dim: int,
        hidden_dim: int = MethodConfig.hidden_dim,
        num_hidden_layers: int = MethodConfig.num_hidden_layers,
        zero_output: bool = False,
    ) -> None:
        super().__init__()
        if mask.num_levels != encoding.num_levels:
            raise ValueError(f"mask has {mask.num_levels} levels but the encoding has {encoding.num_levels}")
        self.encoding = encoding
        self.mask = mask
        self.in_dim = encoding.in_dim
        self.out_dim = int(out_dim)
        self.mlp = relu_mlp(encoding.out_dim, hidden_dim, num_hidden_layers, out_dim)
        if zero_output:
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        if self.encoding.num_levels == 0:
            return self.mlp(self.encoding(coords))
        with torch.no_grad():  # the mask is a schedule, not a function to differentiate
            ramps = self.mask.level_ramps(coords.detach(), index)
        return self.mlp(self.encoding.forward_masked(coords, ramps))

    def feedback(self, coords: Tensor, per_point_loss: Tensor, index: Tensor | None = None) -> None:
        self.mask.feedback(coords, per_point_loss, index)

    def progress(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        return self.mask.progress(coords, index)

    def mask_mean_progress(self) -> float:
        return self.mask.mean_progress()

    @property
    def max_progress(self) -> float:
        return float(self.encoding.num_levels)


class SineLayer(nn.Module):
    """``sin(omega_0 * (W x + b))`` with SIREN's initialisation (Sitzmann et al. 2020, Sec. 3.2).

    First layer: ``W ~ U(-1 / in, 1 / in)``; later layers: ``W ~ U(-sqrt(6 / in) / omega_0, +...)``.
    """

    def __init__(self, in_dim: int, out_dim: int, omega_0: float, is_first: bool) -> None:
        super().__init__()
        self.omega_0 = float(omega_0)
        self.linear = nn.Linear(in_dim, out_dim)
        bound = 1.0 / in_dim if is_first else math.sqrt(6.0 / in_dim) / self.omega_0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.omega_0 * self.linear(x))


def siren_output_layer(hidden_dim: int, out_dim: int, omega_0: float, zero_output: bool) -> nn.Linear:
    """SIREN's linear output layer: ``W ~ U(-sqrt(6 / hidden) / omega_0, +...)``, or all zeros."""
    head = nn.Linear(hidden_dim, out_dim)
    bound = math.sqrt(6.0 / hidden_dim) / omega_0
    with torch.no_grad():
        if zero_output:
            head.weight.zero_()
            head.bias.zero_()
        else:
            head.weight.uniform_(-bound, bound)
    return head


class Siren(FieldModel):
    """SIREN: sine layers with ``omega_0`` scaling and the published initialisation, linear output.

    Parameters
    ----------
    in_dim, out_dim : input and output sizes.
    hidden_dim, num_hidden_layers : width and number of sine layers.
    omega_0 : first-layer frequency scale (30 in the paper); hidden layers use ``hidden_omega``.
    zero_output : start the output layer at zero.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int = MethodConfig.hidden_dim,
        num_hidden_layers: int = MethodConfig.num_hidden_layers,
        omega_0: float = MethodConfig.omega_0,
        hidden_omega: float = 30.0,
        zero_output: bool = False,
    ) -> None:
        super().__init__()
        if num_hidden_layers < 1:
            raise ValueError("SIREN needs at least one sine layer")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        layers = [SineLayer(in_dim, hidden_dim, omega_0, is_first=True)]
        layers += [SineLayer(hidden_dim, hidden_dim, hidden_omega, is_first=False) for _ in range(num_hidden_layers - 1)]
        self.body = nn.Sequential(*layers)
        self.head = siren_output_layer(hidden_dim, out_dim, hidden_omega, zero_output)

    def forward(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        return self.head(self.body(coords))
