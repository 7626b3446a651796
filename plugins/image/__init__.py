"""2-D image regression, the paper's image task (docs/method.md, "Images"): pixel position -> colour.

The network sees a regular grid holding 25% of the pixels (every second row and column) and is scored
by PSNR on all pixels, on the held-out 75%, and on the training pixels, separately. SAPE keeps its
progress on a 2-D grid whose resolution follows the training density (one node per training pixel per
axis), the resolution the paper found best (Fig. 7 right).

Command: ``sape-geo image IMAGE --out RUN``. Python: :func:`fit_image`. The layout of every plugin
package (README, "Write your own task"): :mod:`.settings`, :mod:`.command` (the declaration and the
Python API), :mod:`.task` (imports torch; its names load on first use, so ``--help`` does not wait for
it); this module only re-exports them.
"""

from __future__ import annotations

import importlib
from typing import Any

from .command import PLUGIN, default_fit_config, fit_image
from .settings import (
    DEFAULT_LR,
    DEFAULT_LR_BY_METHOD,
    DEFAULT_MAX_SIZE,
    DEFAULT_STEPS,
    TRAIN_STRIDE,
    ImageSettings,
    default_method_settings,
    default_sigmas,
)

_LAZY = dict.fromkeys(("FittedImage", "ImageFit", "load_image_task", "make_image_task", "pixel_coordinates", "prepare_image",
                       "training_pixel_mask", "write_png", "write_tiff_32"), ".task")

__all__ = ["DEFAULT_LR", "DEFAULT_LR_BY_METHOD", "DEFAULT_MAX_SIZE", "DEFAULT_STEPS", "PLUGIN", "TRAIN_STRIDE", "ImageSettings",
           "default_fit_config", "default_method_settings", "default_sigmas", "fit_image", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
