import numpy as np
import pytest
import torch

from sape_geo.grid import grid_node_coords, multilinear_corners, scatter_weighted_sum
from sape_geo.masks import (
    GridMask,
    ProgressiveMask,
    SampleMask,
    StaticMask,
    interpolated_ramps,
    level_mask_from_progress,
    progressive_tau,
    with_identity_level,
)


def test_progressive_mask_values_at_chosen_steps():
    # L = 4 levels, T = 80 steps -> tau = 10: level j ramps over steps [10 (j-1), 10 j].
    mask = ProgressiveMask(num_levels=4, total_steps=80)
    assert mask.tau == 10
    coords = torch.zeros(1, 2)
    for _ in range(15):
        mask.feedback(coords, torch.ones(1))
    m = mask.level_mask(coords)[0]
    assert torch.allclose(m, torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0]))
    for _ in range(25):  # step 40 = T / 2: every level open
        mask.feedback(coords, torch.ones(1))
    assert torch.allclose(mask.level_mask(coords)[0], torch.ones(5))
    for _ in range(40):
        mask.feedback(coords, torch.ones(1))
    assert float(mask.global_progress) == pytest.approx(4.0)


def test_level_mask_identity_always_on():
    m = level_mask_from_progress(torch.tensor([0.0, 2.25]), 3)
    assert torch.allclose(m, torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.25]]))


def test_static_mask_all_open():
    m = StaticMask(5).channel_mask(torch.zeros(3, 1), torch.tensor([0, 1, 1, 5]))
    assert torch.equal(m, torch.ones(1, 4))


def test_sample_mask_threshold_feedback():
    mask = SampleMask(num_levels=8, num_locations=3, total_steps=16, epsilon=0.1)  # tau = 1
    coords, index = torch.zeros(3, 1), torch.arange(3)
    for _ in range(3):
        mask.feedback(coords, torch.tensor([0.01, 0.5, 0.1]), index)
    progress = mask.progress(coords, index)
    assert progress.tolist() == [0.0, 3.0, 3.0]  # below epsilon stays; at/above advances 1/tau per step
    with pytest.raises(ValueError):
        mask.progress(coords)  # per-sample masks need indices


def test_grid_cell_below_epsilon_stays_above_advances():
    mask = GridMask(num_levels=10, resolution=(2,), total_steps=20, epsilon=0.1)  # tau = 1
    left, right = torch.tensor([[-1.0]]), torch.tensor([[1.0]])
    for _ in range(4):
        mask.feedback(torch.cat([left, right]), torch.tensor([0.01, 1.0]))
    assert mask.location_progress.tolist() == [0.0, 4.0]


def test_unvisited_cell_neither_advances_nor_freezes():
    mask = GridMask(num_levels=10, resolution=(3,), total_steps=40, epsilon=0.1, smoothing_steps=4)  # tau = 2
    left = torch.tensor([[-1.0]])
    for _ in range(6):  # only the left cell is visited, with a high loss
        mask.feedback(left, torch.tensor([1.0]))
    assert float(mask.location_progress[2]) == 0.0  # never visited: did not advance
    assert float(mask.location_progress[0]) > 0.0
    # A first visit with a high loss now advances it (it is not frozen) ...
    mask.feedback(torch.tensor([[1.0]]), torch.tensor([5.0]))
    assert float(mask.location_progress[2]) > 0.0
    # ... and a visited cell whose smoothed loss is below epsilon stops.
    before = float(mask.location_progress[0])
    for _ in range(30):
        mask.feedback(left, torch.tensor([0.0]))
    stalled = float(mask.location_progress[0])
    for _ in range(5):
        mask.feedback(left, torch.tensor([0.0]))
    assert float(mask.location_progress[0]) == stalled >= before


def test_scatter_add_repeated_indices_sum():
    indices = torch.tensor([[0], [0], [0], [2]])
    weights = torch.ones(4, 1)
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])
    for size in (3, 1000):  # dense path (small grid) and sparse path (large grid)
        nodes, weighted, weight = scatter_weighted_sum(indices, weights, values, size)
        assert nodes.tolist() == [0, 2]
        assert weighted.tolist() == [6.0, 4.0]
        assert weight.tolist() == [3.0, 1.0]
    # the naive buffer[idx] += value keeps one write per index: that is the bug this guards against
    naive = torch.zeros(3)
    naive[indices[:, 0]] += values
    assert naive[0] != 6.0


def test_grid_feedback_is_weighted_mean_of_point_losses():
    mask = GridMask(num_levels=4, resolution=(2,), total_steps=8, epsilon=10.0)
    coords = torch.tensor([[-1.0], [-1.0], [0.0]])  # two points on node 0, one halfway
    mask.feedback(coords, torch.tensor([1.0, 3.0, 6.0]))
    # node 0: (1 + 3 + 0.5 * 6) / 2.5 = 2.8 ; node 1: 0.5 * 6 / 0.5 = 6
    assert torch.allclose(mask.smoothed_loss, torch.tensor([2.8, 6.0]))


@pytest.mark.parametrize("resolution", [(5,), (4, 6), (3, 4, 5)])
def test_interpolation_weights_sum_to_one_and_reproduce_nodes(resolution):
    d = len(resolution)
    points = torch.rand(50, d) * 2 - 1
    _, weights = multilinear_corners(points, resolution)
    assert torch.allclose(weights.sum(dim=1), torch.ones(50))
    assert bool((weights >= 0).all())
    nodes = grid_node_coords(resolution)
    values = torch.rand(nodes.shape[0])
    idx, w = multilinear_corners(nodes, resolution)
    assert torch.allclose((values[idx] * w).sum(dim=1), values, atol=1e-6)


def test_interpolation_is_linear_between_nodes():
    values = torch.tensor([0.0, 10.0, 30.0])
    idx, w = multilinear_corners(torch.tensor([[-0.5], [0.25]]), (3,))
    assert torch.allclose((values[idx] * w).sum(dim=1), torch.tensor([5.0, 15.0]))


def test_out_of_range_coordinates_are_clamped():
    idx, w = multilinear_corners(torch.tensor([[-7.0, 3.0], [1.5, -1.5]]), (4, 4))
    assert int(idx.max()) < 16 and int(idx.min()) >= 0
    mask = GridMask(2, (4, 4), 8, 0.0)
    mask.location_progress.copy_(torch.arange(16.0) / 8)
    assert torch.allclose(mask.progress(torch.tensor([[-7.0, 3.0]])), mask.progress(torch.tensor([[-1.0, 1.0]])))


def test_periodic_axis_wraps():
    idx, w = multilinear_corners(torch.tensor([[0.9], [0.9 - 2.0]]), (4,), periodic=(True,))
    assert torch.equal(idx[0], idx[1]) and torch.allclose(w[0], w[1])
    assert set(idx[0].tolist()) == {3, 0}  # between the last node and the first


def test_exact_eq6_mask_interpolation():
    corner_progress = torch.tensor([[0.5, 2.5, 4.0], [3.0, 3.0, 3.0]])
    weights = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    got = with_identity_level(interpolated_ramps(corner_progress, weights, num_levels=5))
    per_corner = torch.stack([level_mask_from_progress(corner_progress[:, k], 5) for k in range(3)], dim=1)
    expected = (per_corner * weights[:, :, None]).sum(dim=1)
    assert torch.allclose(got, expected, atol=1e-6)


def test_grid_mask_at_points_matches_eq6():
    mask = GridMask(6, (3, 3), 12, 0.0)
    mask.location_progress.copy_(torch.rand(9) * 6)
    points = torch.rand(20, 2) * 2 - 1
    idx, w = multilinear_corners(points, (3, 3))
    per_corner = torch.stack([level_mask_from_progress(mask.location_progress[idx[:, k]], 6) for k in range(4)], dim=1)
    assert torch.allclose(mask.level_mask(points), (per_corner * w[:, :, None]).sum(dim=1), atol=1e-6)
    # the heat map equals the total open mask mass
    assert torch.allclose(mask.progress(points), mask.level_mask(points)[:, 1:].sum(dim=1), atol=1e-5)


def test_mask_state_survives_save_and_load(tmp_path):
    mask = GridMask(8, (5, 5), 40, 0.05, smoothing_steps=3)
    for _ in range(7):
        mask.feedback(torch.rand(30, 2) * 2 - 1, torch.rand(30))
    torch.save(mask.state_dict(), tmp_path / "mask.pt")
    restored = GridMask(8, (5, 5), 40, 0.05, smoothing_steps=3)
    restored.load_state_dict(torch.load(tmp_path / "mask.pt"))
    for name in ("location_progress", "smoothed_loss", "evidence", "last_visit", "step"):
        assert torch.equal(getattr(mask, name), getattr(restored, name))
    points = torch.rand(10, 2) * 2 - 1
    assert torch.equal(mask.level_mask(points), restored.level_mask(points))


def test_grid_memory_is_per_cell_not_per_channel():
    mask = GridMask(256, (128, 128, 128), 1000, 1e-3, smoothing_steps=50)
    state_bytes = sum(b.numel() * b.element_size() for b in mask.buffers())
    assert state_bytes < 50 * 2**20  # 4 numbers per cell: ~32 MB, not cells x channels
    assert state_bytes < 2**21 * 256  # far below one float per cell and level


def test_tau_and_bad_arguments():
    assert progressive_tau(1000, 250) == 2.0
    with pytest.raises(ValueError):
        progressive_tau(0, 4)
    with pytest.raises(ValueError):
        GridMask(4, (0, 3), 10, 0.1)
    with pytest.raises(ValueError):
        GridMask(4, (2, 2, 2, 2), 10, 0.1)
    with pytest.raises(ValueError):
        SampleMask(4, 3, 10, epsilon=float("nan"))


def test_open_fraction_sets_when_every_level_is_open():
    # L = 4, T = 80, open_fraction 0.25 -> tau = 5: every level open by step 20 (not 40).
    assert progressive_tau(80, 4, open_fraction=0.25) == 5.0
    progressive = ProgressiveMask(num_levels=4, total_steps=80, open_fraction=0.25)
    spatial = SampleMask(num_levels=4, num_locations=2, total_steps=80, epsilon=0.1, open_fraction=0.25)
    coords, index = torch.zeros(2, 1), torch.arange(2)
    for step in range(20):
        assert float(progressive.global_progress) < 4.0
        progressive.feedback(coords, torch.ones(2))
        spatial.feedback(coords, torch.tensor([1.0, 0.0]), index)
    assert float(progressive.global_progress) == pytest.approx(4.0)
    assert spatial.progress(coords, index).tolist() == pytest.approx([4.0, 0.0])  # the fitted location stays closed
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="open_fraction"):
            progressive_tau(80, 4, open_fraction=bad)


def test_method_config_open_fraction_reaches_the_mask():
    from sape_geo.methods import MaskDomain, MethodConfig, ModelSpec, build_model

    for name in ("pff", "sape-ff"):
        method = MethodConfig(name, num_frequencies=8, hidden_dim=8, num_hidden_layers=1, open_fraction=0.125)
        model = build_model(ModelSpec(method, 1, 1, 160, MaskDomain("samples", 4)))
        assert model.mask.tau == pytest.approx(0.125 * 160 / 8)
        restored = ModelSpec.from_dict(model.spec.to_dict())
        assert restored.method.open_fraction == 0.125
    with pytest.raises(ValueError, match="open_fraction"):
        MethodConfig("pff", open_fraction=2.0)


def _reference_feedback(state: dict, locations, weights, loss, step: int, smoothing: int, tau: float, epsilon: float, levels: int):
    """Eq. 5 and 7 as written, node by node, on plain tensors: what GridMask.feedback must compute."""
    nodes, weighted_sum, weight_sum = scatter_weighted_sum(locations, weights, loss, state["progress"].numel())
    for position, node in enumerate(nodes.tolist()):
        gap = max(step - int(state["last_visit"][node]), 1)
        step_loss = weighted_sum[position] / weight_sum[position]
        if smoothing > 1:
            kept = state["evidence"][node] * (1.0 - 1.0 / smoothing) ** gap
            total = kept + weight_sum[position]
            step_loss = (kept * state["loss"][node] + weight_sum[position] * step_loss) / total
            state["evidence"][node] = total
        else:
            state["evidence"][node] = weight_sum[position]
        state["loss"][node] = step_loss
        if step_loss >= epsilon:
            state["progress"][node] = min(float(state["progress"][node]) + min(gap, smoothing) / tau, levels)
        state["last_visit"][node] = step


@pytest.mark.parametrize("smoothing", [1, 3])
@pytest.mark.parametrize("resolution", [(9,), (6, 7), (4, 5, 3)])
def test_grid_feedback_matches_eq7_for_new_and_repeated_batches(smoothing, resolution):
    # Fresh batches take the sort-free path, a batch fed back again the per-batch plan; both must give
    # Eq. 7's node sums and Eq. 5's update, including points exactly on nodes (zero-weight corners).
    d = len(resolution)
    generator = torch.Generator().manual_seed(len(resolution) * 10 + smoothing)
    mask = GridMask(6, resolution, total_steps=12, epsilon=0.3, smoothing_steps=smoothing)
    state = {"progress": torch.zeros(mask.num_locations), "loss": torch.zeros(mask.num_locations),
             "evidence": torch.zeros(mask.num_locations), "last_visit": torch.full((mask.num_locations,), -1)}
    repeated = torch.rand(40, d, generator=generator) * 2 - 1
    repeated[:5] = -1.0  # on a node
    for step in range(12):
        coords = repeated if step % 4 else torch.rand(25, d, generator=generator) * 2 - 1
        loss = torch.rand(coords.shape[0], generator=generator)
        mask.feedback(coords, loss)
        locations, weights = multilinear_corners(coords, resolution)
        _reference_feedback(state, locations, weights, loss, step, smoothing, mask.tau, 0.3, 6)
        assert torch.allclose(mask.location_progress, state["progress"], atol=1e-6)
        assert torch.allclose(mask.smoothed_loss, state["loss"], atol=1e-6)
        assert torch.allclose(mask.evidence, state["evidence"], atol=1e-6)
        assert torch.equal(mask.last_visit.long(), state["last_visit"])
    assert mask._located is not None and mask._located.plan is not None  # the repeated batch got a plan


def test_grid_lookup_cache_is_keyed_by_values_not_by_tensor_identity():
    # The loop looks a batch up in the forward pass and again in the feedback. A tensor changed in place
    # without bumping its version (numpy shares its memory) must not reuse the old corners, and a
    # different tensor with the same values may.
    mask = GridMask(4, (5,), total_steps=8, epsilon=0.0)
    array = np.array([[-1.0], [-1.0]], dtype=np.float32)
    coords = torch.from_numpy(array)
    mask.level_ramps(coords)  # forward: caches the lookup of node 0
    array[:] = 1.0  # now the points sit on node 4; torch's version counter does not see this
    mask.feedback(coords, torch.ones(2))
    assert mask.location_progress.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0 / mask.tau]
    located = mask.locate(coords, None)
    assert mask.locate(coords.clone(), None) is located  # equal values: the same lookup
    assert mask.locate(coords.double(), None) is not located  # another dtype: looked up again
