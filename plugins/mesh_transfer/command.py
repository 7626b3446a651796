"""``sape-geo transfer``: the command line of mesh transfer and its one-screen summary."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sape_geo.geometry.point_clouds import ScanSettings
from sape_geo.legacy_cli import TaskPlugin, add_common_arguments, fit_config_from_args, method_config_from_args

from .pipeline import (
    DEFAULT_EPSILON,
    DEFAULT_FREQUENCIES,
    DEFAULT_HIDDEN,
    DEFAULT_LAYERS,
    DEFAULT_LR,
    DEFAULT_SIGMA,
    DEFAULT_STEPS,
    DEFAULT_INIT,
    INIT_METHODS,
    INITIALISATIONS,
    OTHER_SIGMA,
    TransferResult,
    transfer_mesh,
)
from .task import TransferSettings

DESCRIPTION = f"""\
Transfer the tessellation of SOURCE onto the shape of TARGET: the result has the source's faces and
vertex order, with positions on the target, in the target's coordinates.

Stages: landmarks -> affine fit (>= 4 non-coplanar pairs; similarity for 3 or coplanar) ->
biharmonic deformation (landmarks land exactly) -> a network learns a correction of the vertex
positions (loss: symmetric Chamfer to the target + conformal energy against the source + landmark
term). With sape-ff, each vertex opens higher frequencies only while it is still far from the target.

Inputs: SOURCE mesh (OBJ, OFF, PLY, STL); TARGET mesh or point cloud (a scan: PLY, PCD, XYZ, OBJ
without faces; reduced to at most --target-points points, evenly spread, before the fit).
Landmark file: one pair a line, 'source_vertex target_vertex' (0-based) or 'source_vertex x y z'
(target units); '#' starts a comment (a name); CSV and JSON also accepted.

Without landmarks, --align principal-axes matches centroids, principal axes and spreads (4 axis
sign choices tried), --align bounding-box matches axis-aligned boxes, --align identity keeps the
inputs as they are (already in one frame, e.g. two resolutions of one model). Limits: no correspondences are
known, so near-symmetric shapes (equal spreads), different poses, or differently oriented inputs
(bounding-box) can align wrongly; the network then pulls the wrong parts together. Give landmarks
when you can.

Methods: the network methods, plus 'affine' and 'biharmonic' (the initialisation alone).
Writes RUN/result.obj, RUN/init.obj (the initialisation), metrics.json (Chamfer L1 and Hausdorff in %
of the target's bounding-box diagonal, Dirichlet and conformal energy over the source area: identity =
1 and 0, flipped/degenerate/inverted triangles, folded edges of source and result, seconds per
stage), progress.npy (levels open per vertex: the
heat map), history.csv, model.pt, snapshots.npz with --snapshots.

example: sape-geo transfer assets/creature_source.obj assets/creature_target.obj \\
             --landmarks assets/creature_landmarks.txt --out runs/demo
defaults: {DEFAULT_STEPS} steps, lr {DEFAULT_LR:g} (cosine), MLP {DEFAULT_LAYERS}x{DEFAULT_HIDDEN}, {DEFAULT_FREQUENCIES} frequencies,
sigma {', '.join(f'{k} {v:g}' for k, v in DEFAULT_SIGMA.items())}, epsilon {DEFAULT_EPSILON:g} (normalised units)."""


def _set_default(parser: argparse.ArgumentParser, dest: str, value: Any, help_text: str) -> None:
    """Give a shared option this task's default, and say so in ``--help``."""
    for action in parser._actions:  # argparse has no public API to edit an added option
        if action.dest == dest:
            action.default = value
            action.help = help_text


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="source mesh (OBJ, OFF, PLY, STL): its faces and vertex order are kept")
    parser.add_argument("target", help="target mesh or point cloud (OBJ, OFF, PLY, STL; scans: PLY, PCD, XYZ)")
    task = parser.add_argument_group("transfer")
    task.add_argument("--landmarks", metavar="FILE", help="correspondences: text, CSV or JSON (see above)")
    task.add_argument(
        "--align",
        choices=("principal-axes", "bounding-box", "identity"),
        default=None,
        help="align without landmarks (see the limits above); ignored when --landmarks is given",
    )
    task.add_argument("--init", choices=INITIALISATIONS, default=DEFAULT_INIT,
                      help=f"initialisation from the landmarks: biharmonic (smooth displacement field), arap (libigl ARAP, the landmarks as "
                           f"handles, from the biharmonic result; large pose changes bend instead of shearing), or auto: arap when the "
                           f"biharmonic field inverts triangles and arap inverts fewer (default {DEFAULT_INIT})")
    task.add_argument("--check-landmarks", metavar="FILE",
                      help="held-back landmark pairs the fit never sees (same formats, or a YAML 'markers:' list of \"s:t\"): "
                           "marker_error_pct_diag (mean and max)")
    task.add_argument("--ground-truth-map", metavar="FILE",
                      help="dense correspondence 'source_vertex target_vertex' pairs: correspondence_error_pct_diag "
                           "(found automatically when the target has exactly the source's faces)")
    scan = ScanSettings()
    task.add_argument("--target-points", type=int, default=scan.max_points, metavar="N",
                      help=f"a point-cloud target is downsampled to at most N points, evenly spread (voxel grid); 0 keeps every point (default {scan.max_points})")
    task.add_argument("--target-voxel", type=float, default=None, metavar="SIZE",
                      help="downsample a point-cloud target on voxels of this side (target units) instead of --target-points")
    task.add_argument("--remove-outliers", action="store_true",
                      help=f"drop a point-cloud target's statistical outliers ({scan.outlier_neighbours} neighbours, {scan.outlier_std_ratio:g} standard deviations)")
    defaults = TransferSettings()
    task.add_argument("--conformal-weight", type=float, default=defaults.conformal_weight, help=f"weight of the conformal energy (default {defaults.conformal_weight:g})")
    task.add_argument("--landmark-weight", type=float, default=defaults.landmark_weight, help=f"weight of the landmark term; 0 = landmarks only initialise (default {defaults.landmark_weight:g})")
    task.add_argument("--samples", type=int, default=defaults.surface_samples, help=f"surface samples of the deformed mesh per step (default {defaults.surface_samples})")
    task.add_argument("--target-batch", type=int, default=defaults.target_batch, help=f"target samples per step (default {defaults.target_batch})")
    task.add_argument("--mask-grid", type=int, default=defaults.mask_resolution, metavar="R", help=f"SAPE progress on an R^3 grid (trilinear); 0 = one progress per vertex (default {defaults.mask_resolution})")
    task.add_argument("--chamfer", choices=("surface", "points"), default=defaults.chamfer, help="surface: exact sample-to-surface distances (default); points: nearest-sample Chamfer")
    task.add_argument("--feedback", choices=("vertex", "two-sided"), default=defaults.feedback,
                      help="SAPE's per-vertex loss: vertex = its distance to the target (default); two-sided = also the misfit of the target samples nearest to it")
    add_common_arguments(parser, default_steps=DEFAULT_STEPS, default_lr=DEFAULT_LR, default_hidden_layers=DEFAULT_LAYERS, default_epsilon=DEFAULT_EPSILON)
    for action in parser._actions:
        if action.dest == "method":
            action.choices = [*action.choices, *INIT_METHODS]
            action.help += "; affine: the landmark affine fit alone; biharmonic: affine + biharmonic deformation alone; arap: + ARAP alone"
    _set_default(parser, "hidden", DEFAULT_HIDDEN, f"MLP width (default {DEFAULT_HIDDEN})")
    _set_default(parser, "frequencies", DEFAULT_FREQUENCIES, f"Fourier frequencies = SAPE levels (default {DEFAULT_FREQUENCIES})")


def _run(args: argparse.Namespace) -> TransferResult:
    if args.landmarks is None and args.align is None:
        raise ValueError("no landmarks: give --landmarks FILE (>= 3 pairs), or --align principal-axes / bounding-box / identity")
    settings = TransferSettings(args.conformal_weight, args.landmark_weight, args.samples, args.target_batch, args.mask_grid, args.chamfer, args.feedback)
    # the shared options carry this task's defaults (see _add_arguments), so they describe the method
    method: Any = args.method if args.method in INIT_METHODS else method_config_from_args(args, DEFAULT_SIGMA, default_sigma=OTHER_SIGMA)
    fit = fit_config_from_args(args)
    fit_options = {"lr": fit.lr, "device": fit.device, "progress_bar": fit.progress_bar, "snapshot_every": fit.snapshot_every, "lr_schedule": "cosine"}
    if fit.threads is not None:
        fit_options["threads"] = fit.threads
    if fit.progress_bar:  # reading a scan of millions of points takes seconds before the progress bar opens
        print(f"transfer: reading {args.source} and {args.target}, aligning, initialising", file=sys.stderr, flush=True)
    return transfer_mesh(
        args.source,
        args.target,
        args.landmarks,
        method=method,
        out=args.out,
        steps=args.steps,
        seed=args.seed,
        alignment="landmarks" if args.landmarks is not None else args.align,
        settings=settings,
        overwrite=args.overwrite,
        extra_config={"argv": vars(args)},
        check_landmarks=args.check_landmarks,
        init=args.init,
        scan=ScanSettings(max_points=args.target_points, voxel_size=args.target_voxel, remove_outliers=args.remove_outliers),
        ground_truth=args.ground_truth_map if args.ground_truth_map is not None else "auto",
        **fit_options,
    )


def _row(label: str, metrics: dict[str, Any], prefix: str = "") -> str:
    get = lambda key: metrics.get(prefix + key, float("nan"))  # noqa: E731
    count = lambda key: f"{int(get(key)):>9d}" if prefix + key in metrics else f"{'-':>9}"  # noqa: E731
    return (
        f"{label:<15}{get('chamfer_l1_pct_diag'):>10.3f} {get('hausdorff_pct_diag'):>10.3f}"
        f" {get('dirichlet_ratio'):>10.4g} {get('conformal_ratio'):>10.4g}{count('flipped_triangles')}"
        f"{count('folded_edges')}{count('inverted_triangles')}"
    )


def summarise(result: TransferResult) -> list[str]:
    """The one-screen summary: inputs, stage times, initialisation vs result, heat map, notes."""
    m = result.metrics
    prepared = result.prepared
    lines = [f"source: {prepared.source_report.describe()}"]
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
    if "landmark_error_max_pct_diag" in m:
        lines.append(f"landmarks: max error {m['landmark_error_max_pct_diag']:.3f} % of the target diagonal")
    for key, label in (("marker_error", "held-back markers"), ("correspondence_error", f"correspondence ({prepared.ground_truth_source})")):
        if f"{key}_pct_diag" in m:
            before = f" (initialisation {m['init_' + key + '_pct_diag']:.3f})" if f"init_{key}_pct_diag" in m else ""
            lines.append(f"{label}: mean error {m[key + '_pct_diag']:.3f} %, max {m[key + '_max_pct_diag']:.3f} % of the target diagonal{before}")
    if m.get("max_progress"):
        lines.append(f"heat map: {m['mean_progress']:.1f} of {m['max_progress']:.0f} levels open on average (progress.npy)")
    if result.path is not None:
        lines.append(f"result: {result.path / 'result.obj'} (source faces and vertex order, target frame)")
    lines += [f"note: {note}" for note in prepared.notes]
    return lines


PLUGIN = TaskPlugin(
    name="transfer",
    summary="mesh transfer: the source's tessellation onto the target's shape (landmarks, biharmonic, SAPE)",
    description=DESCRIPTION,
    add_arguments=_add_arguments,
    run=_run,
    summarise=summarise,
)
