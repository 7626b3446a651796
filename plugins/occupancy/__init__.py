"""3-D occupancy (docs/method.md, "Occupancy"): an inside logit fitted to a mesh, scored by IoU.

Command: ``sape-geo occupancy MESH --out RUN``. Python: :func:`fit_occupancy`. Layout as
:mod:`sape_geo_plugins.fit1d`.
"""

from __future__ import annotations

from sape_geo.lazy import lazy_exports

from .command import PLUGIN, default_fit_config, default_method_config, fit_occupancy
from .settings import DEFAULT_EPSILON, DEFAULT_LR, DEFAULT_SIGMA_BY_METHOD, DEFAULT_STEPS, PER_METHOD_DEFAULTS, SHAPE_HALF_EXTENT, TASK_DEFAULTS, OccupancySettings

_LAZY = dict.fromkeys(("Occupancy", "load_occupancy_task", "make_occupancy_task", "near_surface_points", "slice_coordinates",
                       "training_points"), ".task")

__all__ = ["DEFAULT_EPSILON", "DEFAULT_LR", "DEFAULT_SIGMA_BY_METHOD", "DEFAULT_STEPS", "PER_METHOD_DEFAULTS", "PLUGIN",
           "SHAPE_HALF_EXTENT", "TASK_DEFAULTS", "OccupancySettings", "default_fit_config", "default_method_config",
           "fit_occupancy", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)
