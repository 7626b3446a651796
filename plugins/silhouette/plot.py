"""``result.png`` of a silhouette fit: the curve over the silhouette, coloured by SAPE's heat map."""

from __future__ import annotations

import os

import numpy as np

from sape_geo_plugins.silhouette.outline import SilhouetteTarget


def plot_silhouette_fit(
    path: str | os.PathLike,
    curve: np.ndarray,
    progress: np.ndarray,
    target: SilhouetteTarget,
    max_progress: float,
    crossings: np.ndarray | None = None,
) -> None:
    """Draw the target region in grey and the closed curve on top, each segment coloured by progress;
    self-intersections are circled in cyan and counted in the title.

    Parameters
    ----------
    path : PNG file to write.
    curve : (N, 2) closed polyline in the input's coordinates.
    progress : (N,) progress per curve point (levels open); a segment takes its start point's value.
    target : the silhouette (its region is drawn on its own pixel grid, image rows downwards).
    max_progress : top of the colour scale (the number of levels; 0 for methods without a mask).
    crossings : (M, 2) points where the curve crosses itself (none: a simple polygon).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    grid = target.grid
    half = 0.5 * grid.spacing
    extent = (
        grid.origin[0] - half,
        grid.origin[0] + (grid.width - 1) * grid.spacing + half,
        grid.origin[1] + (grid.height - 1) * grid.spacing + half,
        grid.origin[1] - half,
    )
    aspect = grid.height / max(grid.width, 1)
    figure, axes = plt.subplots(figsize=(7.0, max(3.0, 6.0 * aspect)))
    # A mid-grey silhouette keeps both ends of the colour map (dark: few levels, pale yellow: all) visible.
    axes.imshow(target.region, cmap="Greys", vmin=0.0, vmax=2.2, extent=extent, interpolation="nearest")
    segments = np.stack([curve, np.roll(curve, -1, axis=0)], axis=1)
    lines = LineCollection(segments, cmap="inferno", linewidths=2.0)
    lines.set_array(np.asarray(progress, dtype=np.float64))
    lines.set_clim(0.0, max(max_progress, 1e-6))
    axes.add_collection(lines)
    colour_bar = figure.colorbar(lines, ax=axes, fraction=0.046, pad=0.04)
    colour_bar.set_label("progress (encoding levels open)")
    crossings = np.zeros((0, 2)) if crossings is None else np.asarray(crossings, dtype=np.float64).reshape(-1, 2)
    if len(crossings):
        axes.scatter(crossings[:, 0], crossings[:, 1], s=90, facecolors="none", edgecolors="cyan", linewidths=1.5,
                     label=f"self-intersection ({len(crossings)})", zorder=3)
        axes.legend(loc="lower right", fontsize=8)
    low = np.minimum(curve.min(axis=0), (extent[0], extent[3]))
    high = np.maximum(curve.max(axis=0), (extent[1], extent[2]))
    axes.set_xlim(low[0], high[0])
    axes.set_ylim(high[1], low[1])  # image rows grow downwards
    axes.set_aspect("equal")
    validity = "a simple polygon" if len(crossings) == 0 else f"{len(crossings)} self-intersection(s)"
    axes.set_title(f"{target.source.name}: curve over the silhouette, coloured by SAPE progress; {validity}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
