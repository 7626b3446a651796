"""The target of a silhouette fit: an outline in pixel coordinates and the region it encloses.

From an image: decide which pixels are the shape (light on dark or dark on light, or opaque on
transparent), keep the largest 8-connected component, fill its holes, and trace its outer boundary with
marching squares on a copy padded by one background pixel, so shapes touching the border still get a
closed outline. From a polyline file: the polygon itself, rasterised on a grid over its bounding box.

Coordinates follow the image convention: ``x`` = column, ``y`` = row, the centre of the top-left pixel
at ``(0, 0)``; outlines run along pixel edges half a pixel from the centres they enclose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sape_geo.geometry.polygon import even_odd_fill, intersection_points, read_polyline, self_intersections, signed_area
from sape_geo.imaging import (
    ImageReadError, LoadedImage, describe_labels, image_from_array, label_map_values, read_image, stretch_label_map,
)

POLYLINE_SUFFIXES = (".csv", ".txt", ".xy")
MIN_SHAPE_PIXELS = 16  # below this the outline is a few pixel corners, not a shape
MIN_CONTRAST = 0.04  # images whose values span less than this (of [0, 1]) are uniform
POLYLINE_GRID_PIXELS = 512  # grid cells along the longer side when a polyline has no image grid


class SilhouetteError(ValueError):
    """The input does not hold a usable silhouette (the message says why)."""


class NoForegroundError(SilhouetteError):
    """Nothing in the image stands out from the background."""


class AllForegroundError(SilhouetteError):
    """Every pixel belongs to the shape: there is no background to find an outline against."""


class ShapeTooSmallError(SilhouetteError):
    """The largest shape is too small to have an outline (a pixel or a few)."""


@dataclass(frozen=True)
class PixelGrid:
    """A regular grid of pixel centres: pixel ``(row, col)`` sits at ``origin + (col, row) * spacing``.

    Attributes
    ----------
    height, width : size in pixels.
    origin : ``(x, y)`` of the centre of pixel ``(0, 0)``, in the input's coordinates.
    spacing : distance between neighbouring centres, in the input's coordinates (1 for images).
    """

    height: int
    width: int
    origin: tuple[float, float] = (0.0, 0.0)
    spacing: float = 1.0

    def padded(self, top: int, bottom: int, left: int, right: int) -> "PixelGrid":
        """The grid grown by whole pixels on each side."""
        origin = (self.origin[0] - left * self.spacing, self.origin[1] - top * self.spacing)
        return PixelGrid(self.height + top + bottom, self.width + left + right, origin, self.spacing)

    def fill(self, polygon: np.ndarray) -> np.ndarray:
        """``(height, width)`` mask of the centres inside ``polygon`` (even-odd rule)."""
        return even_odd_fill(polygon, self.height, self.width, self.origin, self.spacing)


@dataclass(frozen=True)
class SilhouetteTarget:
    """What a silhouette fit aims at.

    Attributes
    ----------
    outline : (K, 2) closed polyline ``(x, y)`` in the input's coordinates, no repeated last vertex.
    region : (H, W) bool, the shape the outline encloses on ``grid`` (the IoU reference).
    grid : the pixel grid of ``region`` (the image's own grid for images).
    touches : whether the shape touches the grid's ``(top, bottom, left, right)`` border.
    source : the input file.
    kind : ``"image"`` or ``"polyline"``.
    foreground : how the shape was told from the background (e.g. ``"light on dark"``).
    notes : what was ignored (holes, other components), for the summary.
    """

    outline: np.ndarray
    region: np.ndarray
    grid: PixelGrid
    touches: tuple[bool, bool, bool, bool]
    source: Path
    kind: str
    foreground: str
    notes: tuple[str, ...] = ()

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "foreground": self.foreground,
            "outline_vertices": int(len(self.outline)),
            "grid": {"height": self.grid.height, "width": self.grid.width, "origin": list(self.grid.origin), "spacing": self.grid.spacing},
            "touches_border": dict(zip(("top", "bottom", "left", "right"), self.touches)),
            "notes": list(self.notes),
        }


def load_silhouette(path: str | os.PathLike, component: int = 0) -> SilhouetteTarget:
    """Read an image or a polyline file (``.csv``, ``.txt``, ``.xy``) into a :class:`SilhouetteTarget`.

    ``component``: which shape of an image to fit, by size (0: the largest, 1: the next, ...).

    Raises
    ------
    sape_geo.imaging.ImageReadError : missing, unreadable or empty image.
    sape_geo.geometry.polygon.PolylineReadError : bad polyline file.
    SilhouetteError : no foreground, all foreground, a shape too small to outline, or no such component.
    """
    path = Path(path)
    if path.suffix.lower() in POLYLINE_SUFFIXES:
        if component != 0:
            raise SilhouetteError(f"{path}: a polyline file holds one shape; --component must be 0, got {component}")
        return silhouette_from_polyline(read_polyline(path), path)
    return silhouette_from_image(read_image(path), component)


def silhouette_from_array(array: np.ndarray, component: int = 0) -> SilhouetteTarget:
    """A target from memory: a ``(K, 2)`` closed polyline ``(x, y)``, or an image array.

    Parameters
    ----------
    array : (K, 2) float polygon vertices (K >= 3), or an image ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``
        (the fourth channel is alpha) of bool, any integer type (0/1 label masks too) or floats in [0, 1]
        (:func:`~sape_geo.imaging.image_from_array`). An array with two
        columns is always read as a polyline (an image two pixels wide has no outline to fit).
    component : which shape of an image, by size (0: the largest).

    Example
    -------
    >>> disc = np.hypot(*np.mgrid[-32:32, -32:32]) < 20
    >>> silhouette_from_array(disc).kind
    'image'
    """
    array = np.asarray(array)
    if array.ndim == 2 and array.shape[1] == 2:
        points = array.astype(np.float64)
        if len(points) < 3 or not np.isfinite(points).all():
            raise SilhouetteError(f"a polyline needs at least 3 finite (x, y) vertices, got an array of shape {array.shape}")
        if component != 0:
            raise SilhouetteError(f"a polyline holds one shape; component must be 0, got {component}")
        return silhouette_from_polyline(points, Path("<array>"))
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 3:
        raise SilhouetteError(f"expected a (K, 2) polyline or an (H, W[, 1|2|3|4]) image array, got shape {array.shape}")
    try:
        image = image_from_array(array)
    except ImageReadError as error:
        raise SilhouetteError(str(error)) from None
    return silhouette_from_image(image, component)


def silhouette_from_polyline(polygon: np.ndarray, source: Path = Path("<polyline>")) -> SilhouetteTarget:
    """A polygon as a target: its region is rasterised on a grid of ``POLYLINE_GRID_PIXELS`` cells along
    the longer side of its bounding box, with a margin of 2 % on every side.

    Raises
    ------
    SilhouetteError : the polygon crosses or touches itself (an outline is a simple polygon; a fit to a
        crossing one could not be simple).
    """
    crossings = self_intersections(polygon)
    if len(crossings):
        where = intersection_points(polygon, crossings[:1])[0]
        raise SilhouetteError(
            f"{source}: the polygon crosses or touches itself ({len(crossings)} pair(s) of edges, the first at "
            f"x={where[0]:.4g}, y={where[1]:.4g}, edges {crossings[0, 0]} and {crossings[0, 1]}); an outline must be a simple polygon"
        )
    low, high = polygon.min(axis=0), polygon.max(axis=0)
    extent = float((high - low).max())
    margin = 0.02 * extent
    spacing = (extent + 2 * margin) / (POLYLINE_GRID_PIXELS - 1)
    width = int(np.ceil((high[0] - low[0] + 2 * margin) / spacing)) + 1
    height = int(np.ceil((high[1] - low[1] + 2 * margin) / spacing)) + 1
    grid = PixelGrid(height, width, (float(low[0] - margin), float(low[1] - margin)), float(spacing))
    region = grid.fill(polygon)
    if region.sum() < MIN_SHAPE_PIXELS:
        raise ShapeTooSmallError(f"{source}: the polygon covers fewer than {MIN_SHAPE_PIXELS} grid cells")
    return SilhouetteTarget(polygon, region, grid, (False,) * 4, source, "polyline", "polygon")


def silhouette_from_image(image: LoadedImage, component: int = 0) -> SilhouetteTarget:
    """One shape of an image (``component``: 0 the largest, 1 the next by size, ...) and its outer
    boundary (see the module docstring). The notes say which shape was chosen among how many."""
    from scipy import ndimage
    from skimage import measure

    if not (isinstance(component, (int, np.integer)) and component >= 0):
        raise SilhouetteError(f"component must be an integer >= 0, got {component!r}")
    foreground, how = foreground_mask(image)
    labels, count = measure.label(foreground, connectivity=2, return_num=True)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    by_size = np.argsort(-sizes, kind="stable")
    if component >= count:
        listing = ", ".join(f"{rank}: {sizes[label]} px" for rank, label in enumerate(by_size[:10]))
        raise SilhouetteError(f"{image.path}: --component {component} asked for, but the image holds {count} shape(s) ({listing})")
    chosen = int(by_size[component]) + 1
    region_pixels = labels == chosen
    if sizes[chosen - 1] < MIN_SHAPE_PIXELS:
        which = "the largest shape" if component == 0 else f"shape {component} by size"
        raise ShapeTooSmallError(
            f"{image.path}: {which} has {sizes[chosen - 1]} pixel(s); an outline needs at least {MIN_SHAPE_PIXELS}"
        )
    # Background holes are 4-connected, the complement of 8-connected foreground.
    region = ndimage.binary_fill_holes(region_pixels)
    notes = []
    if count > 1:
        others = np.delete(sizes, chosen - 1)
        rank = "the largest" if component == 0 else f"number {component} by size (0 = the largest)"
        notes.append(
            f"the image holds {count} separate shapes: fitted {rank}, {int(sizes[chosen - 1])} px; ignored "
            f"{count - 1} other(s) ({int(others.sum())} px, largest {int(others.max())} px); --component N picks another"
        )
    holes, hole_count = ndimage.label(region & ~region_pixels)
    if hole_count:
        notes.append(f"ignored {hole_count} hole(s) in the shape ({int((holes > 0).sum())} px), only its outer boundary is fitted")
    touches = (bool(region[0].any()), bool(region[-1].any()), bool(region[:, 0].any()), bool(region[:, -1].any()))
    if all(touches) and region.all():
        raise AllForegroundError(f"{image.path}: the shape fills the whole image; there is no outline to fit")
    # An image reduced on read by k: its pixel (r, c) is the centre of the file's k x k block, so the
    # outline and the grid stay in the file's pixel coordinates.
    k = image.reduction
    grid = PixelGrid(image.height, image.width, ((k - 1) / 2, (k - 1) / 2), float(k))
    outline = np.asarray(grid.origin) + k * outer_boundary(region)
    return SilhouetteTarget(outline, region, grid, touches, image.path, "image", how, (*image.notes, *notes))


def outer_boundary(region: np.ndarray) -> np.ndarray:
    """Closed outer boundary ``(K, 2)`` of a hole-free 8-connected region, as ``(x, y)`` pixel coordinates.

    Marching squares at level 0.5 on the region padded by one background pixel: the contour runs half
    way between inside and outside pixel centres and is closed even where the region touches the border.
    """
    from skimage import measure

    padded = np.pad(region.astype(np.float64), 1)
    contours = measure.find_contours(padded, 0.5, fully_connected="high")
    # The outer boundary encloses the most area; with holes filled it is the only contour.
    contour = max(contours, key=lambda c: abs(signed_area(c)))
    if np.array_equal(contour[0], contour[-1]):
        contour = contour[:-1]
    rows, columns = contour[:, 0] - 1.0, contour[:, 1] - 1.0
    return np.column_stack([columns, rows])


def foreground_mask(image: LoadedImage) -> tuple[np.ndarray, str]:
    """Which pixels are the shape, and how that was decided.

    Opaque-on-transparent when the alpha channel varies. An image of exactly two values, however close
    (a 0/1 label mask), is first stretched so they become 0 and 1; a label map of more labels is refused
    (which label is the shape?). Otherwise two passes:

    1. Grey values split by Otsu's threshold into light and dark; the class that covers most of the
       image border is the background (a shape may touch the border but rarely covers most of it);
       when neither class clearly owns the border, the larger class is the background.
    2. Every pixel is scored by how far its colour is from the background's median colour. Pixels
       above the background's own noise (twice the 99th percentile of the score over background pixels
       on the border, at least ``MIN_CONTRAST``) are candidates; the shape is the pixels scoring above
       half the candidates' median score. For a two-tone image that is the midpoint between the tones
       (the edge of an anti-aliased shape, robust to JPEG noise); for a figure of several tones (a grey
       fill inside a coloured rim) it is half way to the dominant tone, so the figure stays one shape
       instead of a rim around a "hole".

    Raises
    ------
    NoForegroundError, AllForegroundError : the image (or its alpha) is uniform.
    SilhouetteError : the image is a label map of more than two labels (:func:`~sape_geo.imaging.label_map_values`).
    """
    from skimage.filters import threshold_otsu

    if image.alpha is not None and float(np.ptp(image.alpha)) >= 0.5:
        return image.alpha >= 0.5, "opaque on transparent"
    if image.alpha is not None and float(image.alpha.max()) < 0.5:
        raise NoForegroundError(f"{image.path}: every pixel is transparent, so there is no foreground")
    grey_image = replace(image, pixels=image.pixels.mean(axis=2, keepdims=True))
    labels = label_map_values(grey_image)
    if labels is not None and labels.size > 2:
        raise SilhouetteError(
            f"{image.path}: a label map of {describe_labels(labels)}, and a silhouette is one shape: save the label "
            "you want as a mask of its own (its pixels white, every other pixel black) and fit that"
        )
    if labels is not None:
        # A label mask (a 0/1 PNG, a 0/1 integer array): two values, however close, are background and
        # shape; stretched to 0 and 1 they split as any two-tone image.
        image = grey_image = stretch_label_map(grey_image)
    grey = grey_image.pixels[..., 0]
    low, high = float(grey.min()), float(grey.max())
    if labels is None and high - low < MIN_CONTRAST:
        # A uniform image: by the MPEG-7 convention (white shape on black) light means all shape.
        if low >= 0.5:
            raise AllForegroundError(
                f"{image.path}: the image is uniformly light (value {low:.2f}); every pixel would be the shape "
                "and there is no background to outline it against"
            )
        raise NoForegroundError(f"{image.path}: the image is uniformly dark (value {high:.2f}); no shape stands out")
    light = grey > threshold_otsu(grey)
    border = np.concatenate([light[0], light[-1], light[1:-1, 0], light[1:-1, -1]])
    light_on_border = float(border.mean())
    if abs(light_on_border - 0.5) >= 0.1:
        background_is_light = light_on_border > 0.5
    else:
        background_is_light = light.mean() > 0.5
    background = light if background_is_light else ~light
    background_colour = np.median(image.pixels[background], axis=0)
    difference = np.abs(image.pixels - background_colour).max(axis=2)
    on_border = np.zeros_like(background)
    on_border[[0, -1], :] = True
    on_border[:, [0, -1]] = True
    noise = float(np.percentile(difference[background & on_border], 99)) if (background & on_border).any() else 0.0
    candidates = difference > max(MIN_CONTRAST, 2.0 * noise)
    if not candidates.any():
        raise NoForegroundError(f"{image.path}: no pixel differs from the background by more than its noise")
    shape = difference > max(MIN_CONTRAST, 2.0 * noise, 0.5 * float(np.median(difference[candidates])))
    how = "dark on light" if background_is_light else "light on dark"
    if labels is not None:
        how += f" (a label mask of two values, {labels[0]:g} and {labels[1]:g})"
    return shape, how
