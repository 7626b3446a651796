"""Names a package exports but imports only when first asked for, so importing the package (and
``sape-geo --help``) does not wait for torch or scikit-image (PEP 562, a module's ``__getattr__``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: each name in ``exports`` is read from its module (absolute,
    or relative to ``package`` when it starts with a dot) on first use and kept in the package.

    Example
    -------
    >>> __getattr__ = lazy_exports(__name__, {"Task": "sape_geo.fitting"})  # doctest: +SKIP
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
