"""``sape-geo image``: the task's declaration (settings, defaults, summary) and its Python API,
:func:`fit_image`. Torch-free: the task (:mod:`.task`) loads by name when a fit starts."""

from __future__ import annotations

from typing import Any

from sape_geo.registry import Input, TaskPlugin

from .settings import (
    DEFAULT_LR,
    DEFAULT_LR_BY_METHOD,
    DEFAULT_LR_FINAL_FACTOR,
    DEFAULT_LR_SCHEDULE,
    DEFAULT_STEPS,
    FF_SIGMA_PER_NYQUIST,
    RBF_MIN_BANDWIDTH_PER_SPACING,
    ImageSettings,
)



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


fit_image = PLUGIN.python_function("fit_image", """Python API: fit an image (a file path, or an array ``(H, W[, C])``) with ``method`` (3 x 256 MLP).

A method given by name gets the task's defaults for the image's size (:func:`default_method_settings`)
and the loop's (cosine-decayed learning rate); ``overrides`` change any setting of the task, the loop
or the method (``steps=300``, ``max_size=256``, ``sigma=16``). ``extras["image"]`` is the fitted
image ``(H, W, C)`` in [0, 1].

Example
-------
>>> result = fit_image("cat.png", "sape-ff", out="runs/cat", max_size=128)  # doctest: +SKIP
>>> result.metrics["psnr_heldout_db"], result.extras["image"].shape  # doctest: +SKIP
""")


# The image task's loop defaults for a method (the plugin's: learning rate DEFAULT_LR or the method's
# own, cosine schedule) as a FitConfig: default_fit_config("siren", steps=7).
default_fit_config = PLUGIN.default_fit_config
