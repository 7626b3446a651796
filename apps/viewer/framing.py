"""Pictures that need no flags: which way is up, where the camera goes, how big the picture is.

Pure numpy (no Polyscope), so each rule is tested on its own:

- :func:`infer_up_axis` picks the axis a shape stands on (mirror symmetry and paired feet);
- :func:`fit_view` places a perspective camera so the points fill the picture (the camera is aimed at
  the centre of the points *as seen*, not at the centre of their bounding box);
- :func:`picture_size` chooses the picture's aspect from the content when no ``--size`` is given;
- :func:`place_labels` puts names next to points without two names overlapping.
"""

from __future__ import annotations

import numpy as np

def mirror_scores(points: np.ndarray) -> np.ndarray:
    """(3,) how far each axis is from being a mirror axis of ``points``: the mean distance from the
    points reflected across the plane through the bounding-box centre normal to the axis to the nearest
    original point, over the diagonal (0 = perfectly mirror-symmetric)."""
    from scipy.spatial import cKDTree

    centre = (points.min(axis=0) + points.max(axis=0)) / 2.0
    diagonal = float(np.linalg.norm(np.ptp(points, axis=0))) or 1.0
    tree = cKDTree(points)
    scores = np.zeros(3)
    for axis in range(3):
        reflected = points.copy()
        reflected[:, axis] = 2.0 * centre[axis] - reflected[:, axis]
        scores[axis] = tree.query(reflected)[0].mean() / diagonal
    return scores


def contact_spread(points: np.ndarray, mirror_axis: int, tolerance: float = 0.03) -> dict[str, float]:
    """For each signed axis other than ``mirror_axis`` taken as up: how far from the mirror plane the
    points the shape would stand on lie (within ``tolerance`` of the diagonal of the lowest point), as a
    fraction of the half-width. Feet, legs, wheels and bases come in mirrored pairs away from the plane;
    a head, a tail, a back or a snout lies on it."""
    centre = (points.min(axis=0) + points.max(axis=0)) / 2.0
    diagonal = float(np.linalg.norm(np.ptp(points, axis=0))) or 1.0
    half_width = max(float(np.ptp(points[:, mirror_axis])) / 2.0, 1e-12)
    spread = {}
    for axis in range(3):
        if axis == mirror_axis:
            continue
        for sign, name in ((1.0, "xyz"[axis]), (-1.0, "-" + "xyz"[axis])):
            heights = sign * points[:, axis]
            contacts = points[heights <= heights.min() + tolerance * diagonal]
            spread[name] = float(np.abs(contacts[:, mirror_axis] - centre[mirror_axis]).mean()) / half_width
    return spread


def infer_up_axis(shapes: list[np.ndarray], default: str = "y", clear: float = 1.3) -> str:
    """The up axis of shapes given in one frame (e.g. a transfer's source, target and result).

    Most things people model are mirror-symmetric left to right, and stand on parts that come in
    mirrored pairs (feet, legs, wheels) while their top, front and back ends (head, back, snout, tail)
    lie on the mirror plane. So: the mirror axis is the one whose reflection matches the shape best;
    up is the other axis whose lower end touches the ground farthest from the mirror plane
    (:func:`contact_spread`), pointing away from that end (the positive direction unless the negative
    one is clearly better: data is mostly stored upright).

    ``default`` is kept when any step is unclear (no single mirror axis, as for a ball or a box; or two
    candidate axes within ``clear`` of each other). Shapes with fewer than 4 points are ignored.
    """
    shapes = [np.asarray(shape, dtype=np.float64).reshape(-1, 3) for shape in shapes]
    shapes = [shape[:: int(np.ceil(len(shape) / 20000))] for shape in shapes if len(shape) >= 4 and np.ptp(shape, axis=0).min() > 0]
    if not shapes:
        return default
    mirror = sum(mirror_scores(shape) for shape in shapes)
    order = np.argsort(mirror)
    if not mirror[order[0]] < 0.5 * mirror[order[1]]:
        return default
    mirror_axis = int(order[0])
    spread: dict[str, float] = {}
    for shape in shapes:
        for name, value in contact_spread(shape, mirror_axis).items():
            spread[name] = spread.get(name, 0.0) + value
    by_axis = {axis: max(spread[axis], spread["-" + axis]) for axis in "xyz" if axis != "xyz"[mirror_axis]}
    best, other = sorted(by_axis, key=by_axis.get, reverse=True)
    if not by_axis[best] >= clear * max(by_axis[other], 1e-12):
        return default
    return "-" + best if spread["-" + best] > 2.0 * spread[best] else best


def _camera_coordinates(points: np.ndarray, eye: np.ndarray, direction: np.ndarray, right: np.ndarray,
                        up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tangent-plane coordinates (x / depth, y / depth) of ``points`` seen from ``eye`` looking along
    ``-direction``."""
    relative = points - eye
    depth = np.maximum(relative @ -direction, 1e-9)
    return relative @ right / depth, relative @ up / depth


def fit_view(points: np.ndarray, direction: np.ndarray, up: np.ndarray, fov_degrees: float, aspect: float,
             fill: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Camera (eye, target) looking along ``-direction`` with ``up`` up so that ``points`` fill
    ``fill`` of the picture's width or height, whichever binds, centred.

    Parameters
    ----------
    points : (N, 3) what must be in the picture.
    direction : from the scene towards the camera.
    up : the picture's up (need not be orthogonal to ``direction``).
    fov_degrees : vertical field of view; aspect : width / height.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    direction = np.asarray(direction, dtype=np.float64)
    direction = direction / np.linalg.norm(direction)
    right = np.cross(np.asarray(up, dtype=np.float64), direction)
    right /= np.linalg.norm(right)
    true_up = np.cross(direction, right)
    tan_half = np.tan(np.radians(fov_degrees) / 2.0)
    target = (points.min(axis=0) + points.max(axis=0)) / 2.0
    radius = max(float(np.linalg.norm(points - target, axis=1).max()), 1e-9)
    distance = radius / tan_half + radius
    for _ in range(30):
        eye = target + distance * direction
        x, y = _camera_coordinates(points, eye, direction, right, true_up)
        # centre what is seen: shift the aim by the middle of the extents, at the aim's depth
        target = target + distance * ((x.max() + x.min()) / 2.0 * right + (y.max() + y.min()) / 2.0 * true_up)
        needed = max((x.max() - x.min()) / 2.0 / (tan_half * aspect), (y.max() - y.min()) / 2.0 / tan_half) / fill
        distance *= max(needed, 1e-6) ** 0.7  # damped: depth changes as the camera moves
    return target + distance * direction, target


def projected_aspect(points: np.ndarray, direction: np.ndarray, up: np.ndarray) -> float:
    """Width / height of ``points`` seen along ``-direction`` (orthographic, close enough to choose a
    picture's shape)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    direction = np.asarray(direction, dtype=np.float64) / np.linalg.norm(direction)
    right = np.cross(np.asarray(up, dtype=np.float64), direction)
    right /= np.linalg.norm(right)
    true_up = np.cross(direction, right)
    width, height = np.ptp(points @ right), np.ptp(points @ true_up)
    return float(width / height) if height > 0 else 1.0


def picture_size(aspect: float, pixels: int = 1024 * 768, limits: tuple[float, float] = (0.6, 4.0)) -> tuple[int, int]:
    """(width, height) of about ``pixels`` pixels whose aspect is ``aspect`` clamped to ``limits``, both
    even (video encoders need that)."""
    aspect = float(np.clip(aspect, *limits))
    width = int(round(np.sqrt(pixels * aspect) / 2.0)) * 2
    height = int(round(width / aspect / 2.0)) * 2
    return width, height


LABEL_REACH = (1.0, 2.0, 3.5, 5.0, 7.0, 10.0, 14.0, 19.0, 25.0, 32.0, 40.0, 50.0, 62.0, 76.0, 92.0, 110.0, 130.0, 155.0)
"""Distances from its point a label tries, in multiples of ``gap``: near first, then farther out (a
leader line joins a far label to its point)."""
_ANGLES = np.radians([0, 180, 270, 90, 315, 225, 45, 135, 337.5, 202.5, 22.5, 157.5, 292.5, 247.5, 67.5, 112.5])
LABEL_DIRECTIONS = np.column_stack([np.cos(_ANGLES), np.sin(_ANGLES)])
"""(16, 2) directions tried at each distance (y down): right, left, above, below first, then the
diagonals and between."""


def _label_candidates(anchor: np.ndarray, size: np.ndarray, gap: float) -> np.ndarray:
    """(K, 4) boxes (x0, y0, x1, y1) of a ``size`` label around ``anchor``, nearest first; at each distance
    the box's nearest edge is that far from the point in each of :data:`LABEL_DIRECTIONS`."""
    reach = gap * np.asarray(LABEL_REACH)[:, None, None]  # (R, 1, 1)
    # the box centre sits so that its edge (not its centre) is `reach` from the point
    half_extent = (np.abs(LABEL_DIRECTIONS) @ size / 2.0)[None, :, None]  # (1, D, 1)
    centre = (anchor + LABEL_DIRECTIONS[None] * (reach + half_extent)).reshape(-1, 2)
    return np.column_stack([centre - size / 2.0, centre + size / 2.0])


def _near(boxes: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The rows of ``boxes`` (M, 4) that reach into ``region`` (x0, y0, x1, y1): only those can overlap a
    candidate inside it."""
    keep = (boxes[:, 2] > region[0]) & (boxes[:, 0] < region[2]) & (boxes[:, 3] > region[1]) & (boxes[:, 1] < region[3])
    return boxes[keep]


def _overlap_areas(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(K,) summed overlap area of each of ``boxes`` (K, 4) with all of ``others`` (M, 4)."""
    if len(others) == 0:
        return np.zeros(len(boxes))
    width = np.minimum(boxes[:, None, 2], others[None, :, 2]) - np.maximum(boxes[:, None, 0], others[None, :, 0])
    height = np.minimum(boxes[:, None, 3], others[None, :, 3]) - np.maximum(boxes[:, None, 1], others[None, :, 1])
    return (np.clip(width, 0.0, None) * np.clip(height, 0.0, None)).sum(axis=1)


def place_labels(anchors: np.ndarray, sizes: np.ndarray, bounds: tuple[float, float] | None = None,
                 gap: float = 6.0, blocked: np.ndarray | None = None, point_size: float = 6.0) -> np.ndarray:
    """Top-left corners of text boxes, one per anchor point, so that no two boxes overlap.

    Each label tries positions around its point, nearest first (:func:`_label_candidates`: 16
    directions at growing distances), and takes the first one inside the picture that overlaps no label
    placed before it, no box of ``blocked`` and no other labelled point; failing that, the first that
    only covers points. When the ring is full (41 landmarks on a cat's paws and head), every place of
    the picture on a 4-pixel grid is tried, nearest first; only when nothing at all is free does the
    least overlapping place win. Labels are placed from the most crowded point outwards, since those
    have the fewest good places.

    Parameters
    ----------
    anchors : (N, 2) points in pixels (x right, y down).
    sizes : (N, 2) width and height of each text in pixels.
    bounds : (width, height) of the picture: boxes are kept inside when they can be.
    gap : pixels between a point and its nearest label position.
    blocked : (M, 4) boxes (x0, y0, x1, y1) labels must avoid (e.g. the colour bars).
    point_size : side in pixels of the square each labelled point keeps free of other labels.
    """
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    count = len(anchors)
    corners = np.zeros((count, 2))
    if count == 0:
        return corners
    placed = np.asarray(blocked if blocked is not None else np.zeros((0, 4)), dtype=np.float64).reshape(-1, 4)
    points = np.column_stack([anchors - point_size / 2.0, anchors + point_size / 2.0])
    # crowded points first: they have the fewest good places
    spread = np.linalg.norm(anchors[:, None, :] - anchors[None, :, :], axis=2)
    crowding = np.sort(spread, axis=1)[:, 1] if count > 1 else np.zeros(1)
    for index in np.argsort(crowding, kind="stable"):
        candidates = _label_candidates(anchors[index], sizes[index], gap)
        region = np.concatenate([candidates[:, :2].min(axis=0), candidates[:, 2:].max(axis=0)])
        others = np.delete(points, index, axis=0)
        choice = _first_free(candidates, _near(placed, region), _near(others, region), bounds)
        if choice is None and bounds is not None:
            # crowded: any free place in the picture, nearest first (a leader line finds the point)
            candidates = _picture_grid(anchors[index], sizes[index], bounds)
            choice = _first_free(candidates, placed, others, bounds)
        if choice is None:
            choice = int(np.argmin(_overlap_areas(candidates, placed) + _outside(candidates, bounds)))
        corners[index] = candidates[choice, :2]
        placed = np.vstack([placed, candidates[choice]])
    return corners


def _outside(boxes: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
    """(K,) area of each box outside the picture (0 without ``bounds``)."""
    if bounds is None:
        return np.zeros(len(boxes))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return area - _overlap_areas(boxes, np.array([[0.0, 0.0, float(bounds[0]), float(bounds[1])]]))


def _first_free(candidates: np.ndarray, placed: np.ndarray, points: np.ndarray, bounds: tuple[float, float] | None) -> int | None:
    """The first candidate inside the picture that overlaps no placed box and covers no point; else the
    first that only covers points; None when every candidate overlaps a label or leaves the picture."""
    label_overlap = _overlap_areas(candidates, placed) + _outside(candidates, bounds)
    covered = _overlap_areas(candidates, points)
    for usable in (label_overlap + covered <= 1e-9, label_overlap <= 1e-9):
        if usable.any():
            return int(np.argmax(usable))
    return None


def _picture_grid(anchor: np.ndarray, size: np.ndarray, bounds: tuple[float, float], step: float = 4.0) -> np.ndarray:
    """(K, 4) boxes of ``size`` at every ``step`` pixels inside the picture, nearest to ``anchor`` first."""
    w, h = size
    x = np.arange(0.0, max(float(bounds[0]) - w, 0.0) + 1e-9, step)
    y = np.arange(0.0, max(float(bounds[1]) - h, 0.0) + 1e-9, step)
    corner = np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2)
    distance = np.linalg.norm(corner + size / 2.0 - anchor, axis=1)
    corner = corner[np.argsort(distance, kind="stable")]
    return np.column_stack([corner, corner + size])


def _overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return float(width * height) if width > 0 and height > 0 else 0.0


def boxes_overlap(corners: np.ndarray, sizes: np.ndarray) -> bool:
    """True when any two boxes (top-left ``corners``, ``sizes``) overlap."""
    boxes = np.column_stack([corners, np.asarray(corners) + np.asarray(sizes)])
    return any(_overlap_area(boxes[i], boxes[j]) > 0 for i in range(len(boxes)) for j in range(i + 1, len(boxes)))
