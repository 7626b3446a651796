"""Point clouds (scans) with open3d: read, estimate normals, downsample, remove outliers.

Plain arrays in and out, as the rest of :mod:`sape_geo.geometry`: points ``(n, 3)`` float64 and,
where a function gives them, unit normals ``(n, 3)``. open3d does the work (file formats, KD-trees,
voxel grids, the tangent-plane orientation of normals); it is imported on first use, since importing
it costs seconds.

Scans come with 10^5 to 10^7 points, noisy, with holes, with or without normals. :func:`reduce_scan`
brings one down to what a fit needs (:class:`ScanSettings`: by default at most 50,000 points, a voxel
grid sized to that count, so a 2-million-point scan costs little more than a 50-thousand-point one);
voxel averaging also smooths the scanner's noise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sape_geo.geometry.checks import MeshInputError, check_points
from sape_geo.geometry.scan_settings import DEFAULT_SCAN_POINTS, ScanSettings
from sape_geo.atomic import atomic_path
from sape_geo.textfiles import UTF8_BOM, open_text, without_byte_order_mark

POINT_CLOUD_FORMATS = (".ply", ".pcd", ".xyz")
ORIENTATIONS = ("consistent", "outward", "none")


class PointCloudError(MeshInputError):
    """A point-cloud file or array that cannot be used; the message names the file and the fault."""


def _open3d():
    """open3d, imported on first use (it takes seconds); a clear error when the ``scans`` extra is missing."""
    try:
        import open3d
    except ImportError:
        raise PointCloudError(
            "point-cloud targets (PLY/PCD/XYZ scans, normals, downsampling) need open3d, an optional extra: "
            "pip install 'sape-geo[scans]' (the README's make commands install it)"
        ) from None

    open3d.utility.set_verbosity_level(open3d.utility.VerbosityLevel.Error)
    return open3d


def _cloud(points: np.ndarray, normals: np.ndarray | None = None):
    o3d = _open3d()
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.ascontiguousarray(points, dtype=np.float64)))
    if normals is not None:
        cloud.normals = o3d.utility.Vector3dVector(np.ascontiguousarray(normals, dtype=np.float64))
    return cloud


def _arrays(cloud) -> tuple[np.ndarray, np.ndarray | None]:
    points = np.asarray(cloud.points, dtype=np.float64).copy()
    return points, (np.asarray(cloud.normals, dtype=np.float64).copy() if cloud.has_normals() else None)


def _check_normals(normals: np.ndarray | None, count: int, source: str | os.PathLike | None) -> np.ndarray | None:
    if normals is None:
        return None
    normals = np.asarray(normals, dtype=np.float64)
    if normals.shape != (count, 3):
        raise PointCloudError(f"{source or 'points'}: normals must be an ({count}, 3) array, got shape {normals.shape}")
    return normals


def read_point_cloud(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read a point cloud: points ``(n, 3)`` float64 and its normals ``(n, 3)``, or None when it has none.

    PLY (ASCII or binary; the vertices of a PLY mesh), PCD (ASCII, binary or compressed) and XYZ (one
    point a line, ``x y z``, whitespace-separated) through ``open3d.io``.

    Parameters
    ----------
    path : the file.

    Returns
    -------
    points : ``(n, 3)`` float64, in the file's units and order.
    normals : ``(n, 3)`` float64, or None.

    Raises
    ------
    FileNotFoundError : no such file.
    PointCloudError : unsupported suffix, unreadable or empty file, NaN/Inf coordinates.

    Example
    -------
    >>> points, normals = read_point_cloud("scan.ply")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"point cloud file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"point cloud path is a directory, not a file: {path}")
    suffix = path.suffix.lower()
    if suffix not in POINT_CLOUD_FORMATS:
        raise PointCloudError(f"{path}: unsupported point cloud format {path.suffix!r}; use one of {', '.join(POINT_CLOUD_FORMATS)}")
    # open3d reports an unreadable file by a printed warning and an empty cloud, not by an exception
    # (and it reads a byte-order mark as part of the first line: a PLY is refused, an XYZ loses a point)
    with without_byte_order_mark(path) as readable:
        cloud = _open3d().io.read_point_cloud(str(readable), format=suffix[1:])
    _check_every_point_read(path, suffix, len(cloud.points))
    if len(cloud.points) == 0:
        raise PointCloudError(f"{path}: no points could be read (empty, malformed, or not a {suffix[1:].upper()} point cloud)")
    points, normals = _arrays(cloud)
    points = check_points(points, path, "points")
    if normals is not None and not (np.isfinite(normals).all() and (np.linalg.norm(normals, axis=1) > 0).all()):
        normals = None  # zero or NaN normals (some writers fill the field with zeros) are no normals
    return points, normals


def _check_every_point_read(path: Path, suffix: str, count: int) -> None:
    """Refuse what open3d reads without a word: an XYZ line that is not three numbers is skipped, and a
    PCD with fewer points than its header promises is filled with whatever was in memory.

    Raises
    ------
    PointCloudError : names the first malformed XYZ line, or the PCD's promised and present points.
    """
    if suffix == ".xyz":
        rows = sum(1 for line in Path(path).read_bytes().split(b"\n") if line.strip() and not line.lstrip().startswith(b"#"))
        if rows == count:
            return
        with open_text(path) as handle:  # only to name the line open3d skipped
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                try:
                    [float(x) for x in fields[:3]]
                    if len(fields) >= 3:
                        continue
                except ValueError:
                    pass
                raise PointCloudError(f"{path}, line {number}: expected x y z numbers separated by spaces, got {line.strip()!r}")
    elif suffix == ".pcd":
        header, data = _pcd_header(path)
        promised = int(header.get("POINTS", [count])[0])
        kind = header.get("DATA", ["ascii"])[0].lower()
        if kind == "ascii":
            present = sum(1 for line in data.split(b"\n") if line.strip())
        elif kind == "binary":
            bytes_per_point = sum(int(size) * int(times) for size, times in zip(header.get("SIZE", []), header.get("COUNT", [])))
            present = len(data) // bytes_per_point if bytes_per_point else promised
        else:
            return  # binary_compressed: open3d checks its own sizes
        if present < promised:
            raise PointCloudError(f"{path}: the header promises {promised} points but the file holds {present} (truncated?)")


def _pcd_header(path: Path) -> tuple[dict[str, list[str]], bytes]:
    """A PCD file's header fields (``{"POINTS": ["5"], "SIZE": ["4", "4", "4"], ...}``) and the bytes after it."""
    raw = Path(path).read_bytes()
    header: dict[str, list[str]] = {}
    offset = 3 if raw.startswith(UTF8_BOM) else 0
    while offset < len(raw):
        end = raw.find(b"\n", offset)
        end = len(raw) if end < 0 else end
        fields = raw[offset:end].decode("ascii", errors="replace").split()
        offset = end + 1
        if fields and not fields[0].startswith("#"):
            header[fields[0].upper()] = fields[1:]
            if fields[0].upper() == "DATA":
                break
    return header, raw[offset:]


def write_point_cloud(path: str | os.PathLike, points: np.ndarray, normals: np.ndarray | None = None) -> Path:
    """Write points (and normals) atomically as PLY (binary), PCD (binary) or XYZ, by suffix.

    Raises
    ------
    PointCloudError : invalid arrays or an unsupported suffix; nothing is written then.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in POINT_CLOUD_FORMATS:
        raise PointCloudError(f"{path}: cannot write {path.suffix!r}; use one of {', '.join(POINT_CLOUD_FORMATS)}")
    points = check_points(points, path, "points")
    normals = _check_normals(normals, points.shape[0], path)
    with atomic_path(path) as temporary:  # the temporary name keeps the suffix: open3d picks its writer by it
        if not _open3d().io.write_point_cloud(str(temporary), _cloud(points, normals), write_ascii=False):
            raise PointCloudError(f"{path}: open3d could not write the point cloud")
    return path


def estimate_normals(points: np.ndarray, neighbours: int = 30, orientation: str = "consistent") -> np.ndarray:
    """Unit normals ``(n, 3)`` of a point cloud from the principal axes of each point's neighbourhood.

    Parameters
    ----------
    points : ``(n, 3)``.
    neighbours : points in each neighbourhood (open3d's KNN search).
    orientation : ``"consistent"`` (default): neighbouring normals agree (open3d's tangent-plane
        propagation over a minimum spanning tree, Hoppe et al. 1992), then the whole set is flipped so
        most normals point away from the centroid (outward on a closed scan); ``"outward"``: each
        normal points away from the centroid (fast; right for star-shaped objects only); ``"none"``:
        the sign is arbitrary.

    Raises
    ------
    PointCloudError : fewer than 3 points, or a bad array.
    ValueError : an unknown orientation, or fewer than 3 neighbours.

    Example
    -------
    >>> normals = estimate_normals(points, neighbours=20)  # doctest: +SKIP
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {', '.join(ORIENTATIONS)}, got {orientation!r}")
    if neighbours < 3:
        raise ValueError(f"neighbours must be >= 3 (a plane needs 3 points), got {neighbours}")
    points = check_points(points, None, "points")
    if points.shape[0] < 3:
        raise PointCloudError(f"points: {points.shape[0]} points cannot define a normal (at least 3 needed)")
    o3d = _open3d()
    cloud = _cloud(points)
    k = min(neighbours, points.shape[0])
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(k))
    if orientation == "consistent" and points.shape[0] > k:
        cloud.orient_normals_consistent_tangent_plane(k)
    normals = np.asarray(cloud.normals, dtype=np.float64).copy()
    if orientation != "none":
        outward = ((points - points.mean(axis=0)) * normals).sum(axis=1)
        if orientation == "outward":
            normals[outward < 0] *= -1.0
        elif outward.sum() < 0:
            normals = -normals
    return normals


def voxel_downsample(points: np.ndarray, voxel_size: float, normals: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """One point per occupied cube of side ``voxel_size``: the mean of its points (and of their normals,
    renormalised). Averaging also smooths noise smaller than a voxel.

    Raises
    ------
    ValueError : ``voxel_size`` not positive and finite.
    PointCloudError : a bad array.

    Example
    -------
    >>> reduced, _ = voxel_downsample(points, 0.01)  # doctest: +SKIP
    """
    if not (np.isfinite(voxel_size) and voxel_size > 0):
        raise ValueError(f"voxel_size must be positive, got {voxel_size}")
    points = check_points(points, None, "points")
    normals = _check_normals(normals, points.shape[0], None)
    reduced, reduced_normals = _arrays(_cloud(points, normals).voxel_down_sample(float(voxel_size)))
    if reduced_normals is not None:
        reduced_normals /= np.maximum(np.linalg.norm(reduced_normals, axis=1, keepdims=True), 1e-300)
    return reduced, reduced_normals


def downsample_to_count(
    points: np.ndarray, count: int, normals: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """At most ``count`` points spread evenly over the cloud: a voxel grid sized so it keeps about
    ``count`` points (dense scanner passes and sparse ones end equally dense), then a seeded random
    choice of ``count`` among them if there are more. A cloud of ``count`` points or fewer is returned
    as it is (voxel size 0).

    The voxel size is searched on a random subset of ``10 count`` points (a voxel grid's cost grows
    with the points), so a scan of millions costs one full voxel pass.

    Returns
    -------
    points, normals : the reduced cloud (normals None when none were given).
    voxel_size : the cube side used, in the points' units (0 when nothing was reduced).

    Raises
    ------
    ValueError : ``count`` < 1.

    Example
    -------
    >>> reduced, _, voxel = downsample_to_count(points, 50_000)  # doctest: +SKIP
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    points = check_points(points, None, "points")
    normals = _check_normals(normals, points.shape[0], None)
    if points.shape[0] <= count:
        return points, normals, 0.0
    rng = np.random.default_rng(seed)
    probe = points if points.shape[0] <= 10 * count else points[rng.choice(points.shape[0], 10 * count, replace=False)]
    extent = np.ptp(points, axis=0)
    # a surface of area ~ (diagonal)^2 / 3 covered by count squares of side v
    voxel = float(np.linalg.norm(extent)) / np.sqrt(3.0 * count)
    for _ in range(8):
        kept = len(_cloud(probe).voxel_down_sample(voxel).points)
        if count <= kept <= 1.25 * count:
            break
        # surfaces: kept ~ 1 / voxel^2; aim a little above count so the random choice below trims
        voxel *= float(np.clip(np.sqrt(kept / (1.1 * count)), 0.5, 2.0))
    reduced, reduced_normals = voxel_downsample(points, voxel, normals)
    if reduced.shape[0] > count:
        chosen = np.sort(rng.choice(reduced.shape[0], count, replace=False))
        reduced = reduced[chosen]
        reduced_normals = reduced_normals[chosen] if reduced_normals is not None else None
    return reduced, reduced_normals, voxel


def statistical_outliers(points: np.ndarray, neighbours: int = 20, std_ratio: float = 2.0) -> np.ndarray:
    """Boolean mask ``(n,)`` of the points whose mean distance to their ``neighbours`` nearest points
    is more than ``std_ratio`` standard deviations above the cloud's average (open3d's statistical
    outlier removal): stray returns, dust, the scanner's flying pixels.

    Raises
    ------
    ValueError : ``neighbours`` < 1 or ``std_ratio`` not positive.

    Example
    -------
    >>> cleaned = points[~statistical_outliers(points)]  # doctest: +SKIP
    """
    if neighbours < 1:
        raise ValueError(f"neighbours must be >= 1, got {neighbours}")
    if not std_ratio > 0:
        raise ValueError(f"std_ratio must be positive, got {std_ratio}")
    points = check_points(points, None, "points")
    outliers = np.ones(points.shape[0], dtype=bool)
    if points.shape[0] <= neighbours:
        return ~outliers
    _, kept = _cloud(points).remove_statistical_outlier(neighbours, float(std_ratio))
    outliers[np.asarray(kept, dtype=np.int64)] = False
    return outliers


def reduce_scan(
    points: np.ndarray, settings: ScanSettings = ScanSettings(), normals: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Bring a scan down to what a fit needs: downsample (voxel size or point budget), then optionally
    remove statistical outliers (on the reduced cloud: the same strays, at a fraction of the cost).

    Returns
    -------
    points, normals : the reduced cloud (normals None when none were given).
    notes : one line per step that changed the cloud, for a summary.

    Example
    -------
    >>> reduced, _, notes = reduce_scan(points, ScanSettings(max_points=50_000, remove_outliers=True))  # doctest: +SKIP
    """
    points = check_points(points, None, "points")
    notes: list[str] = []
    before = points.shape[0]
    if settings.voxel_size is not None:
        points, normals = voxel_downsample(points, settings.voxel_size, normals)
        notes.append(f"scan downsampled on {settings.voxel_size:.4g}-unit voxels: {before} -> {points.shape[0]} points")
    elif settings.max_points and before > settings.max_points:
        points, normals, voxel = downsample_to_count(points, settings.max_points, normals, seed)
        notes.append(f"scan downsampled to {points.shape[0]} of {before} points ({voxel:.4g}-unit voxels; --target-points 0 keeps all)")
    if settings.remove_outliers:
        outliers = statistical_outliers(points, settings.outlier_neighbours, settings.outlier_std_ratio)
        if outliers.all():
            raise PointCloudError("scan: every point was found to be an outlier; nothing is left")
        points = points[~outliers]
        normals = normals[~outliers] if normals is not None else None
        notes.append(f"removed {int(outliers.sum())} statistical outliers from the scan ({points.shape[0]} points left)")
    return points, normals, notes
