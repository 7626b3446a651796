"""Registering :class:`~sape_geo_apps.viewer.items.RunView` items with Polyscope, and playback.

Reads like Polyscope's own API: each item is ``register_*``-ed as a structure, then its quantities are
``add_*_quantity``-ed. Each run's structures join a Polyscope group named after the run, so comparing
methods is one checkbox per run. Items that several runs share (the target of one input) are drawn once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sape_geo_apps.viewer.items import Curve, Image, Points, RunView, Surface, Track, ViewItem, Volume

LAYOUTS = ("auto", "overlay", "side-by-side")
EDGE_COLOUR = (0.22, 0.22, 0.25)
"""Drawn edges: dark enough to read on every colour map, light enough to leave the colours readable on a
dense mesh."""
COLUMN_GAP = 0.15
"""Gap between side-by-side columns, as a fraction of the widest item."""


@dataclass
class RegisteredItem:
    """Where an item of a run ended up: its Polyscope structure name and kind."""

    structure: str
    kind: str  # "surface", "curve", "points", "image", "volume"
    item: ViewItem
    offset: np.ndarray


@dataclass
class Scene:
    """The registered state of every run: structure names per run item, groups, slice planes.

    Attributes
    ----------
    views : the runs, in the order given.
    layout : ``"overlay"`` or ``"side-by-side"`` (resolved from ``"auto"``).
    registered : ``registered[run_index][item_name]`` -> :class:`RegisteredItem`.
    groups : Polyscope group name of each run.
    shown : whether each run's group is switched on (Polyscope's groups cannot be asked).
    slices : the heat-map slice sheet of each volume: (sheet structure name, the volume's entry).
    slice_fraction : height of the slice sheets, 0 = bottom of the volume, 1 = top (along ``up_axis``).
    frame : the playback frame shown (-1 = the final state from ``result.*``).
    up_axis : the scene's up axis: columns are laid out across it, slices cut normal to it.
    """

    views: list[RunView]
    layout: str
    registered: list[dict[str, RegisteredItem]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    shown: list[bool] = field(default_factory=list)
    slices: list[tuple[str, RegisteredItem]] = field(default_factory=list)
    slice_fraction: float = 0.5
    frame: int = -1
    up_axis: str = "y"

    @property
    def right(self) -> np.ndarray:
        """The scene's left-to-right direction for its up axis: side-by-side columns go along it."""
        from sape_geo_apps.viewer.backend import axis_frame

        return axis_frame(self.up_axis)[2]

    @property
    def dimension(self) -> int:
        return max(view.dimension for view in self.views)

    @property
    def frame_count(self) -> int:
        """Frames every run can play (the shortest run's count; 0 = no playback)."""
        counts = [view.frame_count for view in self.views if view.tracks]
        return min(counts) if counts else 0

    def structure_names(self) -> list[str]:
        return sorted({entry.structure for run in self.registered for entry in run.values()})


OVERLAY_TASKS = ("fit1d",)
"""2-D tasks whose compared runs read best on one plot (curves of one signal)."""


def resolve_layout(views: list[RunView], layout: str) -> str:
    """``"auto"``: side by side for 3-D runs (source, target and result apart); for 2-D ones, overlay
    (the result over its input) unless several runs are compared whose results would hide each other
    (silhouettes, images: each gets its own column; 1-D fits share one plot)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout != "auto":
        return layout
    if max(view.dimension for view in views) == 3:
        return "side-by-side"
    if len(views) > 1 and any(view.task not in OVERLAY_TASKS for view in views):
        return "side-by-side"
    return "overlay"


def build_scene(views: list[RunView], layout: str = "auto", up_axis: str = "y") -> Scene:
    """Register every run's items with Polyscope (which must be initialised) and return the scene.

    Side by side, columns follow each other left to right as seen with ``up_axis`` up. Runs of the same
    folder name are told apart (``demo``, ``demo (2)``): the views take those labels, so titles, notes
    and metrics lines name them as the panel does."""
    import polyscope as ps

    if not views:
        raise ValueError("nothing to show: no runs given")
    scene = Scene(views, resolve_layout(views, layout), up_axis=up_axis)
    right = scene.right
    labels = label_views(views)
    pitch = _widest_item(views, right) * (1.0 + COLUMN_GAP)
    centres = _column_centres(views, scene.layout, right)
    drawn_shared: dict[tuple[str, int], RegisteredItem] = {}
    for run_index, (view, label) in enumerate(zip(views, labels)):
        group = ps.create_group(label)
        scene.groups.append(label)
        scene.shown.append(True)
        registered: dict[str, RegisteredItem] = {}
        for item in view.items:
            column = _column(item.column, run_index, scene.layout)
            offset = (column * pitch - centres.get(column, 0.0)) * right
            shared = (item.shared_key, column) if item.shared_key is not None else None
            if shared is not None and shared in drawn_shared:
                registered[item.name] = drawn_shared[shared]
                continue
            name = item.name if shared is not None else f"{label}: {item.name}"
            entry = RegisteredItem(name, _register(item, name, offset), item, offset)
            if entry.kind == "volume":
                sheet = _register_slice_sheet(entry, scene.slice_fraction, scene.up_axis)
                scene.slices.append((sheet, entry))
                if shared is None:
                    ps.get_surface_mesh(sheet).add_to_group(group)
            if shared is not None:
                drawn_shared[shared] = entry
            elif entry.kind != "image":
                _structure(entry).add_to_group(group)
            registered[item.name] = entry
        scene.registered.append(registered)
    return scene


def _column(column: int, run_index: int, layout: str) -> int:
    """Side by side, results of run ``i`` go to column ``2 + i``. Overlay keeps the source (column 0)
    to the left and puts target and results on top of each other."""
    if layout == "overlay":
        return -1 if column == 0 else 0
    return column + run_index if column >= 2 else column


def _column_centres(views: list[RunView], layout: str, right: np.ndarray) -> dict[int, float]:
    """The centre along ``right`` of the first item that lands in each column: shifting a column by it centres the
    column's items (which share one frame, e.g. a target and its landmarks) on the column, whatever the
    frame each input was given in."""
    centres: dict[int, float] = {}
    for run_index, view in enumerate(views):
        for item in view.items:
            positions = _positions(item)
            column = _column(item.column, run_index, layout)
            if len(positions) and column not in centres:
                across = positions @ right
                centres[column] = float(across.min() + across.max()) / 2.0
    return centres if layout == "side-by-side" else {}


def label_views(views: list[RunView]) -> list[str]:
    """Tell runs from folders of one name apart (``demo``, ``demo (2)``): sets and returns each view's
    label (unchanged when already unique)."""
    for view, label in zip(views, _unique_labels([view.label for view in views])):
        view.label = label
    return [view.label for view in views]


def _unique_labels(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def _widest_item(views: list[RunView], right: np.ndarray) -> float:
    widths = [np.ptp(_positions(item) @ right) for view in views for item in view.items if len(_positions(item))]
    return float(max(widths)) if widths and max(widths) > 0 else 1.0


def _positions(item: ViewItem) -> np.ndarray:
    if isinstance(item, Surface):
        return np.asarray(item.vertices).reshape(-1, 3)
    if isinstance(item, Curve):
        return np.asarray(item.nodes).reshape(-1, 3)
    if isinstance(item, Points):
        return np.asarray(item.points).reshape(-1, 3)
    if isinstance(item, Volume):
        return np.array([item.bound_low, item.bound_high], dtype=np.float64)
    return np.zeros((0, 3))


def _structure(entry: RegisteredItem):
    import polyscope as ps

    getter = {"surface": ps.get_surface_mesh, "curve": ps.get_curve_network, "points": ps.get_point_cloud, "volume": ps.get_volume_grid}
    return getter[entry.kind](entry.structure)


def _register(item: ViewItem, name: str, offset: np.ndarray) -> str:
    import polyscope as ps

    if isinstance(item, Image):
        _add_image(item, name)
        return "image"
    if isinstance(item, Surface):
        # a ragged list of polygons: Polyscope draws their own edges, not an internal triangulation
        faces = item.polygons.to_list() if item.polygons is not None else np.asarray(item.faces, dtype=np.int64)
        structure = ps.register_surface_mesh(
            name, np.asarray(item.vertices, dtype=np.float64), faces,
            enabled=item.enabled, color=item.color, transparency=item.transparency, edge_width=item.edge_width, edge_color=EDGE_COLOUR,
            material=item.material, smooth_shade=True,
        )
        if item.face_colors is not None:
            structure.add_color_quantity("colour", np.asarray(item.face_colors, dtype=np.float64), defined_on="faces", enabled=True)
        kind = "surface"
    elif isinstance(item, Curve):
        structure = ps.register_curve_network(
            name, np.asarray(item.nodes, dtype=np.float64), np.asarray(item.edges, dtype=np.int64),
            enabled=item.enabled, radius=item.radius, color=item.color,
        )
        kind = "curve"
    elif isinstance(item, Points):
        structure = ps.register_point_cloud(
            name, np.asarray(item.points, dtype=np.float64), enabled=item.enabled, radius=item.radius, color=item.color
        )
        kind = "points"
    elif isinstance(item, Volume):
        values = np.asarray(item.values, dtype=np.float64)
        structure = ps.register_volume_grid(name, values.shape, np.asarray(item.bound_low, dtype=np.float64),
                                            np.asarray(item.bound_high, dtype=np.float64), enabled=item.enabled)
        kind = "volume"
    else:
        raise TypeError(f"cannot draw {type(item).__name__}")
    for scalar in item.scalars:
        _add_scalar(structure, kind, scalar)
    for vectors in item.vectors:
        arguments = {"defined_on": vectors.on} if kind in ("surface", "curve") else {}
        structure.add_vector_quantity(
            vectors.name, np.asarray(vectors.vectors, dtype=np.float64), vectortype="ambient",
            color=vectors.color, enabled=vectors.enabled, **arguments,
        )
    if np.any(offset):
        structure.translate(offset)
    return kind


def _colour_bar_option() -> dict:
    """In a window, Polyscope's own colour bar (titled with the quantity's name, which carries its unit)
    for whichever scalar is switched on; pictures get theirs drawn under them instead
    (:mod:`sape_geo_apps.viewer.overlay`)."""
    from sape_geo_apps.viewer.backend import started_mode

    return {"onscreen_colorbar_enabled": True} if started_mode() == "window" else {}


def _add_scalar(structure, kind: str, scalar) -> None:
    options = {"cmap": scalar.cmap, "enabled": scalar.enabled, **_colour_bar_option()}
    if scalar.vrange is not None:
        options["vminmax"] = tuple(float(v) for v in scalar.vrange)
    values = np.asarray(scalar.values, dtype=np.float64)
    if kind == "points":
        structure.add_scalar_quantity(scalar.name, values, **options)
    else:
        structure.add_scalar_quantity(scalar.name, values, defined_on=scalar.on, **options)


def _add_image(item: Image, name: str) -> None:
    import polyscope as ps

    pixels = np.asarray(item.pixels, dtype=np.float64)
    if pixels.ndim == 2:
        ps.add_scalar_image_quantity(name, pixels, cmap=item.cmap, enabled=item.enabled, show_in_imgui_window=True)
    else:
        ps.add_color_image_quantity(name, pixels[..., :3], enabled=item.enabled, show_in_imgui_window=True)


def slice_sheet(volume: Volume, fraction: float, up_axis: str = "y") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A horizontal sheet (normal to ``up_axis``, the scene's up) through ``volume`` at ``fraction`` of
    its height: 0 is the bottom as seen with ``up_axis`` up (the high end of the axis when it is negated).

    Returns
    -------
    vertices (na nb, 3) at the grid's nodes of the two other axes (in x, y, z order); faces
    (2 (na-1)(nb-1), 3); values (na nb,) linearly interpolated between the two node layers around the
    height.
    """
    values = np.asarray(volume.values, dtype=np.float64)
    axis = "xyz".index(up_axis.lstrip("-"))
    across = [a for a in range(3) if a != axis]
    values = np.moveaxis(values, axis, 2)  # (na, nb, n_up)
    na, nb, n_up = values.shape
    low, high = np.asarray(volume.bound_low, dtype=np.float64), np.asarray(volume.bound_high, dtype=np.float64)
    fraction = float(np.clip(fraction, 0.0, 1.0))
    if up_axis.startswith("-"):
        fraction = 1.0 - fraction
    layer = fraction * (n_up - 1)
    below = min(int(np.floor(layer)), max(n_up - 2, 0))
    above = min(below + 1, n_up - 1)
    weight = layer - below
    sheet = (1.0 - weight) * values[:, :, below] + weight * values[:, :, above]
    a, b = np.meshgrid(np.linspace(low[across[0]], high[across[0]], na), np.linspace(low[across[1]], high[across[1]], nb), indexing="ij")
    vertices = np.zeros((a.size, 3))
    vertices[:, across[0]], vertices[:, across[1]] = a.ravel(), b.ravel()
    vertices[:, axis] = low[axis] + fraction * (high[axis] - low[axis])
    corner = (np.arange(na - 1)[:, None] * nb + np.arange(nb - 1)[None, :]).ravel()
    faces = np.concatenate([np.column_stack([corner, corner + 1, corner + nb + 1]), np.column_stack([corner, corner + nb + 1, corner + nb])])
    return vertices, faces, sheet.ravel()


def _register_slice_sheet(entry: RegisteredItem, fraction: float, up_axis: str = "y") -> str:
    """The volume's heat map on a movable horizontal sheet; the full grid stays available (off at first)."""
    import polyscope as ps

    volume = entry.item
    vertices, faces, values = slice_sheet(volume, fraction, up_axis)
    name = f"{entry.structure} slice"
    sheet = ps.register_surface_mesh(name, vertices, faces, material="flat", smooth_shade=True)
    scalar = volume.scalars[0] if volume.scalars else None
    vrange = scalar.vrange if scalar is not None and scalar.vrange is not None else (float(values.min()), float(values.max()))
    sheet.add_scalar_quantity(scalar.name if scalar else "values", values, cmap=volume.cmap, vminmax=vrange, enabled=True,
                              **_colour_bar_option())
    sheet.translate(entry.offset)
    ps.get_volume_grid(entry.structure).set_enabled(False)
    return name


def set_run_shown(scene: Scene, run_index: int, shown: bool) -> None:
    """Switch all of one run's own structures on or off (items shared with other runs stay)."""
    import polyscope as ps

    ps.get_group(scene.groups[run_index]).set_enabled(shown)
    scene.shown[run_index] = shown


def set_slice_position(scene: Scene, fraction: float) -> None:
    """Move every heat-map slice sheet to ``fraction`` in [0, 1] of its volume's height (along the scene's up)."""
    import polyscope as ps

    scene.slice_fraction = float(np.clip(fraction, 0.0, 1.0))
    for name, entry in scene.slices:
        vertices, _, values = slice_sheet(entry.item, scene.slice_fraction, scene.up_axis)
        sheet = ps.get_surface_mesh(name)
        sheet.update_vertex_positions(vertices)
        quantity = entry.item.scalars[0].name if entry.item.scalars else "values"
        sheet.get_quantity_buffer(quantity, "values").update_data(values)


def show_frame(scene: Scene, frame: int) -> None:
    """Show snapshot ``frame`` of every run (``-1``: the final state from the run's result files)."""
    if frame >= scene.frame_count:
        raise ValueError(f"frame {frame} is out of range: the runs have {scene.frame_count} snapshot frames")
    for view, registered in zip(scene.views, scene.registered):
        for track in view.tracks:
            entry = registered[track.item]
            _apply(entry, track, frame)
    scene.frame = frame


def _apply(entry: RegisteredItem, track: Track, frame: int) -> None:
    structure = _structure(entry)
    if track.target == "positions":
        positions = np.asarray(track.frames[frame] if frame >= 0 else _positions(entry.item), dtype=np.float64)
        if entry.kind == "surface":
            structure.update_vertex_positions(positions)
        elif entry.kind == "curve":
            structure.update_node_positions(positions)
        else:
            structure.update_point_positions(positions)
        return
    scalar = next(s for s in entry.item.scalars if s.name == track.target)
    values = track.frames[frame] if frame >= 0 else scalar.values
    # Updating the buffer in place keeps the user's colour-map choices; the range is fixed per scalar
    # (vrange) so frames are comparable.
    structure.get_quantity_buffer(scalar.name, "values").update_data(np.asarray(values, dtype=np.float64))
