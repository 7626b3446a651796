"""Point clouds with open3d (sape_geo.geometry.point_clouds): reading, normals, downsampling, outliers."""

from __future__ import annotations

import numpy as np
import pytest

from sape_geo.geometry.mesh_io import MeshInputError
from sape_geo.geometry.point_clouds import (
    PointCloudError,
    ScanSettings,
    downsample_to_count,
    estimate_normals,
    read_point_cloud,
    reduce_scan,
    statistical_outliers,
    voxel_downsample,
    write_point_cloud,
)


def sphere_points(count: int, seed: int = 0, radius: float = 1.0) -> np.ndarray:
    points = np.random.default_rng(seed).normal(size=(count, 3))
    return radius * points / np.linalg.norm(points, axis=1, keepdims=True)


def torus_points(count: int, seed: int = 0) -> np.ndarray:
    """Not star-shaped about its centroid (which lies in the hole): normals pointing away from the centre are wrong on the inner side."""
    u, v = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=(2, count))
    return np.stack([(1 + 0.4 * np.cos(v)) * np.cos(u), (1 + 0.4 * np.cos(v)) * np.sin(u), 0.4 * np.sin(v)], axis=1)


@pytest.mark.parametrize("suffix", [".ply", ".pcd", ".xyz"])
def test_write_read_round_trip(tmp_path, suffix):
    points = sphere_points(500)
    normals = points.copy()
    path = write_point_cloud(tmp_path / f"cloud{suffix}", points, None if suffix == ".xyz" else normals)
    read, read_normals = read_point_cloud(path)
    np.testing.assert_allclose(read, points, atol=1e-6)
    if suffix == ".xyz":
        assert read_normals is None
    else:
        np.testing.assert_allclose(read_normals, normals, atol=1e-6)


def test_plain_text_xyz_is_read(tmp_path):
    path = tmp_path / "scan.xyz"
    path.write_text("0 0 0\n1 0 0\n0 1 0\n0 0 1\n")
    points, normals = read_point_cloud(path)
    assert points.shape == (4, 3) and normals is None


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("empty.pcd", "", "no points could be read"),
        ("words.xyz", "hello world\nnot a point\n", "line 1: expected x y z numbers"),
        ("cloud.las", "1 2 3\n", "unsupported point cloud format"),
    ],
)
def test_bad_files_are_named_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PointCloudError, match=message) as caught:
        read_point_cloud(path)
    assert name in str(caught.value)
    assert isinstance(caught.value, MeshInputError) and isinstance(caught.value, ValueError)


def test_missing_file_and_nan_points(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_point_cloud(tmp_path / "absent.ply")
    path = tmp_path / "nan.xyz"
    path.write_text("0 0 0\nnan 0 0\n1 1 1\n")
    with pytest.raises(MeshInputError, match="NaN/Inf"):
        read_point_cloud(path)


def test_estimated_normals_are_unit_and_outward_on_a_sphere():
    points = sphere_points(2000)
    normals = estimate_normals(points, neighbours=15)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    assert (normals * points).sum(axis=1).min() > 0.95


def test_consistent_orientation_beats_the_centroid_rule_on_a_torus():
    points = torus_points(4000)
    u = np.arctan2(points[:, 1], points[:, 0])
    ring = np.stack([np.cos(u), np.sin(u), np.zeros_like(u)], axis=1)
    truth = points - ring  # the torus' outward normal points away from its core circle
    truth /= np.linalg.norm(truth, axis=1, keepdims=True)
    consistent = (estimate_normals(points, neighbours=15, orientation="consistent") * truth).sum(axis=1)
    outward = (estimate_normals(points, neighbours=15, orientation="outward") * truth).sum(axis=1)
    assert (consistent > 0.8).mean() > 0.98
    assert (outward > 0.8).mean() < 0.9  # the inner side points into the hole
    assert estimate_normals(points[:50], orientation="none").shape == (50, 3)


def test_estimate_normals_rejects_bad_arguments():
    with pytest.raises(ValueError, match="orientation"):
        estimate_normals(sphere_points(10), orientation="inward")
    with pytest.raises(PointCloudError, match="at least 3"):
        estimate_normals(sphere_points(2))


def test_voxel_downsample_averages_within_each_voxel():
    points = np.array([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3], [5.2, 5.2, 5.2]])
    normals = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    reduced, reduced_normals = voxel_downsample(points, 1.0, normals)
    order = np.argsort(reduced[:, 0])
    np.testing.assert_allclose(reduced[order], [[0.2, 0.2, 0.2], [5.2, 5.2, 5.2]])
    np.testing.assert_allclose(np.linalg.norm(reduced_normals, axis=1), 1.0)
    with pytest.raises(ValueError, match="voxel_size"):
        voxel_downsample(points, 0.0)


def test_downsample_to_count_spreads_points_over_the_whole_cloud():
    # a dense patch and a sparse rest: the result is about evenly spread, not dominated by the patch
    sphere = sphere_points(20000, seed=1)
    patch = sphere_points(60000, seed=2)
    patch = patch[patch[:, 2] > 0.8]
    points = np.vstack([sphere, patch])
    reduced, normals, voxel = downsample_to_count(points, 2000, seed=0)
    assert normals is None and voxel > 0
    assert 1500 <= reduced.shape[0] <= 2000
    cap_fraction = (reduced[:, 2] > 0.8).mean()
    assert cap_fraction < 0.2  # the cap is 10% of the sphere's area, but most of the input points
    unchanged, _, zero = downsample_to_count(points[:100], 2000)
    assert zero == 0.0 and unchanged.shape == (100, 3)


def test_statistical_outliers_finds_strays():
    points = sphere_points(3000)
    strays = np.random.default_rng(3).uniform(-3, 3, size=(30, 3))
    strays = strays[np.linalg.norm(strays, axis=1) > 1.5]
    outliers = statistical_outliers(np.vstack([points, strays]), neighbours=10, std_ratio=2.0)
    assert outliers[len(points):].all()
    assert outliers[: len(points)].mean() < 0.01


def test_reduce_scan_by_budget_voxel_and_outliers():
    points = np.vstack([sphere_points(30000), [[10.0, 10.0, 10.0]]])
    reduced, normals, notes = reduce_scan(points, ScanSettings(max_points=3000, remove_outliers=True))
    assert normals is None and reduced.shape[0] <= 3000
    assert np.linalg.norm(reduced, axis=1).max() < 1.2
    assert any("downsampled" in note for note in notes) and any("outliers" in note for note in notes)
    by_voxel, _, notes = reduce_scan(points, ScanSettings(voxel_size=0.2))
    assert by_voxel.shape[0] < 3000 and "voxels" in notes[0]
    kept, _, notes = reduce_scan(points, ScanSettings(max_points=0))
    assert kept.shape == points.shape and notes == []
    with pytest.raises(ValueError, match="max_points"):
        ScanSettings(max_points=-1)


def test_a_missing_open3d_is_a_clear_error_naming_the_extra(tmp_path, monkeypatch):
    import sys

    from sape_geo.geometry import point_clouds

    path = tmp_path / "scan.xyz"
    path.write_text("0 0 0\n1 0 0\n0 1 0\n0 0 1\n")
    monkeypatch.setitem(sys.modules, "open3d", None)  # import open3d now raises ImportError
    with pytest.raises(point_clouds.PointCloudError, match=r"sape-geo\[scans\]"):
        point_clouds.read_point_cloud(path)
