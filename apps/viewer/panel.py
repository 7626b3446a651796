"""The viewer's side panel (Polyscope's ImGui user callback): runs, metrics, config, playback, slice,
screenshots; and the names of labelled points drawn next to them in the 3-D view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sape_geo.atomic import write_text_atomic
from sape_geo_apps.viewer.items import Points
from sape_geo_apps.viewer.scene import Scene, set_run_shown, set_slice_position, show_frame

LABEL_COLOUR = 0xFF202020  # ImGui colours are 0xAABBGGRR
LABEL_BACKGROUND = 0xB0FFFFFF  # translucent white: names stay readable over the shapes
LEADER_COLOUR = 0xFF808080


def project_to_screen(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points (N, 3) -> window pixel coordinates (N, 2) of the current perspective camera, and
    (N,) True where the point is in front of the camera."""
    import polyscope as ps

    camera = ps.get_view_camera_parameters()
    view = np.asarray(camera.get_view_mat(), dtype=np.float64)
    homogeneous = np.column_stack([np.asarray(points, dtype=np.float64), np.ones(len(points))])
    eye = homogeneous @ view.T
    depth = -eye[:, 2]
    in_front = depth > 1e-9
    tan_half = np.tan(np.radians(camera.get_fov_vertical_deg()) / 2.0)
    safe_depth = np.where(in_front, depth, 1.0)
    x_ndc = eye[:, 0] / safe_depth / (tan_half * camera.get_aspect())
    y_ndc = eye[:, 1] / safe_depth / tan_half
    width, height = ps.get_window_size()
    return np.column_stack([(x_ndc + 1.0) / 2.0 * width, (1.0 - y_ndc) / 2.0 * height]), in_front


def visible_labels(scene: Scene) -> tuple[np.ndarray, list[str]]:
    """Window pixel positions (N, 2) and names of the labelled points now shown (in front of the camera)."""
    import polyscope as ps

    anchors: list[np.ndarray] = []
    names: list[str] = []
    seen: set[str] = set()
    for run_index, registered in enumerate(scene.registered):
        for entry in registered.values():
            item = entry.item
            if entry.structure in seen:  # an item shared by compared runs is drawn, and named, once
                continue
            seen.add(entry.structure)
            if not isinstance(item, Points) or not item.labels or not ps.get_point_cloud(entry.structure).is_enabled():
                continue
            if item.shared_key is None and not scene.shown[run_index]:
                continue
            screen, in_front = project_to_screen(np.asarray(item.points) + entry.offset)
            for position, visible, label in zip(screen, in_front, item.labels):
                if visible and label:
                    anchors.append(position)
                    names.append(label)
    return np.asarray(anchors, dtype=np.float64).reshape(-1, 2), names


def run_titles(scene: Scene) -> list[tuple[float, float, str]]:
    """Where to name each run when several are compared side by side: (x, y, text) in window pixels,
    centred above the run's own items (its result column). Empty for one run or an overlay."""
    if len(scene.views) < 2 or scene.layout != "side-by-side":
        return []
    from sape_geo_apps.viewer.scene import _positions

    titles = []
    for view, registered, shown in zip(scene.views, scene.registered, scene.shown):
        own = [entry for entry in registered.values() if entry.item.shared_key is None and entry.item.enabled and entry.kind != "image"]
        points = [_positions(entry.item) + entry.offset for entry in own]
        points = [chunk for chunk in points if len(chunk)]
        if not shown or not points:
            continue
        screen, in_front = project_to_screen(np.concatenate(points))
        screen = screen[in_front]
        if len(screen):
            method = view.config.get("method", {}).get("name")
            text = view.label if not method or method == view.label else f"{view.label} ({method})"
            titles.append((float(np.median(screen[:, 0])), float(screen[:, 1].min()), text))
    return titles


def label_boxes(anchors: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Where the names of points at window pixels ``anchors`` (N, 2) go: top-left corners (N, 2) and
    sizes (N, 2) of their boxes in the current window, no two overlapping
    (:func:`~sape_geo_apps.viewer.framing.place_labels`)."""
    import polyscope as ps
    import polyscope.imgui as psim

    from sape_geo_apps.viewer.framing import place_labels

    sizes = np.array([psim.CalcTextSize(name) for name in names], dtype=np.float64).reshape(-1, 2) + 2.0
    # the window redraws every frame: place again only when the camera, the window or the names changed
    key = (np.round(anchors).astype(np.int64).tobytes(), sizes.tobytes(), tuple(ps.get_window_size()))
    if _placed_labels.get("key") != key:
        _placed_labels.update(key=key, corners=place_labels(anchors, sizes, bounds=ps.get_window_size()))
    return _placed_labels["corners"], sizes


_placed_labels: dict = {}
"""The last placement of :func:`label_boxes` and what it was made for."""


def draw_labels(anchors: np.ndarray, names: list[str], colour: int = LABEL_COLOUR) -> int:
    """Write each name beside its point (ImGui foreground layer) where :func:`label_boxes` puts it; a
    name moved away from its point gets a thin leader line. Returns how many were drawn."""
    import polyscope.imgui as psim

    if not names:
        return 0
    corners, sizes = label_boxes(anchors, names)
    draw_list = psim.GetForegroundDrawList()
    for (x, y), (cx, cy), (w, h), name in zip(anchors, corners, sizes, names):
        nearest = (float(np.clip(x, cx, cx + w)), float(np.clip(y, cy, cy + h)))
        if np.hypot(nearest[0] - x, nearest[1] - y) > 9.0:
            draw_list.AddLine((float(x), float(y)), nearest, LEADER_COLOUR, 1.0)
        draw_list.AddRectFilled((float(cx), float(cy)), (float(cx + w), float(cy + h)), LABEL_BACKGROUND, 3.0)
        draw_list.AddText((float(cx) + 1.0, float(cy) + 1.0), colour, name)
    return len(names)


def draw_point_labels(scene: Scene) -> int:
    """Write the name of each labelled point the scene shows beside it (:func:`draw_labels`)."""
    return draw_labels(*visible_labels(scene))


class ViewerPanel:
    """The ImGui callback of ``sape-geo view``: call it once per frame (Polyscope does).

    Parameters
    ----------
    scene : the registered runs.
    output_dir : where the "screenshot" and "save camera" buttons write their files.
    """

    def __init__(self, scene: Scene, output_dir: str | Path = ".") -> None:
        self.scene = scene
        self.output_dir = Path(output_dir)
        self.playing = False
        self.messages: list[str] = []
        self.frames_drawn = 0

    def __call__(self) -> None:
        import polyscope.imgui as psim

        self.frames_drawn += 1
        psim.PushItemWidth(180)
        for index, view in enumerate(self.scene.views):
            self._run_section(index, view)
        self._playback()
        self._slice()
        self._buttons()
        for message in self.messages[-3:]:
            psim.TextWrapped(message)
        psim.PopItemWidth()
        draw_point_labels(self.scene)

    def _run_section(self, index: int, view) -> None:
        import polyscope.imgui as psim

        changed, shown = psim.Checkbox(f"##show{index}", self.scene.shown[index])
        if changed:
            set_run_shown(self.scene, index, shown)
        psim.SameLine()
        method = view.config.get("method", {}).get("name", "?")
        if psim.CollapsingHeader(f"{self.scene.groups[index]}  [{view.task}, {method}]##run{index}", psim.ImGuiTreeNodeFlags_DefaultOpen):
            for note in view.notes:
                psim.TextColored((0.8, 0.3, 0.1, 1.0), note)
            if psim.TreeNodeEx(f"metrics##{index}", psim.ImGuiTreeNodeFlags_DefaultOpen):
                _value_table(f"metrics table {index}", view.metrics)
                psim.TreePop()
            if psim.TreeNode(f"config##{index}"):
                _tree(view.config, f"config {index}")
                psim.TreePop()

    def _playback(self) -> None:
        import polyscope.imgui as psim

        count = self.scene.frame_count
        if count == 0:
            return
        psim.Separator()
        steps = self.scene.views[0].steps
        label = "final result" if self.scene.frame < 0 else f"step {int(steps[self.scene.frame])}"
        changed, frame = psim.SliderInt(f"snapshot ({label})", self.scene.frame, -1, count - 1)
        if psim.Button("pause" if self.playing else "play"):
            self.playing = not self.playing
        if self.playing:
            frame, changed = (self.scene.frame + 1) % count, True
        if changed:
            show_frame(self.scene, frame)

    def _slice(self) -> None:
        import polyscope.imgui as psim

        if not self.scene.slices:
            return
        psim.Separator()
        changed, fraction = psim.SliderFloat("heat-map slice height", self.scene.slice_fraction, 0.0, 1.0)
        if changed:
            set_slice_position(self.scene, fraction)

    def _buttons(self) -> None:
        import polyscope as ps
        import polyscope.imgui as psim

        psim.Separator()
        if psim.Button("screenshot"):
            from sape_geo_apps.viewer.backend import write_png

            path = self._next_free("sape-geo-screenshot-{:03d}.png")
            # as --screenshot writes: atomically, marked as the viewer's
            write_png(path, ps.screenshot_to_buffer(transparent_bg=False)[..., :3])
            self.messages.append(f"saved {path}")
        psim.SameLine()
        if psim.Button("save camera"):
            path = self._next_free("sape-geo-camera-{:03d}.json")
            write_text_atomic(path, ps.get_view_as_json())
            self.messages.append(f"saved {path} (use it with --camera {path})")

    def _next_free(self, pattern: str) -> Path:
        index = 0
        while (self.output_dir / pattern.format(index)).exists():
            index += 1
        return self.output_dir / pattern.format(index)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)[:80]
    return str(value)


def _value_table(identifier: str, values: dict[str, Any]) -> None:
    import polyscope.imgui as psim

    if not values:
        psim.TextDisabled("(none)")
        return
    if psim.BeginTable(identifier, 2, psim.ImGuiTableFlags_RowBg | psim.ImGuiTableFlags_BordersInnerV):
        for key, value in values.items():
            psim.TableNextRow()
            psim.TableNextColumn()
            psim.TextUnformatted(str(key))
            psim.TableNextColumn()
            psim.TextUnformatted(_format(value))
        psim.EndTable()


def _tree(values: dict[str, Any], identifier: str) -> None:
    """Nested config as a tree: objects open as nodes, everything else is one line."""
    import polyscope.imgui as psim

    for key, value in values.items():
        if isinstance(value, dict):
            if psim.TreeNode(f"{key}##{identifier}"):
                _tree(value, f"{identifier}/{key}")
                psim.TreePop()
        else:
            psim.BulletText(f"{key}: {_format(value)}")
