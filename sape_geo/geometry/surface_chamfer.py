"""Differentiable point-to-surface distances and a surface-to-surface Chamfer loss (torch + libigl).

Point-set Chamfer between two sets of random surface samples has a noise floor: even two samplings of
one surface are about half a sample spacing apart, so details smaller than the spacing get no
consistent gradient. Measuring each sample's distance to the other **surface** removes that floor:

- samples of the deformed surface -> the fixed target surface: the closest target point is found by
  libigl's AABB tree (built once) and held fixed, so ``|p - c|^2`` is the exact squared distance with
  the exact gradient in ``p``;
- target samples -> the deformed surface: the closest point on the deformed mesh is found by libigl
  without gradients, then rebuilt from its triangle's corners with its barycentric coordinates, so
  the gradient reaches the deformed vertices.

Both are exact point-to-triangle distances (``igl.point_mesh_squared_distance``); a point-cloud target
uses its nearest point instead (:class:`~sape_geo.geometry.metrics.SurfaceDistance`).
"""

from __future__ import annotations

import igl
import numpy as np
import torch
from torch import Tensor

from sape_geo.geometry.metrics import SurfaceDistance


def closest_barycentric(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point ``(k, 3)``, the closest triangle of the mesh ``(k,)`` and the barycentric
    coordinates ``(k, 3)`` of the closest point on it."""
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    _, face_ids, closest = igl.point_mesh_squared_distance(np.ascontiguousarray(points, dtype=np.float64), vertices, faces)
    corners = faces[face_ids]
    weights = igl.barycentric_coordinates(closest, vertices[corners[:, 0]], vertices[corners[:, 1]], vertices[corners[:, 2]])
    return face_ids, np.clip(weights, 0.0, 1.0)


def squared_distance_to_mesh(points: Tensor, vertices: Tensor, faces: Tensor) -> Tensor:
    """Squared distance ``(k,)`` from ``points`` ``(k, 3)`` to the mesh ``(vertices, faces)``; differentiable
    in both the points and the vertices."""
    faces_np = faces.detach().cpu().numpy().astype(np.int64)
    face_ids, weights = closest_barycentric(points.detach().cpu().double().numpy(), vertices.detach().cpu().double().numpy(), faces_np)
    face_ids_t = torch.as_tensor(face_ids, dtype=torch.long, device=vertices.device)
    weights_t = torch.as_tensor(weights, dtype=vertices.dtype, device=vertices.device)
    closest = (weights_t[:, :, None] * vertices[faces[face_ids_t]]).sum(dim=1)
    return ((points - closest) ** 2).sum(dim=1)


def squared_distance_to_fixed(points: Tensor, surface: SurfaceDistance) -> Tensor:
    """Squared distance ``(k,)`` from ``points`` to a fixed surface (or point cloud); differentiable in the points."""
    _, closest = surface.closest(points.detach().cpu().double().numpy())
    return ((points - torch.as_tensor(closest, dtype=points.dtype, device=points.device)) ** 2).sum(dim=1)


def surface_chamfer(
    samples: Tensor, vertices: Tensor, faces: Tensor, target_samples: Tensor, target: SurfaceDistance
) -> tuple[Tensor, Tensor, Tensor]:
    """Symmetric squared surface Chamfer: ``mean_p d^2(p, target) + mean_q d^2(q, deformed surface)``.

    Parameters
    ----------
    samples : (k, 3) points on the deformed surface (differentiable in ``vertices``).
    vertices, faces : the deformed mesh.
    target_samples : (l, 3) points on the target.
    target : the target surface (or point cloud), fixed.

    Returns
    -------
    total, samples_to_target ``(k,)``, target_to_samples ``(l,)`` (squared distances).
    """
    forward = squared_distance_to_fixed(samples, target)
    backward = squared_distance_to_mesh(target_samples, vertices, faces)
    return forward.mean() + backward.mean(), forward, backward
