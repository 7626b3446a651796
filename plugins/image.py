"""2-D image regression, the paper's image task (docs/method.md, "Images"): pixel position -> colour.

The network sees a regular grid holding 25% of the pixels (every second row and column) and is scored
by PSNR on all pixels, on the held-out 75%, and on the training pixels, separately. SAPE keeps its
progress on a 2-D grid whose resolution follows the training density (one node per training pixel per
axis), the resolution the paper found best (Fig. 7 right).

Coordinates: pixel ``(row, column)`` mapped to ``[-1, 1]`` per axis (row 0 -> -1, last row -> +1), so
a grid of resolution ``(rows, columns)`` lines up with the image. Values: the channels in ``[0, 1]``
(grey or RGB, plus alpha when the file has one).

Command: ``sape-geo image IMAGE --out RUN``. Python: :func:`fit_image`.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.experiment import RunResult, run_task
from sape_geo.fitting import Batch, FitConfig, Task
from sape_geo.imaging import LoadedImage, read_image
from sape_geo.inference import predict_in_chunks, progress_in_chunks
from sape_geo.methods import MaskDomain, MethodConfig
from sape_geo.metrics import psnr
from sape_geo.networks import FieldModel
from sape_geo.pictures import save_heatmaps
from sape_geo.legacy_cli import TaskPlugin, add_common_arguments, fit_config_from_args, method_config_from_args
from sape_geo.runs import RunDirectory, describe_input_file

# Loop defaults, chosen for held-out quality at 256 px within two CPU minutes (benchmarks/images.md):
# a cosine-decayed learning rate ends the fit on a small step instead of memorising the training grid
# with a constant one (the old 2000 constant-rate steps reached 46.8 dB on the training pixels but
# 22.7 dB on the held-out ones).
DEFAULT_STEPS = 300
DEFAULT_LR = 3e-3
# SIREN's published rate: its sine layers diverge or memorise at the Fourier networks' rate.
DEFAULT_LR_BY_METHOD = {"siren": 1e-4}
DEFAULT_LR_SCHEDULE = "cosine"
DEFAULT_LR_FINAL_FACTOR = 0.01
DEFAULT_MAX_SIZE = 512
TRAIN_STRIDE = 2  # every second row and column: 25% of the pixels, as the paper

# Default Fourier sigma as a fraction of the training grid's Nyquist frequency along the long side
# (``n / 4`` cycles per unit for ``n`` training samples across the 2 units of [-1, 1]), so the default
# suits any --max-size. FF's value is tuned for FF (benchmarks/images.md); SAPE uses twice FF's sigma,
# as the paper, and so does progressive FF, whose schedule also tames high sigmas.
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
    """The image task's loop defaults for ``method`` (learning rate :data:`DEFAULT_LR` or the method's
    own in :data:`DEFAULT_LR_BY_METHOD`, cosine schedule) as a :class:`FitConfig`; ``changes`` override
    any field."""
    options: dict[str, Any] = {"steps": steps, "lr": DEFAULT_LR_BY_METHOD.get(method or "", DEFAULT_LR), "lr_schedule": DEFAULT_LR_SCHEDULE, "lr_final_factor": DEFAULT_LR_FINAL_FACTOR}
    options.update(changes)
    return FitConfig(**options)


@dataclass(frozen=True)
class ImageFitConfig:
    """Settings of the image task.

    Attributes
    ----------
    max_size : the long side is downscaled (anti-aliased, aspect kept) to at most this many pixels;
        None keeps the file's size.
    batch_size : training pixels per step; when the training grid holds no more, every step is a full
        batch (one progress update per step, no smoothing); otherwise random mini-batches with SAPE's
        running-mean smoothing over ``ceil(train pixels / batch_size)`` steps.
    grid_resolution : SAPE grid nodes ``(rows, columns)``; None = the training grid's size.
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


@dataclass(frozen=True)
class FittedImage:
    """The image the network fits, after ``max_size``.

    Attributes
    ----------
    values : (H, W, C) float32 in [0, 1]; C = 1 or 3 colour channels, plus alpha last when ``has_alpha``.
    has_alpha : the last channel is alpha.
    bit_depth : 16 when the source stored more than 8 bits per sample (result.png keeps 16 bits).
    source : the file's mode and size before resizing, for ``config.json``.
    """

    values: np.ndarray
    has_alpha: bool
    bit_depth: int
    source: dict[str, Any]

    @property
    def height(self) -> int:
        return int(self.values.shape[0])

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    @property
    def channels(self) -> int:
        return int(self.values.shape[2])


def prepare_image(image: LoadedImage, max_size: int | None) -> FittedImage:
    """Append alpha as a channel and downscale so the long side is at most ``max_size``."""
    from skimage.transform import resize

    values = image.pixels if image.alpha is None else np.concatenate([image.pixels, image.alpha[..., None]], axis=2)
    height, width = values.shape[:2]
    if min(height, width) < 2 * TRAIN_STRIDE:
        raise ValueError(f"{image.path}: image of {width}x{height} pixels is too small (need at least 4x4)")
    if max_size is not None and max(height, width) > max_size:
        scale = max_size / max(height, width)
        shape = (max(2 * TRAIN_STRIDE, round(height * scale)), max(2 * TRAIN_STRIDE, round(width * scale)), values.shape[2])
        values = resize(values, shape, order=1, anti_aliasing=True, preserve_range=True)
    values = np.clip(values, 0.0, 1.0).astype(np.float32)
    source = {"mode": image.mode, "bit_depth": image.bit_depth, "height": height, "width": width}
    if image.value_range is not None:
        source["value_range"] = list(image.value_range)
    return FittedImage(np.ascontiguousarray(values), image.alpha is not None, 16 if image.bit_depth > 8 else 8, source)


def pixel_coordinates(height: int, width: int) -> Tensor:
    """Every pixel's ``(row, column)`` in ``[-1, 1]^2``, row-major, ``(H * W, 2)``."""
    rows = torch.linspace(-1.0, 1.0, height)
    columns = torch.linspace(-1.0, 1.0, width)
    return torch.stack(torch.meshgrid(rows, columns, indexing="ij"), dim=-1).reshape(-1, 2)


def training_pixel_mask(height: int, width: int, stride: int = TRAIN_STRIDE) -> np.ndarray:
    """``(H, W)`` booleans: True on every ``stride``-th row and column (25% of the pixels for 2)."""
    mask = np.zeros((height, width), dtype=bool)
    mask[::stride, ::stride] = True
    return mask


class ImageFit(Task):
    """Fit colour at pixel positions from a regular 25% subset; per-point loss = per-pixel MSE.

    Parameters
    ----------
    image : the prepared image (see :func:`prepare_image`).
    config : task settings.
    input_path : the file it came from (for ``config.json``), if any.
    """

    name = "image"
    in_dim = 2

    def __init__(self, image: FittedImage, config: ImageFitConfig = ImageFitConfig(), input_path: str | os.PathLike | None = None) -> None:
        self.image = image
        self.config = config
        self.input_path = Path(input_path) if input_path is not None else None
        self.out_dim = image.channels
        self.train_mask = training_pixel_mask(image.height, image.width)
        self.train_shape = (int(self.train_mask[:, 0].sum()), int(self.train_mask[0].sum()))
        self.all_coords = pixel_coordinates(image.height, image.width)
        flat_train = torch.from_numpy(self.train_mask.reshape(-1))
        values = torch.from_numpy(image.values.reshape(-1, image.channels))
        self.train_coords = self.all_coords[flat_train].contiguous()
        self.train_values = values[flat_train].contiguous()
        self.full_batch = self.train_coords.shape[0] <= config.batch_size

    @property
    def grid_resolution(self) -> tuple[int, int]:
        return self.config.grid_resolution or self.train_shape

    def mask_domain(self) -> MaskDomain:
        # One node per training pixel per axis by default. Full batches give every node fresh evidence
        # each step; mini-batches need the running mean over about one pass through the training set.
        smoothing = 1 if self.full_batch else math.ceil(self.train_coords.shape[0] / self.config.batch_size)
        return MaskDomain("grid", resolution=self.grid_resolution, smoothing_steps=smoothing)

    def to(self, device: torch.device) -> None:
        self.train_coords = self.train_coords.to(device)
        self.train_values = self.train_values.to(device)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        if self.full_batch:
            return Batch(self.train_coords, None, {"target": self.train_values})
        chosen = torch.randint(self.train_coords.shape[0], (self.config.batch_size,), generator=generator)
        chosen = chosen.to(self.train_coords.device)
        return Batch(self.train_coords[chosen], None, {"target": self.train_values[chosen]})

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        per_point = ((output - batch.data["target"]) ** 2).mean(dim=1)
        return per_point.mean(), per_point

    def predict(self, model: FieldModel) -> np.ndarray:
        """The fitted image ``(H, W, C)`` in ``[0, 1]`` (clamped), every pixel."""
        values = predict_in_chunks(model, self.all_coords).numpy()
        return np.clip(values, 0.0, 1.0).reshape(self.image.height, self.image.width, self.image.channels)

    def evaluate(self, model: FieldModel) -> dict[str, float]:
        prediction = self.predict(model)
        target = self.image.values
        return {
            "psnr_all_db": psnr(prediction, target),
            "psnr_heldout_db": psnr(prediction, target, ~self.train_mask),
            "psnr_train_db": psnr(prediction, target, self.train_mask),
            "height_px": self.image.height,
            "width_px": self.image.width,
        }

    def progress_map(self, model: FieldModel) -> np.ndarray:
        return progress_in_chunks(model, self.all_coords).numpy().reshape(self.image.height, self.image.width)

    def export(self, model: FieldModel, run: RunDirectory) -> None:
        prediction = self.predict(model)
        with run.atomic("result.png") as temporary:
            write_png(temporary, prediction, self.image.has_alpha, self.image.bit_depth)
        if self.image.source.get("bit_depth") == 32 and self.image.channels == 1:
            # PNG stops at 16 bits: the 32-bit result, in the input's own type and values, goes beside it.
            with run.atomic("result.tif") as temporary:
                write_tiff_32(temporary, prediction[..., 0], self.image.source["mode"], self.image.source.get("value_range"))
        spec = getattr(model, "spec", None)
        title = f"{spec.method.name}: levels open per pixel" if spec is not None else "levels open per pixel"
        with run.atomic("heatmap.png") as temporary:
            save_heatmaps(temporary, [self.progress_map(model)], float(model.max_progress), titles=[title])

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "task": self.name,
            "height_px": self.image.height,
            "width_px": self.image.width,
            "channels": self.image.channels,
            "has_alpha": self.image.has_alpha,
            "source": self.image.source,
            "train_stride": TRAIN_STRIDE,
            "train_pixels": int(self.train_coords.shape[0]),
            "grid_resolution": list(self.grid_resolution),
            "full_batch": self.full_batch,
            "max_size": self.config.max_size,
            "batch_size": self.config.batch_size,
        }
        if self.input_path is not None:
            data["input"] = describe_input_file(self.input_path)
        return data


def write_png(path: str | os.PathLike, values: np.ndarray, has_alpha: bool, bit_depth: int) -> None:
    """Write ``values`` ``(H, W, C)`` in ``[0, 1]`` as PNG in the input's mode family.

    Grey -> ``L`` (``I;16`` for 16-bit sources, ``LA`` with alpha); colour -> ``RGB`` (``RGBA`` with
    alpha). PNG cannot hold 16-bit colour through PIL, so colour is always 8 bits per channel.
    """
    from PIL import Image

    values = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    colour_channels = values.shape[2] - (1 if has_alpha else 0)
    if colour_channels == 1 and not has_alpha and bit_depth > 8:
        picture = Image.fromarray(np.round(values[..., 0] * 65535.0).astype(np.uint16))
    else:
        bytes_ = np.round(values * 255.0).astype(np.uint8)
        picture = Image.fromarray(bytes_[..., 0] if values.shape[2] == 1 else bytes_)
    picture.save(path, format="PNG")


def write_tiff_32(path: str | os.PathLike, values: np.ndarray, mode: str, value_range: Sequence[float] | None) -> None:
    """Write grey ``values`` ``(H, W)`` in ``[0, 1]`` as a 32-bit TIFF: ``mode`` ``"I"`` (signed integers)
    or ``"F"`` (floats), mapped back onto ``value_range`` (the input's stored minimum and maximum)."""
    from PIL import Image

    low, high = value_range if value_range is not None else (0.0, float(2**31 - 1))
    stored = low + np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0) * (high - low)
    if mode == "I":
        array = np.clip(np.round(stored), -(2**31), 2**31 - 1).astype(np.int32)
    else:
        array = stored.astype(np.float32)
    Image.fromarray(array).save(path, format="TIFF")


def load_image_task(path: str | os.PathLike, config: ImageFitConfig = ImageFitConfig()) -> ImageFit:
    """Read an image file of any common mode and build the task (raises ``ImageReadError`` on bad files)."""
    return ImageFit(prepare_image(read_image(path), config.max_size), config, path)


def fit_image(
    path: str | os.PathLike,
    method: str | MethodConfig = "sape-ff",
    out: str | os.PathLike | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    config: ImageFitConfig = ImageFitConfig(),
    overwrite: bool = False,
    **fit_options: Any,
) -> RunResult:
    """Python API: fit the image at ``path`` with ``method`` (3 x 256 MLP) and optionally write a run.

    A method given by name gets the task's defaults for the image's size (:func:`default_method_settings`);
    the loop gets :func:`default_fit_config` (cosine-decayed learning rate), ``fit_options`` override it.

    Example
    -------
    >>> result = fit_image("cat.png", "sape-ff", out="runs/cat", config=ImageFitConfig(max_size=128))  # doctest: +SKIP
    >>> result.metrics["psnr_heldout_db"]  # doctest: +SKIP
    """
    task = load_image_task(path, config)
    if not isinstance(method, MethodConfig):
        method = MethodConfig(name=method, **default_method_settings(max(task.train_shape)).get(method, {}))
    fit = default_fit_config(method.name, steps=steps, seed=seed, **fit_options)
    return run_task(task, method, fit, out, overwrite)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file (PNG, JPEG, GIF, TIFF, BMP; grey, palette, RGB, RGBA, 16-bit)")
    task = parser.add_argument_group("task")
    task.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE,
                      help=f"downscale so the long side is at most this many pixels (default {DEFAULT_MAX_SIZE}; 0 = keep)")
    task.add_argument("--batch-size", type=int, default=65536,
                      help="training pixels per step; full batches when the training grid is no larger (default 65536)")
    task.add_argument("--grid-resolution", type=int, nargs=2, default=None, metavar=("ROWS", "COLS"),
                      help="SAPE grid nodes (default: one per training pixel per axis)")
    add_common_arguments(
        parser, default_steps=DEFAULT_STEPS, default_hidden_layers=3,
        sigma_help="Fourier sigma in cycles per unit of [-1, 1] (default: a quarter of the training grid's "
        "Nyquist frequency for ff, twice that for pff and sape-ff)",
    )


def _run(args: argparse.Namespace) -> RunResult:
    config = ImageFitConfig(
        max_size=args.max_size if args.max_size > 0 else None,
        batch_size=args.batch_size,
        grid_resolution=tuple(args.grid_resolution) if args.grid_resolution else None,
    )
    task = load_image_task(args.image, config)
    method = method_config_from_args(args, default_sigmas(max(task.train_shape)))
    return run_task(task, method, fit_config_from_args(args), args.out, args.overwrite, extra_config={"argv": vars(args)})


def _summarise(result: RunResult) -> list[str]:
    m = result.metrics
    return [
        f"PSNR all {m['psnr_all_db']:.2f} dB   held-out 75% {m['psnr_heldout_db']:.2f} dB   train 25% {m['psnr_train_db']:.2f} dB",
        f"heat map: mean {m['mean_progress']:.1f} of {m['max_progress']:.0f} levels open   ({m['width_px']}x{m['height_px']} px)",
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
    add_arguments=_add_arguments,
    run=_run,
    summarise=_summarise,
)
