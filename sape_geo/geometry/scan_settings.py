"""How a scan (a point-cloud target) is reduced before a fit; no heavy imports, so command lines built
from it start quickly. The work is :func:`sape_geo.geometry.point_clouds.reduce_scan`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DEFAULT_SCAN_POINTS = 50_000


@dataclass(frozen=True)
class ScanSettings:
    """How a scan target is reduced before a fit (:func:`reduce_scan`).

    Attributes
    ----------
    max_points : keep at most this many points, spread evenly (:func:`downsample_to_count`); 0 keeps
        every point. Ignored when ``voxel_size`` is given.
    voxel_size : downsample on cubes of this side (the scan's units) instead; None: by ``max_points``.
    remove_outliers : drop statistical outliers (:func:`statistical_outliers`) after downsampling.
    outlier_neighbours : the outlier test's neighbourhood size.
    outlier_std_ratio : the outlier test's threshold, in standard deviations of the neighbour distances.
    """

    max_points: int = field(default=DEFAULT_SCAN_POINTS, metadata={"flag": "--target-points"})
    voxel_size: float | None = field(default=None, metadata={"flag": "--target-voxel", "metavar": "SIZE"})
    remove_outliers: bool = False
    outlier_neighbours: int = 20
    outlier_std_ratio: float = 2.0

    def __post_init__(self) -> None:
        if self.max_points < 0:
            raise ValueError(f"max_points must be >= 0 (0 keeps every point), got {self.max_points}")
        if self.voxel_size is not None and not (math.isfinite(self.voxel_size) and self.voxel_size > 0):
            raise ValueError(f"voxel_size must be positive, got {self.voxel_size}")
        if self.outlier_neighbours < 1 or not self.outlier_std_ratio > 0:
            raise ValueError("outlier_neighbours must be >= 1 and outlier_std_ratio positive")
