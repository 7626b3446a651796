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

from sape_geo.geometry.polygon_mesh import Polygons
from sape_geo_apps.viewer.items import (
    HEATMAP_COLORMAP,
    Curve,
    Image,
    Points,
    RunView,
    Scalar,
    Surface,
    Track,
    Vectors,
    Volume,
    closed_polyline_edges,
    open_polyline_edges,
    planar,
)
from sape_geo_apps.viewer.loading import RunLoadError, ViewerRun, read_optional_array

PROGRESS = "progress (levels open)"
"""Name of the heat-map quantity on every item that has one."""

IMAGE_PLANE_MAX_SIDE = 256
"""The in-scene picture of an image is subsampled to at most this many quads per side (a picture for
the screenshot; the full-resolution image is the floating image quantity)."""

RESULT_COLOUR = (0.95, 0.55, 0.15)
MARK_COLOUR = (0.85, 0.1, 0.1)
TARGET_COLOUR = (0.55, 0.55, 0.6)
SOURCE_COLOUR = (0.3, 0.55, 0.85)


def heat_scalar(values: np.ndarray, run: ViewerRun, on: str, enabled: bool = True) -> Scalar:
    """The progress heat map as a scalar quantity, on a fixed ``[0, L]`` scale so runs and frames compare."""
    return Scalar(PROGRESS, np.asarray(values, dtype=np.float64), on=on, cmap=HEATMAP_COLORMAP,
                  vrange=(0.0, max_progress(run)), enabled=enabled, unit="levels open", kind="heatmap")


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


def image_plane(pixels: np.ndarray, max_side: int = IMAGE_PLANE_MAX_SIDE, pixel_units: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat grid of quads showing an image in the ``z = 0`` plane, ``y`` up.

    Parameters
    ----------
    pixels : (H, W, C) or (H, W) image, row 0 at the top.
    max_side : the image is subsampled (every k-th pixel) to at most this many quads per side.
    pixel_units : False: centred, longest side 2 units. True: the image's own pixel coordinates with
        ``y`` negated (pixel ``(row, column)`` centred at ``(column, -row)``), to lie under data given
        in pixel coordinates (silhouette curves).

    Returns
    -------
    vertices (N, 3), faces (2 h w, 3), face_pixel (2 h w, 2) the (row, column) of the original pixel
    each face shows.
    """
    height, width = np.shape(pixels)[:2]
    stride = int(np.ceil(max(height, width) / max_side))
    rows, columns = np.arange(0, height, stride), np.arange(0, width, stride)
    h, w = len(rows), len(columns)
    grid_y, grid_x = np.meshgrid(np.arange(h + 1), np.arange(w + 1), indexing="ij")
    if pixel_units:
        x, y = grid_x.ravel() * stride - 0.5, 0.5 - grid_y.ravel() * stride
    else:
        scale = 2.0 / max(h, w)
        x, y = grid_x.ravel() * scale - w * scale / 2, h * scale / 2 - grid_y.ravel() * scale
    vertices = np.column_stack([x, y, np.zeros(grid_x.size)])
    corner = (np.arange(h)[:, None] * (w + 1) + np.arange(w)[None, :]).ravel()
    faces = np.concatenate([
        np.column_stack([corner, corner + w + 2, corner + 1]),
        np.column_stack([corner, corner + w + 1, corner + w + 2]),
    ])
    cell_row, cell_column = np.divmod(np.arange(h * w), w)
    face_pixel = np.tile(np.column_stack([rows[cell_row], columns[cell_column]]), (2, 1))
    return vertices, faces, face_pixel


def _read_png(path: Path) -> np.ndarray:
    return _read_picture(path)[0]


def _read_picture(path: Path) -> tuple[np.ndarray, int]:
    """Colour pixels ``(H, W, 3)`` of an image file, and the whole factor it was reduced by on read (1:
    full size; see :mod:`sape_geo.imaging`)."""
    from sape_geo.imaging import read_image

    loaded = read_image(path)
    return (np.repeat(loaded.pixels, 3, axis=2) if loaded.is_grey else loaded.pixels), loaded.reduction


def image_view(run: ViewerRun) -> RunView:
    """Image fitting: the result and the heat map as image quantities, plus the result as a picture in
    the scene with the heat map as a per-pixel quantity on it."""
    view = _new_view(run, dimension=2)
    result = _read_png(run.result_file(".png"))
    view.items.append(Image("result image", pixels=result))
    original = input_path(run, "input")
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


def input_path(run: ViewerRun, *keys: str) -> Path | None:
    """The input file the task's config names under ``keys`` (default ``"input"``; ``{"path": ...}`` or a
    string), if it still exists where the run read it."""
    entry: object = run.task_config
    for key in keys or ("input",):
        entry = entry.get(key) if isinstance(entry, dict) else None
    path = entry.get("path") if isinstance(entry, dict) else entry
    return Path(path) if isinstance(path, str) and Path(path).is_file() else None


def _distances_to(points: np.ndarray, target_vertices: np.ndarray, target_faces: np.ndarray | None) -> np.ndarray:
    """Unsigned distance of each point to the target surface (libigl), or to the nearest target point."""
    if target_faces is None:
        from scipy.spatial import cKDTree

        return cKDTree(target_vertices).query(points)[0]
    import igl

    squared = igl.point_mesh_squared_distance(np.ascontiguousarray(points, dtype=np.float64),
                                              np.ascontiguousarray(target_vertices, dtype=np.float64),
                                              np.ascontiguousarray(target_faces, dtype=np.int64))[0]
    return np.sqrt(np.maximum(squared, 0.0))


OBSERVED = "observed (confidence)"
"""Name of the quantity from ``observed.npy``: per template vertex, how much the target's data supported it."""
OBSERVED_FILE = "observed.npy"
CARRIED_FOLDER = "carried"
"""``RUN/carried/<file name>``: accessories the transfer moved with the body (``--carry FILE``)."""
CARRIED_COLOUR = (0.45, 0.45, 0.75)


MESH_RESULT_SUFFIXES = (".obj", ".ply", ".off")
"""A transfer writes ``result`` / ``init`` with its source's suffix (the source file with new positions)."""


def _run_mesh_file(run: ViewerRun, stem: str) -> Path | None:
    """``RUN/<stem>.obj`` (or ``.ply`` / ``.off``, as the source was), None when there is none."""
    return next((run.file(stem + suffix) for suffix in MESH_RESULT_SUFFIXES if run.file(stem + suffix).is_file()), None)


def read_tessellation(path: Path) -> tuple[np.ndarray, np.ndarray | None, Polygons | None]:
    """A mesh or point-set file as the viewer draws it: vertices (n, 3) in file order, triangles (t, 3)
    (None for a point set) and the polygons as written when they are not all triangles (None otherwise).

    OBJ, PLY and OFF are read with :func:`~sape_geo.geometry.template_file.read_template` (the polygons
    transfer keeps; ``load_mesh`` and trimesh would triangulate quads), other formats with
    :func:`~sape_geo.geometry.mesh_io.load_mesh_or_points`.
    """
    from sape_geo.geometry.mesh_io import load_mesh_or_points
    from sape_geo.geometry.template_file import TEMPLATE_SUFFIXES, read_template

    if path.suffix.lower() not in TEMPLATE_SUFFIXES:
        vertices, faces = load_mesh_or_points(path, repair=False)
        return vertices, faces, None
    template = read_template(path)
    if not template.has_faces:
        return template.vertices, None, None
    triangles, _ = template.triangulation()
    return template.vertices, triangles, None if template.polygons.is_triangles else template.polygons


def _tessellation(path: Path, name: str, **fields) -> Surface:
    """The mesh of ``path`` as a surface drawn with its own polygons, whose edges ``--edges`` shows."""
    vertices, triangles, polygons = read_tessellation(path)
    if triangles is None:
        raise RunLoadError(f"{path}: no faces; a mesh is needed here")
    return Surface(name, vertices=vertices, faces=triangles, polygons=polygons, tessellation=True, **fields)


def _distortion(source_vertices: np.ndarray, result: Surface) -> np.ndarray:
    """Conformal distortion s1 / s2 of each face of ``result`` against the source (1 = angles kept). Per
    polygon, the mean over all its fans (:meth:`~sape_geo.geometry.polygon_mesh.Polygons.fans`) weighted
    by area, so a quad counts once, as the transfer's conformal energy counts it."""
    from sape_geo.geometry.mesh_io import face_areas
    from sape_geo.geometry.metrics import singular_values

    if result.polygons is None:
        sigma, _ = singular_values(source_vertices, result.vertices, result.faces)
        return sigma[:, 0] / np.maximum(sigma[:, 1], 1e-12)
    triangles, owner, weights = result.polygons.fans()
    sigma, _ = singular_values(source_vertices, result.vertices, triangles)
    ratio = sigma[:, 0] / np.maximum(sigma[:, 1], 1e-12)
    weights = weights * face_areas(source_vertices, triangles)
    count = len(result.polygons)
    return np.bincount(owner, ratio * weights, count) / np.maximum(np.bincount(owner, weights, count), 1e-300)


def _carried_items(run: ViewerRun, notes: list[str]) -> list[Surface | Points]:
    """The files of ``RUN/carried/`` (meshes or point sets), drawn with the result, and the files they
    were carried from (``--carry FILE``, where the run read them) beside the source; a file that cannot
    be read is left out with a line in ``notes``."""
    from sape_geo.geometry.mesh_io import MESH_SUFFIXES, POINT_CLOUD_SUFFIXES

    folder = run.file(CARRIED_FOLDER)
    if not folder.is_dir():
        return []
    given = run.task_config.get("settings", {}).get("carry") or []
    originals = {Path(path).name: Path(path) for path in given if isinstance(path, str) and Path(path).is_file()}
    items: list[Surface | Points] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in MESH_SUFFIXES + POINT_CLOUD_SUFFIXES:
            continue
        item = _accessory(path, f"carried {path.name}", notes)
        if item is not None:
            items.append(item)
        if path.name in originals:
            original = _accessory(originals[path.name], f"{path.name} (as given)", notes, column=0, shared_key=f"carry:{originals[path.name]}")
            if original is not None:
                items.append(original)
    return items


def _accessory(path: Path, name: str, notes: list[str], **fields) -> Surface | Points | None:
    """A carried mesh or point set as an item (None, with a note, when it cannot be read)."""
    try:
        vertices, triangles, polygons = read_tessellation(path)
    except (OSError, ValueError) as error:  # one unreadable accessory must not hide the run
        notes.append(f"{path.parent.name}/{path.name} is not shown: {error}")
        return None
    if triangles is None:
        return Points(name, color=CARRIED_COLOUR, points=vertices, radius=0.003, **fields)
    return Surface(name, color=CARRIED_COLOUR, vertices=vertices, faces=triangles, polygons=polygons, tessellation=True, **fields)


def transfer_view(run: ViewerRun) -> RunView:
    """Mesh transfer: source (left), target (middle), result (right) or result over the target; the
    landmarks with their names on both; the source's and the result's polygons (their own edges, quads
    and n-gons as written, for ``--edges``); on the result the heat map, the distance to the target, the
    conformal distortion per face, the observed confidence (``observed.npy``, partial targets) and the
    network's displacement from the initialisation; accessories carried with the body (``carried/``)."""
    from sape_geo.geometry.mesh_io import bbox_diagonal, load_mesh_or_points

    view = _new_view(run, dimension=3)
    result_path = _run_mesh_file(run, "result")
    if result_path is None:
        raise RunLoadError(f"{run.path}: the transfer run has no result.obj (nor .ply / .off)")
    result = _tessellation(result_path, "result", color=RESULT_COLOUR)
    result_vertices = result.vertices
    marks = run.task_config.get("landmarks") or {}
    names = [name or f"landmark {k}" for k, name in enumerate(marks.get("names", []))]

    source_path = input_path(run, "inputs", "source")
    if source_path is not None:
        source = _tessellation(source_path, "source", color=SOURCE_COLOUR, column=0, shared_key=f"source:{source_path}")
        view.items.append(source)
        source_vertices = source.vertices
        if result.polygons is None and source.polygons is not None and len(source_vertices) == len(result_vertices):
            result.polygons = source.polygons  # a triangulated result of a polygonal source: its polygons are the source's
        indices = np.asarray(marks.get("source_indices", []), dtype=np.int64)
        if len(indices) and indices.max() < len(source_vertices):
            view.items.append(Points("source landmarks", color=MARK_COLOUR, column=0, shared_key=f"source marks:{source_path}",
                                     points=source_vertices[indices], labels=names))
        if len(source_vertices) == len(result_vertices):
            ratio = _distortion(source_vertices, result)
            result.scalars.append(Scalar("conformal distortion (s1/s2)", ratio, on="faces", cmap="reds", vrange=(1.0, max(2.0, float(np.percentile(ratio, 99)))),
                                         unit="s1/s2", kind="distortion"))
        else:
            view.notes.append(f"the source file now has {len(source_vertices)} vertices, the result {len(result_vertices)}: no distortion")
    else:
        view.notes.append("source mesh not found where the run read it: not shown")

    target_path = input_path(run, "inputs", "target")
    if target_path is not None:
        target_vertices, target_faces = load_mesh_or_points(target_path, repair=False)
        if target_faces is not None:
            view.items.append(Surface("target", color=TARGET_COLOUR, column=1, shared_key=f"target:{target_path}",
                                      vertices=target_vertices, faces=target_faces))
        else:
            view.items.append(Points("target", color=TARGET_COLOUR, column=1, shared_key=f"target:{target_path}",
                                     points=target_vertices, radius=0.003))
        distance = _distances_to(result_vertices, target_vertices, target_faces)
        result.scalars.append(Scalar("distance to target (% of diagonal)", 100.0 * distance / bbox_diagonal(target_vertices), cmap="viridis",
                                     unit="% of diagonal", kind="distance"))
    else:
        view.notes.append("target not found where the run read it: not shown, no distances")
    positions = np.asarray(marks.get("target_positions", []), dtype=np.float64).reshape(-1, 3)
    if len(positions):
        view.items.append(Points("target landmarks", color=MARK_COLOUR, column=1, shared_key=f"target marks:{target_path}",
                                 points=positions, labels=names))

    if run.progress is not None and run.progress.shape == (len(result_vertices),):
        result.scalars.insert(0, heat_scalar(run.progress, run, on="vertices"))
    observed = read_optional_array(run.file(OBSERVED_FILE))
    if observed is not None and observed.shape == (len(result_vertices),):
        # pink (inferred) to green (observed): neither end is the white of the background
        result.scalars.append(Scalar(OBSERVED, np.asarray(observed, dtype=np.float64), cmap="pink-green", vrange=(0.0, 1.0),
                                     unit="0 = inferred, 1 = observed", kind="observed"))
    elif observed is not None:
        view.notes.append(f"{OBSERVED_FILE} has shape {observed.shape}, not one value per result vertex ({len(result_vertices)}): not shown")
    initial = _run_mesh_file(run, "init")
    if initial is not None:
        initial_vertices, _, _ = read_tessellation(initial)
        if initial_vertices.shape == result_vertices.shape:
            result.vectors.append(Vectors("displacement from initialisation", result_vertices - initial_vertices))
            view.items.append(Surface("initialisation", color=(0.6, 0.75, 0.6), vertices=initial_vertices, faces=result.faces,
                                      polygons=result.polygons, enabled=False))
    view.items.append(result)
    view.items += _carried_items(run, view.notes)

    snapshots = run.snapshots
    if {"vertices", "step"} <= snapshots.keys() and snapshots["vertices"].shape[1:] == result_vertices.shape:
        view.tracks.append(Track("result", "positions", snapshots["vertices"]))
        if "progress" in snapshots and any(scalar.name == PROGRESS for scalar in result.scalars):
            view.tracks.append(Track("result", PROGRESS, snapshots["progress"]))
        view.steps = snapshots["step"].astype(np.int64)
    return view


def occupancy_view(run: ViewerRun) -> RunView:
    """Occupancy: the extracted surface (input mesh frame), the input mesh (off at first), and the heat
    map on the SAPE grid as a volume cut by a movable slice plane."""
    from sape_geo.geometry.mesh_io import load_mesh

    view = _new_view(run, dimension=3)
    view.notes.append("the heat map is drawn on a horizontal slice at mid-height (normal to the up axis; in the window a slider moves it)")
    task = run.task_config
    centre = np.asarray(task.get("normalisation_centre", (0.0, 0.0, 0.0)), dtype=np.float64)
    scale = float(task.get("normalisation_scale", 1.0))
    source = input_path(run, "input")
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


def _pixel_curve(xy: np.ndarray) -> np.ndarray:
    """(N, 2) points in image pixel coordinates (``y`` down) -> (N, 3) scene points (``y`` up)."""
    xy = np.asarray(xy, dtype=np.float64)
    return planar(np.column_stack([xy[:, 0], -xy[:, 1]]))


def silhouette_view(run: ViewerRun) -> RunView:
    """Silhouettes: the fitted closed curve coloured by its heat map over the target (the input image as
    a picture in pixel coordinates, or the input polyline), with playback of the curve."""
    from sape_geo.geometry.polygon import read_polyline

    view = _new_view(run, dimension=2)
    try:
        curve = np.loadtxt(run.result_file(".csv"), delimiter=",", ndmin=2)
    except ValueError as error:
        raise RunLoadError(f"{run.path / 'result.csv'}: not an x,y polyline ({error})") from None
    if curve.shape[1] != 2 or len(curve) < 3:
        raise RunLoadError(f"{run.path / 'result.csv'}: expected at least 3 rows of x,y, got shape {curve.shape}")
    source = input_path(run, "input")
    if source is None:
        view.notes.append("the input silhouette is not where the run read it: target not shown")
    elif source.suffix.lower() in (".csv", ".txt", ".xy"):
        outline = read_polyline(source)
        view.items.append(Curve("target outline", color=TARGET_COLOUR, column=1, shared_key=f"input:{source}",
                                nodes=_pixel_curve(outline), edges=closed_polyline_edges(len(outline)), radius=0.002))
    else:
        pixels, reduction = _read_picture(source)
        vertices, faces, face_pixel = image_plane(pixels, max_side=512, pixel_units=True)
        # A file reduced on read by k: its pixel (r, c) is the file's k x k block there, where the curve is.
        vertices[:, :2] = reduction * vertices[:, :2] + (reduction - 1) / 2 * np.array([1.0, -1.0])
        # Just behind the curve so the curve is never hidden in the plane.
        vertices[:, 2] = -0.01 * reduction * max(pixels.shape[:2])
        view.items.append(Surface("target image", column=1, shared_key=f"input:{source}", vertices=vertices, faces=faces,
                                  face_colors=0.35 + 0.65 * pixels[face_pixel[:, 0], face_pixel[:, 1]], material="flat"))
    result = Curve("curve", color=RESULT_COLOUR, nodes=_pixel_curve(curve), edges=closed_polyline_edges(len(curve)), radius=0.004)
    if run.progress is not None and run.progress.shape == (len(curve),):
        result.scalars.append(heat_scalar(run.progress, run, on="nodes"))
    view.items.append(result)
    snapshots = run.snapshots
    if {"curve", "step"} <= snapshots.keys() and snapshots["curve"].shape[1:] == curve.shape:
        view.tracks.append(Track("curve", "positions", np.stack([_pixel_curve(frame) for frame in snapshots["curve"]])))
        if "progress" in snapshots and result.scalars:
            view.tracks.append(Track("curve", PROGRESS, snapshots["progress"]))
        view.steps = snapshots["step"].astype(np.int64)
    return view


RESULT_ARRAY = "result.npy"
"""An array result of a task the viewer does not know: drawn as a grid, an image or points."""
HEIGHT_FIELD_MAX_SIDE = 256
"""A 2-D array is drawn on at most this many nodes per side (every k-th value of a larger one)."""
HEIGHT_FIELD_RELIEF = 0.2
"""A 2-D array's value range is drawn as this fraction of the grid's longest side (the relief shows,
the grid stays readable from above)."""


def height_field(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A grid of ``values`` (H, W) as a surface: node ``(row, column)`` at ``x`` = column, ``z`` = row
    (the longest side spans 2 units), height ``y`` = the value scaled to :data:`HEIGHT_FIELD_RELIEF`.

    Returns
    -------
    vertices (H W, 3) in row-major order (one per value), faces (2 (H-1)(W-1), 3).
    """
    values = np.asarray(values, dtype=np.float64)
    height, width = values.shape
    scale = 2.0 / max(height - 1, width - 1, 1)
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    span = float(np.ptp(values))
    relief = (values - values.min()) / span * HEIGHT_FIELD_RELIEF * 2.0 if span > 0 else np.zeros_like(values)
    vertices = np.column_stack([(columns.ravel() - (width - 1) / 2) * scale, relief.ravel(), (rows.ravel() - (height - 1) / 2) * scale])
    corner = (np.arange(height - 1)[:, None] * width + np.arange(width - 1)[None, :]).ravel()
    faces = np.concatenate([np.column_stack([corner, corner + width, corner + 1]),
                            np.column_stack([corner + 1, corner + width, corner + width + 1])])
    return vertices, faces


def _finite(values: np.ndarray, view: RunView) -> np.ndarray:
    """``values`` as float64 with NaN/Inf drawn at the lowest finite value (0 when none is finite), said
    in a note: a height field must not have holes the camera cannot frame."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return values
    view.notes.append(f"{RESULT_ARRAY}: {int((~finite).sum())} NaN/Inf values drawn at the lowest finite value")
    return np.where(finite, values, values[finite].min() if finite.any() else 0.0)


def _array_items(run: ViewerRun, view: RunView) -> None:
    """``result.npy`` and ``progress.npy`` of a task the viewer does not know, when no result file says
    more: a 2-D array as a height field coloured by the heat map (or by its values), an ``(N, 3)`` array
    as points, a heat map alone as a flat grid or a volume."""
    result = read_optional_array(run.file(RESULT_ARRAY))
    progress = run.progress
    if result is not None and result.dtype.kind not in "biuf":
        view.notes.append(f"{RESULT_ARRAY} holds {result.dtype} values, not numbers: not drawn")
        result = None
    if result is not None and result.ndim == 2 and min(result.shape) >= 2 and result.shape[1] != 3:
        stride = int(np.ceil(max(result.shape) / HEIGHT_FIELD_MAX_SIDE))
        heat = progress is not None and progress.shape == result.shape
        values = _finite(result[::stride, ::stride], view)
        vertices, faces = height_field(values)
        surface = Surface("result", color=RESULT_COLOUR, vertices=vertices, faces=faces, material="clay")
        surface.scalars.append(Scalar("value", values.ravel(), cmap="viridis", enabled=not heat, unit="the task's units", kind="value"))
        if heat:
            surface.scalars.insert(0, heat_scalar(progress[::stride, ::stride].ravel(), run, on="vertices"))
        view.items.append(surface)
        view.up_axis = "y"
        every = f", one value in {stride} along each side" if stride > 1 else ""
        view.notes.append(f"{RESULT_ARRAY} drawn as a height field over its grid (height: the value{every})")
    elif result is not None and result.ndim == 2 and result.shape[1] == 3:
        points = Points("result", color=RESULT_COLOUR, points=result.astype(np.float64), radius=0.004)
        if progress is not None and progress.shape == (len(result),):
            points.scalars.append(heat_scalar(progress, run, on="points"))
        view.items.append(points)
    elif progress is not None and progress.ndim == 2 and min(progress.shape) >= 2:
        vertices, faces = height_field(np.zeros(progress.shape))
        view.items.append(Surface("heat map", vertices=vertices, faces=faces, material="flat",
                                  scalars=[heat_scalar(progress.ravel(), run, on="vertices")]))
        view.up_axis = "y"
    elif progress is not None and progress.ndim == 3 and min(progress.shape) >= 2:
        view.items.append(Volume("heat map", values=progress, scalars=[heat_scalar(progress, run, on="nodes")]))


def generic_view(run: ViewerRun) -> RunView:
    """Any task: draw the ``result.*`` files the viewer recognises (mesh, image), with the heat map when
    ``progress.npy`` matches them in size; without those, ``result.npy`` and ``progress.npy``
    (:func:`_array_items`).

    Raises
    ------
    RunLoadError : nothing of the run can be drawn (the message lists what the run holds).
    """
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
        _array_items(run, view)
    if not view.items:
        files = sorted(entry.name for entry in run.path.iterdir() if entry.is_file() and not entry.name.startswith("."))
        raise RunLoadError(
            f"{run.path}: cannot draw a run of task {run.task!r}: it has no result.obj/.ply/.off/.stl/.png, no 2-D or (N, 3) "
            f"{RESULT_ARRAY} and no 2-D or 3-D progress.npy (files: {', '.join(files) or 'none'})"
        )
    return view


TASK_VIEWS: dict[str, Callable[[ViewerRun], RunView]] = {
    "fit1d": fit1d_view,
    "image": image_view,
    "occupancy": occupancy_view,
    "silhouette": silhouette_view,
    "transfer": transfer_view,
}
"""Task name (``config.json`` ``task.task``) -> its view; other tasks get :func:`generic_view`."""


def view_of(run: ViewerRun) -> RunView:
    """The view of ``run``: its task's function, or the generic one."""
    return TASK_VIEWS.get(run.task, generic_view)(run)
