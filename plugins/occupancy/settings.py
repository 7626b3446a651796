"""Settings of the occupancy task and its constants, apart from the declaration (:mod:`.command`) and
the task (:mod:`.task`) so both import them without importing each other. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_EPSILON = 1e-2  # the paper's threshold for the geometric tasks
SHAPE_HALF_EXTENT = 0.9  # the normalised shape's longest half side; the rest of [-1, 1] is margin
NEAR_SURFACE_SIGMAS = (0.1, 0.01)  # training noise bands of the paper, in normalised units
EVAL_NEAR_SURFACE_SIGMA = 0.01
SLICE_PIXELS = 160
# Loss-proportional batches (OccupancySettings.hard_fraction): an unseen point counts as this hard (BCE of a
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
class OccupancySettings:
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
    sampling_seed : seed of the point sampling (training pool and evaluation points); the network's is --seed.
    floater_area : pieces of the fitted surface smaller than this share of its total area are floaters
        (blobs the field leaves in empty space) and are left out of result.ply; metrics.json counts
        them before and after. 0 keeps every piece.
    """

    train_points: int = 300_000
    uniform_fraction: float = 0.25
    wide_fraction: float = 0.1
    wide_sigma: float = 0.1
    narrow_sigma: float = 0.01
    batch_size: int = 8192
    hard_fraction: float = 0.5
    resolution: int = 32
    smoothing_steps: int = 10
    eval_points: int = 200_000
    mesh_resolution: int = 128
    sampling_seed: int = 0
    floater_area: float = 0.005

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
        if not 0.0 <= self.floater_area < 1.0:
            raise ValueError(f"floater_area must be in [0, 1), got {self.floater_area}")

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
