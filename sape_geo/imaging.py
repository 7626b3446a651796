"""Reading images of any common mode into float arrays, with clear errors for bad files.

Palette, grey, grey+alpha, RGB, RGBA, 16-bit and 32-bit integer and float images (PNG, JPEG, GIF,
TIFF, BMP, ...) all come back as ``float32`` arrays in ``[0, 1]`` with their mode recorded, so tasks
never special-case a mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ImageReadError(ValueError):
    """The file is missing, unreadable, not an image, or empty."""


@dataclass(frozen=True)
class LoadedImage:
    """An image as floats.

    Attributes
    ----------
    pixels : (H, W, C) float32 in [0, 1]; C = 1 (grey) or 3 (colour), alpha removed.
    alpha : (H, W) float32 in [0, 1], or None when the file has no alpha channel.
    mode : the file's PIL mode (``"P"``, ``"L"``, ``"I;16"``, ``"RGB"``, ``"RGBA"``, ...).
    bit_depth : bits per channel of the stored samples (8, 16 or 32).
    path : where it came from.
    value_range : the stored values that became 0 and 1, for 32-bit integer and float images (their
        own minimum and maximum: such files rarely use their type's whole range); None when 0 and 1
        are the type's limits.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    mode: str
    bit_depth: int
    path: Path
    value_range: tuple[float, float] | None = None

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def is_grey(self) -> bool:
        return self.pixels.shape[2] == 1


def image_from_array(array: np.ndarray) -> LoadedImage:
    """An image in memory as a :class:`LoadedImage`: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``
    (the fourth channel is alpha) of bool, uint8, uint16 or floats in ``[0, 1]``.

    Raises
    ------
    ImageReadError : another shape, or floats outside ``[0, 1]`` (or not finite).

    Example
    -------
    >>> image_from_array(np.zeros((4, 5, 3), dtype=np.uint8)).pixels.shape
    (4, 5, 3)
    """
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImageReadError(f"expected an (H, W[, 1|3|4]) image array, got shape {array.shape}")
    if array.dtype == bool:
        values, depth = array.astype(np.float32), 1
    elif np.issubdtype(array.dtype, np.integer):
        depth = 8 if array.dtype.itemsize == 1 else 16
        values = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    else:
        values, depth = array.astype(np.float32), 32
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise ImageReadError("a float image array must hold finite values in [0, 1]")
    if values.ndim == 2:
        values = values[:, :, None]
    alpha = values[:, :, 3] if values.shape[2] == 4 else None
    pixels = np.ascontiguousarray(values[:, :, :3] if alpha is not None else values)
    return LoadedImage(pixels, alpha, "array", 8 if depth == 1 else depth, Path("<array>"))


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read ``path`` into a :class:`LoadedImage` (first frame of animated files).

    Raises
    ------
    ImageReadError : missing, unreadable or empty file, or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"image file not found: {path}")
    if path.is_dir():
        raise ImageReadError(f"expected an image file, got a directory: {path}")
    try:
        with Image.open(path) as image:
            image.seek(0)
            image.load()
            mode = image.mode
            return _to_floats(image, mode, path)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path} is not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageReadError):
            raise
        raise ImageReadError(f"cannot read image {path}: {error}") from None


def _stored_bits(image, raw: np.ndarray) -> int:
    """Bits per sample of a PIL mode ``I`` image: TIFF says so in its tags; other formats (16-bit PNG,
    PGM) store 16 unless the values say otherwise."""
    tags = getattr(image, "tag_v2", None)
    if tags is not None and 258 in tags:
        bits = tags[258]
        bits = bits[0] if isinstance(bits, tuple) else bits
        return 32 if int(bits) > 16 else 16
    return 16 if 0 <= raw.min(initial=0) and raw.max(initial=0) <= 65535 else 32


def _stretch(raw: np.ndarray, low: float, high: float) -> np.ndarray:
    """``raw`` mapped from ``[low, high]`` to ``[0, 1]`` (all zeros for a constant image)."""
    return ((raw - low) / (high - low if high > low else 1.0)).astype(np.float32)


def _to_floats(image, mode: str, path: Path) -> LoadedImage:
    if image.width == 0 or image.height == 0:
        raise ImageReadError(f"{path} is an empty image ({image.width}x{image.height})")
    alpha = None
    value_range = None
    if mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("L" if mode == "1" else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        array = np.asarray(image, dtype=np.float32) / 255.0
        alpha = array[..., -1]
        pixels = array[..., :-1]
        bit_depth = 8
    elif image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        pixels = np.asarray(image, dtype=np.float32)[..., None] / 65535.0
        bit_depth = 16
    elif image.mode == "I":
        raw = np.asarray(image, dtype=np.float64)
        bit_depth = _stored_bits(image, raw)
        if bit_depth == 32:
            # 32-bit integers: scaled by the type's range, ordinary data (counts, depths in mm) is black.
            value_range = (float(raw.min()), float(raw.max()))
            pixels = _stretch(raw, *value_range)[..., None]
        else:
            pixels = (raw / 65535.0).astype(np.float32)[..., None]
    elif image.mode == "F":
        raw = np.asarray(image, dtype=np.float64)
        if not np.isfinite(raw).all():
            raise ImageReadError(f"{path} holds NaN or infinite pixel values")
        value_range = (float(raw.min()), float(raw.max()))
        pixels = _stretch(raw, *value_range)[..., None]
        bit_depth = 32
    else:
        array = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image, dtype=np.float32) / 255.0
        pixels = array[..., None] if array.ndim == 2 else array
        bit_depth = 8
    if not np.isfinite(pixels).all():
        raise ImageReadError(f"{path} holds NaN or infinite pixel values")
    return LoadedImage(np.ascontiguousarray(pixels.astype(np.float32)), alpha, mode, bit_depth, path, value_range)
