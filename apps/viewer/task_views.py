"""One small function per task: a run directory -> a :class:`~sape_geo_apps.viewer.items.RunView`.

The functions read only the run-directory contract (``config.json``, ``result.*``, ``progress.npy``,
``snapshots.npz``) and the input files the config names; the viewer never imports a task plugin. A task
without a function here still gets the generic view (:func:`generic_view`), which draws whatever
``result.*`` files it recognises, so a third-party task is viewable from day one.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sape_geo_apps.viewer.items import (
    HEATMAP_COLORMAP,
    Curve,
    Image,
    RunView,
    Scalar,
    Surface,
    Track,
    Volume,
    open_polyline_edges,
    planar,
)
from sape_geo_apps.viewer.loading import RunLoadError, ViewerRun

PROGRESS = "progress (levels open)"
"""Name of the heat-map quantity on every item that has one."""

IMAGE_PLANE_MAX_SIDE = 256
"""The in-scene picture of an image is subsampled to at most this many quads per side (a picture for
the screenshot; the full-resolution image is the floating image quantity)."""

RESULT_COLOUR = (0.95, 0.55, 0.15)
TARGET_COLOUR = (0.55, 0.55, 0.6)
SOURCE_COLOUR = (0.3, 0.55, 0.85)


def heat_scalar(values: np.ndarray, run: ViewerRun, on: str, enabled: bool = True) -> Scalar:
    """The progress heat map as a scalar quantity, on a fixed ``[0, L]`` scale so runs and frames compare."""
    return Scalar(PROGRESS, np.asarray(values, dtype=np.float64), on=on, cmap=HEATMAP_COLORMAP,
                  vrange=(0.0, max_progress(run)), enabled=enabled)


def max_progress(run: ViewerRun) -> float:
    """``L``, the top of the heat-map scale: from the metrics, else the config's frequency count."""
    value = run.metrics.get("max_progress") or run.config.get("method", {}).get("num_frequencies") or 1.0
    return float(max(value, 1e-6))


def _new_view(run: ViewerRun, dimension: int) -> RunView:
    view = RunView(label=run.label, task=run.task, dimension=dimension, metrics=run.metrics, config=run.config)
    if not run.complete:
        view.notes.append("run unfinished: no metrics.json yet; showing what is on disk")
    return view


def _read_table(path: Path) -> dict[str, np.ndarray]:
    """A CSV file with a header row of names and rows of numbers -> one array per column."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as error:
        raise RunLoadError(f"cannot read {path}: {error}") from None
    if len(rows) < 2:
        raise RunLoadError(f"{path}: expected a header and at least one row of numbers")
    header = [name.strip() for name in rows[0]]
    try:
        table = np.array([[float(value) for value in row] for row in rows[1:] if row], dtype=np.float64)
    except ValueError as error:
        raise RunLoadError(f"{path}: not a table of numbers ({error})") from None
    if table.ndim != 2 or table.shape[1] != len(header):
        raise RunLoadError(f"{path}: rows do not have the {len(header)} columns of the header")
    return {name: table[:, index] for index, name in enumerate(header)}


def fit1d_view(run: ViewerRun) -> RunView:
    """The 1-D demo: the signal (grey) and the network's curve coloured by its heat map, in the plane."""
    view = _new_view(run, dimension=2)
    table = _read_table(run.result_file(".csv"))
    for column in ("x", "target", "prediction", "progress"):
        if column not in table:
            raise RunLoadError(f"{run.path / 'result.csv'}: no column {column!r}")
    x = table["x"]
    signal_key = f"fit1d-signal:{run.task_config.get('frequency')}:{len(x)}"
    view.items.append(Curve("signal", color=TARGET_COLOUR, column=1, shared_key=signal_key,
                            nodes=planar(np.column_stack([x, table["target"]])), edges=open_polyline_edges(len(x))))
    view.items.append(Curve("network", color=RESULT_COLOUR, nodes=planar(np.column_stack([x, table["prediction"]])),
                            edges=open_polyline_edges(len(x)), radius=0.004,
                            scalars=[heat_scalar(table["progress"], run, on="nodes")]))
    snapshots = run.snapshots
    if {"prediction", "progress", "step"} <= snapshots.keys() and snapshots["prediction"].shape[1:] == x.shape:
        frames = np.stack([np.column_stack([x, frame, np.zeros_like(x)]) for frame in snapshots["prediction"]])
        view.tracks += [Track("network", "positions", frames), Track("network", PROGRESS, snapshots["progress"])]
        view.steps = snapshots["step"].astype(np.int64)
    return view


def image_plane(pixels: np.ndarray, max_side: int = IMAGE_PLANE_MAX_SIDE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat grid of quads showing an image in the ``z = 0`` plane, ``y`` up, longest side 2 units.

    Parameters
    ----------
    pixels : (H, W, C) or (H, W) image, row 0 at the top.
    max_side : the image is subsampled (every k-th pixel) to at most this many quads per side.

    Returns
    -------
    vertices (N, 3), faces (2 h w, 3), face_pixel (2 h w, 2) the (row, column) of the original pixel
    each face shows.
    """
    height, width = np.shape(pixels)[:2]
    stride = int(np.ceil(max(height, width) / max_side))
    rows, columns = np.arange(0, height, stride), np.arange(0, width, stride)
    h, w = len(rows), len(columns)
    scale = 2.0 / max(h, w)
    grid_y, grid_x = np.meshgrid(np.arange(h + 1), np.arange(w + 1), indexing="ij")
    vertices = np.column_stack([grid_x.ravel() * scale - w * scale / 2, h * scale / 2 - grid_y.ravel() * scale, np.zeros(grid_x.size)])
    corner = (np.arange(h)[:, None] * (w + 1) + np.arange(w)[None, :]).ravel()
    faces = np.concatenate([
        np.column_stack([corner, corner + w + 2, corner + 1]),
        np.column_stack([corner, corner + w + 1, corner + w + 2]),
    ])
    cell_row, cell_column = np.divmod(np.arange(h * w), w)
    face_pixel = np.tile(np.column_stack([rows[cell_row], columns[cell_column]]), (2, 1))
    return vertices, faces, face_pixel


def _read_png(path: Path) -> np.ndarray:
    from sape_geo.imaging import read_image

    loaded = read_image(path)
    return np.repeat(loaded.pixels, 3, axis=2) if loaded.is_grey else loaded.pixels


def image_view(run: ViewerRun) -> RunView:
    """Image fitting: the result and the heat map as image quantities, plus the result as a picture in
    the scene with the heat map as a per-pixel quantity on it."""
    view = _new_view(run, dimension=2)
    result = _read_png(run.result_file(".png"))
    view.items.append(Image("result image", pixels=result))
    original = input_path(run)
    if original is not None:
        view.items.append(Image("input image", pixels=_read_png(original), shared_key=f"input:{original}", enabled=False))
    vertices, faces, face_pixel = image_plane(result)
    plane = Surface("result", vertices=vertices, faces=faces, face_colors=result[face_pixel[:, 0], face_pixel[:, 1]], material="flat")
    progress = run.progress
    if progress is not None and progress.shape == result.shape[:2]:
        view.items.append(Image("heat map", pixels=progress.astype(np.float64), enabled=False))
        plane.scalars.append(heat_scalar(progress[face_pixel[:, 0], face_pixel[:, 1]], run, on="faces", enabled=False))
    elif progress is not None:
        view.notes.append(f"progress.npy has shape {progress.shape}, not the image's {result.shape[:2]}: no heat map")
    view.items.append(plane)
    return view


def input_path(run: ViewerRun, key: str = "input") -> Path | None:
    """The input file the task's config names under ``key`` (``{"path": ...}`` or a string), if it still exists."""
    entry = run.task_config.get(key)
    path = entry.get("path") if isinstance(entry, dict) else entry
    return Path(path) if isinstance(path, str) and Path(path).is_file() else None


def occupancy_view(run: ViewerRun) -> RunView:
    """Occupancy: the extracted surface (input mesh frame), the input mesh (off at first), and the heat
    map on the SAPE grid as a volume cut by a movable slice plane."""
    from sape_geo.geometry.mesh_io import load_mesh

    view = _new_view(run, dimension=3)
    view.notes.append("the heat map is drawn on a horizontal slice: move it with the slider below")
    task = run.task_config
    centre = np.asarray(task.get("normalisation_centre", (0.0, 0.0, 0.0)), dtype=np.float64)
    scale = float(task.get("normalisation_scale", 1.0))
    source = input_path(run)
    if source is not None:
        vertices, faces = load_mesh(source, repair=False)
        view.items.append(Surface("input mesh", color=TARGET_COLOUR, column=2, shared_key=f"input:{source}",
                                  vertices=vertices, faces=faces, enabled=False))
    result = run.file("result.ply")
    if result.is_file():
        vertices, faces = load_mesh(result, repair=False)
        view.items.append(Surface("result", color=RESULT_COLOUR, vertices=vertices, faces=faces))
    else:
        view.notes.append("no result.ply: the network's logit never crossed 0 (no surface)")
    progress = run.progress
    if progress is not None and progress.ndim == 3:
        # progress.npy holds the grid nodes over the normalised [-1, 1]^3, mapped back to the input frame.
        low, high = -1.0 / scale + centre, 1.0 / scale + centre
        view.items.append(Volume("heat map", values=progress, bound_low=tuple(low), bound_high=tuple(high),
                                 scalars=[heat_scalar(progress, run, on="nodes")]))
    return view


def generic_view(run: ViewerRun) -> RunView:
    """Any task: draw the ``result.*`` files the viewer recognises (mesh, image), with the heat map when
    ``progress.npy`` matches them in size."""
    from sape_geo.geometry.mesh_io import load_mesh

    view = _new_view(run, dimension=3)
    progress = run.progress
    for suffix in (".obj", ".ply", ".off", ".stl"):
        path = run.file(f"result{suffix}")
        if path.is_file():
            vertices, faces = load_mesh(path, repair=False)
            surface = Surface("result", color=RESULT_COLOUR, vertices=vertices, faces=faces)
            if progress is not None and progress.size == len(vertices):
                surface.scalars.append(heat_scalar(progress, run, on="vertices"))
            view.items.append(surface)
    if run.file("result.png").is_file():
        image = image_view(run)
        view.items += image.items
        view.notes += image.notes
        view.dimension = 2 if len(view.items) == len(image.items) else 3
    if not view.items:
        view.notes.append(f"the viewer does not know how to draw task {run.task!r}: no result.obj/.ply/.png")
    return view


TASK_VIEWS: dict[str, Callable[[ViewerRun], RunView]] = {
    "fit1d": fit1d_view,
    "image": image_view,
    "occupancy": occupancy_view,
}
"""Task name (``config.json`` ``task.task``) -> its view; other tasks get :func:`generic_view`."""


def view_of(run: ViewerRun) -> RunView:
    """The view of ``run``: its task's function, or the generic one."""
    return TASK_VIEWS.get(run.task, generic_view)(run)
