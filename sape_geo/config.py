"""The settings of a run, without importing torch: the loop (:class:`FitConfig`), the method
(:class:`MethodConfig`), where SAPE keeps progress (:class:`MaskDomain`) and everything needed to
rebuild a network (:class:`ModelSpec`).

They are frozen dataclasses whose fields are documented in their docstrings; the command line and the
batch runner are generated from those fields (:mod:`sape_geo.schema`), so a setting is stated once.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from sape_geo.catalogue import DEFAULT_METHOD, encoding_names, encoding_info, method_info
from sape_geo.encoding_settings import FourierSettings, RBFSettings, check_positive_int, check_positive_number

DEFAULT_OPEN_FRACTION = 0.5  # docs/method.md, "Progressive encoding": every level open by T / 2
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_open_fraction(open_fraction: float) -> None:
    """``open_fraction`` must be in ``(0, 1]`` (the fraction of the run by which every level may be open)."""
    if not (isinstance(open_fraction, (int, float)) and math.isfinite(open_fraction) and 0 < open_fraction <= 1):
        raise ValueError(f"open_fraction must be in (0, 1], got {open_fraction!r}")


def check_device_name(name: str) -> None:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether CUDA is present is checked when a fit starts)."""
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")


class _Settings:
    """``replace`` and ``to_dict`` for the frozen settings dataclasses."""

    def replace(self, **changes: Any):
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FitConfig(_Settings):
    """Settings of the optimisation loop (immutable).

    Attributes
    ----------
    steps : optimisation steps T (also the length SAPE's schedule is built for).
    lr : Adam learning rate.
    lr_schedule : constant, or cosine (decays to lr x lr_final_factor at the last step).
    lr_final_factor : the cosine schedule's last learning rate, as a fraction of lr.
    seed : seed of every random number generator (torch, numpy, python).
    device : auto (CUDA when present, else CPU), cpu, cuda or cuda:N.
    progress_bar : show a progress bar on stderr.
    early_stop_patience : stop when the loss has not improved by early_stop_min_delta (relative) for this
        many steps; none disables early stopping.
    early_stop_min_delta : the relative improvement early stopping waits for.
    divergence_factor : a finite loss above divergence_factor x max(first loss, best loss) counts as
        divergence (the last good state is restored).
    guard_every : steps between in-memory copies of the last good state.
    snapshot_every : save a playback frame every this many steps (0 = none).
    threads : CPU threads for torch (none = torch's default).
    max_seconds : stop after this many seconds of fitting, whatever the step (none: run every step). The
        schedules (learning rate, SAPE's levels) still span steps, so pick steps the budget roughly allows.
    """

    steps: int = 2000
    lr: float = 1e-3
    lr_schedule: str = field(default="constant", metadata={"choices": ("constant", "cosine")})
    lr_final_factor: float = 0.01
    seed: int = 0
    device: str = "auto"
    progress_bar: bool = True
    early_stop_patience: int | None = None
    early_stop_min_delta: float = 1e-4
    divergence_factor: float = 1e4
    guard_every: int = 25
    snapshot_every: int = field(default=0, metadata={"flag": "--snapshots", "metavar": "EVERY"})
    threads: int | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_seconds is not None and not (math.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise ValueError(f"max_seconds must be a positive number of seconds or None, got {self.max_seconds!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.early_stop_patience is not None and self.early_stop_patience < 1:
            raise ValueError("early_stop_patience must be >= 1 or None")
        if self.guard_every < 1:
            raise ValueError(f"guard_every must be >= 1, got {self.guard_every}")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0 (0 = no snapshots), got {self.snapshot_every}")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1")
        check_device_name(self.device)


@dataclass(frozen=True)
class MaskDomain:
    """Where a task keeps SAPE's progress (docs/method.md, "Spatially-adaptive progress (SAPE)").

    Attributes
    ----------
    kind : ``"samples"`` (one progress per training sample; batches carry sample indices) or ``"grid"``
        (a regular grid over the normalised input domain).
    num_samples : number of training samples (``kind == "samples"``).
    resolution : nodes per axis (``kind == "grid"``).
    periodic : per-axis wrap flags (``kind == "grid"``), e.g. ``(True,)`` for a closed curve.
    smoothing_steps : running-mean window for stochastic mini-batches; 1 for full batches.
    """

    kind: str = "samples"
    num_samples: int = 0
    resolution: tuple[int, ...] = ()
    periodic: tuple[bool, ...] = ()
    smoothing_steps: int = 1

    def __post_init__(self) -> None:
        if self.kind not in ("samples", "grid"):
            raise ValueError(f"mask domain kind must be 'samples' or 'grid', got {self.kind!r}")
        if self.kind == "samples" and self.num_samples < 1:
            raise ValueError("a per-sample mask domain needs num_samples >= 1")
        if self.kind == "grid" and (not self.resolution or min(self.resolution) < 1):
            raise ValueError(f"a grid mask domain needs a positive resolution, got {self.resolution}")
        object.__setattr__(self, "resolution", tuple(int(r) for r in self.resolution))
        object.__setattr__(self, "periodic", tuple(bool(p) for p in self.periodic))


@dataclass(frozen=True)
class MethodConfig(_Settings):
    """Every setting of a method; immutable so a second run can never inherit a mutated value.

    The encodings' fields (sigma, num_frequencies, rbf_*) are checked by their encoding's typed settings
    (:mod:`sape_geo.encoding_settings`) whatever the method, so a bad value is always refused;
    :meth:`encoding_settings` gives the settings of this method's encoding.

    Attributes
    ----------
    name : the method (see sape_geo.catalogue): an encoding times a mask policy, or a network of its own.
    sigma : Fourier features: standard deviation of the frequencies, in cycles per unit of the
        normalised [-1, 1] domain.
    num_frequencies : Fourier features: number of frequencies, which are SAPE's levels.
    hidden_dim : MLP (and SIREN) width.
    num_hidden_layers : MLP (and SIREN) hidden layers.
    omega_0 : SIREN's first-layer frequency scale.
    rbf_levels : RBF grid: number of bandwidth levels.
    rbf_min_bandwidth : RBF grid: finest bandwidth, in units of the [-1, 1] domain.
    rbf_max_bandwidth : RBF grid: the widest Gaussian, the coarsest level, in units of the [-1, 1] domain.
    rbf_max_channels : RBF grid: most channels of the whole encoding (the finest grids are coarsened to fit).
    epsilon : SAPE's loss threshold (the paper: 1e-3 for regression, 1e-2 for geometric tasks).
    open_fraction : progressive and SAPE schedules: every level can be open by this fraction of the steps,
        in (0, 1] (the paper: 0.5).
    options : method-specific settings as (key, value) pairs, e.g. bandlimit=64 for sasnet.
    """

    name: str = field(default=DEFAULT_METHOD, metadata={"flag": "--method", "metavar": "M"})
    # an encoding's own fields take their defaults from its settings: one value for both
    sigma: float = FourierSettings.sigma
    num_frequencies: int = field(default=FourierSettings.num_frequencies, metadata={"flag": "--frequencies"})
    hidden_dim: int = field(default=256, metadata={"flag": "--hidden"})
    num_hidden_layers: int = field(default=3, metadata={"flag": "--layers"})
    omega_0: float = field(default=30.0, metadata={"flag": "--omega0"})
    rbf_levels: int = RBFSettings.rbf_levels
    rbf_min_bandwidth: float = RBFSettings.rbf_min_bandwidth
    rbf_max_bandwidth: float = RBFSettings.rbf_max_bandwidth
    rbf_max_channels: int = RBFSettings.rbf_max_channels
    epsilon: float = 1e-3
    open_fraction: float = field(default=DEFAULT_OPEN_FRACTION, metadata={"metavar": "F"})
    options: tuple[tuple[str, Any], ...] = field(default=(), metadata={"flag": "--method-option", "metavar": "KEY=VALUE"})

    def __post_init__(self) -> None:
        info = method_info(self.name)
        check_positive_number("omega_0", self.omega_0)
        check_positive_int("hidden_dim", self.hidden_dim)
        check_positive_int("num_hidden_layers", self.num_hidden_layers)
        if not (isinstance(self.epsilon, (int, float)) and math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        check_open_fraction(self.open_fraction)
        shared = self.shared_fields()
        for encoding in encoding_names():  # the encodings' settings check the fields they read
            encoding_info(encoding).read_settings(shared, {}, self.name)
        object.__setattr__(self, "options", tuple(sorted(dict(self.options).items())))
        info.check(dict(self.options), shared)

    def shared_fields(self) -> dict[str, Any]:
        """The fields an encoding's settings may read (every field but ``name`` and ``options``)."""
        return {item.name: getattr(self, item.name) for item in dataclasses.fields(self) if item.name not in ("name", "options")}

    def encoding_settings(self) -> Any:
        """The typed settings of this method's encoding (e.g. ``FourierSettings(sigma, num_frequencies)``);
        ``ValueError`` for a method without an encoding (a network of its own)."""
        info = method_info(self.name)
        if info.encoding is None:
            raise ValueError(f"method {self.name} has no encoding (it is a network of its own)")
        return encoding_info(info.encoding).read_settings(self.shared_fields(), dict(self.options), self.name)

    def option(self, key: str, default: Any = None) -> Any:
        """A method-specific setting from :attr:`options`."""
        return dict(self.options).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["options"] = dict(self.options)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MethodConfig":
        data = dict(data)
        data["options"] = tuple(sorted(dict(data.get("options", {})).items()))
        return cls(**data)


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model before loading its weights (saved in ``model.pt``)."""

    method: MethodConfig
    in_dim: int
    out_dim: int
    total_steps: int
    domain: MaskDomain
    zero_output: bool = False
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method.to_dict(),
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "total_steps": self.total_steps,
            "domain": dataclasses.asdict(self.domain),
            "zero_output": self.zero_output,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelSpec":
        return cls(
            method=MethodConfig.from_dict(data["method"]),
            in_dim=int(data["in_dim"]),
            out_dim=int(data["out_dim"]),
            total_steps=int(data["total_steps"]),
            domain=MaskDomain(**data["domain"]),
            zero_output=bool(data["zero_output"]),
            seed=int(data["seed"]),
        )
