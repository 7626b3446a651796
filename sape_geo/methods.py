"""Methods by name, the same across every task: ``none siren ff pff sape-ff rbfg sape-rbfg``.

A method is a recipe that builds a :class:`~sape_geo.networks.FieldModel` from a
:class:`MethodConfig`, the task's input/output sizes, the step budget, and the task's
:class:`MaskDomain` (where SAPE's progress lives). New methods (for example ``sasnet``) join the same
table with :func:`register_method`, so every task and app picks them up by name.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from sape_geo.encodings import FourierFeatures, IdentityEncoding, RBFGrid
from sape_geo.masks import DEFAULT_OPEN_FRACTION, GridMask, MaskPolicy, ProgressiveMask, SampleMask, StaticMask, check_open_fraction
from sape_geo.networks import FieldModel, MaskedEncodingMLP, Siren

DEFAULT_METHOD = "sape-ff"


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
class MethodConfig:
    """Every setting of a method; immutable so a second run can never inherit a mutated value.

    Attributes
    ----------
    name : method name (see :func:`method_names`).
    sigma : Fourier-feature magnitude standard deviation, in cycles per unit of the ``[-1, 1]`` domain.
    num_frequencies : Fourier frequencies (levels) for ``ff``, ``pff``, ``sape-ff``.
    hidden_dim, num_hidden_layers : the MLP (and SIREN) size.
    omega_0 : SIREN's first-layer frequency scale.
    rbf_levels, rbf_min_bandwidth, rbf_max_bandwidth, rbf_max_channels : the RBF grid encoding.
    epsilon : SAPE's loss threshold (1e-3 for regression, 1e-2 for geometric tasks in the paper).
    open_fraction : progressive and SAPE schedules: the fraction of the run by which every level can be
        open, ``tau = open_fraction * T / L`` (the paper: 1/2).
    options : extra method-specific settings as ``(key, value)`` pairs (hashable, immutable).
    """

    name: str = DEFAULT_METHOD
    sigma: float = 10.0
    num_frequencies: int = 256
    hidden_dim: int = 256
    num_hidden_layers: int = 3
    omega_0: float = 30.0
    rbf_levels: int = 16
    rbf_min_bandwidth: float = 0.02
    rbf_max_bandwidth: float = 0.5
    rbf_max_channels: int = 1024
    epsilon: float = 1e-3
    open_fraction: float = DEFAULT_OPEN_FRACTION
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        check_method_name(self.name)
        for field_name in ("sigma", "omega_0", "rbf_min_bandwidth", "rbf_max_bandwidth"):
            value = getattr(self, field_name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{field_name} must be a positive finite number, got {value!r}")
        for field_name in ("num_frequencies", "hidden_dim", "num_hidden_layers", "rbf_levels", "rbf_max_channels"):
            value = getattr(self, field_name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{field_name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        check_open_fraction(self.open_fraction)
        _METHODS[self.name].check_options(dict(self.options))

    def option(self, key: str, default: Any = None) -> Any:
        """A method-specific setting from :attr:`options`."""
        return dict(self.options).get(key, default)

    def replace(self, **changes: Any) -> "MethodConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

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


MethodBuilder = Callable[[ModelSpec, torch.Generator], FieldModel]
OptionsCheck = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class MethodEntry:
    name: str
    description: str
    build: MethodBuilder
    check_options: OptionsCheck


_METHODS: dict[str, MethodEntry] = {}


def register_method(name: str, description: str, build: MethodBuilder, check_options: OptionsCheck | None = None) -> None:
    """Add a method to the table every task and app reads. Names are unique.

    ``check_options`` validates :attr:`MethodConfig.options` (raises ``ValueError`` naming the bad key);
    a method without one takes no options, so a typo in ``--method-option`` never passes silently.
    """
    if name in _METHODS:
        raise ValueError(f"method {name!r} is already registered")
    _METHODS[name] = MethodEntry(name, description, build, check_options or _no_options(name))


def _no_options(name: str) -> OptionsCheck:
    def check(options: dict[str, Any]) -> None:
        if options:
            raise ValueError(
                f"method {name} takes no method options, got {', '.join(sorted(options))} "
                "(--method-option is for methods with their own settings, e.g. sasnet)"
            )

    return check


def method_names() -> list[str]:
    """Registered method names, in registration order."""
    return list(_METHODS)


def method_descriptions() -> dict[str, str]:
    return {name: entry.description for name, entry in _METHODS.items()}


def check_method_name(name: str) -> None:
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(_METHODS)}")


def spatial_mask(spec: ModelSpec, num_levels: int) -> MaskPolicy:
    """SAPE's ``Phi_SA`` on the task's domain: per sample or on a grid."""
    domain = spec.domain
    if domain.kind == "samples":
        return SampleMask(
            num_levels, domain.num_samples, spec.total_steps, spec.method.epsilon, domain.smoothing_steps, spec.method.open_fraction
        )
    return GridMask(
        num_levels,
        domain.resolution,
        spec.total_steps,
        spec.method.epsilon,
        domain.smoothing_steps,
        domain.periodic or None,
        spec.method.open_fraction,
    )


def _fourier(spec: ModelSpec, generator: torch.Generator) -> FourierFeatures:
    return FourierFeatures(spec.in_dim, spec.method.num_frequencies, spec.method.sigma, generator=generator)


def _rbf(spec: ModelSpec, generator: torch.Generator) -> RBFGrid:
    m = spec.method
    return RBFGrid(spec.in_dim, m.rbf_levels, m.rbf_min_bandwidth, m.rbf_max_bandwidth, max_channels=m.rbf_max_channels)


def _masked_mlp(spec: ModelSpec, encoding, mask: MaskPolicy) -> MaskedEncodingMLP:
    m = spec.method
    return MaskedEncodingMLP(encoding, mask, spec.out_dim, m.hidden_dim, m.num_hidden_layers, spec.zero_output)


def _build_none(spec: ModelSpec, generator: torch.Generator) -> FieldModel:
    return _masked_mlp(spec, IdentityEncoding(spec.in_dim), StaticMask(0))


def _build_siren(spec: ModelSpec, generator: torch.Generator) -> FieldModel:
    m = spec.method
    return Siren(spec.in_dim, spec.out_dim, m.hidden_dim, m.num_hidden_layers, m.omega_0, zero_output=spec.zero_output)


def _build_static(encoder) -> MethodBuilder:
    def build(spec: ModelSpec, generator: torch.Generator) -> FieldModel:
        encoding = encoder(spec, generator)
        return _masked_mlp(spec, encoding, StaticMask(encoding.num_levels))

    return build


def _build_progressive(encoder) -> MethodBuilder:
    def build(spec: ModelSpec, generator: torch.Generator) -> FieldModel:
        encoding = encoder(spec, generator)
        return _masked_mlp(spec, encoding, ProgressiveMask(encoding.num_levels, spec.total_steps, spec.method.open_fraction))

    return build


def _build_sape(encoder) -> MethodBuilder:
    def build(spec: ModelSpec, generator: torch.Generator) -> FieldModel:
        encoding = encoder(spec, generator)
        return _masked_mlp(spec, encoding, spatial_mask(spec, encoding.num_levels))

    return build


register_method("none", "ReLU MLP on the raw coordinates (no encoding)", _build_none)
register_method("siren", "SIREN: sine activations, omega_0 scaling, published initialisation", _build_siren)
register_method("ff", "random Fourier features, all frequencies open from the start", _build_static(_fourier))
register_method("pff", "progressive Fourier features: frequencies open coarse to fine by T/2 (Phi_P)", _build_progressive(_fourier))
register_method("sape-ff", "SAPE: Fourier features opened where the local loss stays above epsilon", _build_sape(_fourier))
register_method("rbfg", "Gaussian RBF grid encoding, all bandwidths open", _build_static(_rbf))
register_method("sape-rbfg", "SAPE on the RBF grid encoding", _build_sape(_rbf))


def build_model(spec: ModelSpec) -> FieldModel:
    """Build the network of ``spec.method`` with reproducible random parts (seeded by ``spec.seed``).

    Example
    -------
    >>> spec = ModelSpec(MethodConfig("sape-ff", num_frequencies=8), 1, 1, 100, MaskDomain("samples", 10))
    >>> build_model(spec)(torch.zeros(4, 1), torch.arange(4)).shape
    torch.Size([4, 1])
    """
    check_method_name(spec.method.name)
    if spec.total_steps < 1:
        raise ValueError(f"the number of steps must be >= 1, got {spec.total_steps}")
    generator = torch.Generator().manual_seed(int(spec.seed))
    torch.manual_seed(int(spec.seed))  # network weights
    model = _METHODS[spec.method.name].build(spec, generator)
    model.spec = spec
    return model
