"""The pure-PyTorch multiresolution hash grid: against a dense reference, continuity, hashing, errors."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sape_geo.hashgrid import HASH_PRIMES, HashGrid, level_resolutions, spatial_hash


def all_vertices(resolution: int, dim: int) -> torch.Tensor:
    """Every vertex ``(resolution + 1)^dim`` of one level, row-major (last axis fastest), ``(V, dim)``."""
    axis = torch.arange(resolution + 1)
    return torch.stack(torch.meshgrid(*([axis] * dim), indexing="ij"), dim=-1).reshape(-1, dim)


def dense_level(grid: HashGrid, level: int) -> torch.Tensor:
    """The features of one level as a dense array ``(F, r+1, ..., r+1)``, read through the grid's index."""
    resolution = grid.resolutions[level]
    vertices = all_vertices(resolution, grid.in_dim)
    corners = torch.zeros(vertices.shape[0], grid.num_levels, grid.in_dim, dtype=torch.long)
    corners[:, level] = vertices
    rows = grid.vertex_index(corners)[:, level]
    assert rows.unique().numel() == rows.numel(), "the reference needs a level without hash collisions"
    values = grid.features.detach()[rows]  # (V, F)
    return values.T.reshape(grid.features_per_level, *([resolution + 1] * grid.in_dim))


def reference_interpolation(grid: HashGrid, coords: torch.Tensor) -> torch.Tensor:
    """Multilinear interpolation of every level's dense array by an independent routine.

    2-D and 3-D: ``grid_sample`` with ``align_corners=True`` (-1 and +1 are the first and last vertex);
    1-D: ``np.interp``.
    """
    per_level = []
    for level in range(grid.num_levels):
        dense = dense_level(grid, level)
        if grid.in_dim == 1:
            x = np.linspace(-1.0, 1.0, dense.shape[1])
            per_level.append(torch.stack([torch.from_numpy(np.interp(coords[:, 0].numpy(), x, f.numpy())) for f in dense], 1))
            continue
        # grid_sample's first sample coordinate indexes the last array axis.
        sample_at = coords.flip(-1).reshape(1, -1, *([1] * (grid.in_dim - 1)), grid.in_dim)
        sampled = F.grid_sample(dense[None].double(), sample_at.double(), mode="bilinear", align_corners=True)
        per_level.append(sampled.reshape(grid.features_per_level, -1).T)
    return torch.cat(per_level, dim=1)


@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("direct_indexing", [True, False])
def test_interpolation_equals_dense_reference_without_collisions(dim, direct_indexing):
    generator = torch.Generator().manual_seed(dim)
    grid = HashGrid(
        dim, num_levels=3, features_per_level=2, log2_table_size=22, min_resolution=3, max_resolution=11,
        init_std=1.0, direct_indexing=direct_indexing, generator=generator,
    )
    assert bool(grid.level_is_dense.all()) == direct_indexing  # both index paths are exercised
    coords = torch.rand(500, dim, generator=generator, dtype=torch.float64) * 2 - 1
    coords[:4] = torch.tensor([-1.0, 1.0, 0.0, 1.0 / 3.0], dtype=torch.float64)[:, None]  # borders and a vertex
    expected = reference_interpolation(grid, coords)
    assert torch.allclose(grid(coords).double(), expected, atol=1e-6)


def test_output_layout_and_resolutions():
    grid = HashGrid(2, num_levels=4, features_per_level=3, log2_table_size=8, min_resolution=4, max_resolution=32)
    assert grid.resolutions == (4, 8, 16, 32)
    assert grid.out_dim == 12
    assert grid(torch.zeros(7, 2)).shape == (7, 12)
    # coarse levels fit the 256-entry table and are dense, the finer ones are hashed into 256 entries
    assert grid.level_is_dense.tolist() == [True, True, False, False]
    assert grid.features.shape[0] == 25 + 81 + 256 + 256


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_continuous_across_cell_borders(dim):
    """Both cells at a border read the same vertices, so the field does not jump there (hashed levels too)."""
    grid = HashGrid(dim, num_levels=4, log2_table_size=4, min_resolution=5, max_resolution=40, init_std=1.0)
    assert not bool(grid.level_is_dense.all())
    generator = torch.Generator().manual_seed(0)
    base = torch.rand(200, dim, generator=generator, dtype=torch.float64) * 1.6 - 0.8
    cell = 2.0 / 40.0  # the finest level's cell width
    base[:, 0] = -1.0 + torch.round((base[:, 0] + 1.0) / cell) * cell  # on a cell border
    step = torch.zeros(1, dim, dtype=torch.float64)
    step[0, 0] = 1e-9
    below, above = grid(base - step), grid(base + step)
    assert torch.allclose(below, above, atol=1e-6)
    # and the field is not constant: moving by a tenth of a cell changes it
    step[0, 0] = 0.1 * cell
    assert (grid(base + step) - above).abs().max() > 1e-3


def test_coordinates_outside_the_domain_read_the_border():
    grid = HashGrid(2, num_levels=3, log2_table_size=8, min_resolution=4, max_resolution=16, init_std=1.0)
    inside = torch.tensor([[1.0, -1.0], [0.3, 1.0]])
    outside = torch.tensor([[5.0, -7.0], [0.3, 1.5]])
    assert torch.equal(grid(outside), grid(inside))


def test_spatial_hash_is_instant_ngp_xor_of_prime_products():
    corners = torch.tensor([[3, 5, 7], [0, 0, 0], [1000, 2, 99]])
    table_size = 2**14
    expected = [((x * HASH_PRIMES[0]) ^ (y * HASH_PRIMES[1]) ^ (z * HASH_PRIMES[2])) % table_size for x, y, z in corners.tolist()]
    assert spatial_hash(corners, table_size).tolist() == expected
    # uint32 wrap-around (the CUDA reference) keeps the same low bits
    wrapped = [(((x * HASH_PRIMES[0]) & 0xFFFFFFFF) ^ ((y * HASH_PRIMES[1]) & 0xFFFFFFFF) ^ ((z * HASH_PRIMES[2]) & 0xFFFFFFFF)) % table_size
               for x, y, z in corners.tolist()]
    assert expected == wrapped


def test_gradients_reach_only_the_touched_entries():
    grid = HashGrid(2, num_levels=2, log2_table_size=12, min_resolution=4, max_resolution=8)
    grid(torch.tensor([[0.1, 0.1]])).sum().backward()
    touched = (grid.features.grad.abs().sum(1) > 0).sum().item()
    assert touched == 2 * 4  # 4 corners per level


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"in_dim": 4}, "1 to 3 input dimensions"),
        ({"in_dim": 2, "num_levels": 0}, "at least one level"),
        ({"in_dim": 2, "min_resolution": 64, "max_resolution": 16}, "min_resolution <= max_resolution"),
        ({"in_dim": 2, "log2_table_size": 40}, "log2_table_size"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HashGrid(**kwargs)


def test_bad_coordinate_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        HashGrid(2)(torch.zeros(3, 3))


def test_level_resolutions_grow_geometrically_to_the_max():
    resolutions = level_resolutions(10, 8, 128)
    assert resolutions[0] == 8 and resolutions[-1] == 128
    assert all(b > a for a, b in itertools.pairwise(resolutions))
    with pytest.raises(ValueError, match="power of two"):
        spatial_hash(torch.zeros(1, 2, dtype=torch.long), 1000)
