import pytest
import torch

from sape_geo.geometry.chamfer import chamfer_distance, mean_per_nearest, nearest_squared_distances


@pytest.mark.parametrize("chunk_size", [7, 64, 4096])
def test_symmetric_chamfer_equals_both_one_way_searches(chunk_size):
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(150, 2, generator=generator), torch.randn(90, 2, generator=generator)
    total, a_to_b, b_to_a = chamfer_distance(a, b, chunk_size=chunk_size)
    assert torch.allclose(a_to_b, nearest_squared_distances(a, b)[0])
    assert torch.allclose(b_to_a, nearest_squared_distances(b, a)[0])
    assert float(total) == pytest.approx(float(a_to_b.mean() + b_to_a.mean()))


def test_chamfer_of_known_sets_and_empty_set():
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    assert float(chamfer_distance(a, b, squared=False)[0]) == pytest.approx(1.0 + (5.0 + 1.0) / 2)
    with pytest.raises(ValueError):
        chamfer_distance(a, torch.zeros(0, 2))


def test_mean_per_nearest_averages_each_points_queries_and_leaves_the_rest_at_zero():
    values = torch.tensor([1.0, 3.0, 4.0, 2.0], requires_grad=True)
    nearest = torch.tensor([0, 0, 2, 0])  # point 0 is nearest to three queries, point 1 to none
    means = mean_per_nearest(values, nearest, 3)
    assert means.tolist() == [2.0, 0.0, 4.0]
    assert not means.requires_grad
