"""Pictures every task draws: the frequency heat map (SAPE's progress per location) with a colour bar.

The heat map is the progress ``P`` in ``[0, L]``, the number of encoding levels open at each location
(docs/method.md, "The heat map"; the paper's Fig. 6, 8, 10). All heat maps share one colour map and a scale fixed
to ``[0, L]`` so pictures of different runs compare by eye.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

HEATMAP_COLOURS = "inferno"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, works without a display
    import matplotlib.pyplot as plt

    return plt


def save_heatmaps(
    path: str | os.PathLike,
    panels: Sequence[np.ndarray],
    max_progress: float,
    titles: Sequence[str] | None = None,
    contours: Sequence[np.ndarray | None] | None = None,
    extent: tuple[float, float, float, float] | None = None,
    dpi: int = 110,
) -> None:
    """Write one or more 2-D heat maps side by side with one shared colour bar, as PNG.

    Parameters
    ----------
    path : output file (written as PNG whatever its suffix; wrap in ``atomic_path`` for run files).
    panels : 2-D arrays ``(rows, cols)`` of progress in levels; row 0 is drawn at the top.
    max_progress : ``L``, the top of the colour scale (the scale is ``[0, L]`` for every panel).
    titles : optional title per panel.
    contours : optional 2-D arrays of the panels' shapes; the 0 level set is drawn over the heat map in
        cyan (e.g. the fitted surface's slice), None to skip a panel.
    extent : ``(left, right, bottom, top)`` axis coordinates shared by all panels; default pixel indices.
    dpi : resolution of the PNG.
    """
    if not panels:
        raise ValueError("need at least one heat-map panel")
    for panel in panels:
        if np.ndim(panel) != 2:
            raise ValueError(f"heat-map panels must be 2-D arrays, got shape {np.shape(panel)}")
    plt = _pyplot()
    count = len(panels)
    height, width = np.shape(panels[0])
    panel_width = 4.0 if count > 1 else float(np.clip(6.0 * width / max(height, 1), 3.0, 10.0))
    panel_height = 4.0 if count > 1 else float(np.clip(6.0 * height / max(width, 1), 3.0, 10.0))
    figure, axes = plt.subplots(1, count, figsize=(panel_width * count + 1.2, panel_height), squeeze=False)
    top = max(float(max_progress), 1e-6)
    image = None
    for position, (axis, panel) in enumerate(zip(axes[0], panels)):
        image = axis.imshow(np.asarray(panel, dtype=np.float32), cmap=HEATMAP_COLOURS, vmin=0.0, vmax=top,
                            extent=extent, origin="upper", interpolation="nearest")
        if contours is not None and contours[position] is not None:
            contour = np.asarray(contours[position], dtype=np.float32)
            if contour.min() < 0.0 < contour.max():
                axis.contour(contour, levels=[0.0], colors="cyan", linewidths=0.8, extent=extent, origin="upper")
        if titles is not None:
            axis.set_title(titles[position], fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    colour_bar = figure.colorbar(image, ax=list(axes[0]), fraction=0.046 if count == 1 else 0.02, pad=0.02)
    colour_bar.set_label("progress (encoding levels open)", fontsize=8)
    figure.savefig(path, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(figure)
