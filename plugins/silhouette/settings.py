"""The silhouette task's settings (no torch: the command line is generated from them)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DATA_TERMS = ("ordered", "chamfer")


@dataclass(frozen=True)
class SilhouetteSettings:
    """Settings of the silhouette task (the loop's are in :class:`~sape_geo.fitting.FitConfig`).

    Attributes
    ----------
    points : curve points ``s_k = k / points``; the result is this closed polyline.
    target_samples : outline samples, evenly spaced by arc length, the Chamfer distance compares with.
    mask_resolution : nodes of SAPE's periodic grid over ``s``; 0 keeps one progress per curve point.
        128 (default) was best on the project's own shapes with 500 points (mean IoU 0.971, against
        0.926 on 512 nodes and 0.894 per point, where neighbours that open different levels fold the
        curve more often); on the MPEG-7 benchmark shapes the finer masks did slightly better (0.984
        at 128, 0.986 at 512, 0.991 per point).
    calibration_steps, calibration_lr : the fit to the unit circle before the outline fit (100 steps at
        3e-3 reach a mean squared error of 6e-4, enough to start from: 300 at 1e-3 reached 1.4e-4 for
        the same IoU and a fifth more time).
    data_term : ``"ordered"`` (default): curve point ``k`` is pulled to the ``k``-th of ``points``
        outline samples taken in order along the outline, so the curve traces it once and stays a
        simple polygon (0 self-intersections on all 20 benchmark shapes, mean IoU 0.99, where the
        Chamfer fit crossed itself 47 times per curve). ``"chamfer"``: the paper's symmetric Chamfer
        distance to ``target_samples`` outline samples, which only asks the points to cover the outline.
    tangle_feedback : curve stretches on a loop closed by a self-intersection report no loss to SAPE,
        so they open no higher frequencies (:class:`~sape_geo_plugins.silhouette.validity.SimpleCurveGuard`).
    check_every : steps between the guard's exact self-intersection counts (each costs a forward pass
        and an ``O(points^2)`` segment test).
    component : which shape of an image holding several, by size: 0 = the largest, 1 = the next, ...
    """

    points: int = 500
    target_samples: int = 1000
    mask_resolution: int = 128
    calibration_steps: int = 100
    calibration_lr: float = 3e-3
    data_term: str = field(default="ordered", metadata={"choices": DATA_TERMS})
    tangle_feedback: bool = True
    check_every: int = 20
    component: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.points, int) and self.points >= 8):
            raise ValueError(f"points must be an integer >= 8, got {self.points!r}")
        if not (isinstance(self.target_samples, int) and self.target_samples >= 8):
            raise ValueError(f"target_samples must be an integer >= 8, got {self.target_samples!r}")
        if not (isinstance(self.mask_resolution, int) and self.mask_resolution >= 0):
            raise ValueError(f"mask_resolution must be an integer >= 0, got {self.mask_resolution!r}")
        if not (isinstance(self.calibration_steps, int) and self.calibration_steps >= 0):
            raise ValueError(f"calibration_steps must be an integer >= 0, got {self.calibration_steps!r}")
        if not (math.isfinite(self.calibration_lr) and self.calibration_lr > 0):
            raise ValueError(f"calibration_lr must be a positive number, got {self.calibration_lr!r}")
        if self.data_term not in DATA_TERMS:
            raise ValueError(f"data_term must be one of {', '.join(DATA_TERMS)}, got {self.data_term!r}")
        if not (isinstance(self.component, int) and self.component >= 0):
            raise ValueError(f"component must be an integer >= 0, got {self.component!r}")
        if not (isinstance(self.check_every, int) and self.check_every >= 1):
            raise ValueError(f"check_every must be an integer >= 1, got {self.check_every!r}")


