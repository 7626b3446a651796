"""Closed polylines (sape_geo.geometry.polygon): reading, resampling, even-odd filling on pixel grids."""

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from sape_geo.geometry.polygon import (
    PolylineReadError,
    even_odd_fill,
    polyline_length,
    read_polyline,
    resample_closed_polyline,
    signed_area,
)
from sape_geo_plugins.silhouette.shapes import star_outline


def test_fill_uses_pixel_centres_with_top_left_at_origin():
    square = np.array([[0.5, 0.5], [2.5, 0.5], [2.5, 2.5], [0.5, 2.5]])
    expected = np.zeros((4, 4), bool)
    expected[1:3, 1:3] = True
    assert np.array_equal(even_odd_fill(square, 4, 4), expected)
    # The same square on a grid whose first centre is at (1.25, 1.25) with spacing 0.5: centres at
    # 1.25, 1.75, 2.25 fall inside, 2.75 outside.
    shifted = even_odd_fill(square, 4, 4, origin=(1.25, 1.25), spacing=0.5)
    assert shifted[:3, :3].all() and shifted.sum() == 9


def test_fill_matches_matplotlib_point_in_polygon():
    polygon = star_outline(7, inner=0.4) * 30 + [40.3, 35.7]
    rows, columns = np.mgrid[0:80, 0:90]
    inside = MplPath(polygon).contains_points(np.column_stack([columns.ravel(), rows.ravel()])).reshape(80, 90)
    assert np.array_equal(even_odd_fill(polygon, 80, 90), inside)


def test_fill_is_even_odd_for_self_intersections():
    # A pentagram drawn as one self-intersecting loop: its centre pentagon is crossed twice (outside).
    angles = -np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    pentagram = np.column_stack([np.cos(angles), np.sin(angles)]) * 40 + 50
    mask = even_odd_fill(pentagram, 100, 100)
    assert not mask[50, 50]
    assert mask[20, 50]  # inside the top tip


def test_fill_clips_polygons_leaving_the_grid():
    big = np.array([[-10.0, -10.0], [20.0, -10.0], [20.0, 20.0], [-10.0, 20.0]])
    assert even_odd_fill(big, 5, 6).all()


def test_resample_is_even_by_arc_length_and_on_the_polyline():
    square = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 1.0], [0.0, 1.0]])
    samples = resample_closed_polyline(square, 20)
    assert samples.shape == (20, 2)
    steps = np.linalg.norm(np.roll(samples, -1, axis=0) - samples, axis=1)
    assert np.allclose(steps, polyline_length(square) / 20)
    on_edge = np.isclose(samples[:, 0], 0) | np.isclose(samples[:, 0], 4) | np.isclose(samples[:, 1], 0) | np.isclose(samples[:, 1], 1)
    assert on_edge.all()
    assert np.allclose(samples[0], square[0])


def test_signed_area_and_length():
    square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 3.0], [0.0, 3.0]])
    assert signed_area(square) == pytest.approx(6.0)
    assert signed_area(square[::-1]) == pytest.approx(-6.0)
    assert polyline_length(square) == pytest.approx(10.0)


def test_read_polyline_accepts_header_separators_and_closing_vertex(tmp_path):
    path = tmp_path / "square.csv"
    path.write_text("x,y\n# a comment\n0,0\n4; 0\n4 3\n\n0\t3\n0,0\n")
    assert np.array_equal(read_polyline(path), [[0, 0], [4, 0], [4, 3], [0, 3]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("0,0\n1,0\n1,oops\n0,1\n", "line 3"),
        ("0,0\n1,0,5\n1,1\n", "line 2: expected two numbers"),
        ("0,0\n1,1\n", "at least 3 distinct"),
        ("0,0\n1,1\n2,2\n", "no area"),
        ("0,0\n1,0\nnan,1\n", "finite"),
        ("", "at least 3"),
    ],
)
def test_read_polyline_errors_name_the_problem(refuses_file, text, message):
    refuses_file("bad.csv", text, read_polyline, PolylineReadError, message)


def test_read_polyline_missing_file(tmp_path):
    with pytest.raises(PolylineReadError, match="not found"):
        read_polyline(tmp_path / "nope.csv")
