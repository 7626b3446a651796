"""1-D regression, the paper's Fig. 2 setting (docs/method.md, "1-D regression"): a signal smooth on the
left and oscillating fast on the right, learned from a few dozen samples.

It is the smallest proof that the core works: with a high Fourier sigma, FF fits the samples but fills
the smooth half with high-frequency noise between them; SAPE opens high frequencies only where the
loss stays high (the oscillating half), so its heat map is low on the left and high on the right.

Command: ``sape-geo fit1d --method sape-ff --out RUN``. Python: :func:`fit_1d`. The layout of every
plugin package: :mod:`.settings` (the settings dataclass), :mod:`.command` (the
:class:`~sape_geo.registry.TaskPlugin` declaration and the Python API), :mod:`.task` (the task, which
imports torch); this module only re-exports them, the task's names on first use.
"""

from __future__ import annotations

from sape_geo.lazy import lazy_exports

from .command import DEFAULT_SIGMA, DEFAULT_STEPS, PLUGIN, fit_1d
from .settings import Regression1DSettings

_LAZY = dict.fromkeys(("Regression1D", "smooth_then_oscillating", "plot_regression"), ".task")

__all__ = ["DEFAULT_SIGMA", "DEFAULT_STEPS", "PLUGIN", "Regression1DSettings", "fit_1d", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)
