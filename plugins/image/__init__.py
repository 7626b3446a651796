"""2-D image regression, the paper's image task (docs/method.md, "Images"): pixel position -> colour.

The network sees a regular grid holding 25% of the pixels (every second row and column) and is scored
by PSNR on all pixels, on the held-out 75%, and on the training pixels, separately. SAPE keeps its
progress on a 2-D grid whose resolution follows the training density (one node per training pixel per
axis), the resolution the paper found best (Fig. 7 right).

Command: ``sape-geo image IMAGE --out RUN``. Python: :func:`fit_image`. Layout as
:mod:`sape_geo_plugins.fit1d`.
"""

from __future__ import annotations

from sape_geo.lazy import lazy_exports

from .command import PLUGIN, default_fit_config, fit_image
from .settings import DEFAULT_LR, DEFAULT_LR_BY_METHOD, DEFAULT_MAX_SIZE, DEFAULT_STEPS, TRAIN_STRIDE, ImageSettings, default_method_settings, default_sigmas

_LAZY = dict.fromkeys(("FittedImage", "ImageFit", "load_image_task", "make_image_task", "pixel_coordinates", "prepare_image",
                       "training_pixel_mask", "write_png", "write_tiff_32"), ".task")

__all__ = ["DEFAULT_LR", "DEFAULT_LR_BY_METHOD", "DEFAULT_MAX_SIZE", "DEFAULT_STEPS", "PLUGIN", "TRAIN_STRIDE", "ImageSettings",
           "default_fit_config", "default_method_settings", "default_sigmas", "fit_image", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)
