"""3-D occupancy, the paper's shape task (docs/method.md, "Occupancy"): point in ``[-1, 1]^3`` -> inside logit.

The mesh is normalised (bounding-box centre to the origin, longest side to ``[-0.9, 0.9]``) and a pool
of training points is drawn and labelled once: by default 25 % uniform in the box, 10 % surface + N(0, 0.1),
65 % surface + N(0, 0.01) (the paper's bands; it draws thirds). Labels (1 = inside) come from the
generalised winding number (faces oriented consistently first), so slightly open or self-intersecting
meshes still get sensible labels. Each step trains with BCE on a mini-batch of the pool, half drawn
uniformly and half in proportion to each point's last loss (per-point loss = per-point BCE). SAPE keeps
its progress on a 3-D grid and smooths each cell's loss over steps, as mini-batches give a cell only a
few points per step.

Scores: IoU of ``logit > 0`` against the labels of fresh uniform points and of fresh near-surface
points (surface + N(0, 0.01)), separately. The surface (``result.ply``) is skimage's marching cubes of
the logit at 0, mapped back into the input mesh's coordinates, without floaters (pieces under
``floater_area`` of its area; counted in metrics.json).

Command: ``sape-geo occupancy MESH --out RUN``. Python: :func:`fit_occupancy`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.config import FitConfig, MaskDomain
from sape_geo.fitting import Batch, Task
from sape_geo.geometry.alignment import normalising_transform
from sape_geo.arrays import from_tensor
from sape_geo.geometry.inside import inside_mask, misoriented_edges, orient_faces
from sape_geo.geometry.mesh_io import check_mesh, face_areas, face_components, inspect_mesh, load_mesh, save_mesh
from sape_geo.geometry.sampling import sample_surface
from sape_geo.grid import grid_node_coords
from sape_geo.inference import predict_in_chunks, progress_in_chunks
from sape_geo.metrics import intersection_over_union
from sape_geo.networks import FieldModel
from sape_geo.pictures import save_heatmaps
from sape_geo.provenance import describe_input_file
from sape_geo.runs import RunDirectory

from sape_geo_plugins.occupancy.settings import (
    EVAL_NEAR_SURFACE_SIGMA,
    FLAT_RATIO,
    HARD_FLOOR,
    HARD_UNSEEN_LOSS,
    NEAR_SURFACE_SIGMAS,
    SHAPE_HALF_EXTENT,
    SLICE_PIXELS,
    OccupancySettings,
)

def training_points(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator,
                    config: OccupancySettings | None = None) -> np.ndarray:
    """The training pool in the normalised frame, ``(count, 3)``: uniform, surface + N(0, wide), + N(0, narrow).

    Without ``config`` the paper's thirds and bands (0.1, 0.01); with it, ``config``'s shares and bands.
    """
    if config is None:
        config = OccupancySettings(train_points=count, uniform_fraction=1.0 / 3.0, wide_fraction=1.0 / 3.0,
                                 wide_sigma=NEAR_SURFACE_SIGMAS[0], narrow_sigma=NEAR_SURFACE_SIGMAS[1])
    else:
        config = dataclasses.replace(config, train_points=count)
    uniform_count, wide_count, narrow_count = config.pool_sizes()
    parts = [rng.uniform(-1.0, 1.0, size=(uniform_count, 3))]
    for size, sigma in ((wide_count, config.wide_sigma), (narrow_count, config.narrow_sigma)):
        parts.append(sample_surface(vertices, faces, size, rng) + rng.normal(0.0, sigma, size=(size, 3)))
    return np.concatenate(parts)


def near_surface_points(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Surface samples + N(0, 0.01) in the normalised frame, ``(count, 3)``: where IoU is hardest."""
    return sample_surface(vertices, faces, count, rng) + rng.normal(0.0, EVAL_NEAR_SURFACE_SIGMA, size=(count, 3))


def slice_coordinates(axis: int, pixels: int) -> Tensor:
    """Points of the plane ``x_axis = 0`` on a ``pixels x pixels`` raster, ``(pixels^2, 3)``, row-major.

    Rows run from +1 (top) to -1 over the second remaining axis, columns from -1 to +1 over the first,
    so the picture shows the plane the usual way up.
    """
    others = [a for a in range(3) if a != axis]
    down = torch.linspace(1.0, -1.0, pixels)
    across = torch.linspace(-1.0, 1.0, pixels)
    rows, columns = torch.meshgrid(down, across, indexing="ij")
    points = torch.zeros(pixels, pixels, 3)
    points[..., others[0]] = columns
    points[..., others[1]] = rows
    return points.reshape(-1, 3)


class Occupancy(Task):
    """Fit an inside logit on points around a mesh; per-point loss = BCE with logits.

    Parameters
    ----------
    vertices, faces : the mesh in its own units.
    settings : task settings.
    input_path : the file it came from (for ``config.json``), if any.
    """

    name = "occupancy"
    in_dim = 3
    out_dim = 1

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, settings: OccupancySettings = OccupancySettings(),
                 input_path: str | os.PathLike | None = None) -> None:
        self.settings = settings
        self.input_path = Path(input_path) if input_path is not None else None
        self.input_vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        # The winding number needs faces that agree on their orientation (STL exports often do not).
        self.misoriented_edges = misoriented_edges(self.faces)
        self.faces_reoriented = 0
        if self.misoriented_edges:
            self.faces, self.faces_reoriented = orient_faces(self.input_vertices, self.faces)
        # the mesh's bounding box centred, its longest half-side SHAPE_HALF_EXTENT (the rest of [-1, 1] is margin)
        self.normalisation = normalising_transform(self.input_vertices, SHAPE_HALF_EXTENT)
        self.vertices = self.normalisation.apply(self.input_vertices)
        label = str(self.input_path) if self.input_path is not None else "the mesh"
        self.mesh_report = inspect_mesh(self.input_vertices, self.faces)
        if _is_flat(self.vertices[np.unique(self.faces)]):
            raise ValueError(
                f"{label} is flat (all its vertices lie in one plane): it encloses no volume, so it has no inside "
                "to fit; occupancy needs a closed (or nearly closed) surface"
            )
        rng = np.random.default_rng(settings.sampling_seed)
        points = training_points(self.vertices, self.faces, settings.train_points, rng, settings)
        labels = inside_mask(self.vertices, self.faces, points)
        if not labels.any():
            openness = (f"it is open ({self.mesh_report.boundary_edges} boundary edges, {_count(self.mesh_report.boundary_loops, 'hole')})"
                        if not self.mesh_report.is_closed else "it is closed but thin or tiny")
            raise ValueError(
                f"{label} encloses no volume: none of {points.shape[0]} training points is inside it by the generalised "
                f"winding number; {openness}; occupancy needs a closed (or nearly closed) surface"
            )
        self.notes = self._input_notes()
        self._surface_cache: tuple[FieldModel, tuple[np.ndarray, np.ndarray]] | None = None
        self.train_coords = torch.from_numpy(points.astype(np.float32))
        self.train_labels = torch.from_numpy(labels.astype(np.float32))[:, None]
        # Fresh points from a separate stream: the scores never reuse a training point.
        eval_rng = np.random.default_rng([settings.sampling_seed, 1])
        self.eval_sets = {}
        for kind, eval_points in (
            ("uniform", eval_rng.uniform(-1.0, 1.0, size=(settings.eval_points, 3))),
            ("near_surface", near_surface_points(self.vertices, self.faces, settings.eval_points, eval_rng)),
        ):
            self.eval_sets[kind] = (torch.from_numpy(eval_points.astype(np.float32)), inside_mask(self.vertices, self.faces, eval_points))
        self.inside_fraction = float(labels.mean())
        self._pool_loss: Tensor | None = None  # per pool point, the loss when last trained on (hard_fraction > 0)

    def _input_notes(self) -> list[str]:
        report = self.mesh_report
        notes = []
        if not report.is_closed:
            notes.append(
                f"the mesh is open ({report.boundary_edges} boundary edges, {_count(report.boundary_loops, 'hole')}): inside labels come "
                "from the generalised winding number and are guesses near the holes"
            )
        if report.non_manifold_edges:
            notes.append(f"the mesh has {report.non_manifold_edges} non-manifold edges")
        if self.faces_reoriented:
            still = misoriented_edges(self.faces)
            notes.append(
                f"the mesh's faces disagreed on their orientation across {_count(self.misoriented_edges, 'edge')} (common in STL "
                f"exports): {_count(self.faces_reoriented, 'face')} turned over before labelling, as the winding number needs"
                + (f"; {_count(still, 'edge')} still disagree (the surface is not orientable)" if still else "")
            )
        return notes

    @property
    def evaluation_summary(self) -> str:
        """What evaluation does, for the status line after the progress bar (:func:`~sape_geo.experiment.run_task`)."""
        return (f"IoU on 2 x {self.settings.eval_points} fresh points, marching cubes on a {self.settings.mesh_resolution}^3 grid, "
                "heat-map slices")

    def initialise(self, model: FieldModel, fit_config: FitConfig) -> dict[str, float]:
        """Nothing to set up in the network; reports the seconds spent labelling points (in ``make_occupancy_task``)."""
        return {"label_seconds": float(getattr(self, "label_seconds", 0.0))}

    def product(self, model: FieldModel) -> dict[str, Any]:
        """``mesh``: the fitted surface (marching cubes, the input's coordinates) as a ``trimesh.Trimesh``
        (empty when the field never crosses 0)."""
        import trimesh

        cached = self._surface_cache
        vertices, faces = cached[1] if cached is not None and cached[0] is model else self.surface(model)
        self._surface_cache = (model, (vertices, faces))  # export, right after, writes the same surface
        return {"mesh": trimesh.Trimesh(vertices, faces, process=False)}

    def mask_domain(self) -> MaskDomain:
        resolution = (self.settings.resolution,) * 3
        return MaskDomain("grid", resolution=resolution, smoothing_steps=self.settings.smoothing_steps)

    def to(self, device: torch.device) -> None:
        self.train_coords = self.train_coords.to(device)
        self.train_labels = self.train_labels.to(device)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        pool, size = self.train_coords.shape[0], self.settings.batch_size
        hard = int(round(self.settings.hard_fraction * size))
        if hard and (step == 0 or self._pool_loss is None):
            # a new fit: every point is unseen, so every point is as hard as the hardest
            self._pool_loss = torch.full((pool,), HARD_UNSEEN_LOSS)
        chosen = torch.randint(pool, (size - hard,), generator=generator)
        if hard:
            chosen = torch.cat([chosen, torch.multinomial(self._pool_loss + HARD_FLOOR, hard, replacement=True, generator=generator)])
        data = {"inside": self.train_labels[chosen.to(self.train_labels.device)], "pool_index": chosen}
        return Batch(self.train_coords[chosen.to(self.train_coords.device)], None, data)

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        per_point = torch.nn.functional.binary_cross_entropy_with_logits(output, batch.data["inside"], reduction="none")[:, 0]
        if self.settings.hard_fraction and self._pool_loss is not None and "pool_index" in batch.data:
            self._pool_loss[batch.data["pool_index"]] = per_point.detach().float().cpu()
        return per_point.mean(), per_point

    def evaluate(self, model: FieldModel) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for kind, (points, expected) in self.eval_sets.items():
            predicted = predict_in_chunks(model, points)[:, 0].numpy() > 0.0
            metrics[f"iou_{kind}"] = intersection_over_union(predicted, expected)
            metrics[f"accuracy_{kind}"] = float((predicted == expected).mean())
        metrics["iou_mean"] = 0.5 * (metrics["iou_uniform"] + metrics["iou_near_surface"])
        metrics["train_inside_fraction"] = self.inside_fraction
        metrics["input_closed"] = self.mesh_report.is_closed
        metrics["input_boundary_edges"] = self.mesh_report.boundary_edges
        metrics["input_boundary_loops"] = self.mesh_report.boundary_loops
        metrics["input_misoriented_edges"] = self.misoriented_edges
        metrics["input_faces_reoriented"] = self.faces_reoriented
        self._surface_cache = (model, self.surface(model))
        faces = self._surface_cache[1][1]
        metrics["surface_faces"] = int(faces.shape[0])
        pieces = self.surface_pieces
        metrics["surface_components_raw"] = pieces["components"]
        metrics["surface_floaters_removed"] = pieces["floaters"]
        metrics["surface_floater_area_pct"] = pieces["floater_area_pct"]
        metrics["surface_components"] = pieces["components"] - pieces["floaters"]
        metrics["input_components"] = self.mesh_report.components
        notes = list(self.notes)
        if faces.shape[0] == 0:
            notes.append("the fitted field never crosses 0 on the grid: no surface, so no result.ply (more --steps?)")
        if pieces["floaters"]:
            notes.append(
                f"the fitted surface had {_count(pieces['components'], 'piece')}: {_count(pieces['floaters'], 'floater')} "
                f"(each under {100 * self.settings.floater_area:g} % of its area, {pieces['floater_area_pct']:.2f} % together) "
                f"left out of result.ply, {_count(metrics['surface_components'], 'piece')} kept (the input has "
                f"{self.mesh_report.components}; --floater-area 0 keeps all)"
            )
        metrics["notes"] = " | ".join(notes)
        return metrics

    def progress_map(self, model: FieldModel) -> np.ndarray:
        """Progress at the SAPE grid's nodes, ``(R, R, R)`` indexed ``[x, y, z]`` in the normalised frame."""
        resolution = (self.settings.resolution,) * 3
        return progress_in_chunks(model, grid_node_coords(resolution)).numpy().reshape(resolution)

    def logit_grid(self, model: FieldModel) -> np.ndarray:
        """The logit sampled on ``mesh_resolution^3`` points of ``linspace(-1, 1)``, indexed ``[x, y, z]``."""
        count = self.settings.mesh_resolution
        coords = grid_node_coords((count,) * 3)
        return predict_in_chunks(model, coords)[:, 0].numpy().reshape(count, count, count)

    def surface(self, model: FieldModel) -> tuple[np.ndarray, np.ndarray]:
        """Marching cubes of ``logit = 0`` in the input mesh's coordinates, floaters dropped
        (:func:`drop_floaters`, counted in ``surface_pieces``); empty arrays if no crossing."""
        from skimage.measure import marching_cubes

        logits = self.logit_grid(model)
        self.surface_pieces = {"components": 0, "floaters": 0, "floater_area_pct": 0.0}
        if not (logits.min() < 0.0 < logits.max()):
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        spacing = 2.0 / (self.settings.mesh_resolution - 1)
        # The inside has the larger values (logit > 0); with that, skimage's "ascent" winding gives
        # outward normals (positive signed volume, checked by the tests) and "descent" inward ones.
        vertices, faces, _, _ = marching_cubes(logits, level=0.0, spacing=(spacing,) * 3, gradient_direction="ascent")
        vertices, faces, self.surface_pieces = drop_floaters(vertices, faces.astype(np.int64), self.settings.floater_area)
        return self.normalisation.inverse().apply(vertices - 1.0), faces

    def export(self, model: FieldModel, run: RunDirectory) -> None:
        # evaluate() (run right before by run_task) already extracted this model's surface
        cached, self._surface_cache = self._surface_cache, None
        vertices, faces = cached[1] if cached is not None and cached[0] is model else self.surface(model)
        if faces.shape[0] > 0:
            save_mesh(run.file("result.ply"), vertices, faces)
        panels, contours, titles = [], [], []
        for axis, name in enumerate("xyz"):
            coords = slice_coordinates(axis, SLICE_PIXELS)
            panels.append(progress_in_chunks(model, coords).numpy().reshape(SLICE_PIXELS, SLICE_PIXELS))
            contours.append(predict_in_chunks(model, coords)[:, 0].numpy().reshape(SLICE_PIXELS, SLICE_PIXELS))
            titles.append(f"slice {name} = 0 (cyan: fitted surface)")
        with run.atomic("heatmap_slices.png") as temporary:
            save_heatmaps(temporary, panels, float(model.max_progress), titles, contours, extent=(-1.0, 1.0, -1.0, 1.0))

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "task": self.name,
            **self.settings.__dict__,
            "vertices": int(self.input_vertices.shape[0]),
            "faces": int(self.faces.shape[0]),
            "normalisation_centre": (-self.normalisation.translation / self.normalisation.matrix[0, 0]).tolist(),
            "normalisation_scale": float(self.normalisation.matrix[0, 0]),
            "near_surface_sigmas": [self.settings.wide_sigma, self.settings.narrow_sigma],
            "eval_near_surface_sigma": EVAL_NEAR_SURFACE_SIGMA,
            "inside_test": "|generalised winding number| > 0.5 (igl.fast_winding_number)",
        }
        if self.input_path is not None:
            data["input"] = describe_input_file(self.input_path)
        return data


def drop_floaters(vertices: np.ndarray, faces: np.ndarray, area_fraction: float) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """A surface ``(V, F)`` without its connected pieces smaller than ``area_fraction`` of its total area
    (unused vertices removed), and what was found: ``components`` (before), ``floaters`` (dropped) and
    ``floater_area_pct`` (their share of the area, in %). The largest piece always stays.

    Example
    -------
    >>> import trimesh
    >>> big, small = trimesh.creation.icosphere(2), trimesh.creation.icosphere(1, radius=0.01)
    >>> both = trimesh.util.concatenate([big, small])
    >>> drop_floaters(both.vertices, both.faces, 0.005)[2]["floaters"]
    1
    """
    if faces.shape[0] == 0:
        return vertices, faces, {"components": 0, "floaters": 0, "floater_area_pct": 0.0}
    piece = face_components(vertices.shape[0], faces)[faces[:, 0]]
    area = np.bincount(piece, weights=face_areas(vertices, faces))
    total = float(area.sum())
    floater = area < area_fraction * total
    floater[np.argmax(area)] = False
    found = {"components": int(area.size), "floaters": int(floater.sum()),
             "floater_area_pct": float(100.0 * area[floater].sum() / total) if total > 0 else 0.0}
    if not floater.any():
        return vertices, faces, found
    kept = faces[~floater[piece]]
    used, compact = np.unique(kept, return_inverse=True)
    return vertices[used], compact.reshape(-1, 3), found


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _is_flat(points: np.ndarray) -> bool:
    """All ``points`` in one plane (or on a line), up to :data:`FLAT_RATIO` of their largest spread."""
    singular = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return singular.size < 3 or not singular[0] > 0 or singular[2] < FLAT_RATIO * singular[0]


def load_occupancy_task(path: str | os.PathLike, config: OccupancySettings = OccupancySettings()) -> Occupancy:
    """Read a mesh (OBJ, OFF, PLY, STL) and build the task; bad files raise ``MeshInputError``."""
    vertices, faces = load_mesh(path)
    return Occupancy(vertices, faces, config, path)


def make_occupancy_task(settings: OccupancySettings, mesh: Any) -> Occupancy:
    """The task for ``mesh``: a file (OBJ, OFF, PLY, STL), ``(vertices, faces)`` arrays or a ``trimesh.Trimesh``.
    Labelling the points inside/outside takes a while for large pools: its seconds are a metric."""
    started = time.perf_counter()
    if isinstance(mesh, (str, os.PathLike)):
        task = load_occupancy_task(mesh, settings)
    else:
        notes = []
        if type(mesh).__name__ == "Scene" and hasattr(mesh, "dump"):  # trimesh.load of a GLB/GLTF/3MF file
            parts = [part for part in mesh.dump() if len(getattr(part, "faces", ()))]
            if not parts:
                raise ValueError("mesh: the trimesh.Scene holds no triangle mesh")
            notes.append(f"mesh: a trimesh.Scene of {len(parts)} meshes, concatenated in world coordinates")
            import trimesh

            mesh = trimesh.util.concatenate(parts)
        if type(mesh).__module__.startswith("trimesh"):
            if not len(getattr(mesh, "faces", ())):
                raise TypeError(f"mesh: a {type(mesh).__name__} has no faces; occupancy needs a closed triangle mesh")
            mesh = (np.asarray(mesh.vertices), np.asarray(mesh.faces))
        if not (isinstance(mesh, tuple) and len(mesh) == 2):
            raise TypeError(f"mesh must be a file path, a (vertices, faces) tuple or a trimesh.Trimesh, got {type(mesh).__name__}")
        vertices, faces = check_mesh(*(from_tensor(part) for part in mesh), source="mesh")
        task = Occupancy(vertices, faces, settings)
        task.notes = notes + task.notes
    task.label_seconds = time.perf_counter() - started
    return task
