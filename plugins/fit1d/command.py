"""``sape-geo fit1d``: the task's declaration (settings, defaults, summary) and its Python API,
:func:`fit_1d`. Torch-free: the task (:mod:`.task`) loads by name when a fit starts."""

from __future__ import annotations

from typing import Any

from sape_geo.registry import TaskPlugin

from .settings import Regression1DSettings

DEFAULT_SIGMA = 12.0
DEFAULT_STEPS = 1500


def _summarise(result: Any) -> list[str]:
    m = result.metrics
    return [
        f"MSE smooth half {m['mse_smooth_region']:.2e}   oscillating half {m['mse_oscillating_region']:.2e}",
        f"heat map (levels open) smooth half {m['progress_smooth_region_levels']:.1f}   "
        f"oscillating half {m['progress_oscillating_region_levels']:.1f}   of {m['max_progress']:.0f}",
    ]


PLUGIN = TaskPlugin(
    name="fit1d",
    summary="1-D regression demo: smooth on the left, oscillating on the right (the paper's Fig. 2)",
    description=(
        "Fit a 1-D signal that is smooth on [-1, 0] and oscillates fast on (0, 1] from a few dozen evenly\n"
        "spaced samples. With a high Fourier sigma, ff fills the smooth half with noise between the samples;\n"
        "sape-ff opens high frequencies only where the loss stays above --epsilon, so its heat map is low\n"
        "on the left and high on the right.\n\n"
        "Writes RUN/result.csv (x, target, prediction, progress), RUN/result.png (plot + heat map) and the\n"
        "usual run files.\n\n"
        "example: sape-geo fit1d --method sape-ff --out runs/fit1d-sape"
    ),
    settings=Regression1DSettings,
    make_task="sape_geo_plugins.fit1d.task:Regression1D",
    defaults={"steps": DEFAULT_STEPS, "sigma": DEFAULT_SIGMA, "num_hidden_layers": 2},
    summarise=_summarise,
)


fit_1d = PLUGIN.python_function("fit_1d", """Python API: fit the 1-D signal with ``method`` and (with ``out``) write a run directory.

``overrides`` are loop or method settings (``steps=300``, ``sigma=8``, ``progress_bar=False``);
``extras["prediction"]`` is the fit on the evaluation points, ``extras["x"]`` those points.

Example
-------
>>> result = fit_1d("sape-ff", steps=300, progress_bar=False)  # doctest: +SKIP
>>> result.metrics["mse_smooth_region"]  # doctest: +SKIP
""")

