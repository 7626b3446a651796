"""Quality against wall time: a callback that scores a fit while it runs, and the plot of its curves.

``QualityClock`` is a ``callback(step, loss, model)`` for ``run_task(..., callbacks=[clock])``: at chosen
steps or every so many seconds it scores the model (``evaluate(model) -> float``, in eval mode and without
gradients) and records ``(seconds, quality)``, where ``seconds`` is the wall time since the clock started
*minus the time spent in its own evaluations*, so the curve shows what the fit alone costs. CPU seconds
(``time.process_time``, evaluations excluded the same way) are kept beside the wall seconds, because on a
shared machine wall time depends on the neighbours.

``plot_quality_vs_time`` draws one line per method.

Example
-------
>>> clock = QualityClock(lambda model: task.evaluate(model)["psnr_heldout_db"], every_seconds=5.0)  # doctest: +SKIP
>>> clock.start()  # doctest: +SKIP
>>> run_task(task, method, FitConfig(steps=500), callbacks=[clock])  # doctest: +SKIP
>>> plot_quality_vs_time({"sape-ff": clock.points}, "curves.png", "held-out PSNR (dB)", "cat, 256 px")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sape_geo.atomic import atomic_path


@dataclass(frozen=True)
class ClockReading:
    """One evaluation: the step after which it ran, fit wall and CPU seconds so far, the score."""

    step: int
    seconds: float
    cpu_seconds: float
    quality: float


class QualityClock:
    """Score a model during a fit; record quality against the fit's own wall time.

    Parameters
    ----------
    evaluate : ``evaluate(model) -> float``; run under ``torch.no_grad()`` with ``model.eval()``, the
        model's previous train/eval mode restored afterwards (also when ``evaluate`` raises).
    every_seconds : evaluate when at least this many fit seconds (evaluations excluded) passed since the
        last evaluation; the first step is always evaluated.
    at_steps : evaluate after these steps (0-based, as the loop counts them). Both may be given.

    The clock starts when it is made; call :meth:`start` right before ``run_task`` to leave out the
    time between. Call :meth:`finish` after the fit to score the final model (skipped when the last step
    was already scored). ``points`` is the list of ``(seconds, quality)`` pairs; ``readings`` has steps and
    CPU seconds too.
    """

    def __init__(
        self,
        evaluate: Callable[[Any], float],
        every_seconds: float | None = None,
        at_steps: Iterable[int] | None = None,
    ) -> None:
        if every_seconds is None and at_steps is None:
            raise ValueError("give every_seconds, at_steps or both")
        if every_seconds is not None and not every_seconds > 0:
            raise ValueError(f"every_seconds must be positive, got {every_seconds}")
        self.evaluate = evaluate
        self.every_seconds = every_seconds
        self.at_steps = frozenset(int(s) for s in at_steps) if at_steps is not None else frozenset()
        self.readings: list[ClockReading] = []
        self.start()

    def start(self) -> None:
        """Restart the clock and forget earlier readings."""
        self.readings = []
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._excluded_wall = 0.0
        self._excluded_cpu = 0.0
        self._last_step: int | None = None
        self._last_scored_step: int | None = None
        self._last_scored_seconds = -math.inf

    def elapsed(self) -> tuple[float, float]:
        """Fit wall and CPU seconds since :meth:`start`, evaluations excluded."""
        return (
            time.perf_counter() - self._wall0 - self._excluded_wall,
            time.process_time() - self._cpu0 - self._excluded_cpu,
        )

    @property
    def points(self) -> list[tuple[float, float]]:
        return [(r.seconds, r.quality) for r in self.readings]

    def __call__(self, step: int, loss: float, model: Any) -> None:
        self._last_step = int(step)
        seconds, _ = self.elapsed()
        due = step in self.at_steps or (
            self.every_seconds is not None
            and (not self.readings or seconds - self._last_scored_seconds >= self.every_seconds)
        )
        if due:
            self.score(model, int(step))

    def finish(self, model: Any) -> ClockReading | None:
        """Score the final model unless its last step was just scored; returns the last reading."""
        if self._last_step is not None and self._last_scored_step != self._last_step:
            self.score(model, self._last_step)
        return self.readings[-1] if self.readings else None

    def score(self, model: Any, step: int) -> ClockReading:
        """Evaluate now and record the reading (its time excludes this evaluation)."""
        seconds, cpu_seconds = self.elapsed()
        wall_before, cpu_before = time.perf_counter(), time.process_time()
        was_training = bool(getattr(model, "training", False))
        try:
            if hasattr(model, "eval"):
                model.eval()
            with torch.no_grad():
                quality = float(self.evaluate(model))
        finally:
            if hasattr(model, "train"):
                model.train(was_training)
            self._excluded_wall += time.perf_counter() - wall_before
            self._excluded_cpu += time.process_time() - cpu_before
        reading = ClockReading(step, seconds, cpu_seconds, quality)
        self.readings.append(reading)
        self._last_scored_step = step
        self._last_scored_seconds = seconds
        return reading


def quality_at(points: Sequence[tuple[float, float]], seconds: float) -> float | None:
    """The quality of the last reading taken by ``seconds`` (a fit stopped then would have it); None
    when the first reading came later."""
    reached = [quality for time_, quality in points if time_ <= seconds]
    return reached[-1] if reached else None


def plot_quality_vs_time(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    path: str | os.PathLike,
    ylabel: str,
    title: str,
    xlabel: str = "wall seconds (evaluation excluded)",
) -> None:
    """One line per method (``curves[name] = [(seconds, quality), ...]``), written atomically to
    ``path`` (PNG by its suffix)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    try:
        for name, points in curves.items():
            if not points:
                continue
            ordered = sorted(points)
            axes.plot([p[0] for p in ordered], [p[1] for p in ordered], marker=".", markersize=3, linewidth=1.4, label=name)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.set_title(title)
        axes.grid(True, alpha=0.3)
        if any(curves.values()):
            axes.legend(loc="lower right", fontsize="small")
        figure.tight_layout()
        path = Path(path)
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(figure)
