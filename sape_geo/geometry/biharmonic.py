"""Biharmonic deformation (Jacobson et al. 2011): handles move exactly, the rest follows smoothly.

The displacement field ``D`` minimises ``trace(D^T Q D)`` with the bi-Laplacian ``Q = L M^-1 L``
(cotangent Laplacian ``L``, Voronoi mass ``M``, both from libigl) subject to ``D[handles] =
displacements``: exactly ``igl.harmonic(V, F, b, bc, k=2)`` applied to displacements. The free block
of ``Q`` is factored once (:class:`BiharmonicDeformer`) so new handle positions cost two triangular
solves.

Vertices the system cannot determine keep a zero displacement (they stay where the affine fit put
them): unreferenced vertices, and connected components that hold no handle (their bi-Laplacian block
is singular); :attr:`BiharmonicDeformer.fixed_components` reports the latter. Needle faces whose
cotangent weights come out NaN lose those weights (a warning says so); a system still singular, or a
result that is not finite, raises ``ValueError``.
"""

from __future__ import annotations

import warnings

import igl
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from sape_geo.geometry.mesh_io import face_components


class BiharmonicDeformer:
    """Factor the biharmonic system of a mesh for a fixed set of handle vertices.

    Parameters
    ----------
    vertices : (n, 3) rest positions.
    faces : (m, 3) triangles.
    handles : (k,) vertex ids whose displacement is prescribed.

    Example
    -------
    >>> deformer = BiharmonicDeformer(V, F, handles)  # doctest: +SKIP
    >>> V_new = V + deformer.displacements(targets - V[handles])  # doctest: +SKIP
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, handles: np.ndarray) -> None:
        vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        faces = np.ascontiguousarray(faces, dtype=np.int64)
        handles = np.asarray(handles, dtype=np.int64).reshape(-1)
        if handles.size == 0:
            raise ValueError("a biharmonic deformation needs at least one handle vertex")
        if np.unique(handles).size != handles.size:
            raise ValueError("handle vertices must be unique")
        if handles.min() < 0 or handles.max() >= vertices.shape[0]:
            raise ValueError(f"handle ids must be in 0..{vertices.shape[0] - 1}")
        self.num_vertices = vertices.shape[0]
        self.handles = handles
        labels = face_components(vertices.shape[0], faces)
        handled = np.unique(labels[handles])
        handled = handled[handled >= 0]
        # Solve only where the system is determined: referenced vertices in a component with a handle.
        solvable = np.isin(labels, handled)
        self.fixed_components = int(labels.max() + 1 - handled.size) if labels.size else 0
        if self.fixed_components:
            warnings.warn(
                f"{self.fixed_components} connected component(s) hold no landmark: they keep the affine "
                "alignment only (no biharmonic deformation)",
                RuntimeWarning,
                stacklevel=2,
            )
        is_handle = np.zeros(self.num_vertices, dtype=bool)
        is_handle[handles] = True
        self.free = np.flatnonzero(solvable & ~is_handle)
        self._handles_in_system = handles[solvable[handles]]
        if self.free.size == 0:
            self._solve = None
            return
        # libigl sizes its matrices by the largest face index: pad for trailing unreferenced vertices.
        laplacian = _padded(igl.cotmatrix(vertices, faces), self.num_vertices)
        if not np.isfinite(laplacian.data).all():
            # libigl's cotangent of a needle face (an angle of nearly 180 degrees) can come out NaN: such
            # weights are dropped and the diagonal rebuilt, so every row still sums to zero.
            laplacian = _without_non_finite_weights(laplacian)
            warnings.warn("the source has needle-shaped faces whose cotangent weights are not finite: the biharmonic "
                          "initialisation leaves those edges out", RuntimeWarning, stacklevel=2)
        mass_diagonal = np.zeros(self.num_vertices)
        mass = igl.massmatrix(vertices, faces, igl.MASSMATRIX_TYPE_VORONOI).diagonal()
        mass_diagonal[: mass.size] = mass
        inverse_mass = np.zeros_like(mass_diagonal)
        referenced = mass_diagonal > 0
        inverse_mass[referenced] = 1.0 / mass_diagonal[referenced]
        bilaplacian = (laplacian @ scipy.sparse.diags(inverse_mass) @ laplacian).tocsc()
        self._free_block = bilaplacian[self.free][:, self.free].tocsc()
        self._coupling = bilaplacian[self.free][:, self._handles_in_system].tocsc()
        try:
            self._solve = scipy.sparse.linalg.factorized(self._free_block)
        except RuntimeError:  # singular in floating point: say so in one line (the CLI exits 2)
            raise ValueError("source: the biharmonic system is singular (needle-shaped or degenerate faces?); "
                             "remove or repair those faces") from None

    def displacements(self, handle_displacements: np.ndarray) -> np.ndarray:
        """Displacement of every vertex ``(n, 3)`` given the handles' displacements ``(k, 3)`` (in handle order)."""
        handle_displacements = np.asarray(handle_displacements, dtype=np.float64)
        if handle_displacements.shape != (self.handles.size, 3):
            raise ValueError(f"expected ({self.handles.size}, 3) handle displacements, got {handle_displacements.shape}")
        result = np.zeros((self.num_vertices, 3))
        result[self.handles] = handle_displacements
        if self._solve is not None:
            boundary = result[self._handles_in_system]
            right = -(self._coupling @ boundary)
            result[self.free] = np.column_stack([self._solve(np.ascontiguousarray(right[:, k])) for k in range(3)])
        if not np.isfinite(result).all():
            raise ValueError("source: the biharmonic deformation is not finite (needle-shaped or degenerate faces?); "
                             "remove or repair those faces")
        return result


def _without_non_finite_weights(laplacian: scipy.sparse.spmatrix) -> scipy.sparse.csc_matrix:
    """The Laplacian with its non-finite off-diagonal weights set to 0 and the diagonal rebuilt as minus
    the row sums of the off-diagonal weights."""
    coo = laplacian.tocoo()
    keep = (coo.row != coo.col) & np.isfinite(coo.data)
    off = scipy.sparse.csc_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=laplacian.shape)
    return (off - scipy.sparse.diags(np.asarray(off.sum(axis=1)).reshape(-1))).tocsc()


def _padded(matrix: scipy.sparse.spmatrix, size: int) -> scipy.sparse.csc_matrix:
    coo = matrix.tocoo()
    return scipy.sparse.csc_matrix((coo.data, (coo.row, coo.col)), shape=(size, size))


def biharmonic_deform(vertices: np.ndarray, faces: np.ndarray, handles: np.ndarray, handle_positions: np.ndarray) -> np.ndarray:
    """New vertex positions ``(n, 3)``: ``handles`` land exactly on ``handle_positions`` ``(k, 3)``, the rest
    follows the smoothest (biharmonic) displacement."""
    vertices = np.asarray(vertices, dtype=np.float64)
    deformer = BiharmonicDeformer(vertices, faces, handles)
    return vertices + deformer.displacements(np.asarray(handle_positions, dtype=np.float64) - vertices[deformer.handles])
