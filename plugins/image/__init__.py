"""2-D image regression, the paper's image task (docs/method.md, "Images"): pixel position -> colour.

The network sees a regular grid holding 25% of the pixels (every second row and column) and is scored
by PSNR on all pixels, on the held-out 75%, and on the training pixels, separately. SAPE keeps its
progress on a 2-D grid whose resolution follows the training density (one node per training pixel per
axis), the resolution the paper found best (Fig. 7 right).

Command: ``sape-geo image IMAGE --out RUN``. Python: :func:`fit_image`. The task is in :mod:`.task`
(imported when a fit starts, so ``--help`` does not wait for torch).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sape_geo.config import FitConfig, MethodConfig
from sape_geo.registry import Input, TaskPlugin, run_plugin

# Loop defaults, chosen for held-out quality at 256 px within two CPU minutes (benchmarks/images.md):
# a cosine-decayed learning rate ends the fit on a small step instead of memorising the training grid
# with a constant one (the old 2000 constant-rate steps reached 46.8 dB on the training pixels but
# 22.7 dB on the held-out ones).
DEFAULT_STEPS = 300
DEFAULT_LR = 3e-3
# SIREN's published rate (its sine layers memorise at the Fourier networks' rate), and SASNet's
# benchmarked one (its mask network learns 10x faster than the backbone; at 3e-3 it can diverge).
DEFAULT_LR_BY_METHOD = {"siren": 1e-4, "sasnet": 1e-3}
DEFAULT_LR_SCHEDULE = "cosine"
DEFAULT_LR_FINAL_FACTOR = 0.01
DEFAULT_MAX_SIZE = 512
TRAIN_STRIDE = 2  # every second row and column: 25% of the pixels, as the paper

# Default Fourier sigma as a fraction of the training grid's Nyquist frequency along the long side
# (``n / 4`` cycles per unit for ``n`` training samples across the 2 units of [-1, 1]), so the default
# suits any --max-size. FF's value was tuned for FF at 48 px and checked at 256 px
# (docs/method.md, "Images"); SAPE uses twice FF's sigma, as the paper, and so does progressive FF,
# whose schedule also tames high sigmas.
FF_SIGMA_PER_NYQUIST = 0.25
SIGMA_FACTOR_BY_METHOD = {"ff": 1.0, "pff": 2.0, "sape-ff": 2.0}
# SIREN's published omega_0 = 30 suits images of about 256 px on [-1, 1] (a 128-sample training grid);
# it scales with the training grid so a smaller image does not get frequencies its samples cannot pin.
SIREN_OMEGA_PER_TRAIN_SAMPLE = 30.0 / 128.0
# The RBF grid's narrowest bumps: a little wider than the training pixels' spacing (2 / n on [-1, 1]);
# narrower ones fit the training pixels and nothing between them. 128 samples -> about 0.02, the
# encoding's own default, made for that size.
RBF_MIN_BANDWIDTH_PER_SPACING = 1.25


def default_sigmas(train_long_side: int) -> dict[str, float]:
    """Default sigma per Fourier method (cycles per unit) for ``train_long_side`` training samples.

    Example
    -------
    >>> default_sigmas(128)["ff"]
    8.0
    """
    nyquist = train_long_side / 4.0
    base = FF_SIGMA_PER_NYQUIST * nyquist
    return {name: factor * base for name, factor in SIGMA_FACTOR_BY_METHOD.items()}


def default_method_settings(train_long_side: int) -> dict[str, dict[str, float]]:
    """The :class:`MethodConfig` fields each method gets by default for ``train_long_side`` training
    samples along the long side: sigma for the Fourier methods (:func:`default_sigmas`), ``omega_0`` for
    SIREN, the narrowest bandwidth of the RBF grids. Methods not listed keep MethodConfig's defaults.

    Example
    -------
    >>> default_method_settings(128)["siren"]
    {'omega_0': 30.0}
    """
    spacing = 2.0 / max(train_long_side, 1)
    rbf_min = min(RBF_MIN_BANDWIDTH_PER_SPACING * spacing, 0.25)
    settings: dict[str, dict[str, float]] = {name: {"sigma": sigma} for name, sigma in default_sigmas(train_long_side).items()}
    settings["siren"] = {"omega_0": SIREN_OMEGA_PER_TRAIN_SAMPLE * train_long_side}
    settings["rbfg"] = settings["sape-rbfg"] = {"rbf_min_bandwidth": rbf_min}
    return settings


def default_fit_config(method: str | None = None, steps: int = DEFAULT_STEPS, **changes: Any) -> FitConfig:
    """The image task's loop defaults for ``method`` (the plugin's: learning rate :data:`DEFAULT_LR` or
    the method's own, cosine schedule) as a :class:`FitConfig`; ``changes`` override any field."""
    return PLUGIN.configs(method or "sape-ff", {"steps": steps, **changes})[1]


@dataclass(frozen=True)
class ImageSettings:
    """Settings of the image task.

    Attributes
    ----------
    max_size : the long side is downscaled (anti-aliased, aspect kept) to at most this many pixels;
        none keeps the file's size.
    batch_size : training pixels per step; when the training grid holds no more, every step is a full
        batch (one progress update per step, no smoothing); otherwise random mini-batches with SAPE's
        running-mean smoothing over ``ceil(train pixels / batch_size)`` steps.
    grid_resolution : SAPE grid nodes (rows, columns); none = one per training pixel per axis.
    """

    max_size: int | None = DEFAULT_MAX_SIZE
    batch_size: int = 65536
    grid_resolution: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.max_size is not None and self.max_size < 2 * TRAIN_STRIDE:
            raise ValueError(f"max_size must be at least {2 * TRAIN_STRIDE} pixels, got {self.max_size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.grid_resolution is not None:
            resolution = tuple(int(r) for r in self.grid_resolution)
            if len(resolution) != 2 or min(resolution) < 1:
                raise ValueError(f"grid_resolution must be two positive integers, got {self.grid_resolution}")
            object.__setattr__(self, "grid_resolution", resolution)



def _summarise(result: Any) -> list[str]:
    m = result.metrics
    return [
        f"PSNR all {m['psnr_all_db']:.2f} dB   held-out 75% {m['psnr_heldout_db']:.2f} dB   train 25% {m['psnr_train_db']:.2f} dB",
        f"heat map: mean {m['mean_progress']:.1f} of {m['max_progress']:.0f} levels open   ({m['width_px']}x{m['height_px']} px)",
        *(f"input: {note}" for note in result.extras.get("notes", ())),
    ]


PLUGIN = TaskPlugin(
    name="image",
    summary="fit an image from a quarter of its pixels (every second row and column); PSNR on all and held-out pixels",
    description=(
        "Fit colour as a function of pixel position from a regular grid holding 25% of the pixels (every\n"
        "second row and column), as the paper. Any common image mode works (grey, palette, RGB, RGBA,\n"
        "16-bit); alpha is fitted as one more channel. Scores PSNR on all pixels, on the held-out 75% and\n"
        "on the training pixels. sape-ff keeps its progress on a 2-D grid with one node per training pixel.\n\n"
        "Writes RUN/result.png (same size and mode family as the input after --max-size), RUN/heatmap.png\n"
        "(levels open per pixel), RUN/progress.npy (H, W) and the usual run files.\n\n"
        "example: sape-geo image photo.jpg --method sape-ff --max-size 256 --out runs/photo-sape"
    ),
    settings=ImageSettings,
    make_task="sape_geo_plugins.image.task:make_image_task",
    inputs=(Input("image", "image file (PNG, JPEG, GIF, TIFF, BMP; grey, palette, RGB, RGBA, 16-bit)"),),
    defaults={"steps": DEFAULT_STEPS, "lr": DEFAULT_LR, "lr_schedule": DEFAULT_LR_SCHEDULE, "lr_final_factor": DEFAULT_LR_FINAL_FACTOR},
    per_method={name: {"lr": lr} for name, lr in DEFAULT_LR_BY_METHOD.items()},
    default_notes={
        "sigma": f"{FF_SIGMA_PER_NYQUIST:g} x the training grid's Nyquist frequency for ff, twice that for pff and sape-ff",
        "omega_0": f"30 x (training samples along the long side / 128) for siren",
        "rbf_min_bandwidth": f"{RBF_MIN_BANDWIDTH_PER_SPACING:g} x the training pixels' spacing for rbfg and sape-rbfg",
    },
    summarise=_summarise,
)


def fit_image(
    image: Any,
    method: str | MethodConfig = "sape-ff",
    out: str | os.PathLike | None = None,
    settings: ImageSettings | None = None,
    overwrite: bool = False,
    callbacks: Sequence[Any] = (),
    **overrides: Any,
):
    """Python API: fit an image (a file path, or an array ``(H, W[, C])``) with ``method`` (3 x 256 MLP).

    A method given by name gets the task's defaults for the image's size (:func:`default_method_settings`)
    and the loop's (cosine-decayed learning rate); ``overrides`` change any setting of the task, the loop
    or the method (``steps=300``, ``max_size=256``, ``sigma=16``). ``extras["image"]`` is the fitted
    image ``(H, W, C)`` in [0, 1].

    Example
    -------
    >>> result = fit_image("cat.png", "sape-ff", out="runs/cat", max_size=128)  # doctest: +SKIP
    >>> result.metrics["psnr_heldout_db"], result.extras["image"].shape  # doctest: +SKIP
    """
    return run_plugin(PLUGIN, {"image": image}, settings, method, out, overwrite, callbacks=callbacks, **overrides)


_TASK_NAMES = ("FittedImage", "ImageFit", "load_image_task", "make_image_task", "pixel_coordinates", "prepare_image",
               "training_pixel_mask", "write_png", "write_tiff_32")


def __getattr__(name: str) -> Any:
    # the task module imports torch; it loads when one of its names is asked for
    if name in _TASK_NAMES:
        from sape_geo_plugins.image import task

        return getattr(task, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
