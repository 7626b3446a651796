"""The image task (docs/method.md, "Images"): pixel position -> colour, from 25% of the pixels.

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

import math
import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.config import MaskDomain
from sape_geo.fitting import Batch, Task
from sape_geo.arrays import from_tensor
from sape_geo.imaging import ImageReadError, LoadedImage, image_from_array, read_image, stretch_label_map
from sape_geo.inference import predict_in_chunks, progress_in_chunks
from sape_geo.metrics import psnr
from sape_geo.networks import FieldModel
from sape_geo.pictures import save_heatmaps
from sape_geo.provenance import describe_input_file
from sape_geo.runs import RunDirectory

from sape_geo_plugins.image.settings import TRAIN_STRIDE, ImageSettings, default_method_settings

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
    """Stretch a label map to [0, 1] (a segmentation of values 0, 1, 2 is otherwise nearly black), append
    alpha as a channel and downscale so the long side is at most ``max_size``."""
    from skimage.transform import resize

    image = stretch_label_map(image)
    values = image.pixels if image.alpha is None else np.concatenate([image.pixels, image.alpha[..., None]], axis=2)
    height, width = values.shape[:2]
    if min(height, width) < 2 * TRAIN_STRIDE:
        raise ValueError(f"{image.path}: image of {width}x{height} pixels is too small (need at least 4x4)")
    if max_size is not None and max(height, width) > max_size:
        scale = max_size / max(height, width)
        shape = (max(2 * TRAIN_STRIDE, round(height * scale)), max(2 * TRAIN_STRIDE, round(width * scale)), values.shape[2])
        values = resize(values, shape, order=1, anti_aliasing=True, preserve_range=True)
    values = np.clip(values, 0.0, 1.0).astype(np.float32)
    source = {"mode": image.mode, "bit_depth": image.bit_depth, "height": height, "width": width, "value_rule": image.value_rule,
              "notes": list(image.notes)}
    if image.reduction > 1:
        source["reduced_on_read"] = image.reduction
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
    settings : task settings.
    input_path : the file it came from (for ``config.json``), if any.
    """

    name = "image"
    in_dim = 2

    def __init__(self, image: FittedImage, settings: ImageSettings = ImageSettings(), input_path: str | os.PathLike | None = None) -> None:
        self.image = image
        self.settings = settings
        self.input_path = Path(input_path) if input_path is not None else None
        self.out_dim = image.channels
        self.train_mask = training_pixel_mask(image.height, image.width)
        self.train_shape = (int(self.train_mask[:, 0].sum()), int(self.train_mask[0].sum()))
        self.all_coords = pixel_coordinates(image.height, image.width)
        flat_train = torch.from_numpy(self.train_mask.reshape(-1))
        values = torch.from_numpy(image.values.reshape(-1, image.channels))
        self.train_coords = self.all_coords[flat_train].contiguous()
        self.train_values = values[flat_train].contiguous()
        self.full_batch = self.train_coords.shape[0] <= settings.batch_size

    @property
    def grid_resolution(self) -> tuple[int, int]:
        return self.settings.grid_resolution or self.train_shape

    def mask_domain(self) -> MaskDomain:
        # One node per training pixel per axis by default. Full batches give every node fresh evidence
        # each step; mini-batches need the running mean over about one pass through the training set.
        smoothing = 1 if self.full_batch else math.ceil(self.train_coords.shape[0] / self.settings.batch_size)
        return MaskDomain("grid", resolution=self.grid_resolution, smoothing_steps=smoothing)

    def to(self, device: torch.device) -> None:
        self.train_coords = self.train_coords.to(device)
        self.train_values = self.train_values.to(device)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        if self.full_batch:
            return Batch(self.train_coords, None, {"target": self.train_values})
        chosen = torch.randint(self.train_coords.shape[0], (self.settings.batch_size,), generator=generator)
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

    def method_defaults(self, method: str) -> dict[str, float]:
        """Sigma, SIREN's omega_0 and the RBF bandwidth follow the training grid's size."""
        return default_method_settings(max(self.train_shape)).get(method, {})

    def product(self, model: FieldModel) -> dict[str, Any]:
        """``image``: the fitted image ``(H, W, C)`` in [0, 1], every pixel; ``notes``: how the input was
        read (its values' rule, EXIF rotation, frames, reduction on read)."""
        notes = [f"values: {self.image.source['value_rule']}"] if self.image.source.get("value_rule") else []
        return {"image": self.predict(model), "notes": notes + list(self.image.source.get("notes", ()))}

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
            "max_size": self.settings.max_size,
            "batch_size": self.settings.batch_size,
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


def load_image_task(path: str | os.PathLike, config: ImageSettings = ImageSettings()) -> ImageFit:
    """Read an image file of any common mode and build the task (raises ``ImageReadError`` on bad files)."""
    return ImageFit(prepare_image(read_image(path), config.max_size), config, path)


def make_image_task(settings: ImageSettings, image: Any) -> ImageFit:
    """The task for ``image``: a file path (any common mode), or an array ``(H, W)``, ``(H, W, 1|2|3|4)`` of
    bool, any integer type or floats in [0, 1] (:func:`~sape_geo.imaging.image_from_array` says how values
    become [0, 1]); a torch tensor is read as its array."""
    if isinstance(image, (str, os.PathLike)):
        return load_image_task(image, settings)
    image = from_tensor(image)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a file path or an (H, W[, C]) array, got {type(image).__name__}")
    try:
        return ImageFit(prepare_image(image_from_array(image), settings.max_size), settings)
    except ImageReadError as error:
        raise ImageReadError(f"image: {error}") from None
