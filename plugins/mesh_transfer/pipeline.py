"""Mesh transfer end to end: the plugin's ``make_task`` (:func:`make_transfer_task`: prepared inputs,
:mod:`.prepared`, and the network's loss, :mod:`.task`) and :func:`transfer_mesh`, the one-call Python API.

Every method runs through :func:`sape_geo.registry.run_plugin` -> :func:`sape_geo.experiment.run_task`,
as every task does: the network methods fit; ``affine`` / ``biharmonic`` / ``arap`` (the initialisation
alone, for comparisons) and an initialisation that already lies on the target are answered by
:meth:`.task.MeshTransferTask.without_network` and written by the same run writer.

Frames: inputs stay in their file units; the result is in the **target's original frame**. The
optimisation runs in a normalised frame (the target's bounding box centred, longest half-side 0.9),
a uniform scale, so angles and the conformal energy are the same in both.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sape_geo.experiment import RunResult
from sape_geo.methods import MethodConfig
from sape_geo.registry import run_plugin

from sape_geo.geometry.polygon_mesh import Polygons
from sape_geo.geometry.template_file import TemplateFile

from .carrying import read_carried
from .command import PLUGIN
from .prepared import PreparedTransfer, prepare_transfer
from .settings import TransferSettings
from .task import MeshTransferTask


@dataclass
class TransferResult:
    """What :func:`transfer_mesh` returns.

    Attributes
    ----------
    vertices : (n, 3) result in the target's frame, source vertex order.
    faces : (m, 3) the working triangulation of the source's polygons (:attr:`polygons` are the faces
        themselves; ``result.obj`` keeps those).
    metrics : every metric (also in ``metrics.json``).
    heatmap : (n,) SAPE progress per vertex (levels open; zeros for methods without a mask).
    initial_vertices : (n, 3) the initialisation (biharmonic, or affine without landmarks).
    path : the run directory, or None.
    prepared : inputs and stages.
    run : the network run (None for ``affine`` / ``biharmonic``).
    """

    vertices: np.ndarray
    faces: np.ndarray
    metrics: dict[str, Any]
    heatmap: np.ndarray
    initial_vertices: np.ndarray
    path: Path | None
    prepared: PreparedTransfer
    run: RunResult | None = None

    @property
    def extras(self) -> dict[str, Any]:
        """The product in memory, as every task's result has it: ``vertices``, ``faces`` (the working
        triangles) and ``polygons`` (the source's faces)."""
        return {"vertices": self.vertices, "faces": self.faces, "polygons": self.polygons}

    @property
    def polygons(self) -> Polygons:
        """The source's faces as polygons (offsets and corners; ``.to_list()``), in file order."""
        return self.prepared.source_template.polygons

    @property
    def triangle_polygon(self) -> np.ndarray:
        """``(m,)`` the polygon each triangle of :attr:`faces` belongs to."""
        return self.prepared.source_template.triangulation()[1]

    def mesh(self):
        """The result as a ``trimesh.Trimesh`` (the working triangulation, source vertex order, target
        frame; not processed)."""
        import trimesh

        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    def carry(self, item: Any) -> Any:
        """Move geometry given in the source's frame with the fitted deformation (see
        :mod:`.carrying`): it keeps its offset to the body in the body's local frame, scaled with it.

        ``item``: points ``(k, 3)`` -> points ``(k, 3)``; ``(V, F)`` -> ``(V', F)``; a ``trimesh.Trimesh``
        -> a moved copy; a file path or :class:`TemplateFile` -> its moved vertices ``(n, 3)`` in file
        order (write them with ``read_template(path).write(out, moved)``, every other line kept).

        Example
        -------
        >>> eyes = result.carry("eyes.obj")  # doctest: +SKIP
        """
        from sape_geo.geometry.template_file import read_template

        from .carrying import Carrier

        carrier = Carrier(self.prepared.source_vertices, self.prepared.energy_faces, self.vertices)
        if isinstance(item, (str, os.PathLike)):
            return carrier(read_template(item).vertices)
        if isinstance(item, TemplateFile):
            return carrier(item.vertices)
        if isinstance(item, tuple) and len(item) == 2:
            return carrier(np.asarray(item[0], dtype=np.float64)), item[1]
        if type(item).__module__.startswith("trimesh") and hasattr(item, "vertices"):
            moved = item.copy()
            moved.vertices = carrier(np.asarray(item.vertices))
            return moved
        points = np.asarray(item, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"carry: expected points (k, 3), (V, F), a trimesh or a file path, got an array of shape {points.shape}")
        return carrier(points)


def make_transfer_task(
    settings: TransferSettings,
    source: Any = None,
    target: Any = None,
    landmarks: Any = None,
    check_landmarks: Any = None,
    ground_truth_map: Any = None,
    seed: int = 0,
    prepared: PreparedTransfer | None = None,
) -> MeshTransferTask:
    """The plugin's ``make_task``: read, align and initialise (:func:`prepare_transfer`, seeded by the
    run), or take ``prepared`` as it is, and the files to carry (refused before any work)."""
    carried = read_carried(settings.carry)
    if prepared is None:
        if landmarks is None and settings.align is None:
            raise ValueError("no landmarks: give landmarks (>= 3 pairs), or an alignment without them: --align principal-axes / bounding-box / identity")
        alignment = "landmarks" if landmarks is not None else settings.align
        prepared = prepare_transfer(source, target, landmarks, alignment, seed=seed, check_landmarks=check_landmarks,
                                    ground_truth=ground_truth_map if ground_truth_map is not None else "auto", init=settings.init,
                                    scan=settings.scan, rigid=settings.rigid)
    prepared.carried = carried
    return MeshTransferTask(prepared, settings)


def transfer_mesh(
    source: Any,
    target: Any,
    landmarks: Any = None,
    method: str | MethodConfig = "sape-ff",
    out: str | os.PathLike | None = None,
    settings: TransferSettings | None = None,
    overwrite: bool = False,
    prepared: PreparedTransfer | None = None,
    extra_config: dict[str, Any] | None = None,
    check_landmarks: Any = None,
    ground_truth: Any = "auto",
    callbacks: Any = (),
    **overrides: Any,
) -> TransferResult:
    """Transfer the source's tessellation onto the target: one call from paths, arrays or meshes, the
    plugin's run (:func:`sape_geo.registry.run_plugin`) as the command line's.

    Parameters
    ----------
    source : mesh file, ``(V, F)`` arrays or a ``trimesh.Trimesh``.
    target : mesh or point-cloud file, ``(V, F)``, ``(P, None)``, ``P`` ``(n, 3)``, a ``trimesh.Trimesh``
        or ``trimesh.PointCloud``.
    landmarks : landmark file, ``(source_indices, target_positions)``, or None (then ``settings.align``).
    method : a network method name (``none siren ff pff sape-ff rbfg sape-rbfg sasnet``), a
        :class:`MethodConfig`, or ``"affine"`` / ``"biharmonic"`` / ``"arap"`` (the initialisation alone).
    out : run directory (None: nothing is written).
    settings : :class:`TransferSettings` (loss weights, samples, SAPE's grid, alignment, init, scans).
    prepared : reuse a :func:`prepare_transfer` result: several runs (methods, seeds, settings) on one
        preparation of the inputs (``source`` and ``target`` are then None).
    check_landmarks, ground_truth : correspondence checks, see :func:`prepare_transfer`.
    callbacks : ``callback(step, loss, model)`` after every step.
    overrides : :class:`TransferSettings` fields (``init="arap"``), or loop and method settings
        (``steps=400``, ``seed=1``, ``lr=1e-3``, ``sigma=6``, ``progress_bar=False``; one torch thread
        unless ``threads`` is given).

    Returns
    -------
    :class:`TransferResult`: ``vertices`` (source order, target frame), ``faces`` (the working
    triangulation; also as a ``trimesh.Trimesh`` by :meth:`TransferResult.mesh`) and ``polygons`` (the
    source's faces as written: offsets and corners, ``.to_list()``); ``result.obj`` is the source file
    with the new positions. Settings ``carry=("eyes.obj",)`` and ``rigid=("eye",)`` as on the command
    line; :meth:`TransferResult.carry` moves more geometry afterwards.

    Example
    -------
    >>> result = transfer_mesh("assets/creature_source.obj", "assets/creature_target.obj",
    ...                        "assets/creature_landmarks.txt", out="runs/demo")  # doctest: +SKIP
    >>> result.metrics["chamfer_l1_pct_diag"], result.vertices.shape  # doctest: +SKIP
    """
    inputs = {"source": source, "target": target, "landmarks": landmarks, "check_landmarks": check_landmarks, "ground_truth_map": ground_truth}
    make_task = functools.partial(make_transfer_task, prepared=prepared) if prepared is not None else None
    run = run_plugin(PLUGIN, inputs, settings, method, out, overwrite, extra_config, callbacks, make_task, **overrides)
    prepared = run.task.prepared
    return TransferResult(run.extras["vertices"], prepared.source_faces, run.metrics, run.progress, prepared.initial_vertices, run.path, prepared,
                          run if run.model is not None else None)


__all__ = [
    "TransferSettings",
    "PreparedTransfer",
    "TransferResult",
    "prepare_transfer",
    "transfer_mesh",
]
