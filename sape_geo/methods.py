"""Build a method's network: an encoding times a mask policy behind a ReLU MLP, or a network of its own.

The method table (names, what each one is made of) is :mod:`sape_geo.catalogue`, which does not import
torch; this module turns a :class:`~sape_geo.config.ModelSpec` into a
:class:`~sape_geo.networks.FieldModel`. Static, progressive and SAPE variants of an encoding differ only
in the mask policy (docs/method.md, "Encodings", "Progressive encoding", "Spatially-adaptive progress
(SAPE)").
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from sape_geo.catalogue import (
    DEFAULT_METHOD,
    check_method_name,
    encoding_info,
    method_descriptions,
    method_info,
    method_names,
    register_encoding,
    register_method,
)
from sape_geo.config import MaskDomain, MethodConfig, ModelSpec
from sape_geo.masks import GridMask, MaskPolicy, ProgressiveMask, SampleMask, StaticMask
from sape_geo.networks import FieldModel, MaskedEncodingMLP, Siren

__all__ = [
    "DEFAULT_METHOD",
    "MaskDomain",
    "MethodConfig",
    "ModelSpec",
    "build_model",
    "check_method_name",
    "method_descriptions",
    "method_names",
    "register_encoding",
    "register_method",
]

MaskBuilder = Callable[[ModelSpec, int], MaskPolicy]


def _static(spec: ModelSpec, levels: int) -> MaskPolicy:
    return StaticMask(levels)


def _progressive(spec: ModelSpec, levels: int) -> MaskPolicy:
    return ProgressiveMask(levels, spec.total_steps, spec.method.open_fraction)


def spatial_mask(spec: ModelSpec, num_levels: int) -> MaskPolicy:
    """SAPE's ``Phi_SA`` on the task's domain: per sample or on a grid."""
    domain, method = spec.domain, spec.method
    if domain.kind == "samples":
        return SampleMask(num_levels, domain.num_samples, spec.total_steps, method.epsilon, domain.smoothing_steps, method.open_fraction)
    return GridMask(
        num_levels, domain.resolution, spec.total_steps, method.epsilon, domain.smoothing_steps, domain.periodic or None, method.open_fraction
    )


MASKS: dict[str, MaskBuilder] = {"static": _static, "progressive": _progressive, "sape": spatial_mask}


def build_siren(spec: ModelSpec, generator: torch.Generator) -> FieldModel:
    """The ``siren`` method."""
    m = spec.method
    return Siren(spec.in_dim, spec.out_dim, m.hidden_dim, m.num_hidden_layers, m.omega_0, zero_output=spec.zero_output)


def build_model(spec: ModelSpec) -> FieldModel:
    """Build the network of ``spec.method`` with reproducible random parts (seeded by ``spec.seed``).

    Example
    -------
    >>> spec = ModelSpec(MethodConfig("sape-ff", num_frequencies=8), 1, 1, 100, MaskDomain("samples", 10))
    >>> build_model(spec)(torch.zeros(4, 1), torch.arange(4)).shape
    torch.Size([4, 1])
    """
    info = method_info(spec.method.name)
    if spec.total_steps < 1:
        raise ValueError(f"the number of steps must be >= 1, got {spec.total_steps}")
    generator = torch.Generator().manual_seed(int(spec.seed))
    torch.manual_seed(int(spec.seed))  # network weights
    if info.encoding is not None:
        encoding = encoding_info(info.encoding).builder().from_settings(spec.in_dim, spec.method.encoding_settings(), generator)
        m = spec.method
        mask = MASKS[info.mask](spec, encoding.num_levels)
        model: FieldModel = MaskedEncodingMLP(encoding, mask, spec.out_dim, m.hidden_dim, m.num_hidden_layers, spec.zero_output)
    else:
        model = info.builder()(spec, generator)
    model.spec = spec
    return model
