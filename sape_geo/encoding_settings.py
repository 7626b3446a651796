"""Typed settings of the encodings, and the checks every settings dataclass of a method shares.

An encoding's settings are a frozen dataclass with a default for every field (nerfstudio's encoding
configs are the model). :func:`sape_geo.catalogue.register_encoding` pairs it with the encoding class;
a field named like a :class:`~sape_geo.config.MethodConfig` field reads that field (the built-in
encodings' ``--sigma``, ``--frequencies``, ``--rbf-*`` options and ``config.json`` keys), every other
field comes from ``MethodConfig.options`` (``--method-option KEY=VALUE``), converted by
:func:`settings_from_options`. No torch here: ``--help`` and the checks of a command line read this.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


# Positional encoding: 2^k pi stays well inside float32 precision on [-1, 1] for k < 16.
MAX_OCTAVES = 16


def check_positive_number(name: str, value: Any) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is a finite number > 0 (bools refused)."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def check_positive_int(name: str, value: Any) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is an integer >= 1 (bools refused)."""
    if isinstance(value, bool) or not (isinstance(value, int) and value >= 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _field_kind(hint: Any) -> type:
    """``int`` for ``int`` and ``int | None``; the plain type of any other one-type hint."""
    arguments = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return arguments[0] if arguments else hint


def settings_from_options(cls: type, options: Mapping[str, Any], owner: str) -> Any:
    """``cls(**options)`` with each value converted to its field's type.

    Parameters
    ----------
    cls : a settings dataclass.
    options : key -> value, e.g. ``MethodConfig.options`` (values from the command line are JSON-read:
        ``64``, ``2.5``, ``true``, or text).
    owner : the name in messages (``"sasnet"``): ``unknown sasnet option(s) ...``.

    Raises
    ------
    ValueError
        For a key that is not a field (a typo must not pass silently) or a value of the wrong type.
    """
    fields = [item.name for item in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(f"unknown {owner} option(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in options.items():
        kind = _field_kind(hints[key])
        if value is None and kind is not hints[key]:  # an optional field given as None
            values[key] = None
            continue
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{owner} option {key} must be true or false, got {value!r}")
            values[key] = value
            continue
        try:
            converted = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{owner} option {key} must be a {kind.__name__}, got {value!r}") from None
        if kind is int and converted != value:
            raise ValueError(f"{owner} option {key} must be a whole number, got {value!r}")
        values[key] = converted
    return cls(**values)


@dataclass(frozen=True)
class IdentitySettings:
    """No settings: the raw coordinates."""


@dataclass(frozen=True)
class FourierSettings:
    """Random Fourier features (:class:`~sape_geo.encodings.FourierFeatures`).

    Attributes
    ----------
    sigma : standard deviation of the frequencies, in cycles per unit of the normalised [-1, 1] domain.
    num_frequencies : number of frequencies, which are SAPE's levels.
    """

    sigma: float = 10.0
    num_frequencies: int = 256

    def __post_init__(self) -> None:
        check_positive_number("sigma", self.sigma)
        check_positive_int("num_frequencies", self.num_frequencies)


@dataclass(frozen=True)
class PositionalSettings:
    """NeRF's positional encoding (:class:`~sape_geo.encodings.PositionalEncoding`).

    Attributes
    ----------
    num_octaves : octaves ``K`` (levels ``1..K`` hold ``2^0 pi .. 2^(K-1) pi``), at most
        :data:`MAX_OCTAVES`.
    """

    num_octaves: int = 10

    def __post_init__(self) -> None:
        check_positive_int("num_octaves", self.num_octaves)
        if self.num_octaves > MAX_OCTAVES:
            raise ValueError(f"num_octaves must be in 1..{MAX_OCTAVES}, got {self.num_octaves}")


@dataclass(frozen=True)
class RBFSettings:
    """Gaussian RBF grid (:class:`~sape_geo.encodings.RBFGrid`).

    Attributes
    ----------
    rbf_levels : number of bandwidth levels.
    rbf_min_bandwidth : finest bandwidth, in units of the [-1, 1] domain.
    rbf_max_bandwidth : coarsest bandwidth.
    rbf_max_channels : most channels of the whole encoding (the finest grids are coarsened to fit).
    """

    rbf_levels: int = 16
    rbf_min_bandwidth: float = 0.02
    rbf_max_bandwidth: float = 0.5
    rbf_max_channels: int = 1024

    def __post_init__(self) -> None:
        check_positive_number("rbf_min_bandwidth", self.rbf_min_bandwidth)
        check_positive_number("rbf_max_bandwidth", self.rbf_max_bandwidth)
        check_positive_int("rbf_levels", self.rbf_levels)
        check_positive_int("rbf_max_channels", self.rbf_max_channels)
