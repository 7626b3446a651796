"""``sape-geo transfer``: the task's declaration (settings, inputs, defaults) and its one-screen
summary. Nothing heavy is imported here: the pipeline's ``make_transfer_task`` loads when a transfer
runs, named by ``"module:function"``, so this module never imports it (the pipeline imports this one)."""

from __future__ import annotations

from typing import Any

from sape_geo.registry import DEFAULT_THREADS, Input, TaskPlugin

from .settings import TransferSettings

DEFAULT_STEPS = 150
# Fourier sigma per method, in cycles per unit of the normalised frame. SAPE opens frequencies only
# where vertices still misfit, so it affords a higher sigma than static FF (the paper uses 2x).
DEFAULT_SIGMA = {"ff": 3.0, "pff": 6.0, "sape-ff": 6.0}
OTHER_SIGMA = 5.0  # methods without a tuned sigma (the non-Fourier ones, which do not read it)
DEFAULT_HIDDEN = 128
DEFAULT_LAYERS = 2
DEFAULT_FREQUENCIES = 128
DEFAULT_EPSILON = 3e-3
DEFAULT_LR = 3e-3

DESCRIPTION = """\
Transfer the tessellation of SOURCE onto the shape of TARGET: the result has the source's faces and
vertex order, with positions on the target, in the target's coordinates.

Stages: landmarks -> affine fit (>= 4 non-coplanar pairs; similarity for 3 or coplanar) ->
biharmonic deformation (landmarks land exactly; --init arap or auto for large pose changes) -> a
network learns a correction of the vertex positions (loss: symmetric Chamfer to the target +
conformal energy against the source + landmark term + fold penalty). With sape-ff, each vertex opens
higher frequencies only while it is still far from the target.

Inputs: SOURCE mesh (OBJ, OFF, PLY, STL); TARGET mesh or point cloud (a scan: PLY, PCD, XYZ, OBJ
without faces; reduced to at most --target-points points, evenly spread, before the fit).
Landmark file: one pair a line, 'source_vertex target_vertex' (0-based) or 'source_vertex x y z'
(target units); '#' starts a comment (a name); CSV, JSON and a YAML 'markers:' list of "s:t" also
accepted. A point-cloud target (a scan) needs 'source_vertex x y z': vertex ids would index its points
(sape-geo landmarks-to-positions LANDMARKS TARGET_MESH --out POSITIONS.txt converts them). Landmarks
that stay more than 10 % of the target's diagonal apart after the alignment are refused when the affine
fit had to be rejected, and flagged in the summary otherwise. Without landmarks, give
--align (principal-axes, bounding-box or identity; see its help for the limits).

Methods: the network methods, plus affine, biharmonic and arap (the initialisation alone).
Writes RUN/result.obj (the source file with new positions: polygons, vt/vn, groups, materials and
comments kept; result.ply / result.off for a PLY / OFF source), RUN/init.obj (the initialisation),
RUN/carried/ (--carry files), carry.npz (for sape-geo carry), metrics.json (Chamfer L1 and Hausdorff in %
of the target's bounding-box diagonal, Dirichlet and conformal energy over the source area: identity =
1 and 0, flipped/degenerate/inverted triangles, folded edges of source and result, seconds per
stage), progress.npy (levels open per vertex: the heat map), history.csv, model.pt, snapshots.npz
with --snapshots.

example: sape-geo transfer assets/creature_source.obj assets/creature_target.obj \\
             --landmarks assets/creature_landmarks.txt --out runs/demo"""


def _row(label: str, metrics: dict[str, Any], prefix: str = "") -> str:
    get = lambda key: metrics.get(prefix + key, float("nan"))  # noqa: E731
    count = lambda key: f"{int(get(key)):>9d}" if prefix + key in metrics else f"{'-':>9}"  # noqa: E731
    return (
        f"{label:<15}{get('chamfer_l1_pct_diag'):>10.3f} {get('hausdorff_pct_diag'):>10.3f}"
        f" {get('dirichlet_ratio'):>10.4g} {get('conformal_ratio'):>10.4g}{count('flipped_triangles')}"
        f"{count('folded_edges')}{count('inverted_triangles')}"
    )


def _polygon_counts(polygons: Any) -> str:
    """``" (triangulated from 221 polygons: 169 quads, 4 pentagons, 48 triangles)"``, or nothing for triangles."""
    if polygons.is_triangles:
        return ""
    import numpy as np

    sizes, counts = np.unique(polygons.sizes, return_counts=True)
    names = {3: "triangles", 4: "quads", 5: "pentagons", 6: "hexagons"}
    parts = ", ".join(f"{count} {names.get(int(size), f'{size}-gons')}" for size, count in zip(sizes[::-1], counts[::-1]))
    return f" (triangulated from {len(polygons)} polygons: {parts})"


def summarise(result: Any) -> list[str]:
    """The one-screen summary of a run (:class:`~sape_geo.experiment.RunResult`): inputs, stage times,
    initialisation vs result, heat map, notes."""
    m = result.metrics
    prepared = result.task.prepared
    lines = [f"source: {prepared.source_report.describe()}" + _polygon_counts(prepared.source_template.polygons)]
    target = prepared.target
    lines.append(
        f"target: {target.vertices.shape[0]} {'vertices' if target.faces is not None else 'points'}"
        + (f", {target.faces.shape[0]} faces" if target.faces is not None else " (point cloud)")
        + f"; aligned by {prepared.alignment.kind}"
        + (f" from {len(prepared.landmarks)} landmarks, initialised by {prepared.init}" if prepared.landmarks is not None else "")
    )
    stages = [(k.replace("_seconds", ""), m[k]) for k in ("load_seconds", "align_seconds", "biharmonic_seconds", "arap_seconds", "fit_seconds", "evaluate_seconds") if k in m]
    lines.append("seconds: " + ", ".join(f"{name} {value:.2f}" for name, value in stages))
    lines.append(f"{'':<15}{'Chamfer%':>10} {'Hausdorff%':>10} {'Dirichlet':>10} {'conformal':>10}{'flipped':>9}{'folded':>9}{'inverted':>9}")
    if "source_folded_edges" in m:
        lines.append(f"{'source':<15}{'':>10} {'':>10} {1.0:>10.4g} {0.0:>10.4g}{'':>9}{int(m['source_folded_edges']):>9d}{0:>9d}")
    if "init_chamfer_l1_pct_diag" in m:
        lines.append(_row("initialisation", m, "init_"))
    lines.append(_row("result", m))
    if "folded_edges" in m and "source_folded_edges" in m:
        added = int(m["folded_edges"]) - int(m["source_folded_edges"])
        lines.append(f"folded edges (normals > 120 degrees apart): source {int(m['source_folded_edges'])} -> result {int(m['folded_edges'])} ({added:+d})")
    if "turned_polygons" in m:
        lines.append(f"polygons: {int(m['turned_polygons'])} turned over, {int(m['folded_polygon_edges'])} edges between polygons folded "
                     f"(source {int(m['source_folded_polygon_edges'])}); non-planarity (corner height over mean edge) mean "
                     f"{m['polygon_nonplanarity_mean']:.3f}, max {m['polygon_nonplanarity_max']:.3f} (source max "
                     f"{m['source_polygon_nonplanarity_max']:.3f}); the energies count each polygon once")
    if "landmark_error_max_pct_diag" in m:
        lines.append(f"landmarks: max error {m['landmark_error_max_pct_diag']:.3f} % of the target diagonal")
    for key, label in (("marker_error", "held-back markers"), ("correspondence_error", f"correspondence ({prepared.ground_truth_source})")):
        if f"{key}_pct_diag" in m:
            before = f" (initialisation {m['init_' + key + '_pct_diag']:.3f})" if f"init_{key}_pct_diag" in m else ""
            parts = "".join(f", {part} {m[f'{key}_{part}_pct_diag']:.3f}" for part in ("observed", "inferred")
                            if f"{key}_{part}_pct_diag" in m and m.get("observed_vertices", 1.0) < 1.0)
            lines.append(f"{label}: mean error {m[key + '_pct_diag']:.3f} %{parts}, max {m[key + '_max_pct_diag']:.3f} % of the target diagonal{before}")
    if m.get("observed_vertices", 1.0) < 1.0:
        lines.append(f"observed: {100 * m['observed_fraction']:.0f} % of the source's area, {100 * m['observed_vertices']:.0f} % of its vertices "
                     f"(observed.npy); the rest is inferred; partial data term {'on' if m.get('partial_data_term') else 'off'}")
    if m.get("max_progress"):
        lines.append(f"heat map: {m['mean_progress']:.1f} of {m['max_progress']:.0f} levels open on average (progress.npy)")
    if result.path is not None:
        lines.append(f"result: {result.path / prepared.result_name} (the source file with new positions, target frame)")
        if prepared.carried:
            lines.append(f"carried: {', '.join(t.path.name for t in prepared.carried)} in {result.path / 'carried'}")
    lines += [f"note: {note}" for note in prepared.notes]
    return lines


PLUGIN = TaskPlugin(
    name="transfer",
    summary="mesh transfer: the source's tessellation onto the target's shape (landmarks, biharmonic, SAPE)",
    description=DESCRIPTION,
    settings=TransferSettings,
    make_task="sape_geo_plugins.mesh_transfer.pipeline:make_transfer_task",
    inputs=(
        Input("source", "source mesh (OBJ, OFF, PLY, STL): its faces and vertex order are kept"),
        Input("target", "target mesh or point cloud (OBJ, OFF, PLY, STL; scans: PLY, PCD, XYZ)"),
        Input("landmarks", "correspondences: text, CSV, JSON or YAML markers (see above); on a scan, "
              "'source_vertex x y z' positions", optional=True),
        Input("check_landmarks", "held-back landmark pairs the fit never sees (same formats, or a YAML 'markers:' list of "
              "\"s:t\"): marker_error_pct_diag (mean and max)", optional=True),
        Input("ground_truth_map", "dense correspondence 'source_vertex target_vertex' pairs: correspondence_error_pct_diag "
              "(found automatically when the target has exactly the source's faces)", optional=True),
    ),
    defaults={
        "steps": DEFAULT_STEPS, "lr": DEFAULT_LR, "lr_schedule": "cosine", "sigma": OTHER_SIGMA, "hidden_dim": DEFAULT_HIDDEN,
        "num_hidden_layers": DEFAULT_LAYERS, "num_frequencies": DEFAULT_FREQUENCIES, "epsilon": DEFAULT_EPSILON,
        "threads": DEFAULT_THREADS,  # from Python too, not only on the command line: the same numbers on every machine
    },
    per_method={name: {"sigma": sigma} for name, sigma in DEFAULT_SIGMA.items()},
    summarise=summarise,
    extra_methods={
        "affine": "the landmark affine fit alone",
        "biharmonic": "affine + biharmonic deformation alone",
        "arap": "affine + biharmonic + ARAP alone",
    },
)

# The mesh-transfer defaults of a network method (tuned on the demo pairs); keyword changes override any field.
default_method_config = PLUGIN.default_method_config

__all__ = ["PLUGIN", "default_method_config", "summarise"]
