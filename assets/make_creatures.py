"""Make the mesh-transfer demo pairs: procedural creatures with landmarks known by construction.

Each creature is a smooth union of ellipsoids and capsules (a signed-distance-like field), meshed
with marching cubes (``skimage.measure.marching_cubes``) and decimated by quadric error (open3d) to a
chosen face count, so source and target have **different tessellations**. Each pair's landmarks are
the tips of limbs, ears, tail, snout: analytic points (the end of a capsule plus its radius along its
axis), taken as the nearest mesh vertex on each side and written as ``source_vertex target_vertex``.

Run ``python assets/make_creatures.py`` from the repository root (writes ``assets/<pair>_source.obj``,
``<pair>_target.obj``, ``<pair>_landmarks.txt``): it reproduces the committed files byte for byte (each
pair has its own grid resolution in :data:`PAIRS`; marching cubes and open3d's decimation are
deterministic; the test ``test_make_creatures_reproduces_the_committed_assets`` checks it). Tests
call :func:`make_pair` into temporary folders at a small resolution.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parent
SMOOTHING = 0.06  # smooth-union radius, in the creatures' units (body length ~ 2)


@dataclass(frozen=True)
class Capsule:
    """A segment ``a -> b`` of radius ``radius``; ``tip`` names the landmark at the ``b`` end (or "")."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    radius: float
    tip: str = ""

    def distance(self, points: np.ndarray) -> np.ndarray:
        a, b = np.asarray(self.a), np.asarray(self.b)
        axis = b - a
        t = np.clip(((points - a) @ axis) / (axis @ axis), 0.0, 1.0)
        return np.linalg.norm(points - (a + t[:, None] * axis), axis=1) - self.radius

    def tip_point(self) -> np.ndarray:
        a, b = np.asarray(self.a), np.asarray(self.b)
        return b + self.radius * (b - a) / np.linalg.norm(b - a)


@dataclass(frozen=True)
class Ellipsoid:
    """Axis-aligned ellipsoid; the field is an approximation of the distance that is exact on the surface."""

    centre: tuple[float, float, float]
    radii: tuple[float, float, float]

    def distance(self, points: np.ndarray) -> np.ndarray:
        scaled = (points - np.asarray(self.centre)) / np.asarray(self.radii)
        return (np.linalg.norm(scaled, axis=1) - 1.0) * min(self.radii)


@dataclass(frozen=True)
class Creature:
    """Parts joined by a smooth union; ``ridges`` > 0 adds bumps of that height (and ``ridge_wavelength``)
    on the upper back only: local high-frequency detail that the smooth source lacks, the case SAPE is
    made for (high frequencies there, none elsewhere)."""

    parts: tuple = field(default_factory=tuple)
    ridges: float = 0.0
    ridge_wavelength: float = 0.4

    def field(self, points: np.ndarray) -> np.ndarray:
        """Smooth union (polynomial smooth minimum) of the parts' fields, minus the back's bumps; negative inside."""
        value = self.parts[0].distance(points)
        for part in self.parts[1:]:
            other = part.distance(points)
            h = np.clip(0.5 + 0.5 * (other - value) / SMOOTHING, 0.0, 1.0)
            value = other * (1 - h) + value * h - SMOOTHING * h * (1 - h)
        if self.ridges > 0:
            x, y, z = points.T
            back = np.clip((z - 0.12) / 0.12, 0.0, 1.0) * np.clip((0.6 - np.abs(x)) / 0.2, 0.0, 1.0)
            k = 2.0 * np.pi / self.ridge_wavelength
            value = value - self.ridges * back * np.sin(k * x) ** 2 * np.cos(0.5 * k * y) ** 2
        return value

    def tips(self) -> dict[str, np.ndarray]:
        return {part.tip: part.tip_point() for part in self.parts if isinstance(part, Capsule) and part.tip}


def quadruped(
    leg: float = 0.55, tail: float = 0.6, ear: float = 0.22, snout: float = 0.25, body: float = 0.75, ridges: float = 0.0
) -> Creature:
    """A four-legged creature facing +x: body, head, snout, two ears, four legs, a tail; ``ridges`` on its back."""
    parts = [
        Ellipsoid((0.0, 0.0, 0.0), (body, 0.32, 0.3)),
        Ellipsoid((body + 0.05, 0.0, 0.22), (0.27, 0.22, 0.22)),
        Capsule((body - 0.35, 0.0, 0.05), (body + 0.05, 0.0, 0.2), 0.17),
        Capsule((body + 0.3, 0.0, 0.28), (body + 0.3 + snout, 0.0, 0.22), 0.1, "snout"),
        Capsule((body + 0.18, 0.12, 0.45), (body + 0.12, 0.14, 0.45 + ear), 0.06, "left ear"),
        Capsule((body + 0.18, -0.12, 0.45), (body + 0.12, -0.14, 0.45 + ear), 0.06, "right ear"),
        Capsule((-body + 0.05, 0.0, 0.1), (-body - tail, 0.0, 0.1 + 0.4 * tail), 0.07, "tail"),
    ]
    for name, x, y in (("front left", 0.45, 0.18), ("front right", 0.45, -0.18), ("hind left", -0.45, 0.18), ("hind right", -0.45, -0.18)):
        parts.append(Capsule((x * body / 0.75, y, -0.1), (x * body / 0.75 + 0.05, y * 1.2, -0.1 - leg), 0.09, f"{name} foot"))
    return Creature(tuple(parts), ridges=ridges)


def biped(arm: float = 0.5, leg: float = 0.55, ear: float = 0.15, head: float = 0.3) -> Creature:
    """An upright teddy-like creature (+z up): belly, head, two ears, two arms, two legs."""
    parts = [
        Ellipsoid((0.0, 0.0, 0.0), (0.38, 0.32, 0.5)),
        Ellipsoid((0.0, 0.0, 0.5 + head * 0.9), (head, head * 0.95, head)),
        Capsule((0.1, 0.0, 0.45 + head * 0.9), (0.1 + 0.25, 0.0, 0.4 + head * 0.9), 0.08, "muzzle"),
        Capsule((0.0, 0.18, 0.5 + 1.6 * head), (0.0, 0.2 + 0.5 * ear, 0.5 + 1.6 * head + ear), 0.07, "left ear"),
        Capsule((0.0, -0.18, 0.5 + 1.6 * head), (0.0, -0.2 - 0.5 * ear, 0.5 + 1.6 * head + ear), 0.07, "right ear"),
        Capsule((0.0, 0.3, 0.25), (0.1, 0.3 + arm, 0.25 - 0.5 * arm), 0.09, "left hand"),
        Capsule((0.0, -0.3, 0.25), (0.1, -0.3 - arm, 0.25 - 0.5 * arm), 0.09, "right hand"),
        Capsule((0.0, 0.17, -0.35), (0.12, 0.22, -0.35 - leg), 0.11, "left foot"),
        Capsule((0.0, -0.17, -0.35), (0.12, -0.22, -0.35 - leg), 0.11, "right foot"),
    ]
    return Creature(tuple(parts))


PAIRS = {
    # (source creature, target creature, source faces, target faces, marching-cubes resolution): the
    # resolutions the committed assets were made with (the ridged creature's bumps need the finer grid).
    "creature": (quadruped(), quadruped(leg=0.7, tail=1.0, ear=0.4, snout=0.35, body=0.85, ridges=0.08), 4000, 8000, 160),
    "teddy": (biped(), biped(arm=0.7, leg=0.45, ear=0.3, head=0.36), 3600, 5200, 128),
}


def mesh_creature(creature: Creature, resolution: int, faces: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the creature's field on a ``resolution^3`` grid, decimated to about ``faces`` triangles."""
    import open3d as o3d
    from skimage.measure import marching_cubes

    low, high = -2.2, 2.2
    axis = np.linspace(low, high, resolution)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    values = creature.field(grid).reshape(resolution, resolution, resolution)
    spacing = (high - low) / (resolution - 1)
    vertices, triangles, _, _ = marching_cubes(values, level=0.0, spacing=(spacing,) * 3)
    vertices = vertices + low
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices), o3d.utility.Vector3iVector(triangles[:, ::-1].copy()))
    mesh = mesh.remove_duplicated_vertices().remove_degenerate_triangles().remove_unreferenced_vertices()
    if len(mesh.triangles) > faces:
        mesh = mesh.simplify_quadric_decimation(target_number_of_triangles=faces)
    mesh = mesh.remove_duplicated_vertices().remove_degenerate_triangles().remove_unreferenced_vertices()
    mesh.orient_triangles()
    V = np.asarray(mesh.vertices, dtype=np.float64)
    F = np.asarray(mesh.triangles, dtype=np.int64)
    # Keep the largest component only (marching cubes can leave specks where parts barely touch).
    import trimesh

    pieces = trimesh.Trimesh(V, F, process=False).split(only_watertight=False)
    largest = max(pieces, key=lambda piece: len(piece.faces))
    if largest.volume < 0:
        largest.invert()
    return np.asarray(largest.vertices, dtype=np.float64), np.asarray(largest.faces, dtype=np.int64)


def nearest_vertices(vertices: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.argmin(np.linalg.norm(vertices[None, :, :] - points[:, None, :], axis=2), axis=1)


def make_pair(name: str, out_dir: Path = OUT_DIR, resolution: int | None = None, scale: float = 1.0) -> dict[str, Path]:
    """Write ``<name>_source.obj``, ``<name>_target.obj`` and ``<name>_landmarks.txt`` into ``out_dir``.

    ``resolution`` is the source's marching-cubes grid (the target's is 7 finer; default: the pair's
    own, as committed); ``scale`` multiplies the face counts (tests use a small resolution and scale).
    """
    from sape_geo.geometry.landmarks import Landmarks, save_landmarks
    from sape_geo.geometry.mesh_io import save_mesh

    source_creature, target_creature, source_faces, target_faces, pair_resolution = PAIRS[name]
    resolution = resolution or pair_resolution
    # Different grid resolutions as well as face counts: the two tessellations share nothing.
    source_V, source_F = mesh_creature(source_creature, resolution, max(int(source_faces * scale), 200))
    target_V, target_F = mesh_creature(target_creature, resolution + 7, max(int(target_faces * scale), 200))
    source_tips, target_tips = source_creature.tips(), target_creature.tips()
    names = tuple(source_tips)
    source_ids = nearest_vertices(source_V, np.array([source_tips[n] for n in names]))
    target_ids = nearest_vertices(target_V, np.array([target_tips[n] for n in names]))
    out_dir = Path(out_dir)
    paths = {
        "source": save_mesh(out_dir / f"{name}_source.obj", source_V, source_F),
        "target": save_mesh(out_dir / f"{name}_target.obj", target_V, target_F),
        "landmarks": out_dir / f"{name}_landmarks.txt",
    }
    save_landmarks(paths["landmarks"], Landmarks(source_ids, target_V[target_ids], names), target_indices=target_ids)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: assets/)")
    parser.add_argument("--resolution", type=int, default=None, help="marching-cubes grid resolution (default: each pair's own, as committed)")
    args = parser.parse_args()
    for name in PAIRS:
        paths = make_pair(name, args.out, args.resolution)
        print(name, ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
