"""Simple polygons: exact self-intersection counts, ordered outline targets, and the fit's guard."""

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest
import torch

from sape_geo.geometry.polygon import (
    best_cyclic_shift,
    intersection_points,
    ordered_correspondence,
    resample_closed_polyline,
    self_intersections,
    signed_area,
)
from sape_geo_plugins.silhouette.validity import SimpleCurveGuard, tangled_points

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def brute_force_pairs(points):
    """Exact rational segment tests on every pair of edges (neighbours: only a collinear overlap)."""
    p = [(Fraction(x), Fraction(y)) for x, y in points]
    count = len(p)

    def orient(a, b, c):
        value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (value > 0) - (value < 0)

    def within(a, b, c):
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    found = []
    for i, j in combinations(range(count), 2):
        a, b, c, d = p[i], p[(i + 1) % count], p[j], p[(j + 1) % count]
        if j == i + 1 or (i == 0 and j == count - 1):
            shared, u, v = (b, a, d) if j == i + 1 else (a, b, c)
            collinear = orient(u, shared, v) == 0
            dot = (u[0] - shared[0]) * (v[0] - shared[0]) + (u[1] - shared[1]) * (v[1] - shared[1])
            if collinear and (dot > 0 or a == b or c == d):
                found.append([i, j])
            continue
        o1, o2, o3, o4 = orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
        if (o1 * o2 < 0 and o3 * o4 < 0) or (o1 == 0 and within(a, b, c)) or (o2 == 0 and within(a, b, d)) \
                or (o3 == 0 and within(c, d, a)) or (o4 == 0 and within(c, d, b)):
            found.append([i, j])
    return found


def test_simple_polygons_have_no_self_intersections():
    assert len(self_intersections(SQUARE)) == 0
    angle = np.linspace(0, 2 * np.pi, 500, endpoint=False)
    assert len(self_intersections(np.column_stack([np.cos(angle), np.sin(angle)]))) == 0


def test_a_bow_tie_crosses_once_where_its_diagonals_meet():
    bow_tie = SQUARE[[0, 2, 1, 3]]
    pairs = self_intersections(bow_tie)
    assert pairs.tolist() == [[0, 2]]
    assert np.allclose(intersection_points(bow_tie, pairs), [[0.5, 0.5]])


def test_touching_and_doubling_back_count_as_intersections():
    # Vertex 2 lies on edge 0 (touching), and edge 1 runs back over edge 0 (doubling back).
    assert self_intersections(np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 1.0]])).tolist() == [[0, 1], [0, 2]]
    # A repeated vertex is a zero-length edge: not a simple polygon.
    assert len(self_intersections(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))) > 0


@pytest.mark.parametrize("seed", range(6))
def test_counts_match_exact_rational_arithmetic(seed):
    # Small integer coordinates make touching, collinear and overlapping edges common.
    points = np.random.default_rng(seed).integers(0, 5, size=(14, 2)).astype(np.float64)
    assert self_intersections(points, chunk=5).tolist() == brute_force_pairs(points)


def test_a_winding_curve_crosses_itself_as_often_as_it_should():
    # r = 1 + 0.5 cos(3 t) drawn twice around (angle 2t): the two passes cross where their radii agree.
    t = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    radius = 1.0 + 0.5 * np.cos(3 * t)
    curve = np.column_stack([radius * np.cos(2 * t), radius * np.sin(2 * t)])
    # Passes at angle phi: t = phi / 2 and phi / 2 + pi; radii 1 + 0.5 cos(3 phi / 2) and 1 - 0.5 cos(3 phi / 2)
    # agree where cos(3 phi / 2) = 0: three angles in [0, 2 pi).
    assert len(self_intersections(curve)) == 3


def test_best_cyclic_shift_and_ordered_correspondence():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(50, 2))
    assert best_cyclic_shift(np.roll(reference, 7, axis=0), reference) == 7
    angle = np.arange(64) * 2 * np.pi / 64
    circle = np.column_stack([np.cos(angle), np.sin(angle)])
    # An ellipse outline given clockwise and starting on the far side still maps in the circle's order.
    outline = np.column_stack([2 * np.cos(-angle + np.pi), np.sin(-angle + np.pi)])
    targets = ordered_correspondence(outline, circle)
    assert signed_area(targets) > 0
    assert np.allclose(targets[0], [2.0, 0.0], atol=0.15) and targets[16, 1] > 0.9


def test_tangled_points_mark_the_shorter_loop():
    marked = tangled_points(np.array([[10, 14]]), 40)
    assert marked[10:16].all() and marked.sum() == 6
    wrapped = tangled_points(np.array([[2, 37]]), 40)
    assert wrapped[37:].all() and wrapped[:4].all() and wrapped.sum() == 7


class PointsModel(torch.nn.Module):
    def __init__(self, points):
        super().__init__()
        self.points = torch.nn.Parameter(torch.tensor(points))


def test_guard_restores_the_last_simple_curve():
    square = resample_closed_polyline(SQUARE, 40)
    model = PointsModel(square)
    guard = SimpleCurveGuard(lambda m: m.points.detach().numpy().astype(np.float64), 40, every=5)
    assert guard.simple_step is None
    guard.start(model)
    assert guard.simple_step == -1 and not guard.tangled.any()
    guard(0, 1.0, model)
    assert guard.simple_step == 0 and not guard.tangled.any()
    with torch.no_grad():
        model.points[12] = torch.tensor([0.5, -0.5])  # a spike across the bottom edge: crosses it
    guard(3, 1.0, model)  # between checks: nothing happens
    assert guard.simple_step == 0 and not guard.tangled.any()
    guard(5, 1.0, model)
    assert guard.tangled.any() and guard.most_crossings > 0
    metrics = guard.finish(model)
    assert metrics["guard_restored"] and metrics["guard_restored_step"] == 0 and metrics["guard_final_crossings"] > 0
    assert np.allclose(model.points.detach().numpy(), square)
    assert not guard.finish(model)["guard_restored"]  # a simple final curve is kept


def comb_outline(teeth: int = 5) -> np.ndarray:
    """A comb: a bar with ``teeth`` long thin teeth, the kind of shape a Chamfer fit tangles on."""
    points = [(0.0, 0.0)]
    for tooth in range(teeth):
        left, right = 2.0 * tooth, 2.0 * tooth + 0.8
        points += [(left, 6.0), (right, 6.0)]
        if tooth < teeth - 1:
            points += [(right, 1.0), (left + 2.0, 1.0)]
    points.append((2.0 * teeth - 1.2, 0.0))
    return np.array(points)


@pytest.mark.parametrize("data_term", ["ordered", "chamfer"])
def test_a_fit_on_thin_teeth_ends_a_simple_polygon(data_term):
    from sape_geo import MethodConfig
    from sape_geo_plugins.silhouette import SilhouetteSettings, fit_silhouette
    from sape_geo_plugins.silhouette.outline import silhouette_from_polyline

    outline = comb_outline()
    assert len(self_intersections(outline)) == 0
    target = silhouette_from_polyline(outline * 20.0)
    config = SilhouetteSettings(points=160, mask_resolution=32, calibration_steps=100, calibration_lr=3e-3, data_term=data_term)
    method = MethodConfig("sape-ff", sigma=8.0, epsilon=1e-4, num_frequencies=64, hidden_dim=96, num_hidden_layers=2)
    result = fit_silhouette(target, method, None, points=160, steps=250, settings=config, lr=1e-3, progress_bar=False, threads=1)
    assert result.metrics["self_intersections"] == 0
    assert len(self_intersections(result.extras["curve"])) == 0
    if data_term == "ordered":
        # The ordered fit is simple by itself, not by the guard's restore.
        assert result.metrics["guard_final_crossings"] == 0 and not result.metrics["guard_restored"]
        assert result.metrics["iou"] > 0.85, result.metrics["iou"]
    else:
        # The Chamfer fit tangles on the teeth (14 crossings here); the guard returns a simple state.
        assert result.metrics["guard_restored"] == (result.metrics["guard_final_crossings"] > 0)
