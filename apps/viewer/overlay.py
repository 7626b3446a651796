"""What goes around a rendered picture: a colour bar per scalar quantity shown, and a caption.

The bars are drawn with matplotlib under the 3-D picture (never over the shapes), one per distinct
quantity in the picture, titled with the quantity's name and unit, ticked at its range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sape_geo_apps.viewer.items import Scalar, scalar_label
from sape_geo_apps.viewer.scene import Scene

_MATPLOTLIB_NAMES = {"reds": "Reds", "blues": "Blues", "greens": "Greens", "greys": "Greys", "pink-green": "PiYG",
                     "phase": "twilight", "spectral": "Spectral", "rainbow": "rainbow", "jet": "jet", "turbo": "turbo",
                     "coolwarm": "coolwarm", "viridis": "viridis", "inferno": "inferno", "magma": "magma", "plasma": "plasma"}
"""Polyscope colour map name -> the same map in matplotlib."""

BAR_ROW_HEIGHT = 62
"""Pixels of one row of colour bars under the picture."""


@dataclass(frozen=True)
class ColourBar:
    """One bar: its title (name and unit), colour map (Polyscope's name) and range."""

    label: str
    cmap: str
    low: float
    high: float


def _bar_of(scalar: Scalar, values: np.ndarray) -> ColourBar:
    if scalar.vrange is not None:
        low, high = (float(v) for v in scalar.vrange)
    else:
        finite = np.asarray(values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return ColourBar(scalar_label(scalar), scalar.cmap, low, high)


def visible_colour_bars(scene: Scene) -> list[ColourBar]:
    """One bar per distinct scalar quantity the picture shows (on a shown structure, switched on), in
    the order the runs and items come."""
    import polyscope as ps

    bars: list[ColourBar] = []
    sheets = {entry.structure: sheet for sheet, entry in scene.slices}
    for run_index, registered in enumerate(scene.registered):
        for entry in registered.values():
            item = entry.item
            if entry.kind == "image" or not item.scalars:
                continue
            if entry.item.shared_key is None and not scene.shown[run_index]:
                continue
            if entry.kind == "volume":
                # the volume is drawn as its slice sheet, which shows the first scalar
                if entry.structure in sheets and ps.get_surface_mesh(sheets[entry.structure]).is_enabled():
                    candidates = [item.scalars[0]]
                else:
                    candidates = []
            elif not item.enabled:
                continue
            else:
                candidates = [scalar for scalar in item.scalars if scalar.enabled]
            for scalar in candidates:
                bar = _bar_of(scalar, scalar.values)
                if bar not in bars:
                    bars.append(bar)
    return bars


def colour_bar_strip(bars: list[ColourBar], width: int, per_row: int = 3) -> np.ndarray:
    """The bars drawn side by side (at most ``per_row`` a row) on white: RGB (rows * BAR_ROW_HEIGHT,
    width, 3) uint8; (0, width, 3) when there is no bar."""
    if not bars:
        return np.zeros((0, width, 3), dtype=np.uint8)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import Normalize

    rows = int(np.ceil(len(bars) / per_row))
    columns = min(len(bars), per_row)
    height = rows * BAR_ROW_HEIGHT
    dpi = 100
    figure = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    try:
        slot = 1.0 / columns
        for index, bar in enumerate(bars):
            row, column = divmod(index, per_row)
            left = column * slot + 0.12 * slot
            bottom = 1.0 - (row + 1) / rows + 0.42 / rows
            axis = figure.add_axes((left, bottom, 0.76 * slot, 0.2 / rows))
            high = bar.high if bar.high > bar.low else bar.low + 1.0
            colour_map = plt.get_cmap(_MATPLOTLIB_NAMES.get(bar.cmap, bar.cmap))
            colourbar = ColorbarBase(axis, cmap=colour_map, norm=Normalize(bar.low, high), orientation="horizontal")
            colourbar.set_ticks(np.linspace(bar.low, high, 5))
            colourbar.ax.tick_params(labelsize=9, length=3, pad=1)
            colourbar.outline.set_linewidth(0.5)
            axis.set_title(bar.label, fontsize=10, pad=3)
        figure.canvas.draw()
        pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    finally:
        plt.close(figure)
    return pixels


def _font(name: str, size: int):
    """PIL's TrueType font ``name`` at ``size`` pixels, or its built-in font where that is not installed."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(name, size)
    except OSError:
        return ImageFont.load_default()


def caption(pixels: np.ndarray, text: str) -> np.ndarray:
    """``text`` written in the picture's top-left corner (dark grey on the white background)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(pixels))
    font = _font("DejaVuSans.ttf", 18)
    ImageDraw.Draw(image).text((12, 10), text, fill=(40, 40, 40), font=font)
    return np.asarray(image)


def write_titles(pixels: np.ndarray, titles: list[tuple[float, float, str]], gap: float = 14.0) -> np.ndarray:
    """Each ``(x, y, text)`` written centred on ``x``, its bottom ``gap`` pixels above ``y`` (kept inside
    the picture): the names of compared runs above their results."""
    from PIL import Image, ImageDraw

    if not titles:
        return pixels
    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    font = _font("DejaVuSans-Bold.ttf", 17)
    for x, y, text in titles:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        width, height = right - left, bottom - top
        cx = float(np.clip(x - width / 2, 4, image.width - width - 4))
        cy = float(np.clip(y - gap - height, 4, image.height - height - 4))
        draw.text((cx, cy - top), text, fill=(30, 30, 30), font=font)
    return np.asarray(image)


TEXT_LINE_HEIGHT = 24
"""Pixels of one line of the text strip under a picture (:func:`with_text_lines`)."""


def with_text_lines(pixels: np.ndarray, lines: list[str], separator: str = " | ") -> np.ndarray:
    """The picture with ``lines`` of text (the runs' key metrics; empty ones left out) in a white strip
    under it, never over the shapes. A line too long for the width goes on over more rows, broken after
    a ``separator``; a single part still too long is cut with an ellipsis."""
    from PIL import Image, ImageDraw

    font = _font("DejaVuSans.ttf", 15)
    width = pixels.shape[1]
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    fits = lambda text: draw.textlength(text, font=font) <= width - 24  # noqa: E731 - one measure for all rows
    rows: list[str] = []
    for line in filter(None, lines):
        row = ""
        for part in line.split(separator):
            joined = f"{row}{separator}{part}" if row else part
            if row and not fits(joined):
                rows.append(row + separator.rstrip())
                joined = "    " + part  # a continued line is indented
            row = joined
        rows.append(row)
    if not rows:
        return pixels
    strip = Image.new("RGB", (width, TEXT_LINE_HEIGHT * len(rows) + 6), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for index, text in enumerate(rows):
        while len(text) > 4 and not fits(text):
            text = text[:-2].rstrip() + "…"
        draw.text((12, 3 + index * TEXT_LINE_HEIGHT), text, fill=(40, 40, 40), font=font)
    return np.concatenate([pixels[..., :3], np.asarray(strip)], axis=0)


def with_colour_bars(pixels: np.ndarray, bars: list[ColourBar]) -> np.ndarray:
    """The picture with its colour bars in a strip under it."""
    strip = colour_bar_strip(bars, pixels.shape[1])
    return np.concatenate([pixels[..., :3], strip], axis=0) if len(strip) else pixels[..., :3]
