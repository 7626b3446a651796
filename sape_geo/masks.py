"""Mask policies: which encoding levels are open, where, and when (docs/method.md, "Progressive encoding"
and "Spatially-adaptive progress (SAPE)").

The state of every policy is a **progress** ``P`` in ``[0, L]`` per location (one number, not a mask):
level ``j = 1..L`` is open by ``alpha_j = clamp(P - (j - 1), 0, 1)`` (Eq. 4's linear ramp) and the
identity level 0 is always open. Policies:

- :class:`StaticMask`: every level open (a static encoding, ``m = 1``).
- :class:`ProgressiveMask`: ``Phi_P``, one global progress that grows by ``1 / tau`` per step,
  ``tau = T / (2 L)``, so every level is open by ``T / 2``.
- :class:`SampleMask`: ``Phi_SA`` with one progress per training sample (pixels, vertices, curve points).
- :class:`GridMask`: ``Phi_SA`` with progress on a regular grid, read by multilinear interpolation
  (Eq. 6) and fed back by scatter-add (Eq. 7); resolution 1 is the global progressive policy driven by
  loss.

All policies share one API: ``level_mask(coords, index) -> (N, L + 1)``, ``progress(coords, index)
-> (N,)`` (the heat map), ``feedback(coords, per_point_loss, index)`` once per optimisation step, and
their state lives in buffers so it is saved and restored with the model's ``state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sape_geo.config import DEFAULT_OPEN_FRACTION, MaskDomain, check_open_fraction
from sape_geo.grid import cell_count, multilinear_corners


def progressive_tau(total_steps: int, num_levels: int, open_fraction: float = DEFAULT_OPEN_FRACTION) -> float:
    """Steps per level, ``tau = f T / L``: every level is fully open at ``f T``.

    The paper's schedule is ``f = 1/2`` (``tau = T / (2 L)``). A smaller ``f`` opens faster, for tasks
    whose start is already close to the answer (mesh transfer after the biharmonic initialisation).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    check_open_fraction(open_fraction)
    return open_fraction * total_steps / max(num_levels, 1)


def ramps_from_progress(progress: Tensor, num_levels: int) -> Tensor:
    """Eq. 4 for each location: ``(N,)`` progress -> ``(N, L)`` openness of levels ``1..L``."""
    offsets = torch.arange(num_levels, dtype=progress.dtype, device=progress.device)
    return (progress[:, None] - offsets[None, :]).clamp_(0.0, 1.0)


def with_identity_level(ramps: Tensor) -> Tensor:
    """``(N, L)`` ramps of levels ``1..L`` -> ``(N, L + 1)`` mask with the always-open identity level 0."""
    return torch.cat([torch.ones(ramps.shape[0], 1, dtype=ramps.dtype, device=ramps.device), ramps], dim=1)


def level_mask_from_progress(progress: Tensor, num_levels: int) -> Tensor:
    """Eq. 4 for each location: ``(N,)`` progress -> ``(N, L + 1)`` level mask (column 0 = identity)."""
    return with_identity_level(ramps_from_progress(progress, num_levels))


def interpolated_ramps(corner_progress: Tensor, weights: Tensor, num_levels: int) -> Tensor:
    """Eq. 6 exactly: ``m(p) = sum_u w(p, u) m(u)`` from the corners' progress, without a per-corner mask.

    Corner ``k`` contributes ``w_k`` to the levels below ``floor(P_k)``, ``w_k * frac(P_k)`` to level
    ``floor(P_k) + 1`` and nothing above. So a point's levels up to ``floor(min_k P_k)`` are fully open,
    those above ``ceil(max_k P_k)`` closed, and only the band between needs the sum over corners. When
    neighbouring nodes have similar progress (the usual case) the band is a few levels wide: the result
    is one comparison pass over ``(N, L)`` plus ``O(N * K * band)``. When the band is wide (progress
    jumps between neighbours) a difference array and one cumulative sum give the same sums in
    ``O(N * (K + L))``. Never ``O(N * K * L)`` memory. (docs/method.md, "The progress grid")

    Parameters
    ----------
    corner_progress, weights : (N, K) progress at the corners and their interpolation weights.
    num_levels : ``L``.

    Returns
    -------
    (N, L) openness of levels ``1..L`` in ``[0, 1]`` (possibly a strided view).
    """
    n_points, n_corners = corner_progress.shape
    dtype, device = corner_progress.dtype, corner_progress.device
    weights = weights.to(dtype)
    if n_points == 0 or num_levels == 0:
        return torch.zeros(n_points, num_levels, dtype=dtype, device=device)
    lowest = torch.floor(corner_progress.amin(dim=1)).clamp_(0, num_levels)  # levels 1..lowest are open
    width = int((torch.ceil(corner_progress.amax(dim=1)).clamp_(0, num_levels) - lowest).max())
    if width * n_corners <= num_levels:
        # Column c holds level c + 1: open (1) where c < lowest, written directly as floats in one pass.
        columns = torch.arange(num_levels + width, dtype=dtype, device=device)
        ramps = torch.empty(n_points, num_levels + width, dtype=dtype, device=device)
        torch.lt(columns[None, :], lowest[:, None], out=ramps)
        if width:
            band_columns = lowest[:, None] + torch.arange(width, dtype=dtype, device=device)
            band = torch.zeros(n_points, width, dtype=dtype, device=device)
            for corner in range(n_corners):
                band.addcmul_((corner_progress[:, corner : corner + 1] - band_columns).clamp_(0.0, 1.0), weights[:, corner : corner + 1])
            ramps.scatter_(1, band_columns.long(), band.clamp_(0.0, 1.0))
        return ramps[:, :num_levels]  # the band may run past level L; those columns are dropped
    whole = torch.floor(corner_progress).clamp(0, num_levels)
    fraction = corner_progress - whole
    whole = whole.long()
    difference = torch.zeros(n_points, num_levels + 2, dtype=dtype, device=device)
    difference[:, 0] = weights.sum(dim=1)  # every corner starts fully open at level 1
    difference.scatter_add_(1, whole, weights * (fraction - 1.0))
    difference.scatter_add_(1, whole + 1, -weights * fraction)
    return torch.cumsum(difference[:, :num_levels], dim=1).clamp_(0.0, 1.0)


class MaskPolicy(nn.Module):
    """Base class of mask policies over ``L`` levels beyond the identity."""

    def __init__(self, num_levels: int) -> None:
        super().__init__()
        if num_levels < 0:
            raise ValueError(f"num_levels must be >= 0, got {num_levels}")
        self.num_levels = int(num_levels)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def progress(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        """Progress ``P`` in ``[0, L]`` at each point, ``(N,)``: the frequency heat map."""
        raise NotImplementedError

    def level_ramps(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        """Openness of levels ``1..L``, ``(N, L)`` (or ``(1, L)`` when it does not depend on position).

        The network multiplies encoding channels by these; the identity level needs no factor.
        """
        return ramps_from_progress(self.progress(coords, index), self.num_levels)

    def level_mask(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        """Mask per level including the identity, ``(N, L + 1)`` (or ``(1, L + 1)``)."""
        return with_identity_level(self.level_ramps(coords, index))

    def channel_mask(self, coords: Tensor, levels: Tensor, index: Tensor | None = None) -> Tensor:
        """Mask per encoding channel, ``(N, n)``, for channels whose level is ``levels`` ``(n,)``.

        For pictures and tests; the network applies :meth:`level_ramps` per level instead, which avoids
        materialising an ``(N, n)`` mask.
        """
        return self.level_mask(coords, index)[:, levels]

    def feedback(self, coords: Tensor, per_point_loss: Tensor, index: Tensor | None = None) -> None:
        """Read the per-point loss of one optimisation step and advance the progress (once per step)."""
        self.step += 1

    def mean_progress(self) -> float:
        """Mean progress over the policy's locations (for logs)."""
        return float(self.num_levels)

    def extra_repr(self) -> str:
        return f"num_levels={self.num_levels}"


class StaticMask(MaskPolicy):
    """Every level open at every step: a static encoding."""

    def progress(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        return torch.full((coords.shape[0],), float(self.num_levels), dtype=coords.dtype, device=coords.device)

    def level_ramps(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        return torch.ones(1, self.num_levels, dtype=coords.dtype, device=coords.device)


class ProgressiveMask(MaskPolicy):
    """``Phi_P``: one progress for all locations, ``+1 / tau`` per step (coarse to fine, Eq. 3-4).

    Parameters
    ----------
    num_levels : ``L``.
    total_steps : ``T``, the length of the optimisation; every level is open by ``open_fraction * T``.
    open_fraction : see :func:`progressive_tau` (the paper: 1/2).
    """

    def __init__(self, num_levels: int, total_steps: int, open_fraction: float = DEFAULT_OPEN_FRACTION) -> None:
        super().__init__(num_levels)
        self.tau = progressive_tau(total_steps, num_levels, open_fraction)
        self.register_buffer("global_progress", torch.zeros(()))

    def progress(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        value = self.global_progress.to(device=coords.device, dtype=coords.dtype)
        return value.expand(coords.shape[0])

    def level_ramps(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        return ramps_from_progress(self.global_progress.reshape(1).to(coords.dtype), self.num_levels)

    def feedback(self, coords: Tensor, per_point_loss: Tensor, index: Tensor | None = None) -> None:
        super().feedback(coords, per_point_loss, index)
        self.global_progress.add_(1.0 / self.tau).clamp_(max=float(self.num_levels))

    def mean_progress(self) -> float:
        return float(self.global_progress)


class _BatchPlan:
    """A batch's distinct nodes with positive weight (ascending), each entry's slot among them and the
    nodes' weight sums: what Eq. 7 needs of a batch's geometry, built once for a batch seen again."""

    def __init__(self, locations: Tensor, weights: Tensor, dtype: torch.dtype) -> None:
        nodes, slot = torch.unique(locations.reshape(-1), return_inverse=True)
        weight_sum = torch.zeros(nodes.numel(), dtype=dtype, device=nodes.device).index_add_(0, slot, weights.reshape(-1).to(dtype))
        positive = weight_sum > 0  # a point exactly on a node gives the opposite corners weight 0
        self.keep = None if bool(positive.all()) else torch.nonzero(positive).squeeze(1)
        self.slot, self.size = slot, nodes.numel()
        self.nodes = nodes if self.keep is None else nodes.index_select(0, self.keep)
        self.weight_sum = weight_sum if self.keep is None else weight_sum.index_select(0, self.keep)

    def node_sums(self, values: Tensor) -> Tensor:
        """Per-entry ``values`` (flattened ``(N * K,)``) summed per node, in the order of ``nodes``."""
        sums = torch.zeros(self.size, dtype=values.dtype, device=values.device).index_add_(0, self.slot, values)
        return sums if self.keep is None else sums.index_select(0, self.keep)


class _Lookup:
    """GridMask's cached lookup: a copy of the coordinates it was made for, their corners and weights,
    how often the feedback used it, and the batch plan once built."""

    def __init__(self, coords: Tensor, located: tuple[Tensor, Tensor]) -> None:
        self.coords, self.located = coords, located
        self.feedbacks = 0
        self.plan: _BatchPlan | None = None


class SpatialMask(MaskPolicy):
    """``Phi_SA`` (Eq. 5) on a set of ``C`` locations, each with its own progress.

    ``P(t + 1, u) = P(t, u) + 1 / tau`` where the location's loss ``L(t, u) >= epsilon``, else unchanged.

    Mini-batches: a location's loss is the weighted mean of its points' losses this step (Eq. 7); with
    ``smoothing_steps > 1`` it is further averaged over steps by a running mean whose old evidence
    decays by ``1 - 1 / smoothing_steps`` per step. A location that no point touched this step has no
    evidence: it does not advance (no advancing on noise) and keeps its history, so it advances again
    as soon as a visit shows a high loss (it never freezes). A visit after a gap of ``g`` steps catches
    up ``min(g, smoothing_steps)`` steps of progress, so sparsely visited cells keep pace with the
    schedule instead of lagging by the visit rate.

    ``tau = open_fraction * T / L`` (:func:`progressive_tau`): a location that misfits at every step
    has every level open by ``open_fraction * T``, as the progressive policy does.

    Memory: four numbers per location (progress, smoothed loss, evidence, last visit), never a mask per
    location; masks exist only for the points of a batch.
    """

    def __init__(
        self,
        num_levels: int,
        num_locations: int,
        total_steps: int,
        epsilon: float,
        smoothing_steps: int = MaskDomain.smoothing_steps,
        open_fraction: float = DEFAULT_OPEN_FRACTION,
    ) -> None:
        super().__init__(num_levels)
        if num_locations < 1:
            raise ValueError(f"need at least one location, got {num_locations}")
        if not (epsilon >= 0 and math.isfinite(epsilon)):
            raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon}")
        if smoothing_steps < 1:
            raise ValueError(f"smoothing_steps must be >= 1, got {smoothing_steps}")
        self.tau = progressive_tau(total_steps, num_levels, open_fraction)
        self.epsilon = float(epsilon)
        self.smoothing_steps = int(smoothing_steps)
        self.num_locations = int(num_locations)
        self.register_buffer("location_progress", torch.zeros(num_locations))
        self.register_buffer("smoothed_loss", torch.zeros(num_locations))
        self.register_buffer("evidence", torch.zeros(num_locations))
        self.register_buffer("last_visit", torch.full((num_locations,), -1, dtype=torch.int32))

    def locate(self, coords: Tensor, index: Tensor | None) -> tuple[Tensor, Tensor]:
        """Locations ``(N, K)`` and weights ``(N, K)`` that a batch of points reads and feeds."""
        raise NotImplementedError

    def progress(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        locations, weights = self.locate(coords, index)
        values = self.location_progress.take(locations).to(coords.dtype)
        return (values * weights.to(coords.dtype)).sum(dim=1)

    def level_ramps(self, coords: Tensor, index: Tensor | None = None) -> Tensor:
        locations, weights = self.locate(coords, index)
        corner_progress = self.location_progress.take(locations).to(coords.dtype)
        if locations.shape[1] == 1:
            return ramps_from_progress(corner_progress[:, 0], self.num_levels)
        return interpolated_ramps(corner_progress, weights, self.num_levels)

    @torch.no_grad()
    def feedback(self, coords: Tensor, per_point_loss: Tensor, index: Tensor | None = None) -> None:
        if per_point_loss.shape != (coords.shape[0],):
            raise ValueError(
                f"per-point loss must have shape ({coords.shape[0]},), got {tuple(per_point_loss.shape)}"
            )
        locations, weights = self.locate(coords, index)
        loss = per_point_loss.detach().to(self.smoothed_loss.dtype)
        weights = weights.to(loss.dtype)
        weight = weights.reshape(-1)
        weighted = (weights * loss[:, None]).reshape(-1)
        step = int(self.step)
        smoothing = self.smoothing_steps
        plan = self._batch_plan(locations, weights)
        if plan is None:
            nodes = locations.reshape(-1)
            # A point exactly on a node gives the opposite corners weight 0: those entries do not visit.
            touching = weight > 0
            if not bool(touching.all()):
                nodes, weight, weighted = nodes[touching], weight[touching], weighted[touching]
        else:
            nodes = plan.nodes
        # Eq. 7. Without a plan (a batch seen once): no sorting and no O(locations) scratch buffer; the
        # loss and evidence buffers themselves accumulate. Each entry (point, corner) first reads what
        # it needs of its node's old state, the nodes' slots are zeroed and scatter-added into
        # (index_add_: repeated nodes sum), and each entry reads its node's sums back. All entries of
        # one node then compute the same new state, so writing it back with repeated indices is well
        # defined. With a plan (a batch seen again, e.g. full batches) the sums go to the batch's
        # distinct nodes directly. Either way O(N K) whatever the resolution
        # (docs/method.md, "The progress grid"); index_select / index_copy_ rather than buf[idx], whose overhead is visible
        # on a 2 M-node grid.
        progress = self.location_progress.index_select(0, nodes)
        if smoothing > 1:
            old_loss = self.smoothed_loss.index_select(0, nodes)
            old_evidence = self.evidence.index_select(0, nodes)
            gap = (step - self.last_visit.index_select(0, nodes)).clamp_min(1).to(loss.dtype)
        if plan is None:
            self.smoothed_loss.index_fill_(0, nodes, 0.0).index_add_(0, nodes, weighted)
            self.evidence.index_fill_(0, nodes, 0.0).index_add_(0, nodes, weight)
            weight_sum = self.evidence.index_select(0, nodes)
            step_loss = self.smoothed_loss.index_select(0, nodes) / weight_sum
        else:
            weight_sum = plan.weight_sum
            step_loss = plan.node_sums(weighted) / weight_sum
        if smoothing > 1:
            kept = old_evidence * (1.0 - 1.0 / smoothing) ** gap
            total = kept + weight_sum
            step_loss = (kept * old_loss + weight_sum * step_loss) / total
            self.evidence.index_copy_(0, nodes, total)
            advance = gap.clamp_(max=float(smoothing)).div_(self.tau)  # catch up min(gap, s) steps
        else:
            # Evidence = this step's weight, what the running mean's formula gives for s = 1 (old
            # evidence decays by 0); without a plan it is in place already. Catch-up: min(gap, 1) = 1.
            if plan is not None:
                self.evidence.index_copy_(0, nodes, weight_sum)
            advance = torch.full_like(step_loss, 1.0 / self.tau)
        self.smoothed_loss.index_copy_(0, nodes, step_loss)
        advance = torch.where(step_loss >= self.epsilon, advance, torch.zeros_like(advance))
        self.location_progress.index_copy_(0, nodes, (progress + advance).clamp_(max=float(self.num_levels)))
        self.last_visit.index_fill_(0, nodes, step)
        self.step += 1

    def _batch_plan(self, locations: Tensor, weights: Tensor) -> _BatchPlan | None:
        """The distinct nodes of a batch the feedback saw before, or None (subclasses that cache)."""
        return None

    def mean_progress(self) -> float:
        return float(self.location_progress.mean())

    def extra_repr(self) -> str:
        return (
            f"num_levels={self.num_levels}, locations={self.num_locations}, tau={self.tau:.3g}, "
            f"epsilon={self.epsilon:g}, smoothing_steps={self.smoothing_steps}"
        )


class SampleMask(SpatialMask):
    """``Phi_SA`` per training sample: point ``i`` of the fixed training set owns progress ``i``.

    Every call needs ``index`` ``(N,)``, the sample ids of the points; coordinates are not used to find
    the location (use :class:`GridMask` for coordinates never seen in training).
    """

    def locate(self, coords: Tensor, index: Tensor | None) -> tuple[Tensor, Tensor]:
        if index is None:
            raise ValueError("a per-sample mask needs the sample index of every point (index=...)")
        index = index.reshape(-1, 1).long()
        if index.shape[0] != coords.shape[0]:
            raise ValueError(f"got {index.shape[0]} sample indices for {coords.shape[0]} points")
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= self.num_locations):
            raise IndexError(f"sample index out of range 0..{self.num_locations - 1}")
        return index, torch.ones(index.shape, dtype=coords.dtype, device=coords.device)


class GridMask(SpatialMask):
    """``Phi_SA`` on a regular grid over ``[-1, 1]^d`` (Eq. 6-7).

    Parameters
    ----------
    num_levels : ``L``.
    resolution : nodes per axis, e.g. ``(128, 128)``; ``(1,) * d`` is non-spatial.
    total_steps, epsilon, smoothing_steps, open_fraction : as :class:`SpatialMask`.
    periodic : per-axis flags for wrapping coordinates (a closed curve's parameter).
    """

    def __init__(
        self,
        num_levels: int,
        resolution: Sequence[int],
        total_steps: int,
        epsilon: float,
        smoothing_steps: int = MaskDomain.smoothing_steps,
        periodic: Sequence[bool] | None = None,
        open_fraction: float = DEFAULT_OPEN_FRACTION,
    ) -> None:
        resolution = tuple(int(r) for r in resolution)
        if not resolution or any(r < 1 for r in resolution):
            raise ValueError(f"grid resolution must be positive integers, got {resolution}")
        if len(resolution) > 3:
            raise ValueError(f"grid masks support d = 1, 2, 3; got d = {len(resolution)}")
        super().__init__(num_levels, cell_count(resolution), total_steps, epsilon, smoothing_steps, open_fraction)
        self.resolution = resolution
        self.periodic = tuple(bool(p) for p in periodic) if periodic is not None else (False,) * len(resolution)
        if len(self.periodic) != len(resolution):
            raise ValueError("periodic needs one flag per grid axis")
        self._located: _Lookup | None = None

    def locate(self, coords: Tensor, index: Tensor | None) -> tuple[Tensor, Tensor]:
        # The fitting loop looks up the same batch twice per step (forward, then feedback), and a full
        # batch every step. The lookup is cached against a *copy* of the coordinates and reused only
        # when the new coordinates have the same shape, dtype, device and values, so a different batch,
        # or the same tensor changed in place in a way that does not bump its version (through numpy,
        # ``.data``), always recomputes. The comparison costs O(N d), the lookup O(N 2^d).
        cached = self._located
        if (
            cached is not None
            and cached.coords.shape == coords.shape
            and cached.coords.dtype == coords.dtype
            and cached.coords.device == coords.device
            and torch.equal(cached.coords, coords)
        ):
            return cached.located
        located = multilinear_corners(coords, self.resolution, self.periodic)
        self._located = _Lookup(coords.detach().clone(), located)
        return located

    def _batch_plan(self, locations: Tensor, weights: Tensor) -> _BatchPlan | None:
        # A batch fed back a second time (full batches: every step) gets a plan of its distinct nodes,
        # which makes later feedbacks cheaper than the sort-free first one; a batch seen once pays no sort.
        cached = self._located
        if cached is None or cached.located[0] is not locations:
            return None
        cached.feedbacks += 1
        if cached.plan is None and cached.feedbacks >= 2:
            cached.plan = _BatchPlan(locations, weights, self.smoothed_loss.dtype)
        return cached.plan

    def progress_grid(self) -> Tensor:
        """The progress as a ``resolution``-shaped tensor (for pictures of the grid itself)."""
        return self.location_progress.reshape(self.resolution)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, periodic={self.periodic}, " + super().extra_repr()
