"""A multiresolution hash grid (Instant-NGP, Müller et al. 2022) in pure PyTorch, for d = 1, 2, 3.

Level ``l`` is a regular grid of ``N_l`` cells per axis over ``[-1, 1]^d`` (``N_l + 1`` vertices per
axis); ``N_l`` grows geometrically from ``min_resolution`` to ``max_resolution``. Each vertex owns a
trainable feature vector in that level's table; a point reads the multilinear interpolation of the
``2^d`` vertices of its cell, and the levels' features are concatenated.

A level whose vertices fit in the table is indexed directly (row-major, one entry per vertex, no
collisions); a finer level shares ``table_size`` entries through the spatial hash
``(x_1 * pi_1) xor (x_2 * pi_2) xor (x_3 * pi_3) mod table_size`` with Instant-NGP's primes. Because
``table_size`` is a power of two, the low bits of an int64 product equal those of Instant-NGP's uint32
wrap-around product, so the hash is the published one and runs on any device. Only gathers, products
and sums are used: CPU and CUDA alike, no compiled extension.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

# Instant-NGP's primes (the first is 1 so the hash is the identity along x for coherent memory access).
HASH_PRIMES = (1, 2654435761, 805459861)
MAX_DIM = len(HASH_PRIMES)


def level_resolutions(num_levels: int, min_resolution: int, max_resolution: int) -> list[int]:
    """Cells per axis of each level: ``floor(min_resolution * b^l)``, ``b`` chosen so the last is the max.

    Example
    -------
    >>> level_resolutions(3, 8, 32)
    [8, 16, 32]
    """
    if num_levels < 1:
        raise ValueError(f"a hash grid needs at least one level, got {num_levels}")
    if not 1 <= min_resolution <= max_resolution:
        raise ValueError(f"need 1 <= min_resolution <= max_resolution, got {min_resolution}, {max_resolution}")
    if num_levels == 1:
        return [int(min_resolution)]
    growth = math.exp((math.log(max_resolution) - math.log(min_resolution)) / (num_levels - 1))
    # The small epsilon keeps exact powers (8 * 2^2 = 32) from flooring to 31 through rounding error.
    return [int(math.floor(min_resolution * growth**level + 1e-9)) for level in range(num_levels)]


def spatial_hash(corners: Tensor, table_size: int) -> Tensor:
    """Instant-NGP's spatial hash of integer vertex coordinates.

    Parameters
    ----------
    corners : (..., d) long tensor of non-negative vertex coordinates, d <= 3.
    table_size : a power of two.

    Returns
    -------
    (...,) long tensor of table entries in ``[0, table_size)``.
    """
    if table_size < 1 or table_size & (table_size - 1):
        raise ValueError(f"table_size must be a power of two, got {table_size}")
    hashed = torch.zeros(corners.shape[:-1], dtype=torch.long, device=corners.device)
    for axis in range(corners.shape[-1]):
        hashed = hashed ^ (corners[..., axis] * HASH_PRIMES[axis])
    return hashed & (table_size - 1)


class HashGrid(nn.Module):
    """Multiresolution hash encoding ``(N, d) -> (N, num_levels * features_per_level)``.

    Parameters
    ----------
    in_dim : input dimension ``d`` (1, 2 or 3); coordinates live in ``[-1, 1]^d`` and are clamped
        there, so points outside read the border cells instead of indexing past the grid.
    num_levels : number of resolutions ``L``.
    features_per_level : feature channels ``F`` per vertex.
    log2_table_size : entries per level are at most ``2 ** log2_table_size``.
    min_resolution, max_resolution : cells per axis of the coarsest and the finest level.
    init_std : features start as ``N(0, init_std^2)`` (small, so a decoder behind starts near its bias).
    direct_indexing : index levels that fit in the table directly (Instant-NGP's rule); False hashes
        every level (used by tests to exercise the hash).
    generator : optional ``torch.Generator`` for reproducible initial features.

    Example
    -------
    >>> grid = HashGrid(2, num_levels=4, features_per_level=2, log2_table_size=8)
    >>> grid(torch.zeros(5, 2)).shape
    torch.Size([5, 8])
    """

    def __init__(
        self,
        in_dim: int,
        num_levels: int = 10,
        features_per_level: int = 2,
        log2_table_size: int = 10,
        min_resolution: int = 8,
        max_resolution: int = 128,
        init_std: float = 1e-2,
        direct_indexing: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not (isinstance(in_dim, int) and 1 <= in_dim <= MAX_DIM):
            raise ValueError(f"a hash grid supports 1 to {MAX_DIM} input dimensions, got {in_dim!r}")
        if features_per_level < 1:
            raise ValueError(f"features_per_level must be >= 1, got {features_per_level}")
        if not 1 <= log2_table_size <= 30:
            raise ValueError(f"log2_table_size must be in 1..30, got {log2_table_size}")
        if not (init_std >= 0 and math.isfinite(init_std)):
            raise ValueError(f"init_std must be a finite number >= 0, got {init_std}")
        self.in_dim = in_dim
        self.num_levels = int(num_levels)
        self.features_per_level = int(features_per_level)
        self.table_size = 2 ** int(log2_table_size)
        self.resolutions = tuple(level_resolutions(num_levels, min_resolution, max_resolution))
        vertex_counts = [(r + 1) ** in_dim for r in self.resolutions]
        dense = [direct_indexing and count <= self.table_size for count in vertex_counts]
        sizes = [count if is_dense else self.table_size for count, is_dense in zip(vertex_counts, dense)]
        offsets = list(itertools.accumulate([0] + sizes[:-1]))
        self.register_buffer("level_cells", torch.tensor(self.resolutions, dtype=torch.long), persistent=False)
        self.register_buffer("level_is_dense", torch.tensor(dense), persistent=False)
        self.register_buffer("level_offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.register_buffer("level_sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)
        # Row-major strides of a dense level's vertex array (the last axis varies fastest).
        strides = [[(r + 1) ** (in_dim - 1 - axis) for axis in range(in_dim)] for r in self.resolutions]
        self.register_buffer("level_strides", torch.tensor(strides, dtype=torch.long), persistent=False)
        self.register_buffer("hash_primes", torch.tensor(HASH_PRIMES[:in_dim], dtype=torch.long), persistent=False)
        features = torch.randn(sum(sizes), features_per_level, generator=generator) * init_std
        self.features = nn.Parameter(features)  # (total entries, F): all levels' tables back to back

    @property
    def out_dim(self) -> int:
        return self.num_levels * self.features_per_level

    def vertex_index(self, corners: Tensor) -> Tensor:
        """Row of :attr:`features` holding each level's vertex.

        Parameters
        ----------
        corners : (..., L, d) long tensor, vertex coordinates in ``0..N_l`` per level.

        Returns
        -------
        (..., L) long tensor of rows of :attr:`features`.
        """
        dense_index = (corners * self.level_strides).sum(-1)
        hashed_index = spatial_hash(corners, self.table_size)
        local = torch.where(self.level_is_dense, dense_index, hashed_index)
        return local + self.level_offsets

    def forward(self, coords: Tensor) -> Tensor:
        """Interpolated features of every level, concatenated: ``(N, d) -> (N, L * F)``."""
        if coords.ndim != 2 or coords.shape[1] != self.in_dim:
            raise ValueError(f"expected coordinates of shape (N, {self.in_dim}), got {tuple(coords.shape)}")
        unit = (coords.clamp(-1.0, 1.0) + 1.0) * 0.5  # (N, d) in [0, 1]
        cells = self.level_cells.to(coords.dtype)
        position = unit[:, None, :] * cells[None, :, None]  # (N, L, d) in cell units
        # The last cell is closed at the top border: x = 1 reads cell N_l - 1 with fraction 1.
        lower = torch.minimum(position.floor().long(), (self.level_cells - 1)[None, :, None])
        fraction = position - lower.to(coords.dtype)
        # Per axis, the lower (bit 0) and upper (bit 1) vertex's weight and index terms, (N, L, d) each;
        # a corner combines one of each per axis: weights multiply, dense terms add, hash terms xor.
        weight_terms = (1.0 - fraction, fraction)
        dense_terms = (lower * self.level_strides, (lower + 1) * self.level_strides)
        hash_terms = (lower * self.hash_primes, (lower + 1) * self.hash_primes)
        result = coords.new_zeros(coords.shape[0], self.num_levels, self.features_per_level)
        for corner in range(2**self.in_dim):
            bits = [(corner >> axis) & 1 for axis in range(self.in_dim)]
            weight = weight_terms[bits[0]][..., 0]
            dense_index = dense_terms[bits[0]][..., 0]
            hashed_index = hash_terms[bits[0]][..., 0]
            for axis in range(1, self.in_dim):
                weight = weight * weight_terms[bits[axis]][..., axis]
                dense_index = dense_index + dense_terms[bits[axis]][..., axis]
                hashed_index = hashed_index ^ hash_terms[bits[axis]][..., axis]
            local = torch.where(self.level_is_dense, dense_index, hashed_index & (self.table_size - 1))
            result = result + weight[..., None] * self.features[local + self.level_offsets].to(coords.dtype)
        return result.flatten(1)
