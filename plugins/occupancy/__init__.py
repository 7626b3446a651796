"""3-D occupancy (docs/method.md, "Occupancy"): an inside logit fitted to a mesh, scored by IoU.

Command: ``sape-geo occupancy MESH --out RUN``. Python: :func:`fit_occupancy`. The layout of every plugin
package (README, "Write your own task"): :mod:`.settings`, :mod:`.command` (the declaration and the
Python API), :mod:`.task` (imports torch; its names load on first use, so ``--help`` does not wait for
it); this module only re-exports them.
"""

from __future__ import annotations

import importlib
from typing import Any

from .command import PLUGIN, default_fit_config, default_method_config, fit_occupancy
from .settings import (
    DEFAULT_EPSILON,
    DEFAULT_LR,
    DEFAULT_SIGMA_BY_METHOD,
    DEFAULT_STEPS,
    PER_METHOD_DEFAULTS,
    SHAPE_HALF_EXTENT,
    TASK_DEFAULTS,
    OccupancySettings,
)

_LAZY = dict.fromkeys(("Occupancy", "load_occupancy_task", "make_occupancy_task", "near_surface_points", "slice_coordinates",
                       "training_points"), ".task")

__all__ = ["DEFAULT_EPSILON", "DEFAULT_LR", "DEFAULT_SIGMA_BY_METHOD", "DEFAULT_STEPS", "PER_METHOD_DEFAULTS", "PLUGIN",
           "SHAPE_HALF_EXTENT", "TASK_DEFAULTS", "OccupancySettings", "default_fit_config", "default_method_config",
           "fit_occupancy", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
