"""Silhouettes the project makes itself: stars, gears and font glyphs, as polygons and images.

They serve the demos (``assets/make_silhouettes.py``) and the tests: their outlines are known exactly,
they need no downloaded data, and glyphs come from the DejaVu Sans font that matplotlib ships.
"""

from __future__ import annotations

import math

import numpy as np

from sape_geo.geometry.polygon import even_odd_fill


def star_outline(tips: int = 5, outer: float = 1.0, inner: float = 0.45, rotation: float = 0.0) -> np.ndarray:
    """A star polygon ``(2 tips, 2)`` centred at the origin, alternating outer and inner radii.

    ``rotation`` is in radians; with 0 the first tip points along ``-y`` (up in image coordinates).
    """
    if tips < 3 or not 0 < inner < outer:
        raise ValueError(f"need tips >= 3 and 0 < inner < outer, got {tips}, {inner}, {outer}")
    angles = rotation - math.pi / 2 + np.arange(2 * tips) * (math.pi / tips)
    radii = np.where(np.arange(2 * tips) % 2 == 0, outer, inner)
    return np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


def gear_outline(teeth: int = 12, outer: float = 1.0, root: float = 0.8, samples_per_tooth: int = 16) -> np.ndarray:
    """A gear polygon ``(teeth * samples_per_tooth, 2)``: trapezoidal teeth between radii ``root`` and ``outer``."""
    if teeth < 3 or not 0 < root < outer or samples_per_tooth < 8:
        raise ValueError("need teeth >= 3, 0 < root < outer and samples_per_tooth >= 8")
    angles = np.arange(teeth * samples_per_tooth) * (2 * math.pi / (teeth * samples_per_tooth))
    phase = (angles * teeth / (2 * math.pi)) % 1.0
    # Per tooth period: a quarter at the root, a flank, a quarter on top, a flank.
    profile = np.clip(np.minimum((phase - 0.125) / 0.125, (0.875 - phase) / 0.125), 0.0, 1.0)
    radii = root + (outer - root) * profile
    return np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])


def glyph_polygons(character: str, family: str = "DejaVu Sans") -> list[np.ndarray]:
    """The closed contours of a font glyph (outer boundaries and holes), ``y`` pointing down, in font units.

    Uses matplotlib's bundled DejaVu fonts, so no font file is downloaded.
    """
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    if len(character) != 1 or character.isspace():
        raise ValueError(f"expected one visible character, got {character!r}")
    path = TextPath((0.0, 0.0), character, size=100.0, prop=FontProperties(family=family, weight="bold"))
    polygons = [np.asarray(polygon, dtype=np.float64) for polygon in path.to_polygons(closed_only=True)]
    polygons = [polygon[:-1] if np.array_equal(polygon[0], polygon[-1]) else polygon for polygon in polygons]
    return [polygon * np.array([1.0, -1.0]) for polygon in polygons if len(polygon) >= 3]


def render_polygons(polygons: list[np.ndarray], size: int = 128, margin: float = 0.1, supersample: int = 4) -> np.ndarray:
    """Rasterise polygons (filled together by the even-odd rule) into a ``(size, size)`` float image in [0, 1].

    The polygons' joint bounding box is scaled uniformly to fit ``size`` pixels with ``margin`` (a
    fraction of ``size``) on each side; a negative margin crops the shape so it touches the border.
    Each pixel is the covered fraction of ``supersample^2`` sub-pixels (anti-aliased edges).
    """
    points = np.vstack(polygons)
    low, high = points.min(axis=0), points.max(axis=0)
    usable = size * (1.0 - 2.0 * margin)
    scale = usable / float((high - low).max())
    offset = (size - (high - low) * scale) / 2.0
    fine = size * supersample
    coverage = np.zeros((fine, fine), dtype=bool)
    for polygon in polygons:
        # Pixel edges at 0..size, so sub-pixel centres sit at (k + 0.5) / supersample.
        pixel = (polygon - low) * scale + offset
        coverage ^= even_odd_fill(pixel * supersample - 0.5, fine, fine)
    return coverage.reshape(size, supersample, size, supersample).mean(axis=(1, 3))


STYLES = ("light on dark", "dark on light", "opaque on transparent")


def save_silhouette_image(path, coverage: np.ndarray, style: str = "light on dark", mode: str | None = None) -> None:
    """Write a coverage image (``(H, W)`` in [0, 1], 1 = shape) as a silhouette file.

    Parameters
    ----------
    path : output file; the format follows the suffix (PNG, GIF, JPEG, TIFF, BMP...).
    coverage : the shape's coverage per pixel.
    style : one of :data:`STYLES`: white shape on black, black shape on white, or a mid-grey shape
        whose alpha is the coverage on a fully transparent background.
    mode : PIL mode to store (``"L"``, ``"P"``, ``"RGB"``, ``"RGBA"``, ``"1"``...); default: ``"RGBA"``
        for the transparent style, else ``"L"``.
    """
    from PIL import Image

    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    value = np.clip(np.asarray(coverage, dtype=np.float64), 0.0, 1.0)
    if style == "opaque on transparent":
        grey = np.full(value.shape, 128, dtype=np.uint8)
        image = Image.fromarray(np.dstack([grey, grey, grey, np.round(255 * value).astype(np.uint8)]), "RGBA")
        mode = mode or "RGBA"
    else:
        level = value if style == "light on dark" else 1.0 - value
        if mode == "I;16":
            Image.fromarray(np.round(65535 * level).astype(np.uint16)).save(path)
            return
        image = Image.fromarray(np.round(255 * level).astype(np.uint8), "L")
        mode = mode or "L"
    if mode == "P":
        image = image.convert("RGB").quantize(colors=16)
    elif mode != image.mode:
        image = image.convert(mode)
    image.save(path)
