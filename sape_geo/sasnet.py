"""SASNet (Feng, Aldana, Novello, De Floriani, CVPR 2026, arXiv 2503.09750) as the method ``sasnet``.

A SIREN whose first layer is a **frozen frequency embedding**: neuron ``j`` computes
``sin(2 pi k_j . p / period + b_j)`` for a fixed integer vector ``k_j`` and a trainable phase ``b_j``.
The ``k_j`` are a low band (the axes ``e_i`` and the small integer vectors, ``|k|_inf <= low_range``)
and a high band (integer vectors up to ``|k|_inf <= bandlimit``) split into ``high_bands`` bands of
increasing ``|k|``. A **mask network** (a multiresolution hash grid, a small ReLU MLP, sigmoid outputs)
gives, per point, one value in ``[0, 1]`` for each high band of the first layer and for each neuron group
of every later sine layer; the values multiply those neurons' outputs. The masks play SAPE's role
(which frequencies are open where) but are learned jointly with the backbone by gradient instead of
being opened by a loss threshold (docs/method.md, "SASNet").

The first layer's frequencies are a buffer, not a parameter, so no optimiser can move them and the
parameter count is the trainable one. ``num_hidden_layers`` counts the sine layers including the frozen
one, as for ``siren``: ``sasnet`` and ``siren`` with the same ``hidden_dim`` and ``num_hidden_layers``
share the same backbone and differ only in the first layer's weights and the masks.

Settings beyond :class:`~sape_geo.methods.MethodConfig`'s sizes come through ``MethodConfig.options``,
for example ``MethodConfig("sasnet", options=(("bandlimit", 64), ("high_bands", 3)))``; see
:class:`SASNetSettings` for every key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from sape_geo.hashgrid import HashGrid
from sape_geo.config import MaskDomain, MethodConfig, ModelSpec
from sape_geo.encoding_settings import settings_from_options
from sape_geo.networks import FieldModel, SineLayer, siren_output_layer

# The authors' image setting: band limit 42 (about a third of a 256-sample grid's Nyquist frequency,
# 134 cycles per period) and a low band up to 9.
DEFAULT_BANDLIMIT = 42
BANDLIMIT_PER_NYQUIST = 1.0 / 3.0
LOW_RANGE_PER_BANDLIMIT = 9.0 / 42.0


@dataclass(frozen=True)
class SASNetSettings:
    """SASNet's own settings; the defaults follow the authors' image configuration (``tiger_d.yaml``)
    except the band limit (:meth:`for_domain`) and the mask network's learning rate.

    Attributes
    ----------
    bandlimit : largest integer frequency ``|k|_inf`` of the first layer (cycles per ``period``).
        None: derived from the task's sampling density by :meth:`for_domain`.
    low_range : the low band holds integer frequencies with ``|k|_inf <= low_range``. None: the
        authors' ratio to the band limit, ``9 / 42``.
    low_fraction : share of the first layer's neurons in the low band (the rest is the high band).
    high_bands : number of bands the high band is split into, by ``|k|``; each gets its own mask.
    hidden_groups : neuron groups per later sine layer; each group gets its own mask.
    period : spatial period of the first layer's sines, in units of the ``[-1, 1]`` domain. Slightly
        above 2 so the network is not forced to take equal values at ``-1`` and ``+1`` (pixel centres
        at both borders of an image).
    grid_levels, grid_features, grid_log2_table_size, grid_min_resolution, grid_max_resolution : the
        mask network's hash grid (see :class:`~sape_geo.hashgrid.HashGrid`).
    grid_init_std : standard deviation of the hash grid's initial features.
    mask_hidden : width of the mask network's hidden ReLU layer.
    mask_lr_scale : learning rate of the hash grid and mask MLP relative to the backbone's. The
        authors use 0.5 over 10 000 steps; over the few hundred steps of this toolkit's runs the masks
        then hardly leave their initial 0.5 (spatial spread 6e-4 after 400 steps on a 128 px image), so
        the default is 10: 1e-2 at the usual 1e-3, Instant-NGP's hash-grid learning rate
        (benchmarks/sasnet.md).
    """

    bandlimit: int | None = None
    low_range: int | None = None
    low_fraction: float = 0.5
    high_bands: int = 4
    hidden_groups: int = 8
    period: float = 2.0 / 0.95
    grid_levels: int = 10
    grid_features: int = 2
    grid_log2_table_size: int = 10
    grid_min_resolution: int = 8
    grid_max_resolution: int = 128
    grid_init_std: float = 1e-2
    mask_hidden: int = 48
    mask_lr_scale: float = 10.0

    def __post_init__(self) -> None:
        for name in ("bandlimit", "low_range", "high_bands", "hidden_groups", "grid_levels", "grid_features",
                     "grid_log2_table_size", "grid_min_resolution", "grid_max_resolution", "mask_hidden"):
            value = getattr(self, name)
            if value is None and name in ("bandlimit", "low_range"):
                continue
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"sasnet option {name} must be a positive integer, got {value!r}")
        if self.bandlimit is not None and self.low_range is not None and self.low_range >= self.bandlimit:
            raise ValueError(f"sasnet needs low_range < bandlimit, got {self.low_range} and {self.bandlimit}")
        if not 0.0 < self.low_fraction < 1.0:
            raise ValueError(f"sasnet option low_fraction must be in (0, 1), got {self.low_fraction!r}")
        for name in ("period", "mask_lr_scale"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"sasnet option {name} must be a positive finite number, got {value!r}")
        if not (math.isfinite(self.grid_init_std) and self.grid_init_std >= 0):
            raise ValueError(f"sasnet option grid_init_std must be >= 0, got {self.grid_init_std!r}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> "SASNetSettings":
        """Settings from ``MethodConfig.options``; unknown keys are an error (a typo must not pass silently)."""
        return settings_from_options(cls, options, "sasnet")

    def for_domain(self, domain: MaskDomain | None) -> "SASNetSettings":
        """These settings with the band limits filled in (the ones given are kept).

        The band limit is a third of the Nyquist frequency of the task's sampling grid (its mask
        domain's grid: the training pixels of an image, the samples of a 1-D signal, SAPE's grid of an
        occupancy field), in cycles per ``period``. About a third is the authors' ratio: ``bandlimit =
        42`` for an image of 256 samples per axis, whose Nyquist frequency is 134 cycles per ``2 / 0.95``;
        the SIREN layers after the first add the harmonics above it. A frequency far above the training
        Nyquist only aliases between the samples. Tasks with per-sample domains (no grid) get 42.
        """
        bandlimit = self.bandlimit
        if bandlimit is None:
            bandlimit = DEFAULT_BANDLIMIT
            if domain is not None and domain.kind == "grid":
                periodic = domain.periodic or (False,) * len(domain.resolution)
                # Nyquist = 1 / (2 spacing) with spacing 2 / r (periodic) or 2 / (r - 1), in cycles per unit.
                nyquist = max((r if wraps else r - 1) / 4.0 for r, wraps in zip(domain.resolution, periodic))
                bandlimit = max(2, round(nyquist * self.period * BANDLIMIT_PER_NYQUIST))
            if self.low_range is not None:
                bandlimit = max(bandlimit, self.low_range + 1)
        low_range = self.low_range if self.low_range is not None else min(bandlimit - 1, max(1, round(bandlimit * LOW_RANGE_PER_BANDLIMIT)))
        return dataclasses.replace(self, bandlimit=int(bandlimit), low_range=int(low_range))


def half_space_integer_vectors(in_dim: int, radius: int, exclude_radius: int = 0) -> Tensor:
    """Integer vectors ``k`` with ``exclude_radius < |k|_inf <= radius``, one of each pair ``+-k``.

    ``sin(-k . p + b) = -sin(k . p - b)``, so ``-k`` adds nothing a trainable phase and the next layer's
    weights cannot already express; keeping the half space (first non-zero coordinate positive) avoids
    spending neurons on such duplicates.

    Returns
    -------
    (M, in_dim) long tensor.
    """
    axis = torch.arange(-radius, radius + 1)
    grid = torch.stack(torch.meshgrid(*([axis] * in_dim), indexing="ij"), dim=-1).reshape(-1, in_dim)
    magnitude = grid.abs().amax(dim=1)
    nonzero = grid != 0
    first_nonzero = torch.where(nonzero.any(dim=1), nonzero.long().argmax(dim=1), torch.zeros_like(magnitude))
    leading_positive = grid.gather(1, first_nonzero[:, None])[:, 0] > 0
    return grid[leading_positive & (magnitude > exclude_radius)]


def _choose_rows(candidates: Tensor, count: int, generator: torch.Generator | None) -> Tensor:
    """``count`` rows: a random subset when there are enough, else all of them plus random repeats.

    A repeated frequency is still useful: its trainable phase differs, so the pair spans sin and cos.
    """
    if count <= candidates.shape[0]:
        return candidates[torch.randperm(candidates.shape[0], generator=generator)[:count]]
    extra = torch.randint(candidates.shape[0], (count - candidates.shape[0],), generator=generator)
    return torch.cat([candidates, candidates[extra]])


def frequency_bands(
    in_dim: int, width: int, settings: SASNetSettings, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """The first layer's integer frequencies and the band of each neuron.

    Parameters
    ----------
    in_dim : input dimension ``d``.
    width : number of first-layer neurons.
    settings : band limits and split (band limits left None take :meth:`SASNetSettings.for_domain`'s
        per-sample default).
    generator : source of the random choice of frequencies.

    Returns
    -------
    frequencies : (width, d) long tensor, integer cycles per ``settings.period``. The low band comes
        first and starts with the axes ``e_1..e_d``; then the high band sorted by ``|k|``.
    band : (width,) long tensor: 0 for the low band, ``1..high_bands`` for the high bands, non-decreasing.

    Example
    -------
    >>> k, band = frequency_bands(2, 64, SASNetSettings(high_bands=3))
    >>> k.shape, int(band.max())
    (torch.Size([64, 2]), 3)
    """
    settings = settings.for_domain(None)
    low_count = max(in_dim, round(settings.low_fraction * width))
    high_count = width - low_count
    if high_count < settings.high_bands:
        raise ValueError(
            f"a first layer of {width} neurons with low_fraction {settings.low_fraction} leaves {high_count} "
            f"high-frequency neurons, fewer than high_bands = {settings.high_bands}"
        )
    axes = torch.eye(in_dim, dtype=torch.long)
    low_candidates = half_space_integer_vectors(in_dim, settings.low_range)
    low_candidates = low_candidates[low_candidates.abs().sum(dim=1) > 1]  # the axes are already in
    low = torch.cat([axes, _choose_rows(low_candidates, low_count - in_dim, generator)])
    high = _choose_rows(half_space_integer_vectors(in_dim, settings.bandlimit, settings.low_range), high_count, generator)
    high = high[torch.argsort(high.double().norm(dim=1), stable=True)]
    # Equal-count bands along the sorted magnitudes: every band is non-empty for any width.
    band_sizes = [len(chunk) for chunk in torch.arange(high_count).tensor_split(settings.high_bands)]
    high_band = torch.repeat_interleave(torch.arange(1, settings.high_bands + 1), torch.tensor(band_sizes))
    return torch.cat([low, high]), torch.cat([torch.zeros(low_count, dtype=torch.long), high_band])


class MaskNetwork(nn.Module):
    """Hash grid -> ReLU layer -> linear -> sigmoid: ``(N, d) -> (N, num_masks)`` values in ``[0, 1]``."""

    def __init__(self, in_dim: int, num_masks: int, settings: SASNetSettings, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.grid = HashGrid(
            in_dim,
            num_levels=settings.grid_levels,
            features_per_level=settings.grid_features,
            log2_table_size=settings.grid_log2_table_size,
            min_resolution=settings.grid_min_resolution,
            max_resolution=settings.grid_max_resolution,
            init_std=settings.grid_init_std,
            generator=generator,
        )
        self.decoder = nn.Sequential(
            nn.Linear(self.grid.out_dim, settings.mask_hidden), nn.ReLU(), nn.Linear(settings.mask_hidden, num_masks)
        )

    def forward(self, coords: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(self.grid(coords)))


class SASNet(FieldModel):
    """Spatially-adaptive sinusoidal network: frozen frequency embedding, SIREN layers, learned masks.

    Parameters
    ----------
    in_dim, out_dim : input (1..3) and output sizes.
    hidden_dim : width of every sine layer (the first included).
    num_hidden_layers : sine layers, the frozen first one included (as :class:`~sape_geo.networks.Siren`).
    omega_0 : SIREN's frequency scale of the later sine layers (the first layer's scale is fixed by
        its integer frequencies and ``settings.period``).
    settings : frequency bands and the mask network (band limits left None: the per-sample default;
        :func:`build_sasnet` fills them from the task's sampling grid first).
    zero_output : start the output layer at zero.
    generator : source of the first layer's frequencies and the hash grid's initial features.

    Example
    -------
    >>> net = SASNet(2, 3, hidden_dim=32, num_hidden_layers=2, settings=SASNetSettings(high_bands=2, hidden_groups=4))
    >>> net(torch.zeros(5, 2)).shape, net.max_progress
    (torch.Size([5, 3]), 2.0)
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int = MethodConfig.hidden_dim,
        num_hidden_layers: int = MethodConfig.num_hidden_layers,
        omega_0: float = MethodConfig.omega_0,
        settings: SASNetSettings = SASNetSettings(),
        zero_output: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if num_hidden_layers < 1:
            raise ValueError("SASNet needs at least one sine layer (the frozen frequency embedding)")
        if num_hidden_layers > 1 and hidden_dim < settings.hidden_groups:
            raise ValueError(f"hidden_dim {hidden_dim} is smaller than hidden_groups {settings.hidden_groups}")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        settings = settings.for_domain(None)
        self.settings = settings
        integer_frequencies, band = frequency_bands(in_dim, hidden_dim, settings, generator)
        self.register_buffer("integer_frequencies", integer_frequencies)  # (W, d) cycles per period
        self.register_buffer("frequencies", 2.0 * math.pi * integer_frequencies.float() / settings.period)  # (W, d) rad/unit
        self.register_buffer("band", band)  # (W,) 0 = low, 1..B = high bands
        # Phases spread over a whole period so repeated frequencies give both sin and cos.
        self.phase = nn.Parameter(torch.empty(hidden_dim).uniform_(-math.pi, math.pi))
        self.hidden = nn.ModuleList(
            SineLayer(hidden_dim, hidden_dim, omega_0, is_first=False) for _ in range(num_hidden_layers - 1)
        )
        # Neuron -> its group within a later sine layer; groups are contiguous and as equal as possible.
        self.register_buffer("neuron_group", torch.arange(hidden_dim) * settings.hidden_groups // hidden_dim)
        self.head = siren_output_layer(hidden_dim, out_dim, omega_0, zero_output)
        self.num_masks = settings.high_bands + settings.hidden_groups * len(self.hidden)
        self.masks = MaskNetwork(in_dim, self.num_masks, settings, generator)
        self._last_progress: Tensor | None = None

    def mask_values(self, coords: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The masks at ``coords`` ``(N, d)``.

        Returns
        -------
        band_masks : (N, high_bands) values in [0, 1], one per high band of the first layer.
        group_masks : per later sine layer, (N, hidden_groups) values in [0, 1].
        """
        values = self.masks(coords)
        band_masks = values[:, : self.settings.high_bands]
        groups = values[:, self.settings.high_bands :].split(self.settings.hidden_groups, dim=1)
        return band_masks, list(groups)

    def forward(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        if coords.ndim != 2 or coords.shape[1] != self.in_dim:
            raise ValueError(f"expected coordinates of shape (N, {self.in_dim}), got {tuple(coords.shape)}")
        band_masks, group_masks = self.mask_values(coords)
        # The low band (band 0) is never masked: a column of ones in front of the band masks.
        band_or_low = torch.cat([torch.ones_like(band_masks[:, :1]), band_masks], dim=1)
        hidden = torch.sin(coords @ self.frequencies.T + self.phase) * band_or_low[:, self.band]
        for layer, mask in zip(self.hidden, group_masks):
            hidden = layer(hidden) * mask[:, self.neuron_group]
        if self.training:
            self._last_progress = band_masks.detach().sum(dim=1).mean()
        return self.head(hidden)

    def progress(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        """Heat map ``(N,)`` in ``[0, high_bands]``: the sum of the high-band masks.

        Like SAPE's progress it counts the high-frequency levels open at a point (a fully open band
        counts 1, a half-open one 0.5), so the viewer and benchmarks read both methods on one scale.
        """
        return self.mask_values(coords)[0].sum(dim=1)

    def mask_mean_progress(self) -> float:
        """Mean heat map over the points of the last training forward pass (0 before any)."""
        return float(self._last_progress) if self._last_progress is not None else 0.0

    @property
    def max_progress(self) -> float:
        return float(self.settings.high_bands)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Adam groups for :func:`~sape_geo.fitting.fit`: the backbone at the base learning rate, the
        hash grid and mask MLP at ``mask_lr_scale`` times it."""
        mask_parameters = list(self.masks.parameters())
        mask_ids = {id(parameter) for parameter in mask_parameters}
        backbone = [parameter for parameter in self.parameters() if id(parameter) not in mask_ids]
        return [
            {"params": backbone, "lr_scale": 1.0},
            {"params": mask_parameters, "lr_scale": self.settings.mask_lr_scale},
        ]


def build_sasnet(spec: ModelSpec, generator: torch.Generator) -> SASNet:
    """The ``sasnet`` method: sizes from ``spec.method``, SASNet settings from its ``options``, band
    limits not given there from the task's sampling grid (:meth:`SASNetSettings.for_domain`)."""
    method = spec.method
    return SASNet(
        spec.in_dim,
        spec.out_dim,
        method.hidden_dim,
        method.num_hidden_layers,
        method.omega_0,
        SASNetSettings.from_options(dict(method.options)).for_domain(spec.domain),
        spec.zero_output,
        generator,
    )



def check_sasnet_options(options: dict[str, Any]) -> None:
    """Validate ``MethodConfig.options`` of ``sasnet`` (raises ``ValueError`` naming a bad key or value)."""
    SASNetSettings.from_options(options)
