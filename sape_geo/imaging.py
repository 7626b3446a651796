"""Reading images of any common mode into float arrays, with clear errors for bad files.

Palette, grey, grey+alpha, RGB, RGBA, 16-bit and 32-bit integer and float images (PNG, JPEG, GIF,
TIFF, BMP, ...) all come back as ``float32`` arrays in ``[0, 1]`` with their mode recorded, so tasks
never special-case a mode. How stored values became ``[0, 1]`` is one documented rule, recorded in
:attr:`LoadedImage.value_rule`:

- files: 8-bit samples / 255, 16-bit / 65535; signed integers (TIFF), 32-bit integers and floats
  stretched from their own minimum to maximum (such files rarely use their type's range, and signed
  ones hold values below zero); the rule names the file's type ("signed 16-bit integers");
- arrays (:func:`image_from_array`): bool as 0/1, ``uint8`` / 255, ``uint16`` / 65535 (their types'
  ranges, as image files store them); any other integer type by its values: largest value <= 255 ->
  / 255, <= 65535 -> / 65535, larger -> stretched from minimum to maximum (negative values are
  refused); floats must already lie in ``[0, 1]``.

A label map (a segmentation of values 0, 1, 2, ...: :func:`label_map_values`) is nearly black by these
rules; :func:`stretch_label_map` stretches it from its smallest to its largest label.

Files are read as a camera means them: the EXIF orientation is applied (a portrait phone photo stays
portrait); an animated file gives its first frame, and the notes say so. Images above
:data:`READ_BUDGET_PIXELS` are reduced on read by the smallest whole factor that brings them within it
(JPEG decodes at the reduced size; other formats are box-filtered by PIL before becoming floats, so a
13000 x 13000 PNG never exists as floats), and the notes say so; images above PIL's decompression-bomb
limit (:data:`MAX_FILE_PIXELS`) are refused.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

# Pixels an image may keep once read: 16 megapixels (4096 x 4096) are 200 MB as RGB floats, within
# every task's memory on a laptop; larger files are reduced on read (see the module docstring).
READ_BUDGET_PIXELS = 4096 * 4096
# A label map (a segmentation: 0 background, 1, 2, ... one value per class) stores a few small
# integers, so read as grey it is nearly black. A grey image whose values span less than this much of
# [0, 1] (10 levels of 8 bits) and hold 2 to LABEL_MAP_MAX_LABELS distinct values is taken as one.
LABEL_MAP_SPAN = 0.04
LABEL_MAP_MAX_LABELS = 256
# Larger files are refused before they are decoded: PIL's decompression-bomb limit (2 x its
# MAX_IMAGE_PIXELS, about 179 megapixels), which also guards against a small file that unpacks to gigabytes.
MAX_FILE_PIXELS = 2 * 89_478_485


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
    value_range : the stored values that became 0 and 1, for signed integer, 32-bit integer and float
        images (their own minimum and maximum: such files rarely use their type's whole range) and
        stretched label maps; None when 0 and 1 are the type's limits.
    value_rule : how the stored values became ``[0, 1]``, in words (see the module docstring).
    notes : what reading changed or chose (EXIF rotation, first of several frames, reduced size).
    reduction : the whole factor the file was reduced by on read (1: full size; pixel ``(r, c)`` then
        covers the file's pixels ``reduction * r ..`` and ``reduction * c ..``).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None
    mode: str
    bit_depth: int
    path: Path
    value_range: tuple[float, float] | None = None
    value_rule: str = ""
    notes: tuple[str, ...] = ()
    reduction: int = 1

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
    """An image in memory as a :class:`LoadedImage`: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 2)``, ``(H, W, 3)`` or
    ``(H, W, 4)`` (the last channel of 2 or 4 is alpha) of bool, any integer type, or floats in ``[0, 1]``; integer values
    become ``[0, 1]`` by the rule in the module docstring (``value_rule`` says which applied).

    Raises
    ------
    ImageReadError : another shape, an empty array, negative integers, or floats outside ``[0, 1]`` (or
        not finite).

    Example
    -------
    >>> image_from_array(np.zeros((4, 5, 3), dtype=np.uint8)).pixels.shape
    (4, 5, 3)
    >>> image_from_array(np.full((4, 4), 200, dtype=np.int64)).value_rule
    'int64 values 0..255 read as 8-bit (divided by 255)'
    """
    array = np.asarray(array)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageReadError(f"expected an (H, W[, 1|2|3|4]) image array, got shape {array.shape}")
    if array.size == 0:
        raise ImageReadError(f"the image array is empty (shape {array.shape})")
    value_range = None
    if array.dtype == bool:
        values, depth, rule = array.astype(np.float32), 8, "bool: False 0, True 1"
    elif np.issubdtype(array.dtype, np.integer):
        values, depth, rule, value_range = _integer_values(array)
    elif np.issubdtype(array.dtype, np.floating):
        values, depth, rule = array.astype(np.float32), 32, f"{array.dtype} values used as they are"
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise ImageReadError(
                f"a float image array must hold finite values in [0, 1], got {float(np.nanmin(array)):.4g}..{float(np.nanmax(array)):.4g} "
                "(divide 8-bit values by 255)"
            )
    else:
        raise ImageReadError(f"an image array must hold bool, integers or floats, got dtype {array.dtype}")
    if values.ndim == 2:
        values = values[:, :, None]
    alpha = values[:, :, -1] if values.shape[2] in (2, 4) else None
    pixels = np.ascontiguousarray(values[:, :, :-1] if alpha is not None else values)
    return LoadedImage(pixels, alpha, "array", depth, Path("<array>"), value_range, rule)


def _integer_values(array: np.ndarray) -> tuple[np.ndarray, int, str, tuple[float, float] | None]:
    """Floats in [0, 1], bit depth, the rule in words, and the stretched range (or None) of an integer
    array: uint8 and uint16 by their types' range, any other integer type by its values."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0, 8, "uint8 divided by 255", None
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0, 16, "uint16 divided by 65535", None
    low, high = int(array.min()), int(array.max())
    if low < 0:
        raise ImageReadError(f"an integer image array must not hold negative values, got a minimum of {low} ({array.dtype})")
    if high <= 255:
        return array.astype(np.float32) / 255.0, 8, f"{array.dtype} values 0..255 read as 8-bit (divided by 255)", None
    if high <= 65535:
        return array.astype(np.float32) / 65535.0, 16, f"{array.dtype} values 0..65535 read as 16-bit (divided by 65535)", None
    stretched = _stretch(array.astype(np.float64), float(low), float(high))
    return stretched, 32, f"{array.dtype} values stretched from their minimum {low} to their maximum {high}", (float(low), float(high))


def label_map_values(image: LoadedImage) -> np.ndarray | None:
    """The distinct values of a label map, in the file's stored units (``0, 1, 2`` for an 8-bit map of
    three labels), or None when ``image`` is not one: see :data:`LABEL_MAP_SPAN` (a colour image whose
    channels are all equal, such as a palette PNG of grey entries, counts as grey).

    Example
    -------
    >>> label_map_values(image_from_array(np.array([[0, 1], [2, 2]], dtype=np.uint8)))
    array([0., 1., 2.])
    """
    grey = image.pixels[..., 0]
    if not 0.0 < float(grey.max()) - float(grey.min()) < LABEL_MAP_SPAN:
        return None
    if not (image.is_grey or (image.pixels == image.pixels[..., :1]).all()):  # a palette PNG of grey entries is grey
        return None
    values = np.unique(grey).astype(np.float64)
    if values.size > LABEL_MAP_MAX_LABELS:
        return None
    # 8- and 16-bit samples were divided by their type's maximum; other images hold their values as read.
    return np.round(values * (2**image.bit_depth - 1)) if image.bit_depth in (8, 16) else values


def describe_labels(labels: np.ndarray, shown: int = 8) -> str:
    """``labels`` (from :func:`label_map_values`) in words: ``"3 labels (0, 1, 2)"``, the first ``shown`` listed."""
    listing = ", ".join(f"{value:g}" for value in labels[:shown]) + (", ..." if labels.size > shown else "")
    return f"{labels.size} labels ({listing})"


def stretch_label_map(image: LoadedImage) -> LoadedImage:
    """``image`` with a label map's values stretched to ``[0, 1]`` (its smallest label black, its largest
    white; ``value_rule`` and ``value_range`` say so), or ``image`` itself when it is not a label map."""
    labels = label_map_values(image)
    if labels is None:
        return image
    low, high = float(image.pixels.min()), float(image.pixels.max())
    rule = f"a label map of {describe_labels(labels)}: stretched from {labels[0]:g} to {labels[-1]:g} onto [0, 1]"
    stretched = _stretch(image.pixels.astype(np.float64), low, high)
    return replace(image, pixels=stretched, value_rule=rule, value_range=(float(labels[0]), float(labels[-1])))


def read_image(path: str | os.PathLike, budget_pixels: int | None = None) -> LoadedImage:
    """Read ``path`` into a :class:`LoadedImage`: EXIF orientation applied, the first frame of an animated
    file, reduced on read to at most ``budget_pixels`` pixels (None: :data:`READ_BUDGET_PIXELS`; see the
    module docstring).

    Raises
    ------
    ImageReadError : missing, unreadable or empty file, not an image, or more than :data:`MAX_FILE_PIXELS`.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    budget_pixels = READ_BUDGET_PIXELS if budget_pixels is None else budget_pixels
    if not path.exists():
        raise ImageReadError(f"image file not found: {path}")
    if path.is_dir():
        raise ImageReadError(f"expected an image file, got a directory: {path}")
    try:
        with warnings.catch_warnings():
            # Sizes between PIL's warning and its limit are handled by the budget below, not by a warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return _read_opened(image, path, budget_pixels)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path} is not an image file PIL can read") from None
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f" ({int(found.group(1)) / 1e6:.0f} megapixels)" if found else ""
        raise ImageReadError(
            f"{path} is too large to read{size}: the limit is {MAX_FILE_PIXELS / 1e6:.0f} megapixels (PIL's "
            "decompression-bomb guard); downsize it first"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageReadError):
            raise
        raise ImageReadError(f"cannot read image {path}: {error}") from None


def reduction_factor(height: int, width: int, budget_pixels: int) -> int:
    """The smallest whole factor ``k`` with ``ceil(height / k) * ceil(width / k) <= budget_pixels``.

    Example
    -------
    >>> reduction_factor(13000, 13000, 4096 * 4096)
    4
    """
    factor = max(1, math.ceil(math.sqrt(height * width / budget_pixels)))
    while math.ceil(height / factor) * math.ceil(width / factor) > budget_pixels:
        factor += 1
    return factor


def _read_opened(image, path: Path, budget_pixels: int) -> LoadedImage:
    from PIL import ImageOps

    notes = []
    frames = int(getattr(image, "n_frames", 1))
    if frames > 1:
        image.seek(0)
        notes.append(f"the file holds {frames} frames; frame 1 is used")
    width, height = image.size
    if width == 0 or height == 0:
        raise ImageReadError(f"{path} is an empty image ({width}x{height})")
    wanted = reduction_factor(height, width, budget_pixels)
    if wanted > 1:  # JPEG decodes at 1/2, 1/4 or 1/8 of its size directly; other formats ignore this
        image.draft(None, (math.ceil(width / wanted), math.ceil(height / wanted)))
    image.load()
    decoded_factor = max(1, round(width / image.width))
    mode = image.mode
    tags = getattr(image, "tag_v2", None)  # a TIFF's; turning, converting and reducing drop them
    orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation
    if orientation not in (None, 1):
        image = ImageOps.exif_transpose(image)
        notes.append(f"turned upright by its EXIF orientation ({orientation})")
    loaded = _to_floats(image, mode, tags, path, budget_pixels)
    factor = decoded_factor * loaded.reduction
    if factor > 1:
        notes.append(
            f"{width}x{height} px is more than the {budget_pixels / 1e6:.1f} megapixels read: reduced {factor}x on read "
            f"to {loaded.width}x{loaded.height} px (coordinates stay the file's)"
        )
    return LoadedImage(
        loaded.pixels, loaded.alpha, loaded.mode, loaded.bit_depth, path, loaded.value_range, loaded.value_rule,
        tuple(notes), factor,
    )


def _stored_bits(tags, raw: np.ndarray) -> int:
    """Bits per sample of a PIL mode ``I`` image: a TIFF says so in its tags (``tag_v2``); other formats
    (16-bit PNG, PGM) store 16 unless the values say otherwise."""
    if tags is not None and 258 in tags:
        bits = tags[258]
        bits = bits[0] if isinstance(bits, tuple) else bits
        return 32 if int(bits) > 16 else 16
    return 16 if 0 <= raw.min(initial=0) and raw.max(initial=0) <= 65535 else 32


def _signed_samples(tags) -> bool:
    """Whether a TIFF stores signed integers (its SampleFormat tag is 2); PIL reads a signed 8-bit file as
    unsigned bytes (-1 as 255) and a signed 16-bit one as mode ``I``, like 32-bit integers."""
    if tags is None or 339 not in tags:
        return False
    sample_format = tags[339]
    return (sample_format[0] if isinstance(sample_format, tuple) else sample_format) == 2


def _stretch(raw: np.ndarray, low: float, high: float) -> np.ndarray:
    """``raw`` mapped from ``[low, high]`` to ``[0, 1]`` (all zeros for a constant image)."""
    return ((raw - low) / (high - low if high > low else 1.0)).astype(np.float32)


def _to_floats(image, mode: str, tags, path: Path, budget_pixels: int) -> LoadedImage:
    """Floats in [0, 1] of a loaded PIL image (``mode``: the file's; ``tags``: a TIFF's ``tag_v2`` or
    None), box-filtered in PIL first when it holds more than ``budget_pixels`` (``reduction`` of the
    result says by how much)."""
    from PIL import Image

    if image.width == 0 or image.height == 0:
        raise ImageReadError(f"{path} is an empty image ({image.width}x{image.height})")
    # One of L, LA, RGB, RGBA, I (with 16-bit sources marked), F: the modes PIL can reduce and numpy reads.
    sixteen_bit = image.mode.startswith("I;16")
    signed = _signed_samples(tags)
    if image.mode == "L" and signed:
        image = Image.fromarray(np.asarray(image).view(np.int8).astype(np.int32))  # mode I, the bytes' real values
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode == "PA":
        image = image.convert("RGBA")
    elif image.mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert("LA" if image.mode == "L" else "RGBA")  # a tRNS key colour is alpha
    elif sixteen_bit:
        image = image.convert("I")
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX, ...
    reduction = reduction_factor(image.height, image.width, budget_pixels)
    if reduction > 1:
        image = image.reduce(reduction)
    alpha = None
    value_range = None
    if image.mode in ("RGBA", "LA"):
        array = np.asarray(image, dtype=np.float32) / 255.0
        alpha = array[..., -1]
        pixels = array[..., :-1]
        bit_depth, rule = 8, "8-bit samples divided by 255"
    elif image.mode == "I":
        raw = np.asarray(image, dtype=np.float64)
        bit_depth = 8 if mode == "L" else 16 if sixteen_bit else _stored_bits(tags, raw)
        if bit_depth == 32 or signed:
            # 32-bit and signed integers: scaled by the type's range, ordinary data (counts, depths in mm,
            # heights above sea level) is black, or below zero.
            value_range = (float(raw.min()), float(raw.max()))
            pixels = _stretch(raw, *value_range)[..., None]
            kind = "signed " if signed else "unsigned " if tags is not None else ""  # TIFF's default: unsigned
            rule = f"{kind}{bit_depth}-bit integers stretched from their minimum {value_range[0]:g} to their maximum {value_range[1]:g}"
        else:
            pixels = (raw / 65535.0).astype(np.float32)[..., None]
            rule = "16-bit samples divided by 65535"
    elif image.mode == "F":
        raw = np.asarray(image, dtype=np.float64)
        if not np.isfinite(raw).all():
            raise ImageReadError(f"{path} holds NaN or infinite pixel values")
        value_range = (float(raw.min()), float(raw.max()))
        pixels = _stretch(raw, *value_range)[..., None]
        bit_depth = 32
        rule = f"32-bit floats stretched from their minimum {value_range[0]:g} to their maximum {value_range[1]:g}"
    else:
        array = np.asarray(image, dtype=np.float32) / 255.0
        pixels = array[..., None] if array.ndim == 2 else array
        bit_depth, rule = 8, "8-bit samples divided by 255"
    if not np.isfinite(pixels).all():
        raise ImageReadError(f"{path} holds NaN or infinite pixel values")
    return LoadedImage(
        np.ascontiguousarray(pixels.astype(np.float32)), alpha, mode, bit_depth, path, value_range, rule, reduction=reduction
    )
