"""Mesh transfer's prepared inputs: read, check, align, initialise, and evaluate a result.

:func:`prepare_transfer` runs the classic stages (docs/method.md, "Initialisation") and returns a
:class:`PreparedTransfer`, which also scores any vertex positions against the target
(:meth:`PreparedTransfer.evaluate`). :mod:`.pipeline` fits the network on top of it.

Frames: inputs stay in their file units; the result is in the **target's original frame**. The
optimisation runs in a normalised frame (the target's bounding box centred, longest half-side 0.9),
a uniform scale, so angles and the conformal energy are the same in both.
"""

from __future__ import annotations

import io
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sape_geo.arrays import from_tensor
from sape_geo.geometry.alignment import (
    AffineTransform,
    align_without_landmarks,
    check_coordinate_range,
    LANDMARK_RESIDUAL_LIMIT,
    fit_landmark_transform,
    landmark_residuals,
    normalising_transform,
)
from sape_geo.geometry.arap import arap_deform
from sape_geo.geometry.biharmonic import BiharmonicDeformer
from sape_geo.geometry.landmarks import Landmarks, LandmarkError, landmarks_from_arrays, load_landmarks, read_marker_file
from sape_geo.geometry.mesh_io import (
    MeshInputError,
    MeshReport,
    repair_faces,
    check_mesh,
    check_points,
    inspect_mesh,
    load_mesh,
    load_mesh_or_points,
    usable_face_mask,
)
from sape_geo.geometry.metrics import TargetShape, correspondence_metrics, distortion_energies, make_target, transfer_metrics
from sape_geo.geometry.template_file import TEMPLATE_SUFFIXES, TemplateFile, read_template
from sape_geo.geometry.point_clouds import reduce_scan
from sape_geo.geometry.scan_settings import ScanSettings
from sape_geo.provenance import describe_input_file
from sape_geo.runs import RunDirectory

from .settings import ALIGNMENTS, DEFAULT_INIT, INIT_METHODS, INITIALISATIONS

if TYPE_CHECKING:
    from sape_geo.fitting import NetworkFree  # imports torch; the baselines load it when they run

ARAP_ITERATIONS = 10
SCALE_MISMATCH = 100.0


class TransferInputWarning(UserWarning):
    """An input that works but deserves attention (open source, several components, scale mismatch)."""


@dataclass
class PreparedTransfer:
    """Inputs and the classic stages' results, ready for a method.

    Attributes
    ----------
    source_vertices, source_faces : the source as loaded (file units) and the working triangulation of
        **every** polygon in file order (:meth:`~sape_geo.geometry.template_file.TemplateFile.triangulation`),
        degenerate and duplicated ones included.
    template : the source file as read (its polygons, UVs, groups, every line): ``result.obj`` (or
        ``.ply`` / ``.off``) is this file with new positions.
    rigid_parts : vertex ids of each part that moves by one similarity (``--rigid``), or empty.
    carried : files that follow the deformation (``--carry``), written to ``RUN/carried/`` with the result.
    usable_faces : ``(m,)`` bool, the faces that energies, samples and metrics use: not degenerate
        (repeated index or zero area) and not a repeat of an earlier face.
    target : the target surface or point cloud (file units), with dense samples.
    landmarks : validated landmarks (target positions in the target's units), or None.
    alignment : the transform from the source's frame to the target's (affine, similarity, PCA, bbox).
    affine_vertices : ``alignment`` applied to the source ``(n, 3)``.
    initial_vertices : the initialisation the network starts from ``(n, 3)``: the biharmonic deformation
        (landmarks exact), or ARAP from it (``init="arap"``); ``affine_vertices`` without landmarks.
    biharmonic_vertices : the biharmonic deformation ``(n, 3)`` (``affine_vertices`` without landmarks).
    init : which initialisation ``initial_vertices`` is (``"biharmonic"`` or ``"arap"``).
    normalisation : target frame -> normalised optimisation frame.
    source_report : what :func:`~sape_geo.geometry.mesh_io.inspect_mesh` found in the source.
    stage_seconds : seconds per stage (load, align, biharmonic).
    inputs : file descriptions (path, size, SHA-256) for ``config.json``.
    notes : human-readable remarks for the summary (warnings that were raised).
    """

    source_vertices: np.ndarray
    source_faces: np.ndarray
    usable_faces: np.ndarray
    target: TargetShape
    landmarks: Landmarks | None
    alignment: AffineTransform
    affine_vertices: np.ndarray
    initial_vertices: np.ndarray
    normalisation: AffineTransform
    source_report: MeshReport
    stage_seconds: dict[str, float] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    metric_samples: int = 20000
    check_landmarks: Landmarks | None = None
    ground_truth: np.ndarray | None = None
    ground_truth_source: str = ""
    biharmonic_vertices: np.ndarray | None = None
    init: str = "biharmonic"
    template: TemplateFile | None = None
    rigid_parts: list[np.ndarray] = field(default_factory=list)
    carried: list[TemplateFile] = field(default_factory=list)
    _arap_vertices: np.ndarray | None = None
    _initial_metrics: dict[str, float] | None = None
    _conformal: tuple[np.ndarray, np.ndarray] | None = None

    def already_fits(self, tolerance: float = 1e-6) -> bool:
        """Whether the initialisation lies on the target already: every vertex and every target vertex
        within ``tolerance`` x the target's diagonal of the other surface."""
        if self.target.faces is None:
            return False
        from sape_geo.geometry.metrics import SurfaceDistance

        used = np.unique(self.energy_faces)
        limit = (tolerance * self.target.diagonal) ** 2
        if self.target.squared_distances(self.initial_vertices[used]).max() > limit:
            return False
        back = SurfaceDistance(self.initial_vertices, self.energy_faces)(self.target.vertices[np.unique(self.target.faces)])
        return bool(back.max() <= limit)

    def arap_vertices(self) -> np.ndarray:
        """ARAP with the landmarks as handles, started from the biharmonic deformation (computed once;
        without landmarks, the affine alignment)."""
        if self.init == "arap":
            return self.initial_vertices
        if self._arap_vertices is None:
            start = self.biharmonic_vertices if self.biharmonic_vertices is not None else self.initial_vertices
            if self.landmarks is None:
                self._arap_vertices = start
            else:
                marks = self.landmarks
                self._arap_vertices = arap_deform(self.affine_vertices, self.energy_faces, marks.source_indices, marks.target_positions, start, ARAP_ITERATIONS)
        return self._arap_vertices

    @property
    def energy_faces(self) -> np.ndarray:
        """The usable source faces ``(k, 3)`` (see ``usable_faces``): energies, samples, metrics."""
        return self.source_faces[self.usable_faces]

    def initial_metrics(self) -> dict[str, float]:
        """Metrics of the initialisation, keys prefixed ``init_`` (computed once)."""
        if self._initial_metrics is None:
            self._initial_metrics = {f"init_{k}": v for k, v in self.evaluate(self.initial_vertices).items()}
        return dict(self._initial_metrics)

    def evaluate(self, vertices: np.ndarray, observed: np.ndarray | None = None) -> dict[str, float]:
        """Metrics of a result ``(n, 3)`` in the target's frame (see :mod:`sape_geo.geometry.metrics`);
        with ``observed`` ``(n,)`` bool (the vertices a partial target observes), the marker and
        correspondence errors also over the observed and the inferred vertices apart."""
        metrics = transfer_metrics(self.source_vertices, vertices, self.energy_faces, self.target, self.metric_samples)
        if not self.source_template.polygons.is_triangles:
            metrics.update(self.polygon_metrics(vertices))
        if self.landmarks is not None:
            error = np.linalg.norm(vertices[self.landmarks.source_indices] - self.landmarks.target_positions, axis=1)
            metrics["landmark_error_max_pct_diag"] = float(100.0 * error.max() / self.target.diagonal)
        metrics.update(correspondence_metrics(vertices, self.target.diagonal, self.check_landmarks, self.ground_truth, observed))
        return metrics

    @property
    def source_template(self) -> TemplateFile:
        """The source file as read (a template of triangles for a source given as arrays)."""
        if self.template is None:
            self.template = TemplateFile.from_arrays(self.source_vertices, self.source_faces)
        return self.template

    @property
    def result_name(self) -> str:
        """``result.obj``, or ``result.ply`` / ``result.off`` for a PLY / OFF source: the source's own format."""
        return "result" + self.source_template.suffix

    def conformal_triangles(self) -> tuple[np.ndarray, np.ndarray]:
        """The triangles ``(t, 3)`` and area weights ``(t,)`` of the conformal energy: the usable triangles
        at weight 1 for a triangle mesh; for polygons every fan at ``1 / k``, so a quad counts once
        (:meth:`~sape_geo.geometry.polygon_mesh.Polygons.fans`, docs/method.md, "Polygon templates")."""
        if self._conformal is None:
            polygons = self.source_template.polygons
            if polygons.is_triangles:
                self._conformal = (self.energy_faces, np.ones(len(self.energy_faces)))
            else:
                from sape_geo.geometry.mesh_io import degenerate_face_mask

                _, owner = self.source_template.triangulation()
                usable_polygon = np.zeros(len(polygons), dtype=bool)
                usable_polygon[owner[self.usable_faces]] = True
                fans, fan_owner, weights = polygons.fans()
                keep = usable_polygon[fan_owner] & ~degenerate_face_mask(self.source_vertices, fans)
                self._conformal = (fans[keep], weights[keep])
        return self._conformal

    def polygon_metrics(self, vertices: np.ndarray) -> dict[str, float]:
        """The energies with each polygon counted once (:meth:`conformal_triangles`) and the polygons'
        validity (:func:`~sape_geo.geometry.polygon_mesh.polygon_metrics`) of a result ``(n, 3)``."""
        from sape_geo.geometry.polygon_mesh import polygon_metrics

        triangles, weights = self.conformal_triangles()
        metrics: dict[str, float] = distortion_energies(self.source_vertices, vertices, triangles, weights=weights)
        metrics.update(polygon_metrics(self.source_vertices, vertices, self.source_template.polygons, self.energy_faces))
        return metrics

    def finished(self, vertices: np.ndarray) -> np.ndarray:
        """``vertices`` ``(n, 3)`` with every rigid part (``--rigid``) moved by its best similarity only."""
        if not self.rigid_parts:
            return vertices
        from sape_geo.geometry.carry import rigid_projection

        return rigid_projection(self.source_vertices, vertices, self.rigid_parts)

    def product(self, vertices: np.ndarray) -> dict[str, Any]:
        """A result in memory: ``vertices`` ``(n, 3)`` (target frame), ``faces`` (the working
        triangulation) and ``polygons`` (the source's faces)."""
        return {"vertices": vertices, "faces": self.source_faces, "polygons": self.source_template.polygons}

    def without_network(self, method: str) -> Callable[[], NetworkFree] | None:
        """The run of ``method`` when it needs no network: ``affine``, ``biharmonic`` or ``arap`` (the
        initialisation alone, for comparisons), or any method when the initialisation already lies on
        the target; None otherwise (see :meth:`sape_geo.fitting.Task.without_network`)."""
        if method in INIT_METHODS:
            return lambda: self.initialisation_only(method)
        if not self.already_fits():
            return None
        # Nothing to fit (e.g. a source identical to its target): a network would only add noise, and
        # a loss that starts at zero makes any step look like a divergence.
        note = "the initialisation already lies on the target (both Chamfer sides < 1e-6 of the diagonal): no network fit, result = initialisation"
        if note not in self.notes:
            self.notes.append(note)
        return lambda: self.initialisation_only(self.init, stop_reason="already_fits")

    def initialisation_only(self, method: str, stop_reason: str = "completed") -> NetworkFree:
        """The ``affine``, ``biharmonic`` or ``arap`` stage's vertices as the result, evaluated as a fit's
        and written by the same run writer."""
        from sape_geo.fitting import NetworkFree

        started = time.perf_counter()
        vertices = {"affine": self.affine_vertices, "biharmonic": self.biharmonic_vertices if self.biharmonic_vertices is not None else self.initial_vertices, "arap": None}[method]
        if vertices is None:
            vertices = self.arap_vertices()
        vertices = self.finished(vertices)
        arap_seconds = self.stage_seconds.get("arap_seconds", time.perf_counter() - started)
        started = time.perf_counter()
        metrics: dict[str, Any] = {**self.stage_seconds, **self.initial_metrics()}
        metrics.pop("arap_seconds", None)
        if method == "affine":
            metrics.pop("biharmonic_seconds", None)
        if method == "arap":
            metrics["arap_seconds"] = arap_seconds
        metrics.update(self.evaluate(vertices))
        metrics.update({"fit_seconds": 0.0, "evaluate_seconds": time.perf_counter() - started, "steps_done": 0, "stop_reason": stop_reason, "stop_message": ""})
        heatmap = np.zeros(vertices.shape[0], dtype=np.float32)
        return NetworkFree(metrics, heatmap, self.product(vertices), lambda run: self.write_result(run, vertices))

    def write_result(self, run: RunDirectory, vertices: np.ndarray) -> None:
        """The source file with the result's positions (``result`` + the source's suffix), the
        initialisation beside it (``init`` + suffix), the rest surface ``carry.npz`` that
        ``sape-geo carry`` binds later files to, and the carried files (``carried/<name>``)."""
        if not np.isfinite(vertices).all():
            raise ValueError(f"the result has NaN/Inf vertices; {self.result_name} was not written")
        self.source_template.write(run.file(self.result_name), vertices)
        self.export_inputs(run)
        if self.carried:
            from .carrying import CARRIED_FOLDER, Carrier

            Carrier(self.source_vertices, self.energy_faces, vertices).write(self.carried, run.file(CARRIED_FOLDER))

    def export_inputs(self, run: RunDirectory) -> None:
        """``init`` + the source's suffix (the initialisation, target frame) beside the result for
        comparisons, and ``carry.npz`` (the source's positions and working triangles)."""
        from sape_geo.atomic import write_bytes_atomic

        from .carrying import CARRY_FILE

        self.source_template.write(run.file("init" + self.source_template.suffix), self.initial_vertices)
        buffer = io.BytesIO()
        np.savez(buffer, source_vertices=self.source_vertices, triangles=self.energy_faces)
        write_bytes_atomic(run.file(CARRY_FILE), buffer.getvalue())

    def describe(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "source": self.source_report.to_dict(),
            "target_vertices": int(self.target.vertices.shape[0]),
            "target_faces": int(self.target.faces.shape[0]) if self.target.faces is not None else 0,
            "landmarks": self.landmarks.to_dict() if self.landmarks is not None else None,
            "check_landmarks": self.check_landmarks.to_dict() if self.check_landmarks is not None else None,
            "ground_truth": self.ground_truth_source or None,
            "alignment": self.alignment.to_dict(),
            "normalisation": self.normalisation.to_dict(),
        }



def _load_source(source: Any) -> tuple[TemplateFile, dict[str, Any]]:
    """The source read once into a :class:`TemplateFile` (every polygon kept: the result must have them
    all; :func:`usable_face_mask` picks the working triangles later). OBJ, PLY and OFF keep their file
    structure; STL and arrays become a template of triangles."""
    if isinstance(source, (str, os.PathLike)):
        if Path(source).suffix.lower() in TEMPLATE_SUFFIXES:
            template = read_template(source)
            if not template.has_faces:
                raise MeshInputError(f"{source}: no faces found; a mesh is needed here (point clouds are only accepted as targets)")
        else:
            template = TemplateFile.from_arrays(*load_mesh(source, repair=False), path=source)
        return template, {"source": describe_input_file(source)}
    if _is_trimesh(source) and getattr(source, "faces", None) is not None:
        source = (np.asarray(source.vertices), np.asarray(source.faces))
    if isinstance(source, TemplateFile):
        return source, {"source": "template"}
    if isinstance(source, tuple) and len(source) == 2:
        V, F = check_mesh(*(from_tensor(part) for part in source), source="source")
        return TemplateFile.from_arrays(V, F), {"source": "arrays"}
    raise TypeError("source must be a mesh file path, a (vertices, faces) tuple, a TemplateFile or a trimesh.Trimesh")


def rigid_parts(rigid: tuple[str, ...], template: TemplateFile, triangles: np.ndarray) -> list[np.ndarray]:
    """The parts ``--rigid`` names, each the vertex ids of one connected piece: an OBJ group or object
    name (``g`` / ``o``), or a file of 0-based vertex ids (whitespace or commas; ``#`` comments).

    Raises
    ------
    MeshInputError : a name that is neither a group of the source nor a file, or ids out of range.
    """
    from sape_geo.geometry.carry import connected_parts
    from sape_geo.textfiles import read_text

    chosen = []
    for name in rigid:
        if name in template.groups:
            chosen.append(template.groups[name])
        elif Path(name).is_file():
            text = "\n".join(line.split("#", 1)[0] for line in read_text(name).splitlines())
            try:
                ids = np.array([int(token) for token in text.replace(",", " ").split()], dtype=np.int64)
            except ValueError:
                raise MeshInputError(f"--rigid {name}: expected 0-based vertex ids (whole numbers)") from None
            if ids.size == 0 or ids.min() < 0 or ids.max() >= len(template.vertices):
                raise MeshInputError(f"--rigid {name}: vertex ids must be in 0..{len(template.vertices) - 1}"
                                     + (f", got {int(ids.max())}" if ids.size else ", the file has none"))
            chosen.append(ids)
        else:
            known = ", ".join(sorted(template.groups)) or "none"
            raise MeshInputError(f"--rigid {name}: no group or object {name!r} in the source (its groups: {known}) and no such file")
    if not chosen:
        return []
    return connected_parts(np.unique(np.concatenate(chosen)), triangles, len(template.vertices))


def _is_trimesh(value: Any) -> bool:
    """A trimesh object (Trimesh or PointCloud), without importing trimesh for other inputs."""
    return type(value).__module__.startswith("trimesh") and hasattr(value, "vertices")


def _load_target(target: Any) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    target = tuple(from_tensor(part) for part in target) if isinstance(target, tuple) else from_tensor(target)
    if _is_trimesh(target):
        faces = getattr(target, "faces", None)
        target = (np.asarray(target.vertices), np.asarray(faces) if faces is not None and len(faces) else None)
    if isinstance(target, (str, os.PathLike)):
        V, F = load_mesh_or_points(target)
        return V, F, {"target": describe_input_file(target)}
    if isinstance(target, tuple) and len(target) == 2:
        if target[1] is None:
            return check_points(target[0], "target", "points"), None, {"target": "points"}
        V, F = check_mesh(*target, source="target")
        return V, repair_faces(V, F, "target"), {"target": "arrays"}
    if isinstance(target, np.ndarray):
        return check_points(target, "target", "points"), None, {"target": "points"}
    raise TypeError("target must be a file path, a (vertices, faces) tuple, an (n, 3) point array or a trimesh object")


def read_marker_pairs(path: str | os.PathLike) -> np.ndarray:
    """``(k, 2)`` ``source_vertex, target_vertex`` pairs of a YAML marker list (``markers:`` entries
    ``"s:t"``, 0-based, as in the Deformation Transfer for Triangle Meshes data sets); an entry that is
    not two vertex numbers is refused, naming it and its line (:func:`~sape_geo.geometry.landmarks.read_marker_file`)."""
    return read_marker_file(path)[0]


def _load_landmarks(landmarks: Any, num_source: int, target_points: np.ndarray) -> tuple[Landmarks | None, dict[str, Any]]:
    if landmarks is None:
        return None, {}
    if isinstance(landmarks, (str, os.PathLike)) and Path(landmarks).suffix.lower() in (".yml", ".yaml"):
        pairs, names = read_marker_file(landmarks)  # the names are the entries' comments
        if pairs[:, 1].max() >= len(target_points):
            raise LandmarkError(f"{landmarks}: target vertex {int(pairs[:, 1].max())} out of range ({len(target_points)} target vertices)")
        return landmarks_from_arrays(pairs[:, 0], target_points[pairs[:, 1]], num_source, names), {"landmarks": describe_input_file(landmarks)}
    if isinstance(landmarks, Landmarks):
        return landmarks_from_arrays(landmarks.source_indices, landmarks.target_positions, num_source, landmarks.names), {}
    if isinstance(landmarks, (str, os.PathLike)):
        return load_landmarks(landmarks, num_source, target_points), {"landmarks": describe_input_file(landmarks)}
    if isinstance(landmarks, tuple) and len(landmarks) == 2:
        return landmarks_from_arrays(landmarks[0], landmarks[1], num_source), {}
    raise TypeError("landmarks must be a file path, a Landmarks object or a (source_indices, target_positions) tuple")


def _load_ground_truth(
    truth: Any, source_V: np.ndarray, source_F: np.ndarray, target_V: np.ndarray, target_F: np.ndarray | None
) -> tuple[np.ndarray | None, str]:
    """Dense correspondence ``(n, 3)`` (NaN rows: unknown) and where it came from."""
    n = source_V.shape[0]
    if truth is None:
        return None, ""
    if isinstance(truth, str) and truth == "auto":
        if target_F is not None and target_F.shape == source_F.shape and target_V.shape[0] == n and np.array_equal(target_F, source_F):
            return target_V.copy(), "same connectivity: vertex i -> target vertex i"
        return None, ""
    if isinstance(truth, np.ndarray) and truth.shape == (n, 3):
        return np.asarray(truth, dtype=np.float64), "array"
    marks, _ = _load_landmarks(truth, n, target_V)
    positions = np.full((n, 3), np.nan)
    positions[marks.source_indices] = marks.target_positions
    return positions, f"{len(marks)} pairs from {truth}" if isinstance(truth, (str, os.PathLike)) else f"{len(marks)} pairs"


def prepare_transfer(
    source: Any,
    target: Any,
    landmarks: Any = None,
    alignment: str = "landmarks",
    target_samples: int = 20000,
    metric_samples: int = 20000,
    seed: int = 0,
    check_landmarks: Any = None,
    ground_truth: Any = "auto",
    init: str = DEFAULT_INIT,
    scan: ScanSettings = ScanSettings(),
    rigid: tuple[str, ...] = (),
) -> PreparedTransfer:
    """Load and validate the inputs, align the source to the target, deform it biharmonically.

    Parameters
    ----------
    source : mesh file (OBJ/OFF/PLY/STL) or ``(V, F)``.
    target : mesh or point-cloud file (PLY/XYZ/OBJ without faces), ``(V, F)``, ``(P, None)`` or ``P``.
    landmarks : landmark file, :class:`Landmarks`, ``(source_indices, target_positions)`` or None.
    alignment : ``"landmarks"`` (needs landmarks), or without landmarks ``"principal-axes"`` /
        ``"bounding-box"`` or ``"identity"`` (inputs already in one frame); see
        :func:`~sape_geo.geometry.alignment.align_without_landmarks` for their limits. With landmarks, the no-landmark modes are ignored.
    check_landmarks : held-back landmark pairs the fit never sees (same forms as ``landmarks``), reported
        as ``marker_error_pct_diag`` (mean) and ``marker_error_max_pct_diag``.
    ground_truth : where each source vertex belongs on the target: ``(n, 3)`` positions, or a file of
        ``source_vertex target_vertex`` pairs (the landmark formats); ``"auto"`` (default) uses vertex
        ``i`` -> target vertex ``i`` when the target has exactly the source's faces. Reported as
        ``correspondence_error_pct_diag`` (mean over the vertices given) and its max.
    target_samples : dense samples of a target surface (the loss's target points and the metrics').
    metric_samples : samples of the result for the metrics.
    seed : seed of the samplers.
    init : ``"biharmonic"`` (the landmarks' smooth displacement field), ``"arap"`` (libigl's ARAP with the
        landmarks as handles, from the biharmonic result: large pose changes bend instead of shearing), or
        ``"auto"`` (default): ARAP when the biharmonic field inverts triangles and ARAP inverts fewer
        (:func:`choose_initialisation`); the choice is in the notes and ``config.json``.
    scan : how a point-cloud target is reduced before the fit (default: at most 50,000 points, evenly
        spread by a voxel grid; optional outlier removal); landmarks given as target point indices
        refer to the file's points. Ignored for mesh targets.
    rigid : OBJ group / object names or vertex-id files whose vertices move by one similarity per
        connected part (:func:`rigid_parts`); the initialisation and the result are projected onto them.

    Raises
    ------
    FileNotFoundError, MeshInputError, LandmarkError, ValueError : bad inputs, with the file and line.
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {', '.join(ALIGNMENTS)}, got {alignment!r}")
    if init not in INITIALISATIONS:
        raise ValueError(f"init must be one of {', '.join(INITIALISATIONS)}, got {init!r}")
    timer = time.perf_counter()
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        template, inputs = _load_source(source)
        source_V, (source_F, _) = template.vertices, template.triangulation()
        target_V, target_F, target_inputs = _load_target(target)
        inputs.update(target_inputs)
        marks, landmark_inputs = _load_landmarks(landmarks, source_V.shape[0], target_V)
        inputs.update(landmark_inputs)
        held_back, held_inputs = _load_landmarks(check_landmarks, source_V.shape[0], target_V)
        inputs.update({f"check_{k}": v for k, v in held_inputs.items()})
        # a target file with the source's polygons reads as their first-corner fans (mesh_io, trimesh)
        truth, truth_source = _load_ground_truth(ground_truth, source_V, template.polygons.triangulate()[0], target_V, target_F)
    notes += [str(w.message) for w in caught]
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if marks is None and alignment == "landmarks":
        raise LandmarkError("no landmarks given: pass a landmark file, or choose --align principal-axes / bounding-box")
    report = inspect_mesh(source_V, source_F)
    usable = usable_face_mask(source_V, source_F)
    if not usable.any():
        raise MeshInputError("source: every face is degenerate; nothing is left of the mesh")
    if not usable.all():
        remark = (f"{int((~usable).sum())} degenerate or duplicated source faces are left out of the energies and samples; "
                  "result.obj keeps them")
        notes.append(remark)
        warnings.warn(remark, TransferInputWarning, stacklevel=2)
    work_F = source_F[usable]
    parts = rigid_parts(tuple(rigid), template, work_F)  # a misspelt group fails before any work
    for remark in _source_remarks(report):
        notes.append(remark)
        warnings.warn(remark, TransferInputWarning, stacklevel=2)
    if target_F is None:
        if target_V.shape[0] < source_V.shape[0]:
            # the run can go on (each point still pulls the surface), but most vertices get no data of their own
            remark = (f"the scan has {target_V.shape[0]} points, fewer than the source's {source_V.shape[0]} vertices: most of the "
                      "surface between the points follows the initialisation; a denser scan (or a coarser source) fits better")
            notes.append(remark)
            warnings.warn(remark, TransferInputWarning, stacklevel=2)
        target_V, _, scan_notes = reduce_scan(target_V, scan, seed=seed)
        notes += scan_notes
    target = make_target(target_V, target_F, target_samples, seed)
    loaded = time.perf_counter()

    used = np.unique(work_F)
    check_coordinate_range(source_V[used], "source")
    check_coordinate_range(target_V if target_F is None else target_V[np.unique(target_F)], "target")
    if marks is not None:
        transform = fit_landmark_transform(source_V[marks.source_indices], marks.target_positions)
        remark = _landmark_fit_remark(transform, source_V[marks.source_indices], marks, target_V, target_F is None, landmarks)
        if remark is not None:
            notes.append(remark)
            warnings.warn(remark, TransferInputWarning, stacklevel=2)
    else:
        # the surfaces' area-weighted axes: a mesh aligned to itself gets the identity
        transform = align_without_landmarks(source_V, target.vertices, alignment, source_faces=work_F, target_faces=target.faces)
    scale = abs(transform.determinant) ** (1.0 / 3.0)
    if not (1.0 / SCALE_MISMATCH <= scale <= SCALE_MISMATCH):
        remark = f"source and target differ in scale by {scale:.3g}x (different units?); aligned anyway"
        notes.append(remark)
        warnings.warn(remark, TransferInputWarning, stacklevel=2)
    affine_V = transform.apply(source_V)
    aligned = time.perf_counter()

    initial_V = affine_V
    if marks is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            deformer = BiharmonicDeformer(affine_V, work_F, marks.source_indices)
            initial_V = affine_V + deformer.displacements(marks.target_positions - affine_V[marks.source_indices])
        for w in caught:
            notes.append(str(w.message))
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    deformed = time.perf_counter()
    biharmonic_V = initial_V
    stages = {"load_seconds": loaded - timer, "align_seconds": aligned - loaded, "biharmonic_seconds": deformed - aligned}
    chosen = init
    if init in ("arap", "auto") and marks is not None:
        arap_V = arap_deform(affine_V, work_F, marks.source_indices, marks.target_positions, biharmonic_V, ARAP_ITERATIONS)
        stages["arap_seconds"] = time.perf_counter() - deformed
        if init == "auto":
            chosen, remark = choose_initialisation(source_V, work_F, biharmonic_V, arap_V)
            notes.append(remark)
        if chosen == "arap":
            initial_V = arap_V
    if parts:
        from sape_geo.geometry.carry import rigid_projection

        initial_V = rigid_projection(source_V, initial_V, parts)  # the network starts from rigid parts
    return PreparedTransfer(
        source_vertices=source_V,
        source_faces=source_F,
        usable_faces=usable,
        target=target,
        landmarks=marks,
        alignment=transform,
        affine_vertices=affine_V,
        initial_vertices=initial_V,
        normalisation=normalising_transform(target.vertices if target.faces is None else target.vertices[np.unique(target.faces)]),
        source_report=report,
        stage_seconds=stages,
        biharmonic_vertices=biharmonic_V,
        init=chosen if marks is not None else "affine",
        inputs=inputs,
        notes=notes,
        metric_samples=metric_samples,
        check_landmarks=held_back,
        ground_truth=truth,
        ground_truth_source=truth_source,
        template=template,
        rigid_parts=parts,
    )


def _landmark_fit_remark(
    transform: AffineTransform, source: np.ndarray, marks: Landmarks, target_V: np.ndarray, scan: bool, landmarks: Any
) -> str | None:
    """What the summary must say about the landmark alignment (None: nothing). Pairs that stay far
    apart after it (:data:`~sape_geo.geometry.alignment.LANDMARK_RESIDUAL_LIMIT`) do not describe one
    alignment: refused when the affine fit also had to be rejected (a mirror or a squash), else a
    loud note.

    Raises
    ------
    LandmarkError : the affine fit was rejected and the pairs stay far apart; the message says why
        and what to check (on a point cloud: target vertex ids read as indices into the scan's points).
    """
    diagonal = float(np.linalg.norm(target_V.max(axis=0) - target_V.min(axis=0)))
    rms, largest = landmark_residuals(transform, source, marks.target_positions, diagonal)
    if rms <= LANDMARK_RESIDUAL_LIMIT:
        return f"aligned by {transform.kind}" if "rejected" in transform.kind else None
    where = f"landmarks {landmarks}" if isinstance(landmarks, (str, os.PathLike)) else "landmarks"
    hint = (
        "the target is a point cloud: give its landmarks as 'source_vertex x y z' positions, not target vertex ids "
        "(sape-geo landmarks-to-positions LANDMARKS TARGET_MESH --out POSITIONS.txt turns mesh-vertex pairs into positions)"
        if scan else "check for swapped pairs, or target vertex ids of another mesh"
    )
    remark = (
        f"{where}: the pairs do not describe one alignment: aligned by {transform.kind}, they stay {100 * rms:.1f} % of the "
        f"target's diagonal apart (RMS; at most {100 * largest:.1f} %, limit {100 * LANDMARK_RESIDUAL_LIMIT:.0f} %); {hint}"
    )
    if "rejected" in transform.kind:
        raise LandmarkError(remark)
    return f"WARNING: {remark}"


def choose_initialisation(source: np.ndarray, faces: np.ndarray, biharmonic: np.ndarray, arap: np.ndarray) -> tuple[str, str]:
    """``init="auto"``: ARAP when the biharmonic field inverts triangles (see
    :mod:`sape_geo.geometry.metrics`) and ARAP inverts fewer; else biharmonic, which fits better where
    nothing turns over (measured on the benchmark pairs, docs/method.md, "Initialisation"). Returns the choice and a remark
    for the summary."""
    from sape_geo.geometry.metrics import folded_edges, inverted_triangle_mask

    base = folded_edges(source, faces)

    def crumples(vertices: np.ndarray) -> tuple[int, int]:
        return folded_edges(vertices, faces) - base, int(inverted_triangle_mask(source, vertices, faces).sum())

    bih, arap_count = crumples(biharmonic), crumples(arap)
    # Inverted triangles (turned inside out), not folds alone, decide: a few new creases are the fit's to
    # smooth, and on the cat -> dog pair (5 vs 3 added folds, none inverted) the biharmonic start ends
    # with the lower marker error; on the cat's pose change it inverts 40 triangles, ARAP 1.
    if bih[1] > 0 and arap_count[1] < bih[1]:
        return "arap", (f"initialised by ARAP: the biharmonic field inverted {bih[1]} triangles and added {bih[0]} folded edges, "
                        f"ARAP {arap_count[1]} and {arap_count[0]} (--init biharmonic to override)")
    return "biharmonic", (f"initialised by the biharmonic field (it inverts {bih[1]} triangles, adds {bih[0]} folded edges; "
                          "--init arap to override)")


def _source_remarks(report: MeshReport) -> list[str]:
    remarks = []
    if not report.is_closed:
        remarks.append(f"the source is open ({report.boundary_loops} boundary loops); its boundary is free to move")
    if report.components > 1:
        remarks.append(f"the source has {report.components} connected components")
    if not report.is_edge_manifold:
        remarks.append(f"the source has {report.non_manifold_edges} non-manifold edges; energies treat them per triangle")
    if report.unreferenced_vertices:
        remarks.append(f"{report.unreferenced_vertices} source vertices belong to no face; they follow the alignment only")
    return remarks
