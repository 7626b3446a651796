"""What a picture shows, chosen by the user: edges, the quantity that colours the shapes, labels, and a
line of key metrics (``--edges``, ``--quantity``, ``--labels``, ``--metrics``).

The options act on the plain :class:`~sape_geo_apps.viewer.items.RunView` items before anything is
registered with Polyscope, so the window and the offscreen pictures follow the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sape_geo_apps.viewer.items import QUANTITIES, Points, RunView, Surface

LABEL_CHOICES = ("names", "none")
EDGE_WIDTH = 1.0
"""Width of drawn edges, in Polyscope's units (about a pixel)."""

QUANTITY_SOURCES = {
    "heatmap": "the SAPE heat map (progress.npy) of a run of a SAPE method",
    "distance": "the distance to the target, which needs the target file where the run read it",
    "distortion": "the conformal distortion, which needs the source file where the run read it",
    "observed": "observed.npy, which a transfer onto a partial target writes",
    "value": "a result's own values (result.npy of a third-party task)",
}
"""Where each quantity of ``--quantity`` comes from: said when a run does not have it."""


@dataclass(frozen=True)
class ViewOptions:
    """The user's choices of what a view shows. The only place they and their defaults are written:
    ``sape-geo view``'s ``--edges``, ``--quantity``, ``--labels`` and ``--metrics`` are generated from
    these fields (:func:`~sape_geo.schema.add_settings_arguments`).

    Attributes
    ----------
    edges : draw the edges of a transfer's source, result and carried files: the polygons as the files
        write them (quads, n-gons), not the triangles used inside.
    quantity : what colours the shapes: heatmap (SAPE levels open, progress.npy), distance (to the
        target), distortion (conformal, per face), observed (per-vertex confidence of a partial target,
        observed.npy), value (a result's own values), none (plain colours); auto: each item's default,
        the heat map where there is one.
    labels : names: write each landmark's name beside it, none overlapping; none: points only.
    metrics : a line of each run's key metrics (Chamfer, Hausdorff, folds, inversions, observed
        fraction, ...) under a screenshot or movie (:func:`metrics_line`).
    """

    edges: bool = True
    quantity: str = field(default="auto", metadata={"choices": ("auto", *QUANTITIES, "none")})
    labels: str = field(default="names", metadata={"choices": LABEL_CHOICES})
    metrics: bool = True

    def __post_init__(self) -> None:
        if self.quantity not in ("auto", *QUANTITIES, "none"):
            raise ValueError(f"quantity must be auto, none or one of {', '.join(QUANTITIES)}, got {self.quantity!r}")
        if self.labels not in LABEL_CHOICES:
            raise ValueError(f"labels must be one of {', '.join(LABEL_CHOICES)}, got {self.labels!r}")


def apply_options(views: list[RunView], options: ViewOptions) -> None:
    """Set the items of ``views`` (in place) to show what ``options`` ask.

    Raises
    ------
    ValueError : ``options.quantity`` names a quantity none of the runs has (the message says which
        file or input it comes from).
    """
    for view in views:
        for item in view.items:
            if isinstance(item, Surface) and item.tessellation:
                item.edge_width = EDGE_WIDTH if options.edges else 0.0
            if isinstance(item, Points) and options.labels == "none":
                item.labels = []
    if options.quantity == "auto":
        return
    found = False
    for view in views:
        for item in view.items:
            for scalar in item.scalars:
                scalar.enabled = scalar.kind == options.quantity
                found = found or scalar.enabled
    if options.quantity != "none" and not found:
        runs = ", ".join(view.label for view in views)
        which = f"none of {runs} has" if len(views) > 1 else f"{runs} has"
        raise ValueError(f"--quantity {options.quantity}: {which} anything to colour by it; it needs {QUANTITY_SOURCES[options.quantity]}")


def share_colour_ranges(views: list[RunView]) -> None:
    """Give each quantity that several runs show (same name, no fixed range) one colour range over all
    of them, so compared runs' colours mean the same values and one colour bar serves them all."""
    by_name: dict[str, list] = {}
    for view in views:
        for item in view.items:
            for scalar in item.scalars:
                if scalar.vrange is None:
                    by_name.setdefault(scalar.name, []).append(scalar)
    for scalars in by_name.values():
        finite = [values[np.isfinite(values)] for values in (np.asarray(s.values, dtype=np.float64) for s in scalars)]
        finite = [values for values in finite if values.size]
        if len(scalars) < 2 or not finite:
            continue
        low, high = min(float(v.min()) for v in finite), max(float(v.max()) for v in finite)
        for scalar in scalars:
            scalar.vrange = (low, high)


KEY_METRICS = (
    ("chamfer_l1_pct_diag", "Chamfer", "{:.3g} %"),
    ("hausdorff_pct_diag", "Hausdorff", "{:.3g} %"),
    ("folded_edges", "folded edges", "{:.0f}"),
    ("folded_polygon_edges", "folded polygon edges", "{:.0f}"),
    ("inverted_triangles", "inverted", "{:.0f}"),
    ("turned_polygons", "turned polygons", "{:.0f}"),
    ("polygon_nonplanarity_max", "non-planarity max", "{:.3g}"),
    ("observed_fraction", "observed", "{:.0%}"),
    ("marker_error_pct_diag", "markers", "{:.3g} %"),
    ("psnr_all_db", "PSNR", "{:.2f} dB"),
    ("iou", "IoU", "{:.3f}"),
    ("self_intersections", "self-intersections", "{:.0f}"),
)
"""Metrics a picture's text line names, in this order, when the run has them: (key, label, format)."""
SUPERSEDED = {"folded_edges": "folded_polygon_edges"}
"""A metric left out when the run has the one it maps to: a polygon template's folds are counted
between its polygons (the triangulation's count includes creases across a quad's diagonal)."""
BOOKKEEPING = ("_seconds", "steps_done", "parameters", "final_loss", "max_progress", "mean_progress", "target_diagonal")
"""Endings of metrics that describe the run rather than its result: left out of the generic line."""
GENERIC_METRICS = 4
"""A task without key metrics gets its first this many numeric metrics."""


def metrics_line(view: RunView) -> str:
    """``label: Chamfer 0.096 % | Hausdorff 1.16 % | folded edges 0 | inverted 0``: the run's key
    metrics (:data:`KEY_METRICS`), or for other tasks their first :data:`GENERIC_METRICS` numbers;
    empty when a finished run has no number to show."""
    metrics = view.metrics
    shown = [key for key, _, _ in KEY_METRICS if _is_number(metrics.get(key)) and SUPERSEDED.get(key) not in metrics]
    parts = [f"{label} {form.format(metrics[key])}" for key, label, form in KEY_METRICS if key in shown]
    if not parts:
        generic = [key for key, value in metrics.items() if _is_number(value) and not key.endswith(BOOKKEEPING)]
        parts = [f"{key} {metrics[key]:.4g}" for key in generic[:GENERIC_METRICS]]
    if not parts:
        return "" if metrics else f"{view.label}: no metrics yet (unfinished run)"
    return f"{view.label}: " + " | ".join(parts)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))
