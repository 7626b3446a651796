"""Regular grids over the normalised domain: multilinear corner lookup (Eq. 6) and scatter-add (Eq. 7).

A grid of resolution ``(r_1, ..., r_d)`` covers ``[-1, 1]^d``. Along a non-periodic axis its ``r`` nodes
sit at ``linspace(-1, 1, r)`` (one node at 0 when ``r == 1``) and coordinates are clamped into the
domain. Along a periodic axis the ``r`` nodes sit at ``-1 + 2 k / r`` and coordinates wrap with period
2 (a closed curve's parameter). Cells are numbered row-major (the last axis varies fastest).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def _axis_corners(values: Tensor, resolution: int, periodic: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Lower and upper node index and the upper node's weight along one axis, each ``(N,)``."""
    if periodic:
        position = (values + 1.0) * (0.5 * resolution)
        lower_float = torch.floor(position)
        fraction = position - lower_float
        lower = torch.remainder(lower_float.long(), resolution)
        upper = torch.remainder(lower + 1, resolution)
        return lower, upper, fraction
    if resolution == 1:
        zeros = torch.zeros_like(values, dtype=torch.long)
        return zeros, zeros, torch.zeros_like(values)
    # Clamp first: points outside [-1, 1] must read the border cells, not index past the grid.
    position = (values.clamp(-1.0, 1.0) + 1.0) * (0.5 * (resolution - 1))
    lower = torch.floor(position).long().clamp(0, resolution - 2)
    fraction = position - lower.to(position.dtype)
    return lower, lower + 1, fraction


def multilinear_corners(
    coords: Tensor, resolution: Sequence[int], periodic: Sequence[bool] | None = None
) -> tuple[Tensor, Tensor]:
    """Flat indices and multilinear weights of the ``2^d`` grid nodes around each point.

    Parameters
    ----------
    coords : (N, d) float tensor in ``[-1, 1]^d`` (other values are clamped or wrapped).
    resolution : ``d`` node counts, each >= 1.
    periodic : ``d`` flags; default all False.

    Returns
    -------
    indices : (N, 2^d) long tensor of flat node indices (row-major).
    weights : (N, 2^d) float tensor, non-negative, each row sums to 1.

    Example
    -------
    >>> idx, w = multilinear_corners(torch.tensor([[0.0, 0.0]]), (3, 3))
    >>> int(idx[0, w[0].argmax()]), float(w.sum())
    (4, 1.0)
    """
    d = coords.shape[1]
    if len(resolution) != d:
        raise ValueError(f"resolution has {len(resolution)} axes but coordinates have {d}")
    periodic = tuple(periodic) if periodic is not None else (False,) * d
    if len(periodic) != d:
        raise ValueError(f"periodic has {len(periodic)} flags but coordinates have {d} axes")
    indices = torch.zeros(coords.shape[0], 1, dtype=torch.long, device=coords.device)
    weights = torch.ones(coords.shape[0], 1, dtype=coords.dtype, device=coords.device)
    for axis in range(d):
        lower, upper, fraction = _axis_corners(coords[:, axis], int(resolution[axis]), bool(periodic[axis]))
        axis_index = torch.stack([lower, upper], dim=1)  # (N, 2)
        axis_weight = torch.stack([1.0 - fraction, fraction], dim=1)
        # Row-major: previous axes' index times this axis' resolution, plus this axis' index.
        indices = (indices[:, :, None] * int(resolution[axis]) + axis_index[:, None, :]).flatten(1)
        weights = (weights[:, :, None] * axis_weight[:, None, :]).flatten(1)
    return indices, weights


def grid_node_coords(resolution: Sequence[int], periodic: Sequence[bool] | None = None) -> Tensor:
    """Coordinates of every grid node, ``(prod(resolution), d)``, in the flat (row-major) order."""
    periodic = tuple(periodic) if periodic is not None else (False,) * len(resolution)
    axes = []
    for count, wraps in zip(resolution, periodic):
        if wraps:
            axes.append(-1.0 + 2.0 * torch.arange(count, dtype=torch.float32) / count)
        elif count == 1:
            axes.append(torch.zeros(1))
        else:
            axes.append(torch.linspace(-1.0, 1.0, count))
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack(mesh, dim=-1).reshape(-1, len(resolution))


def scatter_weighted_sum(
    indices: Tensor, weights: Tensor, values: Tensor, size: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 7's sums over the nodes a batch touches: ``sum_p w(p, u) v(p)`` and ``sum_p w(p, u)``.

    Repeated indices accumulate (``index_add_``), unlike ``buffer[idx] += value``, which keeps only one
    of the writes to a repeated index. Only visited nodes are returned, so a step costs
    ``O(N * K)`` and not ``O(size)`` on large grids (a 128^3 grid has 2 M nodes, a batch touches far
    fewer).

    Parameters
    ----------
    indices, weights : (N, K) node indices and weights.
    values : (N,) per-point values.
    size : number of nodes.

    Returns
    -------
    nodes : (U,) long, the distinct nodes with positive total weight, ascending.
    weighted_sum, weight_sum : (U,) sums for those nodes.
    """
    flat_index = indices.reshape(-1)
    flat_weight = weights.reshape(-1).to(values.dtype)
    weighted = (weights.to(values.dtype) * values[:, None]).reshape(-1)
    if size <= flat_index.numel():
        # Dense accumulation is cheaper than sorting when the grid is small relative to the batch.
        weight_sum = torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(0, flat_index, flat_weight)
        weighted_sum = torch.zeros(size, dtype=values.dtype, device=values.device).index_add_(0, flat_index, weighted)
        nodes = torch.nonzero(weight_sum > 0).squeeze(1)
        return nodes, weighted_sum[nodes], weight_sum[nodes]
    nodes, slot = torch.unique(flat_index, return_inverse=True)
    weight_sum = torch.zeros(nodes.numel(), dtype=values.dtype, device=values.device).index_add_(0, slot, flat_weight)
    weighted_sum = torch.zeros(nodes.numel(), dtype=values.dtype, device=values.device).index_add_(0, slot, weighted)
    positive = weight_sum > 0  # a point exactly on a node gives the opposite corners weight 0
    if bool(positive.all()):
        return nodes, weighted_sum, weight_sum
    return nodes[positive], weighted_sum[positive], weight_sum[positive]


def cell_count(resolution: Sequence[int]) -> int:
    """Number of nodes of a grid."""
    return int(math.prod(int(r) for r in resolution))
