"""1-D regression, the paper's Fig. 2 setting (docs/method.md, "1-D regression"): a signal smooth on the
left and oscillating fast on the right, learned from a few dozen samples.

It is the smallest proof that the core works: with a high Fourier sigma, FF fits the samples but fills
the smooth half with high-frequency noise between them; SAPE opens high frequencies only where the
loss stays high (the oscillating half), so its heat map is low on the left and high on the right.

Command: ``sape-geo fit1d --method sape-ff --out RUN``. Python: :func:`fit_1d`.

The layout of every plugin package: :mod:`.settings` (the settings dataclass and its constants),
:mod:`.command` (the :class:`~sape_geo.registry.TaskPlugin` declaration and the Python API), :mod:`.task`
(the task, which imports torch); this module only re-exports them, the task's names on first use, so
``--help`` does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .command import DEFAULT_SIGMA, DEFAULT_STEPS, PLUGIN, fit_1d
from .settings import Regression1DSettings

_LAZY = dict.fromkeys(("Regression1D", "smooth_then_oscillating", "plot_regression"), ".task")

__all__ = ["DEFAULT_SIGMA", "DEFAULT_STEPS", "PLUGIN", "Regression1DSettings", "fit_1d", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
