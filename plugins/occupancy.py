"""3-D occupancy, the paper's shape task (docs/method.md, "Occupancy"): point in ``[-1, 1]^3`` -> inside logit.

The mesh is normalised (bounding-box centre to the origin, longest side to ``[-0.9, 0.9]``) and a pool
of training points is drawn and labelled once: by default 10 % uniform in the box, 10 % surface + N(0, 0.1),
80 % surface + N(0, 0.01) (the paper's bands; it draws thirds). Labels (1 = inside) come from the
generalised winding number, so slightly open or self-intersecting meshes still get sensible labels. Each
step trains with BCE on a mini-batch of the pool, half drawn uniformly and half in proportion to each
point's last loss (per-point loss = per-point BCE). SAPE keeps its progress on a 3-D grid and smooths each
cell's loss over steps, as mini-batches give a cell only a few points per step.

Scores: IoU of ``logit > 0`` against the labels of fresh uniform points and of fresh near-surface
points (surface + N(0, 0.01)), separately. The surface (``result.ply``) is skimage's marching cubes of
the logit at 0, mapped back into the input mesh's coordinates.

Command: ``sape-geo occupancy MESH --out RUN``. Python: :func:`fit_occupancy`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.experiment import RunResult, run_task
from sape_geo.fitting import Batch, FitConfig, Task
from sape_geo.geometry.inside import inside_mask
from sape_geo.geometry.mesh_io import inspect_mesh, load_mesh, save_mesh
from sape_geo.geometry.sampling import sample_surface
from sape_geo.grid import grid_node_coords
from sape_geo.inference import predict_in_chunks, progress_in_chunks
from sape_geo.methods import MaskDomain, MethodConfig
from sape_geo.metrics import intersection_over_union
from sape_geo.networks import FieldModel
from sape_geo.pictures import save_heatmaps
from sape_geo.legacy_cli import TaskPlugin, add_common_arguments, fit_config_from_args, method_config_from_args
from sape_geo.runs import RunDirectory, describe_input_file

DEFAULT_EPSILON = 1e-2  # the paper's threshold for the geometric tasks
SHAPE_HALF_EXTENT = 0.9  # the normalised shape's longest half side; the rest of [-1, 1] is margin
NEAR_SURFACE_SIGMAS = (0.1, 0.01)  # training noise bands of the paper, in normalised units
EVAL_NEAR_SURFACE_SIGMA = 0.01
SLICE_PIXELS = 160
# Loss-proportional batches (OccupancyConfig.hard_fraction): an unseen point counts as this hard (BCE of a
# logit 1.5 on the wrong side), and every point keeps at least HARD_FLOOR so none is never drawn again.
HARD_UNSEEN_LOSS = 1.7
HARD_FLOOR = 1e-3
# A mesh whose vertices' smallest principal spread is below this fraction of the largest is flat.
FLAT_RATIO = 1e-6

# The loop's and the method's defaults for every method, then per method (issue 17, measured in
# benchmarks/occupancy.md; docs/method.md, "Occupancy"). The step count fills about 4 minutes of one idle core
# with the default batch; the cosine decay gives the last steps small updates, which place the boundary.
# Sigma (cycles per unit of [-1, 1]): on sape_wave2 (600 steps, the default pool and batch) sape-ff scored
# mean IoU 0.832 at sigma 4, 0.892 at 8 and 0.892 at 12; SAPE keeps the smooth far field at a few levels, so
# the higher sigma costs little where the shape is smooth. ff keeps the sigma tuned earlier on the creature
# mesh (0.929 at 4, 0.914 at 8, 300 steps): every frequency is open everywhere, so a high sigma adds noise.
DEFAULT_STEPS = 1600
DEFAULT_LR = 1e-3
DEFAULT_LR_SCHEDULE = "cosine"
TASK_DEFAULTS: dict[str, Any] = {"steps": DEFAULT_STEPS, "lr": DEFAULT_LR, "lr_schedule": DEFAULT_LR_SCHEDULE,
                                 "epsilon": DEFAULT_EPSILON, "num_hidden_layers": 3}
PER_METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "ff": {"sigma": 4.0},
    "pff": {"sigma": 8.0},
    "sape-ff": {"sigma": 12.0},
}
DEFAULT_SIGMA_BY_METHOD = {name: values["sigma"] for name, values in PER_METHOD_DEFAULTS.items() if "sigma" in values}


@dataclass(frozen=True)
class OccupancyConfig:
    """Settings of the occupancy task (defaults sized for 2 CPU cores).

    Attributes
    ----------
    train_points : size of the training pool, labelled once.
    uniform_fraction : share of the pool drawn uniformly in ``[-1, 1]^3``.
    wide_fraction : share of the pool drawn as surface samples + N(0, ``wide_sigma``).
    wide_sigma : noise of the wide near-surface band, in normalised units (the paper: 0.1).
    narrow_sigma : noise of the narrow near-surface band, which takes the rest of the pool (the paper: 0.01).
    batch_size : pool points per optimisation step.
    hard_fraction : share of each batch drawn from the pool with probability proportional to the point's
        loss when it was last trained on (points not seen yet count as hard); the rest is drawn uniformly.
        0 draws the whole batch uniformly.
    resolution : SAPE grid nodes per axis.
    smoothing_steps : running-mean window of a cell's loss (mini-batches), > 1.
    eval_points : fresh points per IoU score (uniform, and near-surface).
    mesh_resolution : marching-cubes samples per axis over [-1, 1].
    seed : seed of the point sampling (training pool and evaluation points).
    """

    train_points: int = 300_000
    uniform_fraction: float = 0.1
    wide_fraction: float = 0.1
    wide_sigma: float = 0.1
    narrow_sigma: float = 0.01
    batch_size: int = 8192
    hard_fraction: float = 0.5
    resolution: int = 32
    smoothing_steps: int = 10
    eval_points: int = 200_000
    mesh_resolution: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.train_points < 3:
            raise ValueError(f"train_points must be >= 3, got {self.train_points}")
        for name in ("uniform_fraction", "wide_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.uniform_fraction + self.wide_fraction > 1.0 + 1e-9:
            raise ValueError(f"uniform_fraction + wide_fraction must be <= 1, got {self.uniform_fraction + self.wide_fraction}")
        for name in ("wide_sigma", "narrow_sigma"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0.0 <= self.hard_fraction <= 1.0:
            raise ValueError(f"hard_fraction must be in [0, 1], got {self.hard_fraction}")
        if self.resolution < 1:
            raise ValueError(f"resolution must be >= 1, got {self.resolution}")
        if self.smoothing_steps < 1:
            raise ValueError(f"smoothing_steps must be >= 1, got {self.smoothing_steps}")
        if self.eval_points < 1:
            raise ValueError(f"eval_points must be >= 1, got {self.eval_points}")
        if self.mesh_resolution < 2:
            raise ValueError(f"mesh_resolution must be >= 2, got {self.mesh_resolution}")

    @property
    def narrow_fraction(self) -> float:
        """The narrow band's share: what the uniform and wide parts leave."""
        return max(0.0, 1.0 - self.uniform_fraction - self.wide_fraction)

    def pool_sizes(self) -> tuple[int, int, int]:
        """Points (uniform, wide band, narrow band) of a pool of ``train_points``."""
        uniform = int(round(self.uniform_fraction * self.train_points))
        wide = min(int(round(self.wide_fraction * self.train_points)), self.train_points - uniform)
        return uniform, wide, self.train_points - uniform - wide

    def pool_description(self) -> str:
        """The pool's mix in words, for reports."""
        return (f"{self.uniform_fraction:.0%} uniform, {self.wide_fraction:.0%} surface + N(0, {self.wide_sigma:g}), "
                f"{self.narrow_fraction:.0%} surface + N(0, {self.narrow_sigma:g})")


@dataclass(frozen=True)
class Normalisation:
    """``p_normalised = (p_input - centre) * scale``; its inverse maps results back to the input frame."""

    centre: np.ndarray
    scale: float

    @classmethod
    def fit(cls, vertices: np.ndarray) -> "Normalisation":
        low, high = vertices.min(axis=0), vertices.max(axis=0)
        half_extent = float((high - low).max()) / 2.0
        if not half_extent > 0.0:
            raise ValueError("the mesh has zero extent (all vertices coincide)")
        return cls((low + high) / 2.0, SHAPE_HALF_EXTENT / half_extent)

    def forward(self, points: np.ndarray) -> np.ndarray:
        return (points - self.centre) * self.scale

    def inverse(self, points: np.ndarray) -> np.ndarray:
        return points / self.scale + self.centre


def training_points(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator,
                    config: OccupancyConfig | None = None) -> np.ndarray:
    """The training pool in the normalised frame, ``(count, 3)``: uniform, surface + N(0, wide), + N(0, narrow).

    Without ``config`` the paper's thirds and bands (0.1, 0.01); with it, ``config``'s shares and bands.
    """
    if config is None:
        config = OccupancyConfig(train_points=count, uniform_fraction=1.0 / 3.0, wide_fraction=1.0 / 3.0,
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
    config : task settings.
    input_path : the file it came from (for ``config.json``), if any.
    """

    name = "occupancy"
    in_dim = 3
    out_dim = 1

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, config: OccupancyConfig = OccupancyConfig(),
                 input_path: str | os.PathLike | None = None) -> None:
        self.config = config
        self.input_path = Path(input_path) if input_path is not None else None
        self.input_vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        self.normalisation = Normalisation.fit(self.input_vertices)
        self.vertices = self.normalisation.forward(self.input_vertices)
        label = str(self.input_path) if self.input_path is not None else "the mesh"
        self.mesh_report = inspect_mesh(self.input_vertices, self.faces)
        if _is_flat(self.vertices[np.unique(self.faces)]):
            raise ValueError(
                f"{label} is flat (all its vertices lie in one plane): it encloses no volume, so it has no inside "
                "to fit; occupancy needs a closed (or nearly closed) surface"
            )
        rng = np.random.default_rng(config.seed)
        points = training_points(self.vertices, self.faces, config.train_points, rng, config)
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
        eval_rng = np.random.default_rng([config.seed, 1])
        self.eval_sets = {}
        for kind, eval_points in (
            ("uniform", eval_rng.uniform(-1.0, 1.0, size=(config.eval_points, 3))),
            ("near_surface", near_surface_points(self.vertices, self.faces, config.eval_points, eval_rng)),
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
        return notes

    @property
    def evaluation_summary(self) -> str:
        """What evaluation does, for the status line after the progress bar (:func:`~sape_geo.experiment.run_task`)."""
        return (f"IoU on 2 x {self.config.eval_points} fresh points, marching cubes on a {self.config.mesh_resolution}^3 grid, "
                "heat-map slices")

    def mask_domain(self) -> MaskDomain:
        resolution = (self.config.resolution,) * 3
        return MaskDomain("grid", resolution=resolution, smoothing_steps=self.config.smoothing_steps)

    def to(self, device: torch.device) -> None:
        self.train_coords = self.train_coords.to(device)
        self.train_labels = self.train_labels.to(device)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        pool, size = self.train_coords.shape[0], self.config.batch_size
        hard = int(round(self.config.hard_fraction * size))
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
        if self.config.hard_fraction and self._pool_loss is not None and "pool_index" in batch.data:
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
        self._surface_cache = (model, self.surface(model))
        faces = self._surface_cache[1][1]
        metrics["surface_faces"] = int(faces.shape[0])
        notes = list(self.notes)
        if faces.shape[0] == 0:
            notes.append("the fitted field never crosses 0 on the grid: no surface, so no result.ply (more --steps?)")
        metrics["notes"] = " | ".join(notes)
        return metrics

    def progress_map(self, model: FieldModel) -> np.ndarray:
        """Progress at the SAPE grid's nodes, ``(R, R, R)`` indexed ``[x, y, z]`` in the normalised frame."""
        resolution = (self.config.resolution,) * 3
        return progress_in_chunks(model, grid_node_coords(resolution)).numpy().reshape(resolution)

    def logit_grid(self, model: FieldModel) -> np.ndarray:
        """The logit sampled on ``mesh_resolution^3`` points of ``linspace(-1, 1)``, indexed ``[x, y, z]``."""
        count = self.config.mesh_resolution
        coords = grid_node_coords((count,) * 3)
        return predict_in_chunks(model, coords)[:, 0].numpy().reshape(count, count, count)

    def surface(self, model: FieldModel) -> tuple[np.ndarray, np.ndarray]:
        """Marching cubes of ``logit = 0`` in the input mesh's coordinates; empty arrays if no crossing."""
        from skimage.measure import marching_cubes

        logits = self.logit_grid(model)
        if not (logits.min() < 0.0 < logits.max()):
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        spacing = 2.0 / (self.config.mesh_resolution - 1)
        # The inside has the larger values (logit > 0); with that, skimage's "ascent" winding gives
        # outward normals (positive signed volume, checked by the tests) and "descent" inward ones.
        vertices, faces, _, _ = marching_cubes(logits, level=0.0, spacing=(spacing,) * 3, gradient_direction="ascent")
        return self.normalisation.inverse(vertices - 1.0), faces.astype(np.int64)

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
            **self.config.__dict__,
            "vertices": int(self.input_vertices.shape[0]),
            "faces": int(self.faces.shape[0]),
            "normalisation_centre": self.normalisation.centre.tolist(),
            "normalisation_scale": self.normalisation.scale,
            "near_surface_sigmas": [self.config.wide_sigma, self.config.narrow_sigma],
            "eval_near_surface_sigma": EVAL_NEAR_SURFACE_SIGMA,
            "inside_test": "|generalised winding number| > 0.5 (igl.fast_winding_number)",
        }
        if self.input_path is not None:
            data["input"] = describe_input_file(self.input_path)
        return data


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _is_flat(points: np.ndarray) -> bool:
    """All ``points`` in one plane (or on a line), up to :data:`FLAT_RATIO` of their largest spread."""
    singular = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return singular.size < 3 or not singular[0] > 0 or singular[2] < FLAT_RATIO * singular[0]


def load_occupancy_task(path: str | os.PathLike, config: OccupancyConfig = OccupancyConfig()) -> Occupancy:
    """Read a mesh (OBJ, OFF, PLY, STL) and build the task; bad files raise ``MeshInputError``."""
    vertices, faces = load_mesh(path)
    return Occupancy(vertices, faces, config, path)


def _defaults(name: str, config_class: type) -> dict[str, Any]:
    fields = {item.name for item in dataclasses.fields(config_class)}
    values = {**TASK_DEFAULTS, **PER_METHOD_DEFAULTS.get(name, {})}
    return {key: value for key, value in values.items() if key in fields}


def default_method_config(name: str, **changes: Any) -> MethodConfig:
    """The task's defaults for method ``name`` (:data:`TASK_DEFAULTS`, :data:`PER_METHOD_DEFAULTS`): its sigma,
    the geometric epsilon."""
    values = {"sigma": 10.0, **_defaults(name, MethodConfig)}
    return MethodConfig(name=name, **values).replace(**changes)


def default_fit_config(name: str, **changes: Any) -> FitConfig:
    """The task's loop defaults for method ``name``: :data:`DEFAULT_STEPS`, its learning rate and schedule."""
    return FitConfig(**_defaults(name, FitConfig)).replace(**changes)


def fit_occupancy(
    path: str | os.PathLike,
    method: str | MethodConfig = "sape-ff",
    out: str | os.PathLike | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    config: OccupancyConfig | None = None,
    overwrite: bool = False,
    **fit_options: Any,
) -> RunResult:
    """Python API: fit the occupancy of the mesh at ``path`` with ``method``; optionally write a run.

    ``seed`` seeds both the point sampling (unless ``config`` sets its own) and the fitting.

    Example
    -------
    >>> result = fit_occupancy("bunny.obj", "sape-ff", out="runs/bunny")  # doctest: +SKIP
    >>> result.metrics["iou_near_surface"]  # doctest: +SKIP
    """
    task = load_occupancy_task(path, config if config is not None else OccupancyConfig(seed=seed))
    method_config = method if isinstance(method, MethodConfig) else default_method_config(method)
    return run_task(task, method_config, default_fit_config(method_config.name, steps=steps, seed=seed, **fit_options), out, overwrite)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mesh", help="triangle mesh (OBJ, OFF, PLY, STL); slightly open meshes are fine")
    defaults = OccupancyConfig()
    task = parser.add_argument_group("task")
    task.add_argument("--resolution", type=int, default=defaults.resolution, help=f"SAPE grid nodes per axis (default {defaults.resolution})")
    task.add_argument("--train-points", type=int, default=defaults.train_points, help=f"training pool size (default {defaults.train_points})")
    task.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"points per step (default {defaults.batch_size})")
    task.add_argument("--smoothing-steps", type=int, default=defaults.smoothing_steps,
                      help=f"running-mean window of a grid cell's loss (default {defaults.smoothing_steps})")
    task.add_argument("--eval-points", type=int, default=defaults.eval_points, help=f"fresh points per IoU score (default {defaults.eval_points})")
    task.add_argument("--mesh-resolution", type=int, default=defaults.mesh_resolution,
                      help=f"marching-cubes samples per axis (default {defaults.mesh_resolution})")
    add_common_arguments(parser, default_steps=DEFAULT_STEPS, default_hidden_layers=3, default_epsilon=DEFAULT_EPSILON)


def _run(args: argparse.Namespace) -> RunResult:
    config = OccupancyConfig(
        train_points=args.train_points,
        batch_size=args.batch_size,
        resolution=args.resolution,
        smoothing_steps=args.smoothing_steps,
        eval_points=args.eval_points,
        mesh_resolution=args.mesh_resolution,
        seed=args.seed,
    )
    method = method_config_from_args(args, DEFAULT_SIGMA_BY_METHOD)
    fit_config = fit_config_from_args(args)
    if fit_config.progress_bar:
        print(f"occupancy: labelling {config.train_points + 2 * config.eval_points} points inside/outside {args.mesh} "
              "(generalised winding number)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    task = load_occupancy_task(args.mesh, config)
    return run_task(task, method, fit_config, args.out, args.overwrite, extra_config={"argv": vars(args)},
                    extra_metrics={"label_seconds": time.perf_counter() - started})


def _summarise(result: RunResult) -> list[str]:
    m = result.metrics
    lines = [
        f"IoU uniform {m['iou_uniform']:.4f}   near surface {m['iou_near_surface']:.4f}",
        f"heat map: mean {m['mean_progress']:.1f} of {m['max_progress']:.0f} levels open on the grid",
    ]
    lines += [f"note: {note}" for note in filter(None, m.get("notes", "").split(" | "))]
    if m.get("surface_faces"):
        lines.append(f"surface: {m['surface_faces']} triangles in result.ply")
    return lines


PLUGIN = TaskPlugin(
    name="occupancy",
    summary="fit a 3-D occupancy field (inside logit) to a mesh; IoU on uniform and near-surface points",
    description=(
        "Fit an inside/outside logit to a mesh, trained with BCE on points drawn as the paper: a third\n"
        "uniform in the box, a third near the surface (+N(0, 0.1)), a third very near (+N(0, 0.01)), in the\n"
        "normalised frame. Labels come from the generalised winding number, so slightly open meshes work.\n"
        "sape-ff keeps its progress on a --resolution^3 grid.\n\n"
        "Writes RUN/result.ply (marching cubes of the fitted field, in the input mesh's coordinates),\n"
        "RUN/heatmap_slices.png (levels open on the x, y, z = 0 planes), RUN/progress.npy (the grid's\n"
        "progress, R x R x R) and the usual run files; metrics.json holds IoU on fresh uniform and\n"
        "near-surface points.\n\n"
        "example: sape-geo occupancy shape.stl --method sape-ff --out runs/shape-sape"
    ),
    add_arguments=_add_arguments,
    run=_run,
    summarise=_summarise,
)
