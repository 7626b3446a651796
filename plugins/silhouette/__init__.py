"""2-D silhouettes: deform a circle onto an outline (docs/method.md, "Silhouettes"; the paper's MPEG-7 task).

Input: a silhouette image (any mode; light on dark, dark on light or opaque on transparent; the shape
may touch the border) or a closed polyline file (``x,y`` a line). The largest shape's outer boundary is
the target (``component`` picks another; holes are outside the outline). A network ``s in [0, 1) ->
R^2`` is calibrated to the unit circle and then fitted to the outline in order, so the curve traces it
once; SAPE opens higher frequencies along the curve where it still misfits, but not where it tangles,
and the result is always a simple polygon when the fit ever was one (:mod:`.validity`).

Command: ``sape-geo silhouette IMAGE --out RUN``. Python: :func:`fit_silhouette`. The layout of every
plugin package (README, "Write your own task"): :mod:`.settings`, :mod:`.command` (the declaration and
the Python API), :mod:`.task` (imports torch); this package adds :mod:`.outline` (reading the target),
:mod:`.validity`, :mod:`.plot` and :mod:`.shapes`. This module only re-exports; outline reading and the
task (scikit-image, torch) load on first use, so ``--help`` does not wait for them.
"""

from __future__ import annotations

import importlib
from typing import Any

from .command import DEFAULT_STEPS, PLUGIN, SIGMA_BY_METHOD, default_fit_options, default_method_config, fit_silhouette
from .settings import DATA_TERMS, SilhouetteSettings

_LAZY = {
    **dict.fromkeys(("AllForegroundError", "NoForegroundError", "ShapeTooSmallError", "SilhouetteError", "SilhouetteTarget",
                     "load_silhouette", "silhouette_from_array"), ".outline"),
    **dict.fromkeys(("SilhouetteFit", "calibrate_to_circle", "score_curve"), ".task"),
}

__all__ = ["DATA_TERMS", "DEFAULT_STEPS", "PLUGIN", "SIGMA_BY_METHOD", "SilhouetteSettings", "default_fit_options",
           "default_method_config", "fit_silhouette", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
