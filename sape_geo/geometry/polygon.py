"""Closed 2-D polylines: reading them, resampling them, and filling them on a pixel grid.

A closed polyline is a ``(K, 2)`` array of ``(x, y)`` vertices with no repeated last vertex; the edge
from the last vertex back to the first closes it. Pixel grids follow the image convention used across
the toolkit: pixel ``(row, col)`` has its centre at ``(x, y) = (origin_x + col * spacing, origin_y +
row * spacing)``, so with the defaults the centre of the top-left pixel is ``(0, 0)``, ``x`` grows
along columns and ``y`` along rows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from sape_geo.textfiles import read_text


class PolylineReadError(ValueError):
    """A polyline file is missing, unreadable, or does not describe a closed polygon."""


_SEPARATORS = re.compile(r"[,;\s]+")


def read_polyline(path: str | os.PathLike) -> np.ndarray:
    """Read a closed polyline from a text file: one ``x,y`` vertex a line.

    Commas, semicolons, tabs or spaces separate the two numbers; blank lines and lines starting with
    ``#`` are skipped, and a first line that is not numeric (a header such as ``x,y``) is allowed. A
    last vertex equal to the first is dropped (the polyline is closed implicitly).

    Parameters
    ----------
    path : the file.

    Returns
    -------
    (K, 2) float64 vertices, K >= 3, enclosing a non-zero area.

    Raises
    ------
    PolylineReadError : missing or unreadable file, a line that is not two finite numbers (the message
        names the file and line), fewer than 3 distinct vertices, or a polygon of zero area.

    Example
    -------
    >>> read_polyline("square.csv")  # doctest: +SKIP
    array([[0., 0.], [1., 0.], [1., 1.], [0., 1.]])
    """
    path = Path(path)
    if not path.is_file():
        raise PolylineReadError(f"polyline file not found: {path}" if not path.exists() else f"not a file: {path}")
    try:
        text = read_text(path, errors="strict")
    except (OSError, UnicodeDecodeError) as error:
        raise PolylineReadError(f"cannot read polyline file {path}: {error}") from None
    vertices: list[tuple[float, float]] = []
    seen_data = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = [field for field in _SEPARATORS.split(stripped) if field]
        try:
            values = [float(field) for field in fields]
        except ValueError:
            if not seen_data and not vertices:
                seen_data = True  # one header line before the data is allowed
                continue
            raise PolylineReadError(f"{path}, line {number}: expected two numbers x,y, got {stripped!r}") from None
        seen_data = True
        if len(values) != 2:
            raise PolylineReadError(f"{path}, line {number}: expected two numbers x,y, got {len(values)} values")
        if not all(np.isfinite(values)):
            raise PolylineReadError(f"{path}, line {number}: coordinates must be finite, got {stripped!r}")
        vertices.append((values[0], values[1]))
    points = np.asarray(vertices, dtype=np.float64).reshape(-1, 2)
    if len(points) > 1 and np.array_equal(points[0], points[-1]):
        points = points[:-1]
    if len(np.unique(points, axis=0)) < 3:
        raise PolylineReadError(f"{path}: a closed polyline needs at least 3 distinct vertices, got {len(points)}")
    if abs(signed_area(points)) <= 1e-12 * max(np.ptp(points, axis=0).max(), 1e-300) ** 2:
        crossings = self_intersections(points)
        spread = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
        if len(crossings) and spread[1] > 1e-9 * spread[0]:
            # a bowtie: its two loops' areas cancel, but its vertices are not on one line
            where = intersection_points(points, crossings[:1])[0]
            raise PolylineReadError(
                f"{path}: the polyline crosses itself ({len(crossings)} pair(s) of edges, the first at x={where[0]:.4g}, "
                f"y={where[1]:.4g}) and its loops' areas cancel to zero; an outline must be a simple polygon"
            )
        raise PolylineReadError(f"{path}: the polyline encloses no area (its vertices are collinear)")
    return points


def signed_area(points: np.ndarray) -> float:
    """Shoelace area of a closed polyline ``(K, 2)``: positive when its vertices turn from +x to +y."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def polyline_length(points: np.ndarray) -> float:
    """Perimeter of a closed polyline ``(K, 2)``, closing edge included."""
    return float(np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1).sum())


def resample_closed_polyline(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a closed polyline, starting at its first vertex.

    Parameters
    ----------
    points : (K, 2) vertices, K >= 2.
    count : number of samples, >= 1.

    Returns
    -------
    (count, 2) samples on the polyline (the last one does not repeat the first).
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    points = np.asarray(points, dtype=np.float64)
    closed = np.vstack([points, points[:1]])
    edge_lengths = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(edge_lengths)])
    total = cumulative[-1]
    if total <= 0:
        raise ValueError("cannot resample a polyline of zero length")
    targets = np.arange(count) * (total / count)
    edge = np.clip(np.searchsorted(cumulative, targets, side="right") - 1, 0, len(edge_lengths) - 1)
    fraction = (targets - cumulative[edge]) / np.where(edge_lengths[edge] > 0, edge_lengths[edge], 1.0)
    return closed[edge] + fraction[:, None] * (closed[edge + 1] - closed[edge])


def even_odd_fill(
    polygon: np.ndarray,
    height: int,
    width: int,
    origin: tuple[float, float] = (0.0, 0.0),
    spacing: float = 1.0,
    edge_chunk: int = 256,
) -> np.ndarray:
    """Pixels whose centre lies inside a closed polyline by the even-odd rule.

    A scanline through each row of pixel centres toggles inside/outside at every edge crossing
    (half-open in ``y`` so a vertex on the scanline counts once); self-intersections and loops are
    filled by parity, the rule image-processing tools and SVG's ``evenodd`` use.

    Parameters
    ----------
    polygon : (K, 2) vertices ``(x, y)``, K >= 3, not repeating the first at the end.
    height, width : grid size in pixels.
    origin : ``(x, y)`` of the centre of pixel ``(0, 0)``.
    spacing : distance between neighbouring pixel centres, in the polygon's units.
    edge_chunk : edges processed at once (memory ``edge_chunk * height``).

    Returns
    -------
    (height, width) bool mask.

    Example
    -------
    >>> int(even_odd_fill(np.array([[0.5, 0.5], [2.5, 0.5], [2.5, 2.5], [0.5, 2.5]]), 4, 4).sum())
    4
    """
    polygon = np.asarray(polygon, dtype=np.float64)
    if polygon.ndim != 2 or polygon.shape[1] != 2 or len(polygon) < 3:
        raise ValueError(f"expected a (K >= 3, 2) polygon, got shape {polygon.shape}")
    if height < 1 or width < 1 or not spacing > 0:
        raise ValueError(f"need a positive grid size and spacing, got {height}x{width}, spacing {spacing}")
    # Work in pixel units: column and row coordinates of the vertices.
    columns = (polygon[:, 0] - origin[0]) / spacing
    rows = (polygon[:, 1] - origin[1]) / spacing
    start_c, start_r = columns, rows
    end_c, end_r = np.roll(columns, -1), np.roll(rows, -1)
    row_centres = np.arange(height, dtype=np.float64)
    # toggles[r, k] flips the parity of every pixel k.. of row r; column `width` is a sink.
    toggles = np.zeros((height, width + 1), dtype=np.int32)
    for first in range(0, len(polygon), edge_chunk):
        chunk = slice(first, first + edge_chunk)
        r0, r1, c0, c1 = start_r[chunk, None], end_r[chunk, None], start_c[chunk, None], end_c[chunk, None]
        crosses = (r0 > row_centres) != (r1 > row_centres)  # (E, H)
        edge_index, row_index = np.nonzero(crosses)
        r0, r1 = r0[edge_index, 0], r1[edge_index, 0]
        c0, c1 = c0[edge_index, 0], c1[edge_index, 0]
        crossing = c0 + (row_index - r0) * (c1 - c0) / (r1 - r0)
        # A pixel centre k is right of the crossing when k > crossing, i.e. k >= floor(crossing) + 1.
        first_right = np.clip(np.floor(crossing).astype(np.int64) + 1, 0, width)
        np.add.at(toggles, (row_index, first_right), 1)
    return (np.cumsum(toggles[:, :width], axis=1) % 2).astype(bool)



def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Sign of the turn ``a -> b -> c``: +1 left, -1 right, 0 collinear (broadcast over leading axes)."""
    cross = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
    return np.sign(cross)


def _on_segment(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Whether ``p``, already known collinear with segment ``a b``, lies within its bounding box."""
    return (
        (np.minimum(a[..., 0], b[..., 0]) <= p[..., 0]) & (p[..., 0] <= np.maximum(a[..., 0], b[..., 0]))
        & (np.minimum(a[..., 1], b[..., 1]) <= p[..., 1]) & (p[..., 1] <= np.maximum(a[..., 1], b[..., 1]))
    )


def self_intersections(points: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Every pair of edges of a closed polyline that meet where a simple polygon's edges may not.

    Edge ``i`` runs from vertex ``i`` to vertex ``i + 1`` (the last edge closes the polyline). Two
    edges that are not neighbours along the polyline intersect when they cross, touch, or overlap
    (segment-segment orientation tests in float64, not a rasteriser). Two neighbours, which share a
    vertex, count when they overlap beyond it: the polyline doubles back on itself. A zero-length edge
    (a repeated vertex) overlaps its neighbours and is reported with them. A closed polyline is a
    simple polygon exactly when this returns no pair.

    Parameters
    ----------
    points : (K, 2) vertices, K >= 3, no repeated last vertex.
    chunk : edges tested at once against the edges they may meet (memory at most ``chunk * K``).

    Returns
    -------
    (M, 2) int64 edge index pairs ``i < j``, sorted; ``M`` is the self-intersection count.

    Example
    -------
    >>> self_intersections(np.array([[0, 0], [1, 1], [1, 0], [0, 1]]))  # a bow tie
    array([[0, 2]])
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise ValueError(f"expected a (K >= 3, 2) closed polyline, got shape {points.shape}")
    count = len(points)
    starts, ends = points, np.roll(points, -1, axis=0)
    low, high = np.minimum(starts, ends), np.maximum(starts, ends)
    # A sweep along x: with the edges in order of their smallest x, an edge can only meet the later ones
    # that start (in x) before it ends, so a chunk of edges is tested against that stretch, not all K
    # (a 200 000-vertex outline: seconds instead of hours).
    order = np.argsort(low[:, 0], kind="stable")
    reach = np.searchsorted(low[order, 0], high[order, 0], side="right")
    found = []
    for first in range(0, count, chunk):
        ranks = np.arange(first, min(first + chunk, count))
        later = np.arange(first, max(int(reach[ranks].max()), first + 1))
        rows, columns = order[ranks], order[later]
        # Candidate pairs whose bounding boxes overlap, each pair once: a cheap filter before orientations.
        overlap = (
            (low[rows, None, 0] <= high[None, columns, 0]) & (low[None, columns, 0] <= high[rows, None, 0])
            & (low[rows, None, 1] <= high[None, columns, 1]) & (low[None, columns, 1] <= high[rows, None, 1])
        )
        overlap &= later[None, :] > ranks[:, None]
        r, c = np.nonzero(overlap)
        i, j = np.minimum(rows[r], columns[c]), np.maximum(rows[r], columns[c])
        if len(i) == 0:
            continue
        a, b, c, d = starts[i], ends[i], starts[j], ends[j]
        o1, o2 = _orientation(a, b, c), _orientation(a, b, d)
        o3, o4 = _orientation(c, d, a), _orientation(c, d, b)
        neighbours = (j == i + 1) | ((i == 0) & (j == count - 1))
        proper = (o1 * o2 < 0) & (o3 * o4 < 0)
        touching = (
            ((o1 == 0) & _on_segment(a, b, c)) | ((o2 == 0) & _on_segment(a, b, d))
            | ((o3 == 0) & _on_segment(c, d, a)) | ((o4 == 0) & _on_segment(c, d, b))
        )
        # Neighbours always touch at their shared vertex; they intersect only when they also overlap,
        # i.e. are collinear and point back over each other (or one of them has zero length).
        shared_forward = j == i + 1
        shared = np.where(shared_forward[:, None], b, a)  # vertex i + 1, or vertex 0 for the closing pair
        other_i = np.where(shared_forward[:, None], a, b)
        other_j = np.where(shared_forward[:, None], d, c)
        back = np.einsum("ij,ij->i", other_i - shared, other_j - shared)
        degenerate = np.all(a == b, axis=1) | np.all(c == d, axis=1)
        doubled = (o1 == 0) & (o2 == 0) & ((back > 0) | degenerate)
        hit = np.where(neighbours, doubled, proper | touching)
        found.append(np.column_stack([i[hit], j[hit]]))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def intersection_points(points: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Where the edge pairs of :func:`self_intersections` meet ``(M, 2)`` (a touching or overlapping
    pair: the middle of the closest vertices), for marking them in pictures."""
    points = np.asarray(points, dtype=np.float64)
    if len(pairs) == 0:
        return np.zeros((0, 2))
    ends = np.roll(points, -1, axis=0)
    a, b = points[pairs[:, 0]], ends[pairs[:, 0]]
    c, d = points[pairs[:, 1]], ends[pairs[:, 1]]
    r, s = b - a, d - c
    denominator = r[:, 0] * s[:, 1] - r[:, 1] * s[:, 0]
    t = ((c - a)[:, 0] * s[:, 1] - (c - a)[:, 1] * s[:, 0]) / np.where(denominator == 0, 1.0, denominator)
    crossing = a + np.clip(t, 0.0, 1.0)[:, None] * r
    return np.where((denominator == 0)[:, None], 0.5 * (a + c), crossing)


def best_cyclic_shift(points: np.ndarray, reference: np.ndarray) -> int:
    """The shift ``k`` minimising ``sum_i |points[(i + k) % K] - reference[i]|^2`` over all ``K`` shifts.

    Both are ``(K, D)`` samples of closed curves; the sum of squares expands to two constants minus
    twice a circular cross-correlation, computed for every shift at once with the FFT (``O(K log K)``).

    Example
    -------
    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> best_cyclic_shift(np.roll(square, 1, axis=0), square)
    1
    """
    points, reference = np.asarray(points, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if points.shape != reference.shape:
        raise ValueError(f"points {points.shape} and reference {reference.shape} must have one shape")
    # correlation[k] = sum_i points[i + k] . reference[i]
    spectrum = np.fft.fft(points, axis=0) * np.conj(np.fft.fft(reference, axis=0))
    correlation = np.fft.ifft(spectrum, axis=0).real.sum(axis=1)
    return int(np.argmax(correlation))


def ordered_correspondence(outline: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """One outline point per reference point, in the reference's order: the order-aware target of a curve.

    The outline is resampled at ``len(reference)`` points evenly spaced by arc length, turned to the
    reference's orientation (the sign of the signed area), and shifted cyclically to lie closest to it
    (:func:`best_cyclic_shift`). Matching curve point ``i`` to sample ``i`` asks the curve to trace the
    outline once, in order; a set-to-set distance (Chamfer) asks only that the points cover it, and
    lets a curve jump across a shape and cross itself.

    Parameters
    ----------
    outline : (K, 2) closed polyline, no repeated last vertex.
    reference : (N, 2) the curve as it is now (e.g. the circle a fit starts from), N >= 3.

    Returns
    -------
    (N, 2) outline samples; sample ``i`` is curve point ``i``'s target.
    """
    samples = resample_closed_polyline(outline, len(reference))
    if np.sign(signed_area(samples)) != np.sign(signed_area(reference)):
        samples = samples[::-1]
    return np.roll(samples, -best_cyclic_shift(samples, reference), axis=0)
