"""``sape-geo landmarks SOURCE TARGET --out FILE``: click landmark pairs for a mesh transfer.

Click a vertex on the source (left), then its partner on the target (right); name the pair, undo, and
save in the mesh-transfer landmark format (``source_vertex target_vertex  # name``, or
``source_vertex x y z  # name`` for points that are not target vertices). An existing file is loaded
for editing. :class:`LandmarkSession` holds the state and rules (no Polyscope); :class:`PickerWindow`
is the Polyscope front end.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sape_geo.geometry.landmarks import Landmarks, load_landmarks, save_landmarks
from sape_geo.geometry.mesh_io import load_mesh, load_mesh_or_points
from sape_geo_apps.cli import AppCommand

SOURCE_COLOUR = (0.3, 0.55, 0.85)
TARGET_COLOUR = (0.55, 0.55, 0.6)
MARK_COLOUR = (0.9, 0.15, 0.1)
PENDING_COLOUR = (1.0, 0.8, 0.0)
LABEL_COLOUR = 0xFF1010C0  # ImGui 0xAABBGGRR: dark red


@dataclass
class LandmarkPair:
    """A source vertex, its partner on the target (a target vertex id when known) and a name."""

    source: int
    target_position: np.ndarray
    target_vertex: int | None
    name: str


class LandmarkSession:
    """Landmark pairs being edited: pick a source vertex, then a target vertex; undo; rename; save.

    Parameters
    ----------
    source_vertex_count : number of source vertices (picks are checked against it).
    target_points : (n, 3) target vertices or points (a target pick is an index into them).
    """

    def __init__(self, source_vertex_count: int, target_points: np.ndarray) -> None:
        self.source_vertex_count = int(source_vertex_count)
        self.target_points = np.asarray(target_points, dtype=np.float64)
        self.pairs: list[LandmarkPair] = []
        self.pending_source: int | None = None
        self.unsaved = False

    def pick_source(self, vertex: int) -> str:
        """Start a pair at source ``vertex``; returns a message for the user."""
        vertex = int(vertex)
        if not 0 <= vertex < self.source_vertex_count:
            raise ValueError(f"source vertex {vertex} is out of range (0..{self.source_vertex_count - 1})")
        taken = next((k for k, pair in enumerate(self.pairs) if pair.source == vertex), None)
        if taken is not None:
            return f"source vertex {vertex} already has landmark {taken} ({self.pairs[taken].name}); remove it first"
        self.pending_source = vertex
        return f"source vertex {vertex} chosen: now click its partner on the target"

    def pick_target(self, vertex: int, name: str = "") -> str:
        """Finish the pending pair at target ``vertex``; returns a message for the user."""
        vertex = int(vertex)
        if self.pending_source is None:
            return "click a source vertex first (left shape)"
        if not 0 <= vertex < len(self.target_points):
            raise ValueError(f"target vertex {vertex} is out of range (0..{len(self.target_points) - 1})")
        name = name.strip() or f"landmark {len(self.pairs)}"
        self.pairs.append(LandmarkPair(self.pending_source, self.target_points[vertex].copy(), vertex, name))
        self.pending_source = None
        self.unsaved = True
        return f"added {name}: source {self.pairs[-1].source} -> target {vertex}"

    def undo(self) -> str:
        """Drop the pending source pick, else the last pair."""
        if self.pending_source is not None:
            self.pending_source = None
            return "cancelled the source pick"
        if not self.pairs:
            return "nothing to undo"
        pair = self.pairs.pop()
        self.unsaved = True
        return f"removed {pair.name}"

    def remove(self, index: int) -> str:
        pair = self.pairs.pop(index)
        self.unsaved = True
        return f"removed {pair.name}"

    def rename(self, index: int, name: str) -> None:
        # '#' starts a comment in the file format: a name must not contain one, nor a line break.
        cleaned = " ".join(name.replace("#", " ").split())
        if cleaned != self.pairs[index].name:
            self.pairs[index].name = cleaned
            self.unsaved = True

    def landmarks(self) -> Landmarks:
        return Landmarks(
            np.array([pair.source for pair in self.pairs], dtype=np.int64),
            np.array([pair.target_position for pair in self.pairs], dtype=np.float64).reshape(-1, 3),
            tuple(pair.name for pair in self.pairs),
        )

    def save(self, path: str | os.PathLike) -> str:
        """Write the pairs atomically: ``source target_vertex`` lines when every partner is a target
        vertex, else ``source x y z`` lines (both are read by the mesh-transfer task)."""
        if not self.pairs:
            raise ValueError("no landmarks to save yet")
        indices = [pair.target_vertex for pair in self.pairs]
        target_indices = np.array(indices, dtype=np.int64) if all(index is not None for index in indices) else None
        save_landmarks(path, self.landmarks(), target_indices)
        self.unsaved = False
        return f"saved {len(self.pairs)} landmarks to {path}"

    def load(self, path: str | os.PathLike) -> str:
        """Replace the pairs with those of a landmark file (any format the transfer task reads, a YAML
        ``markers:`` list too, its comments the names)."""
        if Path(path).suffix.lower() in (".yml", ".yaml"):
            from sape_geo.geometry.landmarks import landmarks_from_arrays, read_marker_file

            pairs, names = read_marker_file(path)
            if pairs[:, 1].max() >= len(self.target_points):
                raise ValueError(f"{path}: target vertex {int(pairs[:, 1].max())} is out of range ({len(self.target_points)} target vertices)")
            marks = landmarks_from_arrays(pairs[:, 0], self.target_points[pairs[:, 1]], self.source_vertex_count, names, minimum=0)
        else:
            marks = load_landmarks(path, self.source_vertex_count, self.target_points, minimum=0)
        self.pairs = []
        for source, position, name in zip(marks.source_indices, marks.target_positions, marks.names):
            # A position that is exactly a target vertex came from a vertex id: keep saving it as one.
            distances = np.linalg.norm(self.target_points - position, axis=1)
            nearest = int(np.argmin(distances)) if len(distances) else None
            vertex = nearest if nearest is not None and distances[nearest] == 0.0 else None
            self.pairs.append(LandmarkPair(int(source), position.copy(), vertex, name or f"landmark {len(self.pairs)}"))
        self.pending_source = None
        self.unsaved = False
        return f"loaded {len(self.pairs)} landmarks from {path}"


def picked_vertex(element_type: str, index: int, bary_coords: np.ndarray | None, faces: np.ndarray | None,
                  local_position: np.ndarray, vertices: np.ndarray) -> int:
    """The vertex a click means: the vertex itself, the face corner with the largest barycentric
    weight, or else the vertex nearest the clicked position (in the structure's own coordinates)."""
    if element_type == "vertex":
        return int(index)
    if element_type == "face" and bary_coords is not None and faces is not None:
        return int(faces[index][int(np.argmax(bary_coords))])
    return int(np.argmin(np.linalg.norm(vertices - local_position, axis=1)))


class PickerWindow:
    """The Polyscope front end of a :class:`LandmarkSession` (its ImGui callback is ``__call__``)."""

    SOURCE, TARGET = "source", "target"

    def __init__(self, session: LandmarkSession, source: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray | None],
                 out: Path) -> None:
        self.session = session
        self.source_vertices, self.source_faces = source
        self.target_vertices, self.target_faces = target
        self.out = out
        self.next_name = ""
        self.messages: list[str] = ["click a vertex on the source (left), then its partner on the target (right)"]
        width = max(np.ptp(self.source_vertices[:, 0]), np.ptp(self.target_vertices[:, 0]), 1e-9)
        # The target sits to the right of the source with a gap, so both are visible and clickable.
        self.target_offset = np.array([self.source_vertices[:, 0].max() - self.target_vertices[:, 0].min() + 0.25 * width, 0.0, 0.0])

    def register(self) -> None:
        import polyscope as ps

        ps.register_surface_mesh(self.SOURCE, self.source_vertices, self.source_faces, color=SOURCE_COLOUR, smooth_shade=True)
        if self.target_faces is not None:
            target = ps.register_surface_mesh(self.TARGET, self.target_vertices, self.target_faces, color=TARGET_COLOUR, smooth_shade=True)
        else:
            target = ps.register_point_cloud(self.TARGET, self.target_vertices, color=TARGET_COLOUR)
        target.translate(self.target_offset)
        self.refresh()

    def refresh(self) -> None:
        """Redraw the landmark points (after any change)."""
        import polyscope as ps

        pairs = self.session.pairs
        source_points = self.source_vertices[[pair.source for pair in pairs]].reshape(-1, 3)
        target_points = np.array([pair.target_position for pair in pairs]).reshape(-1, 3) + self.target_offset
        ps.register_point_cloud("source landmarks", source_points, color=MARK_COLOUR, radius=0.008)
        ps.register_point_cloud("target landmarks", target_points, color=MARK_COLOUR, radius=0.008)
        pending = self.source_vertices[[self.session.pending_source]] if self.session.pending_source is not None else np.zeros((0, 3))
        ps.register_point_cloud("pending pick", pending.reshape(-1, 3), color=PENDING_COLOUR, radius=0.012)

    def handle_pick(self, structure: str, element_type: str, index: int, bary_coords, position: np.ndarray) -> None:
        """Feed one click (Polyscope's pick result fields) to the session."""
        if structure == self.SOURCE:
            vertex = picked_vertex(element_type, index, bary_coords, self.source_faces, position, self.source_vertices)
            self.messages.append(self.session.pick_source(vertex))
        elif structure == self.TARGET:
            kind = element_type if self.target_faces is not None else "vertex"
            vertex = picked_vertex(kind, index, bary_coords, self.target_faces, position - self.target_offset, self.target_vertices)
            self.messages.append(self.session.pick_target(vertex, self.next_name))
            if self.session.pending_source is None:
                self.next_name = ""
        else:
            return
        self.refresh()

    def _poll_selection(self) -> None:
        import polyscope as ps

        if not ps.have_selection():
            return
        pick = ps.get_selection()
        ps.reset_selection()
        if pick.is_hit:
            data = pick.structure_data
            self.handle_pick(pick.structure_name, data.get("element_type", "vertex"), int(data.get("index", pick.local_index)),
                             data.get("bary_coords"), np.asarray(pick.position, dtype=np.float64))

    def save(self) -> None:
        try:
            self.messages.append(self.session.save(self.out))
        except (ValueError, OSError) as error:
            self.messages.append(f"not saved: {error}")

    def __call__(self) -> None:
        import polyscope.imgui as psim

        self._poll_selection()
        session = self.session
        psim.TextWrapped("1. click a vertex on the source (left)   2. click its partner on the target (right)")
        psim.TextWrapped(f"file: {self.out}{'  (unsaved changes)' if session.unsaved else ''}")
        _, self.next_name = psim.InputText("name of the next pair", self.next_name)
        if psim.Button("undo (ctrl+z)") or (psim.GetIO().KeyCtrl and psim.IsKeyPressed(psim.ImGuiKey_Z)):
            self.messages.append(session.undo())
            self.refresh()
        psim.SameLine()
        if psim.Button("save (ctrl+s)") or (psim.GetIO().KeyCtrl and psim.IsKeyPressed(psim.ImGuiKey_S)):
            self.save()
        psim.Separator()
        psim.Text(f"{len(session.pairs)} pairs" + (f"; waiting for the partner of source vertex {session.pending_source}"
                                                    if session.pending_source is not None else ""))
        for k, pair in enumerate(list(session.pairs)):
            partner = f"t{pair.target_vertex}" if pair.target_vertex is not None else "xyz"
            psim.PushItemWidth(140)
            changed, name = psim.InputText(f"s{pair.source} -> {partner}##{k}", pair.name)
            psim.PopItemWidth()
            if changed:
                session.rename(k, name)
            psim.SameLine()
            if psim.Button(f"remove##{k}"):
                self.messages.append(session.remove(k))
                self.refresh()
                break
        for message in self.messages[-3:]:
            psim.TextWrapped(message)
        self._draw_labels()

    def label_anchors(self) -> tuple[np.ndarray, list[str]]:
        """Window pixels (N, 2) of the landmarks in front of the camera, source then target, and their names."""
        from sape_geo_apps.viewer.panel import project_to_screen

        pairs = self.session.pairs
        if not pairs:
            return np.zeros((0, 2)), []
        points = np.vstack([self.source_vertices[[p.source for p in pairs]],
                            np.array([p.target_position for p in pairs]) + self.target_offset])
        screen, in_front = project_to_screen(points)
        names = [p.name for p in pairs] * 2
        return screen[in_front], [name for name, visible in zip(names, in_front) if visible]

    def _draw_labels(self) -> None:
        from sape_geo_apps.viewer.panel import draw_labels

        # the viewer's placement: with 41 landmarks the names would cover each other beside their points
        draw_labels(*self.label_anchors(), colour=LABEL_COLOUR)


def open_picker(source_path: str | os.PathLike, target_path: str | os.PathLike, out: str | os.PathLike,
                load: str | os.PathLike | None = None, mode: str = "window") -> PickerWindow:
    """Read the meshes (and an existing landmark file), start Polyscope in ``mode`` and install the
    picker. ``load`` defaults to ``out`` when that file exists, so running again continues editing."""
    import polyscope as ps

    from sape_geo_apps.viewer.backend import start_polyscope

    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"--out must be a file, {out} is a folder")
    if not out.parent.exists():
        raise FileNotFoundError(f"folder for the landmark file does not exist: {out.parent}")
    source = load_mesh(source_path, repair=False)
    target = load_mesh_or_points(target_path, repair=False)
    session = LandmarkSession(len(source[0]), target[0])
    window = PickerWindow(session, source, target, out)
    existing = Path(load) if load is not None else (out if out.is_file() else None)
    if existing is not None:
        window.messages.append(session.load(existing))
    start_polyscope(mode)
    ps.set_up_dir("y_up")
    ps.set_ground_plane_mode("none")
    window.register()
    ps.set_user_callback(window)
    return window


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="source mesh (OBJ, OFF, PLY, STL): the mesh the transfer deforms")
    parser.add_argument("target", help="target mesh or point cloud")
    parser.add_argument("--out", required=True, help="landmark file to write (loaded first if it exists)")
    parser.add_argument("--load", default=None, help="start from this landmark file instead (text, CSV or JSON)")


def run(args: argparse.Namespace) -> int:
    import polyscope as ps

    from sape_geo_apps.viewer.backend import ViewerUnavailableError

    try:
        window = open_picker(args.source, args.target, args.out, args.load)
    except ViewerUnavailableError as error:
        # no display is this machine's setup, not a bug: exit 2 with the reason
        print(f"sape-geo landmarks: {error}", file=sys.stderr)
        return 2
    ps.show()
    if window.session.unsaved and window.session.pairs:
        # Closing the window is the natural "done": keep the work rather than dropping it silently.
        print(window.session.save(window.out))
    return 0


COMMAND = AppCommand(
    description=(
        "Click a vertex on the source (left), then its partner on the target (right); name it in the panel,\n"
        "undo with ctrl+z, save with ctrl+s (unsaved pairs are also saved when the window closes). The file\n"
        "is the mesh-transfer landmark format: 'source_vertex target_vertex  # name' per line.\n"
        "An existing --out file (or --load FILE) is loaded for editing.\n\n"
        "example: sape-geo landmarks source.obj target.obj --out pair.landmarks.txt"
    ),
    add_arguments=add_arguments,
    run=run,
)
