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


def closest_barycentric_torch(points: Tensor, corners: Tensor) -> Tensor:
    """Barycentric coordinates ``(k, 3)`` of the exact closest point of each triangle ``corners``
    ``(k, 3, 3)`` to each point ``(k, 3)`` (the Voronoi regions of the triangle's corners, edges and face,
    as in Ericson, Real-Time Collision Detection, 5.1.5); no gradient."""
    with torch.no_grad():
        a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
        ab, ac = b - a, c - a
        d1, d2 = (ab * (points - a)).sum(1), (ac * (points - a)).sum(1)
        d3, d4 = (ab * (points - b)).sum(1), (ac * (points - b)).sum(1)
        d5, d6 = (ab * (points - c)).sum(1), (ac * (points - c)).sum(1)
        va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
        tiny = torch.finfo(points.dtype).tiny

        def ratio(numerator: Tensor, denominator: Tensor) -> Tensor:  # a degenerate triangle divides by tiny, not 0
            return numerator / torch.where(denominator.abs() > tiny, denominator, torch.full_like(denominator, tiny))

        v, w = ratio(vb, va + vb + vc), ratio(vc, va + vb + vc)
        weights = torch.stack([1.0 - v - w, v, w], dim=1)  # inside the triangle
        zero, one = torch.zeros_like(d1), torch.ones_like(d1)
        # the regions from the lowest priority to the highest: a later one overrides (Ericson's order reversed)
        t = ratio(d4 - d3, (d4 - d3) + (d5 - d6))
        regions = [
            ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), (zero, 1.0 - t, t)),  # edge bc
            ((vb <= 0) & (d2 >= 0) & (d6 <= 0), (1.0 - ratio(d2, d2 - d6), zero, ratio(d2, d2 - d6))),  # edge ac
            ((d6 >= 0) & (d5 <= d6), (zero, zero, one)),  # corner c
            ((vc <= 0) & (d1 >= 0) & (d3 <= 0), (1.0 - ratio(d1, d1 - d3), ratio(d1, d1 - d3), zero)),  # edge ab
            ((d3 >= 0) & (d4 <= d3), (zero, one, zero)),  # corner b
            ((d1 <= 0) & (d2 <= 0), (one, zero, zero)),  # corner a
        ]
        for inside, values in regions:
            weights = torch.where(inside[:, None], torch.stack(values, dim=1), weights)
        return weights.clamp_(0.0, 1.0)
