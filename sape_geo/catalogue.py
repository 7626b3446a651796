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

plus ``pe`` and ``sape-pe`` (NeRF's positional encoding, static and SAPE) and networks with their own
structure (``siren``, ``sasnet``). :mod:`sape_geo.methods` builds the networks; this module only names
them, so a command can list and check methods in milliseconds.

A third party adds an encoding with :func:`register_encoding` (its class, its typed settings and the
methods it makes; ``examples/custom_encoding.py``) and a network of its own with
:func:`register_method`: explicit calls, never a side effect of importing :mod:`sape_geo`. The built-in
encodings are registered by the same call.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sape_geo.encoding_settings import FourierSettings, IdentitySettings, PositionalSettings, RBFSettings, settings_from_options

DEFAULT_METHOD = "sape-ff"

# docs/method.md, "Progressive encoding" and "Spatially-adaptive progress (SAPE)"
MASK_POLICIES: dict[str, str] = {
    "static": "all levels open from the start",
    "progressive": "levels open coarse to fine, the same everywhere",
    "sape": "SAPE: levels open where the local loss stays above epsilon",
}


@dataclass(frozen=True)
class EncodingInfo:
    """One encoding (docs/method.md, "Encodings").

    Attributes
    ----------
    name : the encoding's name in the method table.
    build : the :class:`~sape_geo.encodings.Encoding` subclass, or ``"module:Class"`` naming it (imported
        when a model is built); built by ``build.from_settings(in_dim, settings, generator)``.
    settings : its frozen settings dataclass, a default for every field.
    """

    name: str
    build: type | str
    settings: type

    def __post_init__(self) -> None:
        if not (dataclasses.is_dataclass(self.settings) and isinstance(self.settings, type)):
            raise TypeError(f"encoding {self.name!r}: settings must be a dataclass, got {self.settings!r}")
        missing = [item.name for item in dataclasses.fields(self.settings)
                   if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING]
        if missing:
            raise ValueError(f"encoding {self.name!r}: settings field(s) {', '.join(missing)} need a default")

    def read_settings(self, shared: Mapping[str, Any], options: Mapping[str, Any], method: str) -> Any:
        """The settings of a method using this encoding.

        Parameters
        ----------
        shared : the method's own fields (``MethodConfig``'s, less ``name`` and ``options``); a settings
            field of the same name reads its value there.
        options : ``MethodConfig.options``; they set the other fields.
        method : the method's name, for messages.
        """
        names = [item.name for item in dataclasses.fields(self.settings)]
        own = [name for name in names if name not in shared]
        if options and not own:
            raise ValueError(
                f"method {method} takes no method options, got {', '.join(sorted(options))} "
                "(--method-option is for methods with their own settings, e.g. sasnet)"
            )
        from_options = settings_from_options(self.settings, options, method) if own else self.settings()
        return dataclasses.replace(from_options, **{name: shared[name] for name in names if name in shared})

    def builder(self) -> Any:
        """The encoding class (imported on first use)."""
        return resolve(self.build)


_ENCODINGS: dict[str, EncodingInfo] = {}


@dataclass(frozen=True)
class MethodInfo:
    """One method.

    Attributes
    ----------
    name : the method's name on the command line and in ``config.json``.
    description : one line for ``--help``.
    encoding, mask : the encoding (registered by :func:`register_encoding`) and mask policy (a key of
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
        if self.encoding is not None and (self.encoding not in _ENCODINGS or self.mask not in MASK_POLICIES):
            raise ValueError(f"method {self.name!r}: unknown encoding {self.encoding!r} or mask policy {self.mask!r}")

    def builder(self) -> Callable[..., Any]:
        """The network builder of a method with a network of its own (imported on first use)."""
        return resolve(self.network)

    def check(self, options: Mapping[str, Any], shared: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` for options this method does not take (``shared``: the method's own
        fields, which an encoding's settings may read)."""
        if self.encoding is not None:
            _ENCODINGS[self.encoding].read_settings(shared, options, self.name)
            return
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


for _info in (
    EncodingInfo("identity", "sape_geo.encodings:IdentityEncoding", IdentitySettings),
    EncodingInfo("fourier", "sape_geo.encodings:FourierFeatures", FourierSettings),
    EncodingInfo("rbf", "sape_geo.encodings:RBFGrid", RBFSettings),
):
    _ENCODINGS[_info.name] = _info

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


def register_encoding(
    name: str,
    build: type | str,
    settings: type,
    methods: Mapping[str, str] | None = None,
    description: str = "",
) -> None:
    """Add an encoding, and the methods made of it, to the table every task and app reads.

    Parameters
    ----------
    name : the encoding's name (unique).
    build : an :class:`~sape_geo.encodings.Encoding` subclass, or ``"module:Class"`` naming one; a model
        is built with ``build.from_settings(in_dim, settings, generator)``.
    settings : a frozen dataclass with a default for every field. A field named like a
        :class:`~sape_geo.config.MethodConfig` field reads that field (``sigma``, ``num_frequencies``,
        ...); the others are set by ``MethodConfig.options`` (``--method-option KEY=VALUE``), typed by
        their annotations.
    methods : method name -> mask policy (a key of :data:`MASK_POLICIES`), e.g.
        ``{"tri": "static", "sape-tri": "sape"}``; method names are unique.
    description : one line about the encoding; each method's ``--help`` line adds its mask policy.

    Example
    -------
    >>> register_encoding("tri", "my_package:TriangleWaves", TriangleSettings, {"sape-tri": "sape"})  # doctest: +SKIP
    """
    if name in _ENCODINGS:
        raise ValueError(f"encoding {name!r} is already registered")
    info = EncodingInfo(name, build, settings)
    methods = dict(methods or {})
    for method, mask in methods.items():
        if method in _METHODS:
            raise ValueError(f"method {method!r} is already registered")
        if mask not in MASK_POLICIES:
            raise ValueError(f"method {method!r}: unknown mask policy {mask!r}; choose one of: {', '.join(MASK_POLICIES)}")
    _ENCODINGS[name] = info
    for method, mask in methods.items():
        _METHODS[method] = MethodInfo(method, f"{description or name}; {MASK_POLICIES[mask]}", name, mask)


def _entry(table: Mapping[str, Any], kind: str, name: str) -> Any:
    """``table[name]``; ``ValueError`` listing the choices when there is none."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(table)}") from None


def encoding_info(name: str) -> EncodingInfo:
    """The encoding called ``name``; ``ValueError`` listing the choices when there is none."""
    return _entry(_ENCODINGS, "encoding", name)


def encoding_names() -> list[str]:
    """Encoding names, in registration order."""
    return list(_ENCODINGS)


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


register_encoding(
    "positional", "sape_geo.encodings:PositionalEncoding", PositionalSettings,
    {"pe": "static", "sape-pe": "sape"}, "NeRF's positional encoding, octaves 2^k pi (--method-option num_octaves=K)",
)


def method_info(name: str) -> MethodInfo:
    """The method called ``name``; ``ValueError`` listing the choices when there is none."""
    return _entry(_METHODS, "method", name)


def method_names() -> list[str]:
    """Method names, in table order."""
    return list(_METHODS)


def method_descriptions() -> dict[str, str]:
    return {name: info.description for name, info in _METHODS.items()}


def check_method_name(name: str) -> None:
    method_info(name)
