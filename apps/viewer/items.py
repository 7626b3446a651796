"""What the viewer shows, as plain data: the bridge between a run directory and Polyscope.

A task's view function (:mod:`sape_geo_apps.viewer.task_views`) turns a run into a :class:`RunView`, a
list of items (surfaces, curves, points, images, volumes) with their quantities, plus playback tracks.
:mod:`sape_geo_apps.viewer.scene` then registers each item with Polyscope (``register_*`` then
``add_*_quantity``). Keeping the description separate from the Polyscope calls makes the per-task code
small, testable without a window, and the same for live viewing and offscreen pictures.

Coordinates are 3-D everywhere; 2-D tasks put their data in the ``z = 0`` plane with ``y`` up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from sape_geo.geometry.polygon_mesh import Polygons
from sape_geo.pictures import HEATMAP_COLOURS

HEATMAP_COLORMAP = HEATMAP_COLOURS
"""Colour map of SAPE's progress heat map: the one the project's PNG pictures use."""


@dataclass
class Scalar:
    """A scalar quantity on an item.

    Attributes
    ----------
    name : quantity name shown in Polyscope.
    values : (N,) one value per element of ``on``.
    on : ``"vertices"``, ``"faces"`` (surfaces), ``"nodes"`` (curves), ``"points"``, ``"cells"``/``"nodes"``
        (volumes).
    cmap : Polyscope colour map name.
    vrange : fixed (low, high) of the colour map, or None for the data range.
    enabled : shown when the item is first drawn.
    unit : what one unit of the values is (``"levels"``, ``"% of target diagonal"``, ``"ratio"``): the
        colour bar of pictures says it (:func:`scalar_label`).
    kind : which of :data:`QUANTITIES` it is (``--quantity`` picks by it); empty for others.
    """

    name: str
    values: np.ndarray
    on: str = "vertices"
    cmap: str = "viridis"
    vrange: tuple[float, float] | None = None
    enabled: bool = False
    unit: str = ""
    kind: str = ""


QUANTITIES = ("heatmap", "distance", "distortion", "observed", "value")
"""What ``--quantity`` can colour by: the SAPE heat map (``progress.npy``), the distance to the target,
the conformal distortion, the per-vertex observed confidence (``observed.npy``), a result's own value."""


def scalar_label(scalar: Scalar) -> str:
    """The colour bar's title: the quantity's name, with its unit unless the name already says it."""
    if not scalar.unit or scalar.unit in scalar.name:
        return scalar.name
    return f"{scalar.name} [{scalar.unit}]"


@dataclass
class Vectors:
    """A vector quantity: (N, 3) vectors on vertices / points / nodes, in world units (not rescaled)."""

    name: str
    vectors: np.ndarray
    on: str = "vertices"
    color: tuple[float, float, float] = (0.1, 0.1, 0.1)
    enabled: bool = False


@dataclass
class Item:
    """Common fields of everything drawn.

    Attributes
    ----------
    name : structure name (made unique per run by the scene).
    color : base colour, RGB in [0, 1].
    column : where the item sits in a side-by-side layout (0 = source/input, 1 = target/reference,
        2 = result). Results of the ``i``-th compared run go to column ``2 + i``.
    shared_key : items of different runs with the same key (e.g. the target file's checksum) are drawn
        once when runs are compared; None = always per run.
    enabled : shown when first drawn.
    """

    name: str
    color: tuple[float, float, float] = (0.7, 0.7, 0.7)
    column: int = 2
    shared_key: str | None = None
    enabled: bool = True
    scalars: list[Scalar] = field(default_factory=list)
    vectors: list[Vectors] = field(default_factory=list)


@dataclass
class Surface(Item):
    """A mesh: ``vertices`` (N, 3), ``faces`` (M, 3) int triangles; ``face_colors`` (M, 3) optional;
    ``material`` a Polyscope material (``"flat"`` shows colours unshaded, for pictures of images).

    ``polygons``: the faces as the file wrote them (quads, n-gons), drawn instead of ``faces`` so that
    edges are the polygons' own; face quantities then have one value per polygon.
    ``tessellation``: the item is a tessellation the user cares about (a transfer's source, result,
    carried files): ``--edges`` draws its edges.
    """

    vertices: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    faces: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    face_colors: np.ndarray | None = None
    transparency: float = 1.0
    edge_width: float = 0.0
    material: str = "clay"
    polygons: Polygons | None = None
    tessellation: bool = False


@dataclass
class Curve(Item):
    """A polyline network: ``nodes`` (N, 3), ``edges`` (E, 2) int; ``radius`` relative to the scene."""

    nodes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    edges: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    radius: float = 0.003


@dataclass
class Points(Item):
    """A point cloud, ``points`` (N, 3), with an optional name per point (landmark names)."""

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    labels: list[str] = field(default_factory=list)
    radius: float = 0.008


@dataclass
class Image(Item):
    """An image as a Polyscope image quantity: ``pixels`` (H, W, 3) colour or (H, W) scalar in row-major
    order, row 0 at the top."""

    pixels: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 3)))
    cmap: str = HEATMAP_COLORMAP


@dataclass
class Volume(Item):
    """A scalar field on a regular grid: ``values`` (nx, ny, nz) at the grid nodes spanning the box
    ``bound_low``..``bound_high``; drawn with a movable slice plane."""

    values: np.ndarray = field(default_factory=lambda: np.zeros((2, 2, 2)))
    bound_low: tuple[float, float, float] = (-1.0, -1.0, -1.0)
    bound_high: tuple[float, float, float] = (1.0, 1.0, 1.0)
    cmap: str = HEATMAP_COLORMAP


ViewItem = Union[Surface, Curve, Points, Image, Volume]


@dataclass
class Track:
    """One thing that changes during playback.

    Attributes
    ----------
    item : name of the item it changes.
    target : ``"positions"`` (vertices / nodes / points move) or the name of one of the item's scalars.
    frames : (F, N, 3) positions or (F, N) scalar values, one row per snapshot.
    """

    item: str
    target: str
    frames: np.ndarray


@dataclass
class RunView:
    """Everything the viewer shows of one run.

    Attributes
    ----------
    label : short name of the run in the panel and in structure names.
    task : the task name from ``config.json``.
    dimension : 2 (planar: image, curve, 1-D plot) or 3; sets the camera and navigation.
    items : what to draw.
    tracks : playback, all with the same number of frames as ``steps``.
    steps : (F,) optimisation step of each snapshot frame (empty: no playback).
    metrics, config : the run's ``metrics.json`` and ``config.json``, for the side panel.
    notes : lines of text for the panel (e.g. why a quantity is missing).
    up_axis : the up axis of geometry the view made itself (a height field: ``"y"``); None: the data's
        own, recorded by the run or inferred.
    """

    label: str
    task: str
    dimension: int
    items: list[ViewItem] = field(default_factory=list)
    tracks: list[Track] = field(default_factory=list)
    steps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    metrics: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    up_axis: str | None = None

    @property
    def frame_count(self) -> int:
        return int(len(self.steps))

    def item(self, name: str) -> ViewItem:
        for candidate in self.items:
            if candidate.name == name:
                return candidate
        raise KeyError(f"run {self.label!r} has no item {name!r}")


def planar(xy: np.ndarray) -> np.ndarray:
    """(N, 2) points -> (N, 3) points in the ``z = 0`` plane."""
    xy = np.asarray(xy, dtype=np.float64)
    return np.column_stack([xy, np.zeros(len(xy))])


def closed_polyline_edges(count: int) -> np.ndarray:
    """Edges (count, 2) of a closed polyline through ``count`` nodes in order."""
    index = np.arange(count)
    return np.column_stack([index, (index + 1) % count])


def open_polyline_edges(count: int) -> np.ndarray:
    """Edges (count - 1, 2) of an open polyline through ``count`` nodes in order."""
    index = np.arange(max(count - 1, 0))
    return np.column_stack([index, index + 1])
