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
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    mode: str
    bit_depth: int
    path: Path

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def is_grey(self) -> bool:
        return self.pixels.shape[2] == 1


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


def _to_floats(image, mode: str, path: Path) -> LoadedImage:
    if image.width == 0 or image.height == 0:
        raise ImageReadError(f"{path} is an empty image ({image.width}x{image.height})")
    alpha = None
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
        peak = 65535.0 if raw.max(initial=0) <= 65535 else float(2**32 - 1)
        pixels = (raw / peak).astype(np.float32)[..., None]
        bit_depth = 16 if peak == 65535.0 else 32
    elif image.mode == "F":
        raw = np.asarray(image, dtype=np.float32)
        low, high = float(np.nanmin(raw)), float(np.nanmax(raw))
        pixels = ((raw - low) / (high - low if high > low else 1.0))[..., None]
        bit_depth = 32
    else:
        array = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image, dtype=np.float32) / 255.0
        pixels = array[..., None] if array.ndim == 2 else array
        bit_depth = 8
    if not np.isfinite(pixels).all():
        raise ImageReadError(f"{path} holds NaN or infinite pixel values")
    return LoadedImage(np.ascontiguousarray(pixels.astype(np.float32)), alpha, mode, bit_depth, path)
