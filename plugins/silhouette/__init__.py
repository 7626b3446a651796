"""2-D silhouettes: deform a circle onto an outline (docs/method.md, "Silhouettes"; the paper's MPEG-7 task).

Input: a silhouette image (any mode; light on dark, dark on light or opaque on transparent; the shape
may touch the border) or a closed polyline file (``x,y`` a line). The largest shape's outer boundary is
the target (``component`` picks another; holes are outside the outline). A network ``s in [0, 1) ->
R^2`` is calibrated to the unit circle and then fitted to the outline in order, so the curve traces it
once; SAPE opens higher frequencies along the curve where it still misfits, but not where it tangles,
and the result is always a simple polygon when the fit ever was one (:mod:`.validity`).

Command: ``sape-geo silhouette IMAGE --out RUN``. Python: :func:`fit_silhouette`. Layout as
:mod:`sape_geo_plugins.fit1d`, plus :mod:`.outline` (reading the target, scikit-image; loaded on first
use like the task), :mod:`.validity`, :mod:`.plot` and :mod:`.shapes`.
"""

from __future__ import annotations

from sape_geo.lazy import lazy_exports

from .command import DEFAULT_STEPS, PLUGIN, SIGMA_BY_METHOD, default_fit_options, default_method_config, fit_silhouette
from .settings import DATA_TERMS, SilhouetteSettings

_LAZY = {
    **dict.fromkeys(("AllForegroundError", "NoForegroundError", "ShapeTooSmallError", "SilhouetteError", "SilhouetteTarget",
                     "load_silhouette", "silhouette_from_array"), ".outline"),
    **dict.fromkeys(("SilhouetteFit", "calibrate_to_circle", "score_curve"), ".task"),
}

__all__ = ["DATA_TERMS", "DEFAULT_STEPS", "PLUGIN", "SIGMA_BY_METHOD", "SilhouetteSettings", "default_fit_options",
           "default_method_config", "fit_silhouette", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)
