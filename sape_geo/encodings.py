"""Input encodings whose channels are sorted by Lipschitz constant and grouped into levels.

Every encoding maps coordinates ``(N, d)`` in the normalised domain ``[-1, 1]^d`` to features ``(N, n)``.
The first ``d`` channels are the identity (level 0, always on); the remaining channels are grouped into
levels ``1..L`` in ascending order of Lipschitz constant, so a mask can open them coarse to fine
(docs/method.md, "Encodings"). Each encoding is built from its typed settings
(:mod:`sape_geo.encoding_settings`) by :meth:`Encoding.from_settings` and registered by
:func:`sape_geo.catalogue.register_encoding`. Each encoding exposes:

- ``out_dim``: ``n``, the number of channels;
- ``levels``: a ``(n,)`` long buffer with the level of each channel (non-decreasing);
- ``num_levels``: ``L``, the number of levels beyond the identity;
- ``level_lipschitz``: a ``(L + 1,)`` buffer with the Lipschitz constant of each level (identity: 1).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor, nn

from sape_geo.encoding_settings import FourierSettings, PositionalSettings, RBFSettings


# At most this many numbers (256 MiB in float32) of Fourier features are kept between steps for
# coordinates that do not change (FourierFeatures._fixed_cos_sin): enough for a 128k-vertex transfer
# source (33M numbers, where recomputing them took about 0.5 s of CPU per step), while a larger input
# is recomputed each step instead of adding that much memory.
FIXED_FEATURES_LIMIT = 2**26


def _check_in_dim(in_dim: int) -> None:
    if not isinstance(in_dim, int) or in_dim < 1:
        raise ValueError(f"in_dim must be a positive integer, got {in_dim!r}")


class Encoding(nn.Module):
    """Base class: identity channels first, then levels of increasing Lipschitz constant.

    Subclasses implement :meth:`encode_levels` for the channels beyond the identity and call
    :meth:`_set_levels` once in ``__init__``.
    """

    in_dim: int

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        _check_in_dim(in_dim)
        self.in_dim = in_dim

    @classmethod
    def from_settings(cls, in_dim: int, settings: Any, generator: torch.Generator) -> "Encoding":
        """The encoding of a method: ``cls(in_dim, **settings)``. An encoding whose arguments are named
        otherwise than its settings' fields, or that draws random numbers (from ``generator``, seeded
        by the run's seed), overrides this."""
        return cls(in_dim, **dataclasses.asdict(settings))

    def _set_levels(self, extra_levels: Tensor, level_lipschitz: Tensor) -> None:
        """Register the level of every non-identity channel and the Lipschitz constant per level.

        Parameters
        ----------
        extra_levels : (n - d,) long tensor of levels in 1..L, non-decreasing.
        level_lipschitz : (L,) float tensor, the Lipschitz constant of levels 1..L, non-decreasing.
        """
        identity = torch.zeros(self.in_dim, dtype=torch.long)
        levels = torch.cat([identity, extra_levels.long()])
        if levels.numel() > 1 and bool((levels[1:] < levels[:-1]).any()):
            raise AssertionError("encoding levels must be non-decreasing")
        self.register_buffer("levels", levels, persistent=True)
        lipschitz = torch.cat([torch.ones(1), level_lipschitz.float()])
        self.register_buffer("level_lipschitz", lipschitz, persistent=True)

    @property
    def out_dim(self) -> int:
        return int(self.levels.numel())

    @property
    def num_levels(self) -> int:
        """``L``: the number of maskable levels beyond the identity."""
        return int(self.level_lipschitz.numel()) - 1

    def encode_levels(self, coords: Tensor) -> Tensor:
        """Channels beyond the identity: ``(N, d) -> (N, n - d)``."""
        raise NotImplementedError

    def _check_coords(self, coords: Tensor) -> None:
        if coords.ndim != 2 or coords.shape[1] != self.in_dim:
            raise ValueError(f"expected coordinates of shape (N, {self.in_dim}), got {tuple(coords.shape)}")

    def forward(self, coords: Tensor) -> Tensor:
        """Encode ``coords`` ``(N, d)`` into ``(N, n)``: identity channels, then the levels in order."""
        self._check_coords(coords)
        if self.num_levels == 0:
            return coords
        return torch.cat([coords, self.encode_levels(coords)], dim=1)

    def encode_levels_masked(self, coords: Tensor, ramps: Tensor) -> Tensor:
        """Channels beyond the identity times their level's openness; ``ramps`` is ``(N or 1, L)``.

        Subclasses whose levels have equal widths override this to scale per level without gathering
        an ``(N, n)`` mask.
        """
        return self.encode_levels(coords) * ramps[:, self.levels[self.in_dim :] - 1]

    def forward_masked(self, coords: Tensor, ramps: Tensor) -> Tensor:
        """``m * E(p)``: the encoding with level ``j`` scaled by ``ramps[:, j - 1]``, identity unscaled.

        Parameters
        ----------
        coords : (N, d) coordinates.
        ramps : (N, L) or (1, L) openness of levels ``1..L`` in ``[0, 1]``.
        """
        self._check_coords(coords)
        if self.num_levels == 0:
            return coords
        return torch.cat([coords, self.encode_levels_masked(coords, ramps)], dim=1)


class IdentityEncoding(Encoding):
    """No encoding: the raw coordinates only (the paper's "no encoding" baseline)."""

    def __init__(self, in_dim: int) -> None:
        super().__init__(in_dim)
        self._set_levels(torch.zeros(0, dtype=torch.long), torch.zeros(0))


class FourierFeatures(Encoding):
    """Random Fourier features ``cos(2 pi b_j . p), sin(2 pi b_j . p)``, one level per frequency.

    ``b_j`` is a random unit direction times a magnitude drawn from ``N(0, sigma^2)``; frequencies are
    sorted by ``|magnitude|`` so level ``j`` has the ``j``-th smallest Lipschitz constant ``2 pi |b_j|``.

    Parameters
    ----------
    in_dim : input dimension ``d``.
    num_frequencies : number of frequencies (levels); the paper uses 256.
    sigma : standard deviation of the frequency magnitudes, in cycles per unit of the input domain.
    generator : optional ``torch.Generator`` for reproducible frequencies.

    Example
    -------
    >>> enc = FourierFeatures(2, num_frequencies=4, sigma=5.0)
    >>> enc(torch.zeros(3, 2)).shape
    torch.Size([3, 10])
    """

    def __init__(
        self,
        in_dim: int,
        num_frequencies: int = FourierSettings.num_frequencies,
        sigma: float = FourierSettings.sigma,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(in_dim)
        if num_frequencies < 1:
            raise ValueError(f"num_frequencies must be >= 1, got {num_frequencies}")
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"sigma must be a positive finite number, got {sigma}")
        self.sigma = float(sigma)
        directions = torch.randn(num_frequencies, in_dim, generator=generator)
        directions = directions / directions.norm(dim=1, keepdim=True).clamp_min(1e-12)
        magnitudes = torch.randn(num_frequencies, generator=generator).abs() * sigma
        magnitudes, _ = torch.sort(magnitudes)
        self.register_buffer("frequencies", directions * magnitudes[:, None])  # (L, d) cycles per unit
        self.register_buffer("quarter_turn", torch.tensor([math.pi / 2, 0.0]), persistent=False)
        self._fixed: tuple[Tensor, Tensor, tuple[int, int], Tensor] | None = None  # see _fixed_cos_sin
        levels = torch.arange(1, num_frequencies + 1).repeat_interleave(2)
        self._set_levels(levels, 2 * math.pi * magnitudes)

    @classmethod
    def from_settings(cls, in_dim: int, settings: Any, generator: torch.Generator) -> "FourierFeatures":
        return cls(in_dim, settings.num_frequencies, settings.sigma, generator=generator)

    def _cos_sin(self, coords: Tensor) -> Tensor:
        """``(N, L, 2)``: cos and sin of each frequency side by side, so a level is a contiguous pair.

        One ``sin`` of ``phase + (pi / 2, 0)`` writes that layout directly; stacking separate cos and
        sin tensors costs more than computing them.
        """
        phase = (2 * math.pi) * (coords @ self.frequencies.T)  # (N, L)
        return torch.sin(phase[:, :, None] + self.quarter_turn)

    def _fixed_cos_sin(self, coords: Tensor) -> Tensor | None:
        """:meth:`_cos_sin` of coordinates that do not change between steps, computed once (the caller
        must not modify it); None when ``coords`` need a gradient or the features would hold more than
        :data:`FIXED_FEATURES_LIMIT` numbers.

        A fit that feeds the same coordinates every step (mesh transfer: the initialised vertices)
        would otherwise take the sine of the same phases each step: a tenth of the fit on a 8k-vertex
        source. The kept entry is recognised by the coordinate and frequency tensors themselves and
        their version counters, so an in-place change of either computes it again.
        """
        if coords.requires_grad or coords.shape[0] * self.frequencies.shape[0] * 2 > FIXED_FEATURES_LIMIT:
            return None
        versions = (coords._version, self.frequencies._version)
        kept = self._fixed
        if kept is None or kept[0] is not coords or kept[1] is not self.frequencies or kept[2] != versions:
            self._fixed = kept = (coords, self.frequencies, versions, self._cos_sin(coords))
        return kept[3]

    def encode_levels(self, coords: Tensor) -> Tensor:
        return self._cos_sin(coords).flatten(1)

    def encode_levels_masked(self, coords: Tensor, ramps: Tensor) -> Tensor:
        # In place: sin's backward needs its input, not its output, and a fresh (N, L, 2) buffer per
        # step costs as much as the multiplication itself.
        return self._cos_sin(coords).mul_(ramps[:, :, None]).flatten(1)

    def forward_masked(self, coords: Tensor, ramps: Tensor) -> Tensor:
        self._check_coords(coords)
        fixed = self._fixed_cos_sin(coords)
        if fixed is None:
            return super().forward_masked(coords, ramps)
        # the masked features are written straight into the output beside the identity channels (no
        # concatenation copy: on a 128k-vertex source each copy moves 130 MB per step)
        encoded = coords.new_empty(coords.shape[0], self.out_dim)
        encoded[:, : self.in_dim] = coords
        torch.mul(fixed, ramps[:, :, None], out=encoded[:, self.in_dim :].view(coords.shape[0], -1, 2))
        return encoded


class PositionalEncoding(Encoding):
    """NeRF-style positional encoding ``cos(2^k pi p_i), sin(2^k pi p_i)``, one level per octave ``k``.

    Parameters
    ----------
    in_dim : input dimension ``d``.
    num_octaves : number of octaves ``K`` (levels ``1..K`` hold octaves ``0..K-1``); at most 16 so
        ``2^k pi`` stays well inside float32 precision on ``[-1, 1]``.
    """

    def __init__(self, in_dim: int, num_octaves: int = PositionalSettings.num_octaves) -> None:
        super().__init__(in_dim)
        PositionalSettings(num_octaves)  # checks 1 <= num_octaves <= MAX_OCTAVES
        scales = math.pi * 2.0 ** torch.arange(num_octaves, dtype=torch.float32)
        self.register_buffer("scales", scales)  # (K,) radians per unit
        levels = torch.arange(1, num_octaves + 1).repeat_interleave(2 * in_dim)
        self._set_levels(levels, scales)

    def encode_levels(self, coords: Tensor) -> Tensor:
        phase = coords[:, None, :] * self.scales[None, :, None]  # (N, K, d)
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=2).flatten(1)

    def encode_levels_masked(self, coords: Tensor, ramps: Tensor) -> Tensor:
        phase = coords[:, None, :] * self.scales[None, :, None]
        return torch.cat([torch.cos(phase), torch.sin(phase)], dim=2).mul_(ramps[:, :, None]).flatten(1)


class RBFGrid(Encoding):
    """Gaussian radial basis functions on periodic regular grids, one level per bandwidth.

    Level ``j`` places ``n_j^d`` Gaussian bumps of bandwidth ``s_j`` at the nodes of a regular grid with
    spacing ``2 / n_j`` on the periodic domain ``[-1, 1)^d``, so ``n_j`` is about ``c / s_j``. Bandwidths
    shrink geometrically from ``max_bandwidth`` to ``min_bandwidth``; the Lipschitz constant of a bump is
    proportional to ``1 / s_j``, so levels are sorted by descending bandwidth.

    Parameters
    ----------
    in_dim : input dimension ``d``.
    num_levels : number of bandwidths ``L``.
    min_bandwidth, max_bandwidth : Gaussian standard deviations in units of the ``[-1, 1]`` domain.
    nodes_per_bandwidth : grid nodes per bandwidth along an axis (spacing = bandwidth / this), default 1.
    max_channels : cap on the total number of channels; the finest levels' grids are coarsened to fit.
    """

    def __init__(
        self,
        in_dim: int,
        num_levels: int = RBFSettings.rbf_levels,
        min_bandwidth: float = RBFSettings.rbf_min_bandwidth,
        max_bandwidth: float = RBFSettings.rbf_max_bandwidth,
        nodes_per_bandwidth: float = 1.0,
        max_channels: int = RBFSettings.rbf_max_channels,
    ) -> None:
        super().__init__(in_dim)
        if num_levels < 1:
            raise ValueError(f"num_levels must be >= 1, got {num_levels}")
        if not 0 < min_bandwidth <= max_bandwidth:
            raise ValueError(f"need 0 < min_bandwidth <= max_bandwidth, got {min_bandwidth}, {max_bandwidth}")
        bandwidths = torch.logspace(math.log10(max_bandwidth), math.log10(min_bandwidth), num_levels)
        budget_per_level = max(1, max_channels // num_levels)
        cap = max(1, int(math.floor(budget_per_level ** (1.0 / in_dim))))
        nodes = [min(cap, max(1, math.ceil(2.0 * nodes_per_bandwidth / float(s)))) for s in bandwidths]
        centres, widths, levels = [], [], []
        for level, (count, bandwidth) in enumerate(zip(nodes, bandwidths.tolist()), start=1):
            axis = -1.0 + 2.0 * torch.arange(count, dtype=torch.float32) / count
            grid = torch.stack(torch.meshgrid(*([axis] * in_dim), indexing="ij"), dim=-1).reshape(-1, in_dim)
            centres.append(grid)
            widths.append(torch.full((grid.shape[0],), bandwidth))
            levels.append(torch.full((grid.shape[0],), level, dtype=torch.long))
        self.register_buffer("centres", torch.cat(centres))  # (n - d, d)
        self.register_buffer("bandwidths", torch.cat(widths))  # (n - d,)
        self.nodes_per_level = tuple(nodes)
        # Lipschitz constant of exp(-r^2 / (2 s^2)) is exp(-1/2) / s.
        self._set_levels(torch.cat(levels), math.exp(-0.5) / bandwidths)

    @classmethod
    def from_settings(cls, in_dim: int, settings: Any, generator: torch.Generator) -> "RBFGrid":
        s = settings  # RBFSettings: the rbf_* options of MethodConfig
        return cls(in_dim, s.rbf_levels, s.rbf_min_bandwidth, s.rbf_max_bandwidth, max_channels=s.rbf_max_channels)

    def encode_levels(self, coords: Tensor) -> Tensor:
        squared = torch.zeros(coords.shape[0], self.centres.shape[0], dtype=coords.dtype, device=coords.device)
        for axis in range(self.in_dim):  # one (N, C) buffer at a time instead of (N, C, d)
            offset = coords[:, axis, None] - self.centres[None, :, axis]
            offset = torch.remainder(offset + 1.0, 2.0) - 1.0  # periodic distance on [-1, 1)
            squared = squared + offset * offset
        exponent = 0.5 * squared / (self.bandwidths * self.bandwidths)
        # Far from a bump exp() underflows into subnormal floats (and so do their products with
        # gradients), which make the next layer's matrix products several times slower on CPUs; values
        # below exp(-40) ~ 4e-18 are set to exactly 0 instead.
        return torch.exp(-exponent).masked_fill(exponent > 40.0, 0.0)
