"""Rigid, similarity and affine alignment in 3-D, and the common normalised frame.

- :func:`fit_affine`: least-squares 3x4 transform taking source landmarks onto target landmarks
  (needs >= 4 non-coplanar pairs).
- :func:`fit_similarity`: rotation, uniform scale and translation (Umeyama 1991); works from 3 pairs
  and for coplanar points.
- :func:`fit_landmark_transform`: the affine fit, falling back to the similarity when the landmarks
  are too few or (nearly) coplanar.
- :func:`align_without_landmarks`: principal axes or bounding boxes, for shapes without
  correspondences.
- :func:`normalising_transform`: the frame the optimisation runs in (target's bounding box centred at
  0, its longest half-side scaled to :data:`NORMALISED_HALF_EXTENT`), and back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

# The target's longest half-side in the normalised frame: the shape fills most of [-1, 1]^3 while the
# deformed source (and the Fourier features' inputs) keep some room inside it.
NORMALISED_HALF_EXTENT = 0.9

# Landmarks whose smallest principal spread is below this fraction of the largest are "coplanar" for
# the affine fit: the fit would have to invent the normal direction's scale.
COPLANAR_RATIO = 1e-3

# Landmarks clearly spread in 3-D: their smallest principal spread is at least this fraction of the
# largest. Such a source set cannot correspond to a flat target set (nor the reverse).
SOLID_RATIO = 0.1

# An affine fit whose singular values differ by more than this factor squashes the shape flat along
# one direction: the landmarks do not determine it, so the similarity fit is used instead.
DEGENERATE_AFFINE_RATIO = 20.0

# Few landmarks on one side of a shape (a scan's visible side): with at most this many pairs whose
# smallest principal spread is below SOLID_RATIO of the largest, the affine fit has to guess the depth
# direction's scale from almost nothing. Measured on pairs 10 and 11 (4-6 landmarks drawn from one view,
# 434 draws): below 0.05 the similarity had the lower held-back marker error in 98 % of the draws
# (median 13.4 against 27.7 % of the diagonal), from 0.05 to 0.1 in 82 %; above 0.1 the two were even.
FEW_LANDMARKS = 6

# Extents (bounding-box longest side) the fitting computes with safely in single precision: triangle
# areas and energies of shapes outside under- or overflow.
COORDINATE_EXTENT_RANGE = (1e-8, 1e8)
# The RMS distance left between aligned landmark pairs, as a fraction of the target's bounding-box
# diagonal, above which the pairs do not describe one alignment. Measured (see docs/method.md, "Initialisation"):
# the demo pairs 1.4 and 3.2 %, cat -> dog (41 markers, another animal) 4.6 %; the same markers'
# target ids read as indices into a scan of the dog 20.1 %, shuffled target ids 27.1 %.
LANDMARK_RESIDUAL_LIMIT = 0.10


class DegenerateLandmarksError(ValueError):
    """Landmarks that cannot determine an alignment (all equal, on a line, flat against 3-D)."""


def check_coordinate_range(points: np.ndarray, what: str = "points") -> None:
    """Refuse coordinates the single-precision fit cannot work with; the message says why and what to do.

    Raises
    ------
    ValueError : NaN/Inf, all points equal, or a bounding box outside :data:`COORDINATE_EXTENT_RANGE`
        (e.g. a mesh in units of 1e-30 or 1e30).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.size == 0:
        raise ValueError(f"{what}: no points")
    if not np.isfinite(points).all():
        raise ValueError(f"{what}: coordinates contain NaN or Inf")
    extent = float((points.max(axis=0) - points.min(axis=0)).max())
    largest = float(np.abs(points).max())
    low, high = COORDINATE_EXTENT_RANGE
    if extent == 0.0:
        raise ValueError(f"{what}: all points coincide; the shape has no extent")
    if not (low <= extent <= high) or largest > high:
        raise ValueError(
            f"{what}: coordinates span {extent:.3g} units (largest |coordinate| {largest:.3g}); sape-geo works with "
            f"shapes between {low:g} and {high:g} units across (single-precision areas under- or overflow "
            "outside); rescale the file (e.g. to millimetres or metres)"
        )


@dataclass(frozen=True)
class AffineTransform:
    """``x -> matrix @ x + translation`` on points ``(n, 3)``.

    Attributes
    ----------
    matrix : (3, 3).
    translation : (3,).
    kind : how it was made ("affine", "similarity", "principal-axes", "bounding-box", "normalise", ...).
    """

    matrix: np.ndarray
    translation: np.ndarray
    kind: str = "affine"

    @staticmethod
    def identity() -> "AffineTransform":
        return AffineTransform(np.eye(3), np.zeros(3), "identity")

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform points ``(n, 3)``."""
        return np.asarray(points, dtype=np.float64) @ self.matrix.T + self.translation

    def inverse(self) -> "AffineTransform":
        inverse = np.linalg.inv(self.matrix)
        return AffineTransform(inverse, -inverse @ self.translation, f"inverse {self.kind}")

    def then(self, other: "AffineTransform") -> "AffineTransform":
        """``other`` after ``self``."""
        return AffineTransform(other.matrix @ self.matrix, other.matrix @ self.translation + other.translation, f"{self.kind} then {other.kind}")

    @property
    def determinant(self) -> float:
        return float(np.linalg.det(self.matrix))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "matrix": self.matrix.tolist(), "translation": self.translation.tolist()}


def _check_pairs(source: np.ndarray, target: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.ndim != 2 or source.shape[1] != 3 or source.shape != target.shape:
        raise ValueError(f"need two (k, 3) arrays of corresponding points, got {source.shape} and {target.shape}")
    if source.shape[0] < minimum:
        raise ValueError(f"need at least {minimum} point pairs, got {source.shape[0]}")
    if not (np.isfinite(source).all() and np.isfinite(target).all()):
        raise ValueError("corresponding points contain NaN/Inf")
    return source, target


def is_coplanar(points: np.ndarray, ratio: float = COPLANAR_RATIO) -> bool:
    """True when the points' smallest principal spread is below ``ratio`` times the largest (or k < 4)."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[0] < 4:
        return True
    singular = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return bool(singular[0] == 0 or singular[2] < ratio * singular[0])


def fit_affine(source: np.ndarray, target: np.ndarray) -> AffineTransform:
    """Least-squares affine map ``A x + t`` taking ``source`` ``(k, 3)`` onto ``target`` ``(k, 3)``, k >= 4.

    Raises
    ------
    ValueError : fewer than 4 pairs, NaN/Inf, or coplanar source points (use :func:`fit_similarity`).
    """
    source, target = _check_pairs(source, target, 4)
    if is_coplanar(source):
        raise ValueError("source points are (nearly) coplanar: an affine fit is undetermined; use a similarity")
    homogeneous = np.hstack([source, np.ones((source.shape[0], 1))])
    solution, *_ = np.linalg.lstsq(homogeneous, target, rcond=None)  # (4, 3)
    return AffineTransform(solution[:3].T.copy(), solution[3].copy(), "affine")


def fit_similarity(source: np.ndarray, target: np.ndarray, allow_reflection: bool = False) -> AffineTransform:
    """Least-squares ``s R x + t`` (rotation, uniform scale, translation) from k >= 3 pairs (Umeyama 1991).

    Raises
    ------
    ValueError : fewer than 3 pairs, NaN/Inf, or all source points equal.
    """
    source, target = _check_pairs(source, target, 3)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - source_mean, target - target_mean
    variance = (a**2).sum() / source.shape[0]
    if variance <= 0:
        raise ValueError("all source points coincide: no transform is determined")
    covariance = b.T @ a / source.shape[0]
    u, singular, vt = np.linalg.svd(covariance)
    signs = np.ones(3)
    if not allow_reflection and np.linalg.det(u) * np.linalg.det(vt) < 0:
        signs[2] = -1.0
    rotation = u @ np.diag(signs) @ vt
    scale = float((singular * signs).sum() / variance)
    return AffineTransform(scale * rotation, target_mean - scale * rotation @ source_mean, "similarity")


def spread_ratios(points: np.ndarray) -> tuple[float, float, float]:
    """The points' principal spreads (singular values of the centred points), largest first, and the
    ratios ``second / largest`` and ``smallest / largest`` (0 when all points coincide)."""
    points = np.asarray(points, dtype=np.float64)
    centred = points - points.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    singular = np.concatenate([singular, np.zeros(3 - singular.size)])
    largest = float(singular[0])
    scale = float(np.abs(points).max()) if points.size else 0.0
    if largest <= 1e-12 * scale or largest == 0.0:
        return 0.0, 0.0, 0.0
    return largest, float(singular[1] / largest), float(singular[2] / largest)


def landmark_residuals(transform: AffineTransform, source: np.ndarray, target: np.ndarray, diagonal: float) -> tuple[float, float]:
    """How far apart the landmark pairs stay after ``transform``: the RMS and the largest distance
    between ``transform(source)`` and ``target`` (both ``(k, 3)``), as fractions of ``diagonal`` (the
    target's bounding-box diagonal). Above :data:`LANDMARK_RESIDUAL_LIMIT` (RMS) the pairs do not
    describe one alignment (mistyped or swapped pairs, ids of another mesh)."""
    distances = np.linalg.norm(transform.apply(np.asarray(source, dtype=np.float64)) - np.asarray(target, dtype=np.float64), axis=1)
    return float(np.sqrt(np.mean(distances**2)) / diagonal), float(distances.max() / diagonal)


def check_landmark_geometry(source: np.ndarray, target: np.ndarray) -> None:
    """Refuse landmark sets that cannot determine an alignment, with what is wrong in the message.

    Raises
    ------
    DegenerateLandmarksError : the source or target landmarks all coincide or lie on one line (a
        rotation about that line is undetermined), or one set is flat while the other is clearly
        spread in 3-D (they cannot be the same points on two similar shapes).
    """
    for name, points in (("target", target), ("source", source)):
        largest, line_ratio, _ = spread_ratios(points)
        if largest == 0.0:
            raise DegenerateLandmarksError(
                f"the {name} landmarks all coincide (at {np.round(points[0], 6).tolist()}): no alignment is determined; "
                "check the landmark file (a repeated or mistyped position?)"
            )
        if line_ratio < COPLANAR_RATIO:
            raise DegenerateLandmarksError(
                f"the {name} landmarks lie on one line: the rotation about it is undetermined; "
                "give landmarks spread over the shape (at least 3 not on a line)"
            )
    _, _, source_flat = spread_ratios(source)
    _, _, target_flat = spread_ratios(target)
    if source.shape[0] >= 4 and target_flat < COPLANAR_RATIO <= SOLID_RATIO <= source_flat:
        raise DegenerateLandmarksError(
            "the target landmarks lie in one plane but the source landmarks are spread in 3-D: they cannot mark the "
            "same points of two similar shapes; check the landmark file (swapped rows or a mistyped coordinate?)"
        )
    if source.shape[0] >= 4 and source_flat < COPLANAR_RATIO <= SOLID_RATIO <= target_flat:
        raise DegenerateLandmarksError(
            "the source landmarks lie in one plane but the target landmarks are spread in 3-D: they cannot mark the "
            "same points of two similar shapes; check the landmark file (swapped rows or a mistyped vertex id?)"
        )


def fit_landmark_transform(source: np.ndarray, target: np.ndarray) -> AffineTransform:
    """The affine fit from >= 4 non-coplanar pairs, else the similarity fit (3 pairs or coplanar).

    A fit that flips orientation (negative determinant) would turn the mesh inside out, and one that
    squashes the shape (singular values more than :data:`DEGENERATE_AFFINE_RATIO` apart) is not
    determined by the landmarks; nor is one from at most :data:`FEW_LANDMARKS` landmarks nearly in one
    plane (all on one side of a scan). The similarity is used then too, and its ``kind`` says why.

    Raises
    ------
    DegenerateLandmarksError : see :func:`check_landmark_geometry`.
    """
    source, target = _check_pairs(source, target, 3)
    check_landmark_geometry(source, target)
    if source.shape[0] >= 4 and not is_coplanar(source):
        thickness = spread_ratios(source)[2]
        if source.shape[0] <= FEW_LANDMARKS and thickness < SOLID_RATIO:
            similarity = fit_similarity(source, target)
            why = (f"{source.shape[0]} landmarks lie nearly in one plane (thickness {thickness:.2g} of their spread), too few to fix "
                   "the scale across it; landmarks on more sides of the shape allow it")
            return AffineTransform(similarity.matrix, similarity.translation, f"similarity (the affine fit was rejected: {why})")
        affine = fit_affine(source, target)
        singular = np.linalg.svd(affine.matrix, compute_uv=False)
        if affine.determinant > 0 and singular[2] * DEGENERATE_AFFINE_RATIO >= singular[0]:
            return affine
        why = "it would mirror the shape" if affine.determinant <= 0 else (
            f"it would squash the shape {singular[0] / max(singular[2], 1e-300):.3g}:1 along one direction"
        )
        similarity = fit_similarity(source, target)
        return AffineTransform(similarity.matrix, similarity.translation, f"similarity (the affine fit was rejected: {why})")
    return fit_similarity(source, target)


def principal_axes(points: np.ndarray, faces: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroid ``(3,)``, axes ``(3, 3)`` (rows, largest spread first, right-handed) and standard deviations ``(3,)``.

    With ``faces``, of the surface ``(points, faces)`` (exact area-weighted moments, independent of
    the tessellation: two meshes of one shape get the same axes); without, of the points.
    """
    points = np.asarray(points, dtype=np.float64)
    if faces is None:
        centroid = points.mean(axis=0)
        _, singular, vt = np.linalg.svd(points - centroid, full_matrices=False)
        spread = singular / np.sqrt(points.shape[0])
    else:
        centroid, covariance = surface_moments(points, faces)
        eigenvalues, vectors = np.linalg.eigh(covariance)
        order = np.argsort(eigenvalues)[::-1]
        vt = vectors[:, order].T.copy()
        spread = np.sqrt(np.maximum(eigenvalues[order], 0.0))
    if np.linalg.det(vt) < 0:
        vt[2] *= -1.0
    return centroid, vt, spread


def surface_moments(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid ``(3,)`` and covariance ``(3, 3)`` of the uniform distribution on a triangle surface.

    Per triangle ``(a, b, c)`` of area ``A``: mean ``(a + b + c) / 3`` and second moment
    ``(a a^T + b b^T + c c^T + s s^T) / 12`` with ``s = a + b + c``, weighted by ``A``.

    Raises
    ------
    ValueError : the surface has no area.
    """
    corners = np.asarray(vertices, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]  # (m, 3, 3)
    areas = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    total = areas.sum()
    if not total > 0:
        raise ValueError("the surface has no area: principal axes are undetermined")
    weights = areas / total
    # Centre first so the second moments do not cancel catastrophically far from the origin.
    centre = corners.reshape(-1, 3).mean(axis=0)
    corners = corners - centre
    sums = corners.sum(axis=1)
    centroid = weights @ sums / 3.0
    second = np.einsum("m,mki,mkj->ij", weights, corners, corners) + np.einsum("m,mi,mj->ij", weights, sums, sums)
    covariance = second / 12.0 - np.outer(centroid, centroid)
    return centroid + centre, 0.5 * (covariance + covariance.T)


def _nearest_mean_distance(a: np.ndarray, b_tree: cKDTree) -> float:
    return float(b_tree.query(a)[0].mean())


def align_without_landmarks(
    source: np.ndarray,
    target: np.ndarray,
    mode: str = "principal-axes",
    max_points: int = 4000,
    source_faces: np.ndarray | None = None,
    target_faces: np.ndarray | None = None,
) -> AffineTransform:
    """Align ``source`` points onto ``target`` points without correspondences.

    With ``source_faces`` / ``target_faces``, ``source`` / ``target`` are a mesh's vertices and the
    alignment uses its surface (area-weighted principal axes, the box of the vertices the faces use),
    so a mesh aligned to itself, or to another tessellation of the same shape, gets the identity.

    Modes
    -----
    ``"principal-axes"``: centroids matched, principal axes matched, each axis scaled by the ratio of
    standard deviations; the sign ambiguity of the axes is resolved by trying the 4 proper rotations
    and keeping the one with the smallest symmetric nearest-point distance. Limits: near-symmetric
    shapes (two equal spreads) have no stable axes, and a source in a different pose (a raised arm)
    shifts the axes; give landmarks then.
    ``"bounding-box"``: axis-aligned boxes matched (per-axis scale, no rotation). Limits: assumes both
    shapes are already oriented alike.
    ``"identity"``: no change; the inputs already share a frame (e.g. two resolutions of one model).

    Parameters
    ----------
    source, target : (n, 3) and (m, 3) points (vertices or samples).
    mode : ``"principal-axes"``, ``"bounding-box"`` or ``"identity"``.
    max_points : subsample size for choosing the axis signs.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if mode == "identity":
        return AffineTransform.identity()
    source_points = source if source_faces is None else source[np.unique(source_faces)]
    target_points = target if target_faces is None else target[np.unique(target_faces)]
    if mode == "bounding-box":
        source, target = source_points, target_points
        source_low, source_high = source.min(axis=0), source.max(axis=0)
        target_low, target_high = target.min(axis=0), target.max(axis=0)
        source_size = source_high - source_low
        if np.any(source_size <= 0):
            raise ValueError("the source is flat along an axis: a bounding-box alignment is undetermined")
        scale = (target_high - target_low) / source_size
        matrix = np.diag(scale)
        return AffineTransform(matrix, target_low - matrix @ source_low, "bounding-box")
    if mode != "principal-axes":
        raise ValueError(f"unknown alignment mode {mode!r}; use 'principal-axes', 'bounding-box' or 'identity'")
    source_centroid, source_axes, source_spread = principal_axes(source, source_faces)
    target_centroid, target_axes, target_spread = principal_axes(target, target_faces)
    if np.any(source_spread <= 1e-12 * source_spread[0]):
        raise ValueError("the source is flat: principal axes are undetermined")
    if np.any(target_spread <= 1e-12 * target_spread[0]):
        raise ValueError("the target is flat: principal axes are undetermined (a scale along its normal would be 0)")
    source, target = source_points, target_points
    rng = np.random.default_rng(0)
    source_subset = source[rng.choice(source.shape[0], min(max_points, source.shape[0]), replace=False)]
    target_subset = target[rng.choice(target.shape[0], min(max_points, target.shape[0]), replace=False)]
    target_tree = cKDTree(target_subset)
    best: tuple[float, AffineTransform] | None = None
    for flip_x, flip_y in itertools.product((1.0, -1.0), repeat=2):
        signs = np.array([flip_x, flip_y, flip_x * flip_y])  # determinant +1: a rotation, never a mirror
        matrix = target_axes.T @ np.diag(signs * target_spread / source_spread) @ source_axes
        candidate = AffineTransform(matrix, target_centroid - matrix @ source_centroid, "principal-axes")
        moved = candidate.apply(source_subset)
        score = _nearest_mean_distance(moved, target_tree) + _nearest_mean_distance(target_subset, cKDTree(moved))
        if best is None or score < best[0]:
            best = (score, candidate)
    return best[1]


def normalising_transform(points: np.ndarray, half_extent: float = NORMALISED_HALF_EXTENT, fit: str = "box") -> AffineTransform:
    """Uniform scale and translation taking ``points`` ``(n, d)`` to the centre of their bounding box.

    ``fit="box"``: the longest half-side of the box becomes ``half_extent``; ``fit="radius"``: the
    largest distance from the box centre does (the points then fit in a ball of that radius). Uniform,
    so angles and the conformal energy are the same in both frames; :meth:`AffineTransform.inverse`
    maps results back to the original units. The one normalisation of every task (transfer: the box;
    occupancy: the box; silhouettes: the radius).
    """
    points = np.asarray(points, dtype=np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2.0
    if fit == "box":
        size = float((high - low).max()) / 2.0
    elif fit == "radius":
        size = float(np.linalg.norm(points - centre, axis=1).max())
    else:
        raise ValueError(f"fit must be 'box' or 'radius', got {fit!r}")
    if not size > 0:
        raise ValueError("all points coincide: the shape has no extent to normalise")
    scale = half_extent / size
    return AffineTransform(np.eye(points.shape[1]) * scale, -scale * centre, "normalise")
