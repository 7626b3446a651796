"""The table of methods by name, without importing torch: what ``--help`` and config checks read.

A method is an **encoding** (what the coordinates become) times a **mask policy** (which of the
encoding's levels are open where and when; docs/method.md, "Encodings" and "Progressive encoding"):

========== ============ =========== ============ ===========
encoding   static       progressive  SAPE
========== ============ =========== ============ ===========
identity   ``none``
fourier    ``ff``       ``pff``      ``sape-ff``
rbf        ``rbfg``                  ``sape-rbfg``
========== ============ =========== ============ ===========

plus networks with their own structure (``siren``, ``sasnet``). :mod:`sape_geo.methods` builds the
networks; this module only names them, so a command can list and check methods in milliseconds.
A third-party method joins by calling :func:`register_method` (an explicit call, never a side effect of
importing :mod:`sape_geo`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_METHOD = "sape-ff"

# Encodings with typed settings: the MethodConfig fields each one reads (docs/method.md, "Encodings").
ENCODING_FIELDS: dict[str, tuple[str, ...]] = {
    "identity": (),
    "fourier": ("sigma", "num_frequencies"),
    "rbf": ("rbf_levels", "rbf_min_bandwidth", "rbf_max_bandwidth", "rbf_max_channels"),
}
MASK_POLICIES = ("static", "progressive", "sape")


@dataclass(frozen=True)
class MethodInfo:
    """One method.

    Attributes
    ----------
    name : the method's name on the command line and in ``config.json``.
    description : one line for ``--help``.
    encoding, mask : the encoding (a key of :data:`ENCODING_FIELDS`) and mask policy (one of
        :data:`MASK_POLICIES`) of an encoded ReLU MLP; None for a network of its own (``network``).
    network : for a network of its own: its builder ``(ModelSpec, torch.Generator) -> FieldModel``, or
        ``"module:function"`` naming it (imported when a model is built).
    check_options : validates ``MethodConfig.options`` (a callable or ``"module:function"``); a method
        without one takes no options.
    """

    name: str
    description: str
    encoding: str | None = None
    mask: str | None = None
    network: Callable[..., Any] | str | None = None
    check_options: Callable[[dict[str, Any]], Any] | str | None = None

    def __post_init__(self) -> None:
        if (self.encoding is None) == (self.network is None):
            raise ValueError(f"method {self.name!r}: give an encoding and mask policy, or a network of its own")
        if self.encoding is not None and (self.encoding not in ENCODING_FIELDS or self.mask not in MASK_POLICIES):
            raise ValueError(f"method {self.name!r}: unknown encoding {self.encoding!r} or mask policy {self.mask!r}")

    def builder(self) -> Callable[..., Any]:
        """The network builder of a method with a network of its own (imported on first use)."""
        return resolve(self.network)

    def check(self, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` for options this method does not take."""
        if self.check_options is not None:
            if options:
                resolve(self.check_options)(dict(options))
            return
        if options:
            raise ValueError(
                f"method {self.name} takes no method options, got {', '.join(sorted(options))} "
                "(--method-option is for methods with their own settings, e.g. sasnet)"
            )


def resolve(target: Callable[..., Any] | str) -> Callable[..., Any]:
    """A callable, or ``"module:attribute"`` imported now."""
    if callable(target):
        return target
    module_name, _, attribute = str(target).partition(":")
    return getattr(importlib.import_module(module_name), attribute)


_METHODS: dict[str, MethodInfo] = {
    info.name: info
    for info in (
        MethodInfo("none", "ReLU MLP on the raw coordinates (no encoding)", "identity", "static"),
        MethodInfo("siren", "SIREN: sine activations, omega_0 scaling, published initialisation", network="sape_geo.methods:build_siren"),
        MethodInfo("ff", "random Fourier features, all frequencies open from the start", "fourier", "static"),
        MethodInfo("pff", "progressive Fourier features: frequencies open coarse to fine (Phi_P)", "fourier", "progressive"),
        MethodInfo("sape-ff", "SAPE: Fourier features opened where the local loss stays above epsilon", "fourier", "sape"),
        MethodInfo("rbfg", "Gaussian RBF grid encoding, all bandwidths open", "rbf", "static"),
        MethodInfo("sape-rbfg", "SAPE on the RBF grid encoding", "rbf", "sape"),
        MethodInfo(
            "sasnet", "SASNet: SIREN with a frozen integer-frequency first layer and hash-grid masks learned per band",
            network="sape_geo.sasnet:build_sasnet", check_options="sape_geo.sasnet:check_sasnet_options",
        ),
    )
}


def register_method(
    name: str,
    description: str,
    build: Callable[..., Any] | str,
    check_options: Callable[[dict[str, Any]], Any] | str | None = None,
) -> None:
    """Add a method with a network of its own to the table every task and app reads. Names are unique.

    ``build(spec: ModelSpec, generator: torch.Generator) -> FieldModel``; ``check_options`` validates
    :attr:`MethodConfig.options` (raises ``ValueError`` naming the bad key).
    """
    if name in _METHODS:
        raise ValueError(f"method {name!r} is already registered")
    _METHODS[name] = MethodInfo(name, description, network=build, check_options=check_options)


def method_info(name: str) -> MethodInfo:
    """The method called ``name``; ``ValueError`` listing the choices when there is none."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(_METHODS)}") from None


def method_names() -> list[str]:
    """Method names, in table order."""
    return list(_METHODS)


def method_descriptions() -> dict[str, str]:
    return {name: info.description for name, info in _METHODS.items()}


def check_method_name(name: str) -> None:
    method_info(name)
