"""Differentiable (torch) surface samples and distortion energies of a map between two meshes with the
same connectivity (docs/method.md, "Distortion energies").

For triangle ``t`` of the source, with edge vectors written in the triangle's own orthonormal 2-D
frame as the columns of ``S_t`` (2 x 2), and the deformed triangle's 3-D edge vectors as the columns
of ``D_t`` (3 x 2), the Jacobian of the linear map is ``J_t = D_t S_t^-1`` (3 x 2), with singular
values ``s1 >= s2 >= 0``.

- Dirichlet energy ``E_D = 1/2 sum_t A_t |J_t|_F^2``; ``E_D / A_source`` is 1 for any rigid motion
  and ``s^2`` for a uniform scale ``s``.
- Conformal (LSCM) energy ``E_C = 1/2 sum_t A_t (s1 - s2)^2 = E_D - area(deformed)``; 0 for any
  similarity.

``A_t`` is the source triangle's area; energies are in squared length units of the deformed mesh
(times the source's area units through ``A_t``), and the ``*_ratio`` functions divide by the source's
total area.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class SourceFrames:
    """Per-triangle rest geometry of the source: ``S_t^-1`` ``(m, 2, 2)`` and areas ``A_t`` ``(m,)``.

    Parameters
    ----------
    vertices : (n, 3) source positions (tensor or array).
    faces : (m, 3) triangles; degenerate (zero-area) triangles must be removed first.
    weights : (m,) factors of the triangles' areas ``A_t`` (None: 1), e.g. ``1 / k`` for the fans of a
        ``k``-gon, so a quad's energy is the mean of its two diagonal splits.
    """

    def __init__(self, vertices: Tensor | np.ndarray, faces: Tensor | np.ndarray, dtype: torch.dtype = torch.float64,
                 weights: np.ndarray | None = None) -> None:
        vertices = torch.as_tensor(np.asarray(vertices) if not isinstance(vertices, Tensor) else vertices, dtype=dtype)
        faces = torch.as_tensor(np.asarray(faces) if not isinstance(faces, Tensor) else faces, dtype=torch.long)
        e1 = vertices[faces[:, 1]] - vertices[faces[:, 0]]
        e2 = vertices[faces[:, 2]] - vertices[faces[:, 0]]
        length1 = e1.norm(dim=1)
        normal = torch.linalg.cross(e1, e2)
        double_area = normal.norm(dim=1)
        if bool((double_area <= 0).any()) or bool((length1 <= 0).any()):
            raise ValueError(f"{int((double_area <= 0).sum())} source triangles have zero area; repair the mesh first")
        x_axis = e1 / length1[:, None]
        y_axis = torch.linalg.cross(normal / double_area[:, None], x_axis)
        # Columns: the two edges in the triangle's own frame (x along e1).
        rest = torch.stack(
            [
                torch.stack([length1, torch.zeros_like(length1)], dim=1),
                torch.stack([(e2 * x_axis).sum(dim=1), (e2 * y_axis).sum(dim=1)], dim=1),
            ],
            dim=2,
        )
        self.faces = faces
        self.inverse_rest = torch.linalg.inv(rest)
        self.areas = 0.5 * double_area
        if weights is not None:  # a polygon's symmetric triangulation counts each fan at 1 / k (Polygons.fans)
            self.areas = self.areas * torch.as_tensor(np.asarray(weights), dtype=dtype)
        self.total_area = self.areas.sum()

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "SourceFrames":
        self.faces = self.faces.to(device)
        self.inverse_rest = self.inverse_rest.to(device=device, dtype=dtype or self.inverse_rest.dtype)
        self.areas = self.areas.to(device=device, dtype=dtype or self.areas.dtype)
        self.total_area = self.areas.sum()
        return self


def triangle_jacobians(deformed: Tensor, frames: SourceFrames) -> Tensor:
    """``J_t`` ``(m, 3, 2)`` of the map from each source triangle to the deformed triangle ``deformed`` ``(n, 3)``."""
    faces = frames.faces
    edges = torch.stack(
        [deformed[faces[:, 1]] - deformed[faces[:, 0]], deformed[faces[:, 2]] - deformed[faces[:, 0]]], dim=2
    )
    return edges @ frames.inverse_rest.to(deformed.dtype)


def dirichlet_energy_per_triangle(deformed: Tensor, frames: SourceFrames) -> Tensor:
    """``1/2 A_t |J_t|_F^2`` ``(m,)``."""
    jacobians = triangle_jacobians(deformed, frames)
    return 0.5 * frames.areas.to(deformed.dtype) * (jacobians**2).sum(dim=(1, 2))


def conformal_energy_per_triangle(deformed: Tensor, frames: SourceFrames, eps: float = 1e-12) -> Tensor:
    """``1/2 A_t (s1 - s2)^2`` ``(m,)``, computed as ``1/2 A_t (|J|_F^2 - 2 sqrt(det(J^T J)))``.

    ``eps`` keeps the square root differentiable when a triangle collapses (``det(J^T J) = 0``).
    """
    jacobians = triangle_jacobians(deformed, frames)
    gram = jacobians.transpose(1, 2) @ jacobians
    determinant = (gram[:, 0, 0] * gram[:, 1, 1] - gram[:, 0, 1] * gram[:, 1, 0]).clamp_min(0.0)
    frobenius = gram[:, 0, 0] + gram[:, 1, 1]
    per_triangle = 0.5 * frames.areas.to(deformed.dtype) * (frobenius - 2.0 * torch.sqrt(determinant + eps))
    return per_triangle.clamp_min(0.0)


def arap_energy_per_triangle(deformed: Tensor, frames: SourceFrames, eps: float = 1e-12) -> Tensor:
    """``1/2 A_t ((s1 - 1)^2 + (s2 - 1)^2)`` ``(m,)``: the as-rigid-as-possible energy of each triangle
    (``|J_t - R_t|_F^2`` for the closest rotation ``R_t``), computed from ``J^T J`` as
    ``1/2 A_t (|J|_F^2 - 2 (s1 + s2) + 2)`` with ``s1 + s2 = sqrt(|J|_F^2 + 2 sqrt(det(J^T J)))``.
    0 for a rigid motion; unlike the conformal energy it also charges a change of size."""
    jacobians = triangle_jacobians(deformed, frames)
    gram = jacobians.transpose(1, 2) @ jacobians
    determinant = (gram[:, 0, 0] * gram[:, 1, 1] - gram[:, 0, 1] * gram[:, 1, 0]).clamp_min(0.0)
    frobenius = gram[:, 0, 0] + gram[:, 1, 1]
    singular_sum = torch.sqrt(frobenius + 2.0 * torch.sqrt(determinant + eps) + eps)
    return (0.5 * frames.areas.to(deformed.dtype) * (frobenius - 2.0 * singular_sum + 2.0)).clamp_min(0.0)


def arap_ratio(deformed: Tensor, frames: SourceFrames) -> Tensor:
    """``E_ARAP / A_source``: 0 for a rigid motion (not free of scale: measure against a source carried
    to the deformed mesh's scale)."""
    return arap_energy_per_triangle(deformed, frames).sum() / frames.total_area.to(deformed.dtype)


def dirichlet_ratio(deformed: Tensor, frames: SourceFrames) -> Tensor:
    """``E_D / A_source``: 1 for a rigid motion, ``s^2`` for a uniform scale ``s``."""
    return dirichlet_energy_per_triangle(deformed, frames).sum() / frames.total_area.to(deformed.dtype)


def conformal_ratio(deformed: Tensor, frames: SourceFrames) -> Tensor:
    """``E_C / A_source``: 0 for a similarity."""
    return conformal_energy_per_triangle(deformed, frames).sum() / frames.total_area.to(deformed.dtype)


def sample_barycentric(
    areas: Tensor, count: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``count`` random surface samples as (face id ``(count,)``, barycentric weights ``(count, 3)``).

    Faces are drawn proportionally to ``areas`` ``(m,)``; the weights are uniform on the triangle
    (the square-root trick). Drawn on the CPU from ``generator`` so runs are reproducible.
    """
    if count < 1:
        raise ValueError(f"need at least one sample, got {count}")
    weights = areas.detach().to("cpu", torch.float64)
    face_ids = torch.multinomial(weights, count, replacement=True, generator=generator)
    u, v = torch.rand(2, count, generator=generator, dtype=torch.float64)
    root = torch.sqrt(u)
    barycentric = torch.stack([1.0 - root, root * (1.0 - v), root * v], dim=1)
    return face_ids.to(areas.device), barycentric.to(device=areas.device)


def barycentric_points(vertices: Tensor, faces: Tensor, face_ids: Tensor, barycentric: Tensor) -> Tensor:
    """Points ``(count, 3)`` at the given barycentric coordinates; differentiable in ``vertices``."""
    corners = vertices[faces[face_ids]]  # (count, 3, 3)
    return (barycentric.to(vertices.dtype)[:, :, None] * corners).sum(dim=1)
