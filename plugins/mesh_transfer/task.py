"""The mesh-transfer :class:`~sape_geo.fitting.Task`: a network learns a correction of the initialised
source vertices that pulls the surface onto the target while keeping the triangles' shapes.

Per step (all in the normalised frame, see :mod:`.pipeline`):

- network input: the initial vertex positions ``x0`` ``(n, 3)`` with sample ids ``arange(n)`` (SAPE's
  progress lives per vertex);
- deformed vertices ``x = x0 + f(x0)`` (the network starts at exactly zero output, so step 0 is the
  biharmonic initialisation);
- loss = symmetric squared Chamfer between ``surface_samples`` area-weighted barycentric samples of the
  deformed surface and ``target_batch`` target samples (by default each measured to the other
  *surface*, see :mod:`sape_geo.geometry.surface_chamfer`), + ``conformal_weight`` x conformal energy of the
  map source -> deformed over the source's area, + ``landmark_weight`` x mean squared landmark error;
- per-point loss (SAPE's feedback): each vertex's distance to the target, so vertices already on the
  target stop opening frequencies and misfit regions keep opening them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.fitting import Batch, FitConfig, NetworkFree, Task
from sape_geo.geometry.chamfer import chamfer_distance, mean_per_nearest, nearest_squared_distances
from sape_geo.geometry.coverage import distance_from_observed, is_nearly_closed, observed_confidence, observed_fraction
from sape_geo.geometry.energies import SourceFrames, arap_energy_per_triangle, arap_ratio, barycentric_points, conformal_ratio, sample_barycentric
from sape_geo.geometry.metrics import SurfaceDistance, interior_edge_faces, local_rotations
from sape_geo.geometry.surface_chamfer import closest_barycentric, closest_barycentric_torch, surface_chamfer
from sape_geo.config import MaskDomain
from sape_geo.networks import FieldModel

from .settings import TransferSettings

if TYPE_CHECKING:
    from sape_geo.runs import RunDirectory

    from .prepared import PreparedTransfer


# Partial targets (docs/method.md, "Partial targets"). With ``partial="auto"``, a target whose coverage
# estimate on the initialisation reaches this share of the template's area counts as complete (the plain
# symmetric Chamfer); measured: the complete benchmark targets give 0.96-1.0, single views 0.42-0.80.
COMPLETE_COVERAGE = 0.9
# Below this share the scan covers almost nothing of the template: the summary says so.
ALMOST_NOTHING = 0.1
# The coverage is estimated again on the deformed template every this many steps: it sharpens as the
# template lands on the scan.
COVERAGE_EVERY = 50
# Target points farther than this from the template (normalised units: the target's longest half-side
# is 0.9) are strays for the coverage estimate.
STRAY_DISTANCE = 0.1
# At most this many target points estimate the coverage (a seeded subset of the target samples).
COVERAGE_POINTS = 20000


# Weight of the hold on inferred vertices (see MeshTransferTask._observed_chamfer) against the squared
# Chamfer: the as-rigid-as-possible energy of the map initialisation -> deformed over the initialisation's
# area, each triangle weighted by how unobserved its corners are (scale-free: stretch ratios). It keeps
# the unseen side's shape up to a local rotation, so a part follows its observed side as a rigid piece.
# It replaced the squared uniform Laplacian of the correction (weight 0.01 over the fourth power of the
# mean edge length), which also let the unseen side shear and stretch with its observed neighbours.
# Measured (benchmarks/partial.md's 14 views, fit only, 150 steps, anchor 1): Chamfer to the whole target
# lower on 12 views (cat -> dog z+ 1.77 against 1.85 % of the diagonal, creature z- 2.09 against 2.52,
# the 7,993-vertex hand z+ 0.293 against 0.323), within 0.03 higher on the other two, marker errors
# within 0.02 or lower, fewer folded edges on 10 views.
HOLD_WEIGHT = 0.01
# Weight of the pull of inferred vertices towards their initialisation, ``mean_v (1 - c_v) |x - x0|^2``,
# against the squared Chamfer (both squared normalised units): the hold leaves the unseen side free to
# drift as a whole. Measured (150 steps): the unseen half of a sphere moved 0.007 of the radius instead of
# 0.18; the 7,993-vertex hand onto a scan of its palm side, Chamfer to the whole hand 0.323 % of the
# diagonal instead of 0.416 (initialisation 0.364); cat -> dog x+ Hausdorff 7.34 instead of 7.44
# (initialisation 7.36), marker error 3.39 instead of 3.23 (initialisation 3.50).
ANCHOR_WEIGHT = 1.0
# The pull grows with an inferred vertex's distance from the observed region (along the initialisation's
# edges, as a share of its diagonal ``g``): ``ANCHOR_WEIGHT (1 + TRUST_GAIN (g / TRUST_LENGTH)^2)``. Next
# to the scan the unseen side follows its observed neighbours (the hold); far from it nothing justifies a
# move, yet the network's low frequencies, which the unseen side shares with the observed one (SAPE opens
# no higher ones there), carried it along: the whole back of the 7,993-vertex hand moved by 0.029 % of the
# diagonal with the palm, setting the Hausdorff. Measured (fit only, 150 steps, benchmarks/partial.md's 14
# views) against a uniform weight 1: the hand's unseen side beyond 3 rings moved 0.009 % of the diagonal
# on average (0.029 with the Laplacian hold); the Hausdorff to the whole target no worse than the initialisation's on 12 views
# (9), e.g. cat -> dog z- / x+ 9.20 / 7.354 (9.23 / 7.363; initialisation 9.23 / 7.356), the hand z+
# 8.394 (8.431; initialisation 8.402); Chamfer 0.01-0.14 % of the diagonal higher on the cats (cat ->
# dog z+ 1.79 against 1.77), lower on the hand. A gain of 3 left 3 views worse than initialised, 100 or
# a length of 0.05 or 0.2 did no better on the five views that missed.
TRUST_LENGTH = 0.1
TRUST_GAIN = 10.0


def _rest_frames(vertices: np.ndarray, faces: np.ndarray) -> SourceFrames:
    """The rest frames of the triangles of ``vertices`` ``(n, 3)`` (the initialisation, normalised frame)
    that have an area (a triangle the initialisation collapsed has no frame and is left out), float32."""
    corners = vertices[faces]
    double_area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    return SourceFrames(vertices, faces[double_area > 1e-12 * max(float(double_area.max(initial=0.0)), 1e-300)]).to("cpu", torch.float32)


# The inversion barrier (``inversion_weight``) charges a triangle whose normal turned more than about 80
# degrees from where the map's local rotation carries its source normal (cosine below this margin).
INVERSION_MARGIN = 0.2
# The inversion barrier measures a triangle's local rotation again only where its normal's cosine with the
# normal it was last given, or that of a triangle sharing a corner, fell below this (about 18 degrees; see
# MeshTransferTask.inversion_excess).
REMEASURE_AGREEMENT = 0.95
# The calibrated epsilon's floor (normalised units): an initialisation already on the target opens nothing.
MIN_EPSILON = 1e-5


def source_to_normalised_scale(prepared: "PreparedTransfer") -> float:
    """The uniform scale that takes the source's units to the normalised optimisation frame: the cube
    root of the determinant of alignment then normalisation."""
    determinant = abs(prepared.alignment.determinant) * abs(prepared.normalisation.determinant)
    return float(determinant ** (1.0 / 3.0))


def _unit_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Unit triangle normals ``(m, 3)`` (differentiable; a zero-area triangle gives a zero normal)."""
    normals = torch.linalg.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    return normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-20)


class MeshTransferTask(Task):
    """Fit a correction of the initialised source onto the target (see the module docstring)."""

    name = "transfer"
    in_dim = 3
    zero_output = True  # the network learns a correction of the initialisation: it starts at exactly 0
    out_dim = 3

    def __init__(self, prepared: "PreparedTransfer", settings: TransferSettings = TransferSettings()) -> None:
        self.prepared = prepared
        self.settings = settings
        normalised = prepared.normalisation
        initial = normalised.apply(prepared.initial_vertices)  # float64; the hold's rest frames and the trust pull's distances read it too
        self.initial = torch.tensor(initial, dtype=torch.float32)
        self.index = torch.arange(self.initial.shape[0])
        # Energies and samples use the usable faces only (degenerate/duplicated ones have no frame);
        # the exported result keeps every face (see PreparedTransfer.source_faces).
        self.faces = torch.tensor(prepared.energy_faces, dtype=torch.long)
        # Energies are measured against the source carried into the normalised frame by the alignment's
        # overall scale (a similarity has E_C = 0 and E_D / A = 1): the source's units do not matter.
        self.source_scale = source_to_normalised_scale(prepared)
        source_scaled = prepared.source_vertices * self.source_scale
        self.frames = SourceFrames(source_scaled, prepared.energy_faces).to("cpu", torch.float32)
        # A polygon counts once in the conformal energy: every fan of it at weight 1 / k (a quad: both
        # diagonal splits at half weight), not as triangles of different shapes (docs/method.md, "Polygon templates").
        conformal_triangles, conformal_weights = prepared.conformal_triangles()
        self.conformal_frames = self.frames if prepared.source_template.polygons.is_triangles else SourceFrames(
            source_scaled, conformal_triangles, weights=conformal_weights).to("cpu", torch.float32)
        target_samples = normalised.apply(prepared.target.samples)
        self.target_samples = torch.tensor(target_samples, dtype=torch.float32)
        target = prepared.target
        target_V = normalised.apply(target.vertices)
        self._target_distance = SurfaceDistance(target_V, target.faces)
        edge_faces = interior_edge_faces(prepared.energy_faces)
        self.edge_faces = torch.tensor(edge_faces, dtype=torch.long)
        source_scaled_64 = torch.tensor(source_scaled, dtype=torch.float64)
        source_normals = _unit_normals(source_scaled_64, torch.tensor(prepared.energy_faces))
        source_cosines = (source_normals[self.edge_faces[:, 0]] * source_normals[self.edge_faces[:, 1]]).sum(dim=1)
        self.edge_allowance = source_cosines.clamp_max(0.0).to(torch.float32)
        # A polygon source's fold penalty also covers the creases between its polygons (Newell normals):
        # the user's own edges, which a fold of the working triangulation alone does not see as a whole
        # (docs/method.md, "Polygon templates").
        polygons = prepared.source_template.polygons
        self.polygon_pairs = self.polygon_allowance = self.fold_corners = self.fold_next = self.fold_owner = None
        if not polygons.is_triangles:
            from sape_geo.geometry.polygon_mesh import interior_polygon_pairs

            self.polygon_pairs = torch.as_tensor(interior_polygon_pairs(polygons), dtype=torch.long)
            self.fold_corners, self.fold_next, self.fold_owner = (torch.as_tensor(a, dtype=torch.long) for a in (
                polygons.corners, polygons.next_corner, polygons.owner))
            normals = self._polygon_normals(source_scaled_64)
            self.polygon_allowance = (normals[self.polygon_pairs[:, 0]] * normals[self.polygon_pairs[:, 1]]).sum(dim=1).clamp_max(0.0).to(torch.float32)
        self.target_normals = None
        if self.settings.normal_matching and target.faces is not None:
            normals = np.cross(target_V[target.faces[:, 1]] - target_V[target.faces[:, 0]], target_V[target.faces[:, 2]] - target_V[target.faces[:, 0]])
            normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
            self.target_normals = normals
            _, sample_faces, _ = self._target_distance.closest_faces(target_samples)
            self.target_sample_normals = torch.tensor(normals[sample_faces], dtype=torch.float32)
        self._cached_distances: Tensor | None = None
        self._held_batch: Batch | None = None
        if prepared.target.faces is not None:
            self._target_vertices = torch.tensor(target_V, dtype=torch.float32)
            self._target_faces = torch.tensor(prepared.target.faces, dtype=torch.long)
        self._calls = 0
        self._expected_normals: Tensor | None = None
        self._rotated_normals: np.ndarray | None = None  # R_t n0_t per triangle, unit, before the majority's sign
        marks = prepared.landmarks
        self.landmark_ids = torch.tensor(marks.source_indices if marks is not None else np.zeros(0), dtype=torch.long)
        landmark_positions = normalised.apply(marks.target_positions) if marks is not None else np.zeros((0, 3))
        self.landmark_positions = torch.tensor(landmark_positions, dtype=torch.float32)

        self._coverage_points = target_samples
        if target_samples.shape[0] > COVERAGE_POINTS:
            self._coverage_points = target_samples[np.random.default_rng(0).choice(target_samples.shape[0], COVERAGE_POINTS, replace=False)]
        self.observed = torch.ones(self.initial.shape[0])
        self.initial_observed_fraction = 1.0
        self.partial = self._choose_partial()
        if self.partial:
            self.hold_frames = _rest_frames(initial, prepared.energy_faces)
            far = distance_from_observed(initial, prepared.energy_faces, self.observed.numpy() >= 0.5)
            self.anchor_weights = torch.tensor(ANCHOR_WEIGHT * (1.0 + TRUST_GAIN * (far / TRUST_LENGTH) ** 2), dtype=torch.float32)
        self.final_observed: np.ndarray | None = None

    def coverage(self, vertices: np.ndarray) -> np.ndarray:
        """Per vertex ``(n,)``: the confidence in [0, 1] that the target observes the template at ``vertices``
        (normalised frame; :func:`~sape_geo.geometry.coverage.observed_confidence`)."""
        return observed_confidence(vertices, self.prepared.energy_faces, self._coverage_points, STRAY_DISTANCE)

    @functools.cached_property
    def _target_is_closed(self) -> bool:
        """A target mesh closed but for small holes once its seams are welded (:func:`is_nearly_closed`):
        complete, whatever the initialisation's coverage (a large pose change makes that look low).
        Computed once: the choice of the data term and the evaluation both ask."""
        target = self.prepared.target
        return target.faces is not None and is_nearly_closed(target.vertices, target.faces)

    def _choose_partial(self) -> bool:
        """Whether the data term knows what was observed (``settings.partial``): ``"auto"`` turns it on
        when the target is not a closed surface and its coverage of the initialisation is below
        :data:`COMPLETE_COVERAGE`; sets ``observed`` and ``initial_observed_fraction``."""
        if self.settings.partial == "off" or (self.settings.partial == "auto" and self._target_is_closed):
            return False
        initial = self.initial.numpy().astype(np.float64)
        confidence = self.coverage(initial)
        self.initial_observed_fraction = observed_fraction(confidence, initial, self.prepared.energy_faces)
        if self.settings.partial == "on" or self.initial_observed_fraction < COMPLETE_COVERAGE:
            self.observed = torch.tensor(confidence, dtype=torch.float32)
            return True
        return False

    def method_defaults(self, method: str) -> dict[str, float]:
        """SAPE's threshold ``epsilon`` from the task's own scale (``settings.epsilon_fraction``)."""
        return {"epsilon": self.calibrated_epsilon()} if self.settings.epsilon_fraction > 0 else {}

    def calibrated_epsilon(self) -> float:
        """``epsilon_fraction`` x the median distance of the initialisation's vertices to the target
        (normalised units; docs/method.md, "SAPE's threshold"): a vertex opens frequencies while it misfits
        by more than that share of what the initialisation left, so the heat map ends high only where the
        fit needed detail, whatever the pair's scale of misfit."""
        residual = float(self.vertex_distances(self.initial).median())
        return max(self.settings.epsilon_fraction * residual, MIN_EPSILON)

    def mask_domain(self) -> MaskDomain:
        if self.settings.mask_resolution > 0:
            return MaskDomain("grid", resolution=(self.settings.mask_resolution,) * 3)
        return MaskDomain("samples", num_samples=int(self.initial.shape[0]))

    def to(self, device: torch.device) -> None:
        if self.partial:
            self.hold_frames.to(device)
            self.anchor_weights = self.anchor_weights.to(device)
        for name in ("initial", "index", "faces", "target_samples", "observed", "landmark_ids", "landmark_positions", "edge_faces", "edge_allowance"):
            setattr(self, name, getattr(self, name).to(device))
        for name in ("polygon_pairs", "polygon_allowance", "fold_corners", "fold_next", "fold_owner"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).to(device))
        self.frames.to(device)
        self.conformal_frames.to(device)

    def _reuses_correspondences(self) -> bool:
        return (self.settings.correspondence_every > 1 and self.settings.chamfer == "surface" and self.target_normals is None and not self.partial
                and self.prepared.target.faces is not None)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        if self._reuses_correspondences() and self._held_batch is not None and step % self.settings.correspondence_every != 0:
            return self._held_batch
        face_ids, barycentric = sample_barycentric(self.frames.areas, self.settings.surface_samples, generator)
        count = self.target_samples.shape[0]
        if self.settings.target_batch < count:
            chosen = torch.randperm(count, generator=generator)[: self.settings.target_batch].to(self.target_samples.device)
        else:
            chosen = torch.arange(count, device=self.target_samples.device)
        data = {"face_ids": face_ids, "barycentric": barycentric, "target": self.target_samples[chosen]}
        if self.target_normals is not None:
            data["target_normals"] = self.target_sample_normals[chosen.cpu()]
        self._held_batch = Batch(self.initial, self.index, data)
        return self._held_batch

    def deformed(self, output: Tensor) -> Tensor:
        """Deformed vertices in the normalised frame ``(n, 3)``."""
        return self.initial + output

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        deformed = self.deformed(output)
        samples = barycentric_points(deformed, self.faces, batch.data["face_ids"], batch.data["barycentric"])
        if self.partial:
            chamfer, target_to_surface = self._observed_chamfer(deformed, samples, batch)
        elif self._reuses_correspondences():
            chamfer, target_to_surface = self._kept_correspondence_chamfer(deformed, samples, batch)
        elif self.target_normals is not None and self.settings.chamfer == "surface":
            chamfer, target_to_surface = self._normal_aware_chamfer(deformed, samples, batch)
        elif self.settings.chamfer == "surface":
            chamfer, _, target_to_surface = surface_chamfer(samples, deformed, self.faces, batch.data["target"], self._target_distance)
        else:
            chamfer, _, target_to_surface = chamfer_distance(samples, batch.data["target"], squared=True, backend="auto")
        total = chamfer
        if self.settings.conformal_weight > 0:
            total = total + self.settings.conformal_weight * conformal_ratio(deformed, self.conformal_frames)
        if self.settings.arap_weight > 0:
            total = total + self.settings.arap_weight * arap_ratio(deformed, self.conformal_frames)
        if self.settings.landmark_weight > 0 and self.landmark_ids.numel():
            error = ((deformed[self.landmark_ids] - self.landmark_positions) ** 2).sum(dim=1).mean()
            total = total + self.settings.landmark_weight * error
        folds = self.settings.fold_weight > 0 or self.settings.fold_feedback
        # the fold penalty and the inversion barrier share the deformed triangles' normals
        normals = _unit_normals(deformed, self.faces) if folds or self.settings.inversion_weight > 0 else None
        if folds:
            excess = self.fold_excess(deformed, normals)
            if self.settings.fold_weight > 0:
                total = total + self.settings.fold_weight * (excess**2).mean()
        if self.settings.inversion_weight > 0:
            total = total + self.settings.inversion_weight * (self.inversion_excess(deformed, normals) ** 2).mean()
        if self._cached_distances is None or self._calls % self.settings.feedback_every == 0:
            self._cached_distances = self.vertex_distances(deformed)
        self._calls += 1
        per_vertex = self._cached_distances
        if self.partial:
            # an unobserved vertex is far from the scan by nature, not by misfit: it opens no frequencies
            per_vertex = per_vertex * self.observed
        if self.settings.feedback == "two-sided":
            per_vertex = torch.maximum(per_vertex, self.uncovered_distances(deformed, batch.data["target"], target_to_surface))
        if self.settings.fold_feedback:
            corners = self.folding_corners(excess.detach())
            per_vertex = per_vertex.index_fill(0, corners, 0.0)
        return total, per_vertex

    def _observed_chamfer(self, deformed: Tensor, samples: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """The data term of a partial target (docs/method.md, "Partial targets"): every target point pulls
        the deformed surface (the scan must be explained), but a sample of the deformed surface is pulled
        towards the target only as much as its triangle is observed (``observed`` at its corners,
        interpolated at the sample), so the unseen side follows the initialisation and the regulariser,
        not the nearest visible point. The confidence is estimated again every :data:`COVERAGE_EVERY` steps
        on the deformed template. Returns the loss and the target samples' squared distances."""
        if self._calls > 0 and self._calls % COVERAGE_EVERY == 0:
            confidence = torch.as_tensor(self.coverage(deformed.detach().cpu().double().numpy()), dtype=self.observed.dtype,
                                         device=self.observed.device)
            # The estimate may only fall: an unseen part that drifted towards the scan must not become
            # "observed" and be pulled further (a feedback loop that folds the unseen side onto the seen one).
            self.observed = torch.minimum(self.observed, confidence)
        target = batch.data["target"]
        if self.settings.chamfer == "surface":
            _, forward, backward = surface_chamfer(samples, deformed, self.faces, target, self._target_distance)
        else:
            _, forward, backward = chamfer_distance(samples, target, squared=True, backend="auto")
        corners = self.observed.to(samples.dtype)[self.faces[batch.data["face_ids"]]]
        weights = (corners * batch.data["barycentric"].to(samples.dtype)).sum(dim=1)
        # Inferred vertices keep the shape of their initialisation up to a local rotation (the ARAP energy of
        # the map initialisation -> deformed, per triangle weighted by its corners' mean unobservedness), so
        # the unseen side moves with its observed neighbours as a rigid piece but is not bent towards the scan.
        unobserved = 1.0 - self.observed.to(samples.dtype)
        rigidity = unobserved[self.hold_frames.faces].mean(dim=1) * arap_energy_per_triangle(deformed, self.hold_frames)
        hold = rigidity.sum() / self.hold_frames.total_area.to(samples.dtype)
        correction = deformed - self.initial
        # ... and are pulled towards it, the harder the farther they are from the observed region
        anchor = (unobserved * self.anchor_weights.to(samples.dtype) * (correction**2).sum(dim=1)).mean()
        return (weights * forward).mean() + backward.mean() + HOLD_WEIGHT * hold + anchor, backward.detach()

    def inversion_excess(self, deformed: Tensor, normals: Tensor | None = None) -> Tensor:
        """Per triangle ``(m,)``: how far the cosine between its deformed normal and the normal it should
        have fell below ``INVERSION_MARGIN`` (0 where it did not); a barrier against inverted triangles.
        ``normals``: the deformed triangles' unit normals ``(m, 3)`` when the caller has them.

        The normal it should have is the source normal turned by the map's local rotation around the
        triangle (:func:`~sape_geo.geometry.metrics.local_rotations`: the ARAP rotation of the one-rings of
        its corners, source -> deformed, the rotation the ``inverted_triangles`` metric uses), measured
        again every ``feedback_every`` steps without a gradient (on the CPU), turned to the area-weighted
        majority's side, so a mirroring alignment does not count every triangle.
        """
        if self._expected_normals is None or self._calls % self.settings.feedback_every == 0:
            source = self.prepared.source_vertices
            faces = self.prepared.energy_faces
            current = deformed.detach().cpu().double()
            current_normals = _unit_normals(current, self.faces.cpu()).numpy()
            source_normals = np.cross(source[faces[:, 1]] - source[faces[:, 0]], source[faces[:, 2]] - source[faces[:, 0]])
            if self._expected_normals is None:
                self._rotated_normals = np.zeros_like(source_normals)
                turned = np.arange(faces.shape[0])
            else:
                # Where every triangle sharing a corner with a triangle is still within about 18 degrees of
                # the normal it was last given, the local rotation there has barely moved: the triangle has
                # no barrier now and cannot reach the margin (78 degrees) before the next measure, so its
                # rotation is not measured again (the SVDs were an eighth of the fit on a 8k-vertex source).
                agreement = (current_normals * self._expected_normals.cpu().double().numpy()).sum(axis=1)
                moved = np.zeros(source.shape[0], dtype=bool)
                moved[faces[agreement < REMEASURE_AGREEMENT]] = True
                turned = np.flatnonzero(moved[faces].any(axis=1))
            if turned.size:
                rotations = local_rotations(source, current.numpy(), faces, turned)
                rotated = np.einsum("kab,kb->ka", rotations, source_normals[turned])
                self._rotated_normals[turned] = rotated / np.maximum(np.linalg.norm(rotated, axis=1, keepdims=True), 1e-300)
            agreement = (current_normals * self._rotated_normals).sum(axis=1)
            majority = 1.0 if (agreement * np.linalg.norm(source_normals, axis=1)).sum() >= 0 else -1.0  # area-weighted
            self._expected_normals = torch.as_tensor(majority * self._rotated_normals, dtype=deformed.dtype, device=deformed.device)
        normals = _unit_normals(deformed, self.faces) if normals is None else normals
        agreement = (normals * self._expected_normals).sum(dim=1)
        return torch.relu(INVERSION_MARGIN - agreement)

    def _polygon_normals(self, vertices: Tensor) -> Tensor:
        """Unit (Newell) normals of a polygon source's polygons: the sum of each corner fan's cross
        products; differentiable."""
        first = torch.zeros(int(self.fold_owner.max()) + 1, dtype=torch.long, device=vertices.device)
        first.scatter_reduce_(0, self.fold_owner, torch.arange(self.fold_owner.numel(), device=vertices.device), reduce="amin", include_self=False)
        relative = vertices[self.fold_corners] - vertices[self.fold_corners[first[self.fold_owner]]]
        cross = torch.linalg.cross(relative, relative[self.fold_next])
        normals = torch.zeros(first.numel(), 3, dtype=vertices.dtype, device=vertices.device).index_add(0, self.fold_owner, cross)
        return normals / normals.norm(dim=1, keepdim=True).clamp_min(1e-20)

    def fold_excess(self, deformed: Tensor, normals: Tensor | None = None) -> Tensor:
        """Per interior edge of the triangulation, then (a polygon source) per edge between two polygons
        ``(e,)``: how far the cosine of its two facets' normals fell below its allowance ``min(source
        cosine, 0)`` (0 where it did not). ``normals``: the deformed triangles' unit normals ``(m, 3)``
        when the caller has them."""
        normals = _unit_normals(deformed, self.faces) if normals is None else normals
        cosines = (normals[self.edge_faces[:, 0]] * normals[self.edge_faces[:, 1]]).sum(dim=1)
        excess = torch.relu(self.edge_allowance.to(deformed.dtype) - cosines)
        if self.polygon_pairs is None:
            return excess
        normals = self._polygon_normals(deformed)
        cosines = (normals[self.polygon_pairs[:, 0]] * normals[self.polygon_pairs[:, 1]]).sum(dim=1)
        return torch.cat([excess, torch.relu(self.polygon_allowance.to(deformed.dtype) - cosines)])

    def folding_corners(self, excess: Tensor) -> Tensor:
        """The vertices ``(k,)`` of the facets on either side of an edge with a positive ``excess`` (from
        :meth:`fold_excess`)."""
        triangles = self.edge_faces[excess[: self.edge_faces.shape[0]] > 0].reshape(-1)
        corners = self.faces[triangles].reshape(-1)
        if self.polygon_pairs is None:
            return corners
        polygons = self.polygon_pairs[excess[self.edge_faces.shape[0]:] > 0].reshape(-1)
        return torch.cat([corners, self.fold_corners[torch.isin(self.fold_owner, polygons)]])

    def _kept_correspondence_chamfer(self, deformed: Tensor, samples: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """Surface Chamfer with the closest triangles of a held batch (see ``correspondence_every``):
        found exactly by libigl when the batch is new, reused (the exact closest point of the kept triangle) while it is held."""
        data = batch.data
        target = data["target"]
        if "kept_target_faces" not in data:
            _, target_faces, _ = self._target_distance.closest_faces(samples.detach().cpu().double().numpy())
            surface_faces, _ = closest_barycentric(target.detach().cpu().double().numpy(), deformed.detach().cpu().double().numpy(),
                                                   self.faces.cpu().numpy().astype(np.int64))
            data["kept_target_faces"] = torch.as_tensor(target_faces, dtype=torch.long, device=samples.device)
            data["kept_surface_faces"] = torch.as_tensor(surface_faces, dtype=torch.long, device=samples.device)
        corners = self._target_vertices.to(samples.device, samples.dtype)[self._target_faces.to(samples.device)[data["kept_target_faces"]]]
        closest = (closest_barycentric_torch(samples.detach(), corners)[:, :, None] * corners).sum(dim=1)
        forward = ((samples - closest) ** 2).sum(dim=1)
        surface_corners = deformed[self.faces[data["kept_surface_faces"]]]
        weights = closest_barycentric_torch(target, surface_corners.detach())
        backward = ((target - (weights[:, :, None] * surface_corners).sum(dim=1)) ** 2).sum(dim=1)
        return forward.mean() + backward.mean(), backward.detach()

    def _normal_aware_chamfer(self, deformed: Tensor, samples: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """Surface Chamfer without the pairs whose normals face away from each other (see
        :class:`TransferSettings`); returns the loss and the target samples' squared distances."""
        normals = _unit_normals(deformed.detach(), self.faces)
        _, face_ids, closest = self._target_distance.closest_faces(samples.detach().cpu().double().numpy())
        sample_normals = normals[batch.data["face_ids"]]
        closest_normals = torch.as_tensor(self.target_normals[face_ids], dtype=samples.dtype, device=samples.device)
        forward_agree = (sample_normals * closest_normals).sum(dim=1)
        target = batch.data["target"]
        faces_np = self.faces.cpu().numpy().astype(np.int64)
        surface_faces, weights = closest_barycentric(target.detach().cpu().double().numpy(), deformed.detach().cpu().double().numpy(), faces_np)
        surface_faces_t = torch.as_tensor(surface_faces, dtype=torch.long, device=deformed.device)
        backward_agree = (batch.data["target_normals"].to(deformed.device, deformed.dtype) * normals[surface_faces_t]).sum(dim=1)
        sign = 1.0 if float(forward_agree.sum() + backward_agree.sum()) >= 0 else -1.0  # the majority sets the convention
        forward_keep = (forward_agree * sign > 0).to(samples.dtype)
        backward_keep = (backward_agree * sign > 0).to(samples.dtype)
        forward = ((samples - torch.as_tensor(closest, dtype=samples.dtype, device=samples.device)) ** 2).sum(dim=1)
        on_surface = (torch.as_tensor(weights, dtype=deformed.dtype, device=deformed.device)[:, :, None] * deformed[self.faces[surface_faces_t]]).sum(dim=1)
        backward = ((target - on_surface) ** 2).sum(dim=1)
        loss = (forward * forward_keep).sum() / forward.shape[0] + (backward * backward_keep).sum() / backward.shape[0]
        return loss, backward.detach()

    def uncovered_distances(self, deformed: Tensor, target: Tensor, target_to_surface: Tensor) -> Tensor:
        """Per vertex ``(n,)``: the RMS distance to the deformed surface of the target samples nearest to it.

        A target part that no vertex reaches yet (an ear a sphere has to grow) is far from the deformed
        surface, but the vertices next to it may sit on the target already; attributing those target
        samples' misfit to their nearest vertex makes SAPE open frequencies there too.
        """
        _, nearest = nearest_squared_distances(target, deformed.detach(), backend="auto")
        return mean_per_nearest(target_to_surface, nearest, deformed.shape[0]).sqrt()

    def vertex_distances(self, deformed: Tensor) -> Tensor:
        """Each vertex's distance to the target surface (or nearest target point) ``(n,)``, normalised
        units, no gradient: SAPE's per-point loss."""
        squared = self._target_distance(deformed.detach().cpu().double().numpy())
        return torch.as_tensor(np.sqrt(np.maximum(squared, 0.0)), dtype=deformed.dtype, device=deformed.device)

    def result_vertices(self, model: FieldModel) -> np.ndarray:
        """The deformed source in the target's original frame ``(n, 3)`` float64."""
        deformed = self.deformed(model(self.initial, self.index)).detach().cpu().double().numpy()
        return self.prepared.finished(self.prepared.normalisation.inverse().apply(deformed))

    def evaluate(self, model: FieldModel) -> dict[str, float]:
        vertices = self.result_vertices(model)
        self.final_observed = self.observed_on(vertices)
        metrics = self.prepared.evaluate(vertices, observed=self.final_observed >= 0.5)
        metrics.update(self.observation_metrics(vertices, self.final_observed))
        return metrics

    def observed_on(self, vertices: np.ndarray) -> np.ndarray:
        """The confidence ``(n,)`` in [0, 1] that the target observes each vertex of a result (target frame):
        1 everywhere on a closed target surface (complete by construction) unless ``partial="on"``, else
        estimated on the result (``observed.npy``)."""
        if self.settings.partial != "on" and self._target_is_closed:
            return np.ones(vertices.shape[0])
        return self.coverage(self.prepared.normalisation.apply(vertices))

    def observation_metrics(self, vertices: np.ndarray, confidence: np.ndarray) -> dict[str, Any]:
        """``observed_fraction`` (area-weighted mean confidence on the result), ``observed_vertices`` (share
        with confidence >= 0.5), ``partial_data_term`` (whether the partial data term ran),
        ``initial_observed_fraction`` (the estimate on the initialisation that ``partial="auto"`` decides by;
        1 when it was not needed),
        ``observed_distance_pct_diag`` (mean distance of the observed vertices to the target, % of its
        diagonal); adds the summary's notes on low coverage."""
        faces = self.prepared.energy_faces
        fraction = observed_fraction(confidence, vertices, faces)
        observed = confidence >= 0.5
        metrics: dict[str, Any] = {"observed_fraction": fraction, "observed_vertices": float(observed.mean()), "partial_data_term": self.partial,
                                   "initial_observed_fraction": self.initial_observed_fraction}
        if observed.any():
            distances = np.sqrt(np.maximum(self.prepared.target.squared_distances(vertices[observed]), 0.0))
            metrics["observed_distance_pct_diag"] = float(100.0 * distances.mean() / self.prepared.target.diagonal)
        notes = []
        if fraction < ALMOST_NOTHING:
            notes.append(f"the target covers almost nothing of the template (about {100 * fraction:.0f} % of its area): the result is "
                         "essentially the initialisation; check the scan, the landmarks or the alignment")
        elif fraction < COMPLETE_COVERAGE:
            notes.append(f"the target covers about {100 * fraction:.0f} % of the template's area: "
                         f"{100 * (1 - observed.mean()):.0f} % of the vertices are inferred (the initialisation deformed by the "
                         "regulariser, not fitted to data; observed.npy gives each vertex's confidence)"
                         + ("" if self.partial else "; the partial data term was off (--partial off), so the unseen side was pulled onto the visible one"))
        self.prepared.notes.extend(note for note in notes if note not in self.prepared.notes)
        return metrics

    def export(self, model: FieldModel, run: "RunDirectory") -> None:
        vertices = self.result_vertices(model)
        self.prepared.write_result(run, vertices)
        observed = self.final_observed if self.final_observed is not None else self.observed_on(vertices)
        run.write_array("observed.npy", observed.astype(np.float32))

    def progress_map(self, model: FieldModel) -> np.ndarray:
        return model.progress(self.initial, self.index).detach().cpu().numpy()

    def snapshot(self, model: FieldModel) -> dict[str, np.ndarray]:
        return {"vertices": self.result_vertices(model).astype(np.float32), "progress": self.progress_map(model)}

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, **self.prepared.describe(), "settings": self.settings.__dict__}

    def config_entries(self) -> dict[str, Any]:
        return {"transfer": {"settings": asdict(self.settings), "alignment": self.prepared.alignment.kind, "init": self.prepared.init}}

    def without_network(self, method: str) -> Callable[[], NetworkFree] | None:
        return self.prepared.without_network(method)

    def initialise(self, model: FieldModel, fit_config: FitConfig) -> dict[str, Any]:
        # the stages' seconds and the initialisation's metrics head metrics.json, as for the baselines
        return {**self.prepared.stage_seconds, **self.prepared.initial_metrics()}

    def product(self, model: FieldModel) -> dict[str, Any]:
        return self.prepared.product(self.result_vertices(model))
