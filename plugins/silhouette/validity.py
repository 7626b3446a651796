"""Keeping a silhouette curve a simple closed polygon while it is fitted (docs/method.md, "Silhouettes").

A curve that crosses itself is not an outline, whatever its distance to the target. The fit is
watched by :class:`SimpleCurveGuard`, a callback of the loop: every few steps it counts the curve's
self-intersections exactly (:func:`~sape_geo.geometry.polygon.self_intersections`), marks the curve
points on the loops those crossings close (so SAPE opens no higher frequencies there: a tangling
stretch needs less detail, not more), and keeps a copy of the network's last state whose curve was
simple. After the fit, a curve that still crosses itself is replaced by that last simple state, so
the product is a simple polygon whenever the fit ever was one (the calibrated circle is).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from sape_geo.geometry.polygon import self_intersections
from sape_geo.networks import FieldModel


def tangled_points(pairs: np.ndarray, count: int) -> np.ndarray:
    """Curve points on the loops closed by crossing edges ``(count,)`` bool.

    Edges ``i < j`` that cross close two loops of the curve: vertices ``i + 1 .. j`` and the rest.
    The shorter one is the tangle (a fold or a small loop); its points and the crossing edges' ends
    are marked.

    Parameters
    ----------
    pairs : (M, 2) crossing edge pairs from :func:`~sape_geo.geometry.polygon.self_intersections`.
    count : number of curve points.
    """
    marked = np.zeros(count, dtype=bool)
    for i, j in np.asarray(pairs, dtype=np.int64):
        if j - i <= count - (j - i):
            marked[i : j + 2] = True  # vertices i .. j + 1 (j + 1 may be past the end: numpy clips)
            if j + 1 == count:
                marked[0] = True
        else:
            marked[j:] = True
            marked[: i + 2] = True
    return marked


class SimpleCurveGuard:
    """Loop callback: counts self-intersections every ``every`` steps and keeps the last simple state.

    Parameters
    ----------
    curve : the model's closed curve ``(N, 2)`` as a numpy array (any frame: crossings do not depend
        on it).
    points : number of curve points ``N``.
    every : steps between checks (a check costs one forward pass and an ``O(N^2)`` segment test).

    Attributes
    ----------
    tangled : (N,) bool tensor, the points on loops at the last check (:func:`tangled_points`).
    simple_step : the last checked step whose curve was simple (-1: the starting curve; None: none yet).
    most_crossings : the largest count seen during the fit.
    """

    def __init__(self, curve: Callable[[FieldModel], np.ndarray], points: int, every: int = 10) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.curve, self.points, self.every = curve, points, every
        self.tangled = torch.zeros(points, dtype=torch.bool)
        self.simple_state: dict[str, torch.Tensor] | None = None
        self.simple_step: int | None = None
        self.most_crossings = 0
        self.tangled_checks = 0

    def start(self, model: FieldModel) -> None:
        """Check the curve the fit starts from (the calibrated circle), before its first step."""
        self.check(-1, model)

    def __call__(self, step: int, loss: float, model: FieldModel) -> None:
        if step % self.every == 0:
            self.check(step, model)

    def check(self, step: int, model: FieldModel) -> None:
        """Count the crossings of the curve now; mark tangled points; keep the state if it is simple."""
        with torch.no_grad():
            pairs = self_intersections(self.curve(model))
        self.most_crossings = max(self.most_crossings, len(pairs))
        marked = tangled_points(pairs, self.points)
        self.tangled = torch.from_numpy(marked).to(self.tangled.device)
        if len(pairs) == 0:
            self.simple_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
            self.simple_step = step
        else:
            self.tangled_checks += 1

    def to(self, device: torch.device) -> None:
        self.tangled = self.tangled.to(device)

    def finish(self, model: FieldModel) -> dict[str, float]:
        """Restore the last simple state when the final curve crosses itself. Returns what was done:
        ``guard_restored`` (whether the final curve was replaced), ``guard_restored_step`` (the step
        of the state returned; -1 the starting curve), ``guard_final_crossings`` (before any restore),
        ``guard_most_crossings`` and ``guard_tangled_checks`` during the fit."""
        with torch.no_grad():
            final = len(self_intersections(self.curve(model)))
        restored, restored_step = False, None
        if final and self.simple_state is not None:
            model.load_state_dict(self.simple_state)
            restored, restored_step = True, self.simple_step
        return {
            "guard_restored": restored,
            "guard_restored_step": restored_step,
            "guard_final_crossings": final,
            "guard_most_crossings": self.most_crossings,
            "guard_tangled_checks": self.tangled_checks,
        }
