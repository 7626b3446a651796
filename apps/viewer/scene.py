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
    slice_planes : slice planes added for volumes (one per scene).
    frame : the playback frame shown (-1 = the final state from ``result.*``).
    """

    views: list[RunView]
    layout: str
    registered: list[dict[str, RegisteredItem]] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    shown: list[bool] = field(default_factory=list)
    slice_planes: list = field(default_factory=list)
    frame: int = -1

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


def resolve_layout(views: list[RunView], layout: str) -> str:
    """``"auto"``: side by side for 3-D runs (source, target and result apart), overlay for 2-D ones."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout != "auto":
        return layout
    return "side-by-side" if max(view.dimension for view in views) == 3 else "overlay"


def build_scene(views: list[RunView], layout: str = "auto") -> Scene:
    """Register every run's items with Polyscope (which must be initialised) and return the scene."""
    import polyscope as ps

    if not views:
        raise ValueError("nothing to show: no runs given")
    scene = Scene(views, resolve_layout(views, layout))
    labels = _unique_labels([view.label for view in views])
    width = _widest_item(views)
    drawn_shared: dict[tuple[str, int], RegisteredItem] = {}
    for run_index, (view, label) in enumerate(zip(views, labels)):
        group = ps.create_group(label)
        scene.groups.append(label)
        scene.shown.append(True)
        registered: dict[str, RegisteredItem] = {}
        for item in view.items:
            column = _column(item.column, run_index, scene.layout)
            offset = np.array([column * width * (1.0 + COLUMN_GAP), 0.0, 0.0])
            shared = (item.shared_key, column) if item.shared_key is not None else None
            if shared is not None and shared in drawn_shared:
                registered[item.name] = drawn_shared[shared]
                continue
            name = item.name if shared is not None else f"{label}: {item.name}"
            entry = RegisteredItem(name, _register(item, name, offset), item, offset)
            if entry.kind == "volume":
                scene.slice_planes.append(_add_slice_plane(item, offset))
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


def _unique_labels(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return unique


def _widest_item(views: list[RunView]) -> float:
    widths = [np.ptp(_positions(item)[:, 0]) for view in views for item in view.items if len(_positions(item))]
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
        structure = ps.register_surface_mesh(
            name, np.asarray(item.vertices, dtype=np.float64), np.asarray(item.faces, dtype=np.int64),
            enabled=item.enabled, color=item.color, transparency=item.transparency, edge_width=item.edge_width,
            smooth_shade=True,
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
        structure = ps.register_volume_grid(name, values.shape, item.bound_low, item.bound_high, enabled=item.enabled)
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


def _add_scalar(structure, kind: str, scalar) -> None:
    options = {"cmap": scalar.cmap, "enabled": scalar.enabled}
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


def _add_slice_plane(item: Volume, offset: np.ndarray):
    """A scene slice plane through the volume's middle, normal +z, that cuts the volume and the surface."""
    import polyscope as ps

    plane = ps.add_scene_slice_plane()
    centre = (np.asarray(item.bound_low) + np.asarray(item.bound_high)) / 2.0 + offset
    plane.set_pose(centre, (0.0, 0.0, 1.0))
    plane.set_draw_widget(True)
    return plane


def set_run_shown(scene: Scene, run_index: int, shown: bool) -> None:
    """Switch all of one run's own structures on or off (items shared with other runs stay)."""
    import polyscope as ps

    ps.get_group(scene.groups[run_index]).set_enabled(shown)
    scene.shown[run_index] = shown


def set_slice_position(scene: Scene, fraction: float) -> None:
    """Move the scene's slice plane(s) along z to ``fraction`` in [0, 1] of the first volume's height."""
    volumes = [entry for run in scene.registered for entry in run.values() if entry.kind == "volume"]
    if not volumes or not scene.slice_planes:
        return
    volume = volumes[0].item
    low, high = float(volume.bound_low[2]), float(volume.bound_high[2])
    for plane in scene.slice_planes:
        centre = np.asarray(plane.get_center(), dtype=np.float64)
        centre[2] = low + float(np.clip(fraction, 0.0, 1.0)) * (high - low) + volumes[0].offset[2]
        plane.set_pose(centre, (0.0, 0.0, 1.0))


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
