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


def place_labels(anchors: np.ndarray, sizes: np.ndarray, bounds: tuple[float, float] | None = None,
                 gap: float = 6.0, blocked: np.ndarray | None = None) -> np.ndarray:
    """Top-left corners of text boxes, one per anchor point, so that no two boxes overlap.

    Each label tries positions around its point (right, left, above, below, then the diagonals, then
    the same farther out) and takes the first that overlaps no label placed before it, nor a box of
    ``blocked``; labels are placed from the most crowded point outwards. When nothing is free the
    least-overlapping candidate wins.

    Parameters
    ----------
    anchors : (N, 2) points in pixels (x right, y down).
    sizes : (N, 2) width and height of each text in pixels.
    bounds : (width, height) of the picture: boxes are kept inside when they can be.
    blocked : (M, 4) boxes (x0, y0, x1, y1) labels must avoid (e.g. the colour bars).
    """
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    count = len(anchors)
    corners = np.zeros((count, 2))
    placed: list[np.ndarray] = [np.asarray(box, dtype=np.float64) for box in (blocked if blocked is not None else [])]
    if count == 0:
        return corners
    # crowded points first: they have the fewest good places
    spread = np.linalg.norm(anchors[:, None, :] - anchors[None, :, :], axis=2)
    crowding = np.sort(spread, axis=1)[:, 1] if count > 1 else np.zeros(1)
    order = np.argsort(crowding, kind="stable")
    for index in order:
        (x, y), (w, h) = anchors[index], sizes[index]
        candidates = []
        for reach in (1.0, 2.0, 3.5, 5.0, 7.0):
            g = gap * reach
            candidates += [
                (x + g, y - h / 2), (x - g - w, y - h / 2), (x - w / 2, y - g - h), (x - w / 2, y + g),
                (x + g, y - g - h), (x - g - w, y - g - h), (x + g, y + g), (x - g - w, y + g),
            ]
        best, best_overlap = None, np.inf
        for cx, cy in candidates:
            box = np.array([cx, cy, cx + w, cy + h])
            overlap = sum(_overlap_area(box, other) for other in placed)
            if bounds is not None:
                inside = _overlap_area(box, np.array([0.0, 0.0, bounds[0], bounds[1]]))
                overlap += (w * h - inside)
            if overlap < best_overlap - 1e-9:
                best, best_overlap = box, overlap
            if overlap <= 0:
                break
        corners[index] = best[:2]
        placed.append(best)
    return corners


def _overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return float(width * height) if width > 0 and height > 0 else 0.0


def boxes_overlap(corners: np.ndarray, sizes: np.ndarray) -> bool:
    """True when any two boxes (top-left ``corners``, ``sizes``) overlap."""
    boxes = np.column_stack([corners, np.asarray(corners) + np.asarray(sizes)])
    return any(_overlap_area(boxes[i], boxes[j]) > 0 for i in range(len(boxes)) for j in range(i + 1, len(boxes)))
