"""Large-source benchmark (issue 18, "Large sources"): a ~50,000-vertex source transferred onto a real target.

The source is pair 08's low-resolution hand (``source_hand_lowres.obj``, 810 vertices) subdivided
``--subdivisions`` times by trimesh (every triangle split in four at its edge midpoints; 3 times gives
51,234 vertices and 102,528 triangles), written as an OBJ and read back by each run, as a user's file
would be. The target is the pair's own target, ``target_hand_closed.obj`` (7,993 vertices), in the same
frame (``--align identity``, as in the transfer benchmark). The original 810 vertices keep their ids
through subdivision, so landmarks are taken among them: ``--landmarks`` of them spread by farthest-point
sampling, each sent to its closest point on the target surface.

Rows, each in a fresh process, so its peak resident memory (``VmHWM``) is its own:

- ``stages``: ``prepare_transfer`` with the landmarks (load, align, the biharmonic factorisation and
  solve, ARAP's precomputation and iterations, the automatic choice; ARAP's seconds are the ones
  ``prepare_transfer`` reports, as the public API runs it with no iteration count to pass), then the pieces of one
  optimisation step, each timed over ``--repeats`` calls: the network forward + backward on every
  vertex, the energies (conformal + fold penalty, forward + backward), the surface Chamfer of a step,
  the per-vertex closest-point query (SAPE's feedback), and one playback snapshot. The peak memory of
  the factorisations is measured by resetting ``VmHWM`` before each (``/proc/self/clear_refs``).
- ``default run``: ``transfer_mesh(SOURCE, TARGET, align="identity")``, the default ``sape-ff``
  transfer end to end (no landmarks: affine start), writing a run directory.
- ``landmarks + snapshots``: the same with the landmarks (biharmonic and ARAP, the automatic choice)
  and a playback frame every ``--snapshot-every`` steps, writing a run directory.

Seconds: wall clock and CPU (user + system of the process, all threads). The committed table was run
under ``nice`` on a 2-core machine shared with another benchmark, so wall seconds include waiting for
the CPU; CPU seconds do not. One torch thread (the transfer default).

Target: the default run finishes in at most 5 minutes on 2 cores.

    python -m bench.large_source [--data DIR | --source FILE --target FILE] [--subdivisions 3] [--landmarks 16] [--steps N]

Results: ``benchmarks/large_source.json`` and ``.md``.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, add_data_argument, add_transfer_steps_argument, benchmark_parser, data_folder, display_path, markdown_table, peak_memory_mb, process_status_mb, run_in_fresh_process, write_results

# the default source and target: pair 08 of the mesh pairs (--data)
PAIR = "08_hand_lowres_to_hand"
SOURCE, TARGET = "source_hand_lowres.obj", "target_hand_closed.obj"
RUN_COLUMNS = ["run", "source_vertices", "seconds", "cpu_seconds", "peak_memory_mb", "load_seconds", "align_seconds", "biharmonic_seconds",
               "arap_seconds", "fit_seconds", "evaluate_seconds", "export_seconds", "init", "chamfer_l1_pct_diag", "run_directory_mb",
               "snapshots_mb"]
STAGE_COLUMNS = ["stage", "seconds", "cpu_seconds", "peak_memory_mb", "added_memory_mb"]


def resident_memory_mb() -> float:
    return process_status_mb("VmRSS")


def reset_peak_memory() -> bool:
    """Reset ``VmHWM`` to the current resident size (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def make_source(subdivisions: int, folder: Path, source: Path) -> tuple[Path, int, int]:
    """``source`` (default: pair 08's low-resolution hand) subdivided ``subdivisions`` times, written as
    OBJ: path, vertices, faces."""
    import trimesh

    from sape_geo.geometry.mesh_io import load_mesh, save_mesh

    vertices, faces = load_mesh(source)
    for _ in range(subdivisions):
        vertices, faces = trimesh.remesh.subdivide(vertices, faces)
    path = folder / f"hand_subdivided_{subdivisions}.obj"
    save_mesh(path, vertices, faces)
    return path, int(vertices.shape[0]), int(faces.shape[0])


def make_landmarks(count: int, source: Path, target: Path) -> tuple[np.ndarray, np.ndarray]:
    """``count`` of the original source vertices spread by farthest-point sampling, and their closest
    points on the target surface."""
    from sape_geo.geometry.mesh_io import load_mesh
    from sape_geo.geometry.metrics import SurfaceDistance

    vertices, _ = load_mesh(source)
    target_V, target_F = load_mesh(target)
    chosen = [0]
    distance = ((vertices - vertices[0]) ** 2).sum(axis=1)
    for _ in range(count - 1):
        chosen.append(int(distance.argmax()))
        distance = np.minimum(distance, ((vertices - vertices[chosen[-1]]) ** 2).sum(axis=1))
    ids = np.array(chosen, dtype=np.int64)
    _, positions = SurfaceDistance(target_V, target_F).closest(vertices[ids])
    return ids, positions


def _timed(stages: list[dict[str, Any]], name: str, function, repeats: int = 1, memory: bool = False):
    """Run ``function`` ``repeats`` times; append a row with the mean seconds and CPU seconds per call."""
    if memory:
        reset_peak_memory()
    before_memory = resident_memory_mb()
    started, started_cpu = time.perf_counter(), cpu_seconds()
    for _ in range(repeats):
        value = function()
    row = {"stage": name, "seconds": (time.perf_counter() - started) / repeats, "cpu_seconds": (cpu_seconds() - started_cpu) / repeats}
    if memory:
        row["peak_memory_mb"] = peak_memory_mb()
        row["added_memory_mb"] = row["peak_memory_mb"] - before_memory
    stages.append(row)
    print(f"  {name}: {row['seconds']:.3f} s", flush=True)
    return value


def _stages(job: dict[str, Any], queue) -> None:
    """The factorisations and the pieces of one step, in one fresh process."""
    import torch

    from sape_geo.fitting import choose_device  # noqa: F401  (imports the loop's modules before timing)
    from sape_geo.geometry.biharmonic import BiharmonicDeformer
    from sape_geo.geometry.energies import conformal_ratio
    from sape_geo.geometry.surface_chamfer import surface_chamfer
    from sape_geo.geometry.energies import barycentric_points
    from sape_geo.geometry.metrics import SurfaceDistance
    from sape_geo.methods import ModelSpec, build_model
    from sape_geo_plugins.mesh_transfer import MeshTransferTask, default_method_config, prepare_transfer

    torch.set_num_threads(1)
    repeats = job["repeats"]
    stages: list[dict[str, Any]] = []
    ids, positions = job["landmark_ids"], job["landmark_positions"]
    prepared = _timed(stages, "prepare_transfer (load, align, biharmonic, ARAP, choice)",
                      lambda: prepare_transfer(job["source"], job["target"], (ids, positions), "landmarks", seed=0), memory=True)
    affine, faces = prepared.affine_vertices, prepared.energy_faces
    deformer = _timed(stages, "biharmonic: build + factorise", lambda: BiharmonicDeformer(affine, faces, ids), memory=True)
    _timed(stages, "biharmonic: solve (3 right-hand sides)", lambda: deformer.displacements(positions - affine[ids]), repeats)
    del deformer
    stages.append({"stage": "ARAP: precompute + iterations (prepare_transfer's arap_seconds)",
                   "seconds": prepared.stage_seconds.get("arap_seconds", 0.0)})

    task = _timed(stages, "transfer task: set up (frames, target tree, edges)", lambda: MeshTransferTask(prepared), memory=True)
    spec = ModelSpec(method=default_method_config("sape-ff"), in_dim=3, out_dim=3, total_steps=400, domain=task.mask_domain(),
                     zero_output=True, seed=0)
    model = build_model(spec)
    generator = torch.Generator().manual_seed(0)
    batch = task.batch(0, generator)
    # the target's surface in the task's normalised frame, as the task's own surface Chamfer measures against
    target_distance = SurfaceDistance(prepared.normalisation.apply(prepared.target.vertices), prepared.target.faces)

    def network():
        output = model(batch.coords, batch.index)
        output.square().sum().backward()
        model.zero_grad(set_to_none=True)

    def energies():
        deformed = task.initial.clone().requires_grad_(True)
        total = conformal_ratio(deformed, task.frames) + (task.fold_excess(deformed) ** 2).mean()
        total.backward()

    def chamfer():
        deformed = task.initial.clone().requires_grad_(True)
        samples = barycentric_points(deformed, task.faces, batch.data["face_ids"], batch.data["barycentric"])
        surface_chamfer(samples, deformed, task.faces, batch.data["target"], target_distance)[0].backward()

    def whole_step():
        output = model(batch.coords, batch.index)
        total, per_point = task.loss(output, batch)
        total.backward()
        model.zero_grad(set_to_none=True)

    _timed(stages, "step: network forward + backward (every vertex)", network, repeats, memory=True)
    _timed(stages, "step: energies (conformal + folds), forward + backward", energies, repeats)
    _timed(stages, "step: surface Chamfer (2000 + 2000 samples), forward + backward", chamfer, repeats)
    _timed(stages, "step: per-vertex closest points (SAPE feedback, every 4th step)", lambda: task.vertex_distances(task.initial), repeats)
    _timed(stages, "step: whole loss + network, forward + backward", whole_step, repeats, memory=True)
    with torch.no_grad():
        frame = _timed(stages, "snapshot: one playback frame", lambda: task.snapshot(model), repeats)
    queue.put({"stages": stages, "snapshot_frame_mb": sum(array.nbytes for array in frame.values()) / 2**20,
               "peak_memory_mb": peak_memory_mb(), "init": prepared.init, "notes": prepared.notes})


def _transfer(job: dict[str, Any], queue) -> None:
    """One transfer end to end into a run directory, in a fresh process."""
    import torch

    from sape_geo_plugins.mesh_transfer import transfer_mesh

    torch.set_num_threads(1)
    landmarks = (job["landmark_ids"], job["landmark_positions"]) if job["landmarks"] else None
    out = Path(job["folder"]) / job["name"].replace(" ", "_").replace("+", "and")
    options = {"steps": job["steps"]} if job["steps"] else {}
    if job["snapshot_every"]:
        options["snapshot_every"] = job["snapshot_every"]
    before = cpu_seconds()
    start = time.perf_counter()
    result = transfer_mesh(job["source"], job["target"], landmarks, align=None if landmarks is not None else "identity",
                           out=out, progress_bar=False, **options)
    seconds = time.perf_counter() - start
    used_cpu = cpu_seconds() - before
    peak = peak_memory_mb()
    m = result.metrics
    files = [path for path in out.rglob("*") if path.is_file()]
    snapshots = out / "snapshots.npz"
    queue.put({
        "run": job["name"], "source_vertices": int(result.vertices.shape[0]), "seconds": seconds, "cpu_seconds": used_cpu,
        "peak_memory_mb": peak, **{key: m.get(key) for key in ("load_seconds", "align_seconds", "biharmonic_seconds", "arap_seconds",
                                                               "fit_seconds", "evaluate_seconds", "export_seconds", "steps_done",
                                                               "chamfer_l1_pct_diag", "hausdorff_pct_diag", "stop_reason")},
        "init": result.prepared.init, "notes": result.prepared.notes,
        "run_directory_mb": sum(path.stat().st_size for path in files) / 2**20,
        "snapshots_mb": snapshots.stat().st_size / 2**20 if snapshots.is_file() else 0.0,
        "load_average_before": job["load_average"],
    })


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, results_name="large_source")
    parser.add_argument("--subdivisions", type=int, default=3, help="midpoint subdivisions of the 810-vertex hand (default 3: 51,234 vertices)")
    parser.add_argument("--landmarks", type=int, default=16, help="landmarks for the stages and the landmark run (default 16)")
    add_transfer_steps_argument(parser)
    parser.add_argument("--snapshot-every", type=int, default=40, help="playback frame every N steps in the landmark run (default 40)")
    parser.add_argument("--repeats", type=int, default=5, help="calls per step piece in the stages row (default 5)")
    parser.add_argument("--skip-runs", action="store_true", help="the stages only, no end-to-end runs")
    parser.add_argument("--source", type=Path, default=None, help="mesh to subdivide (default: pair 08's low-resolution hand)")
    parser.add_argument("--target", type=Path, default=None, help="target mesh (default: pair 08's hand)")
    add_data_argument(parser, "mesh_pairs", "the mesh pairs, for the default source and target")
    args = parser.parse_args(argv)
    command_options = "".join(f" --{name} {display_path(getattr(args, name))}" for name in ("source", "target") if getattr(args, name) is not None)
    if args.source is None or args.target is None:
        pair = data_folder(parser, args.data, "mesh_pairs") / PAIR
        args.source, args.target = args.source or pair / SOURCE, args.target or pair / TARGET

    ids, positions = make_landmarks(args.landmarks, args.source, args.target)
    with tempfile.TemporaryDirectory(prefix="sape-geo-large-") as folder:
        source, vertex_count, face_count = make_source(args.subdivisions, Path(folder), args.source)
        print(f"source: {vertex_count:,} vertices, {face_count:,} triangles", flush=True)
        common = {"source": str(source), "target": str(args.target), "landmark_ids": ids, "landmark_positions": positions, "steps": args.steps, "folder": folder}
        stages = run_in_fresh_process(_stages, {**common, "repeats": args.repeats})
        runs = []
        if not args.skip_runs:
            jobs = [{"name": "default run", "landmarks": False, "snapshot_every": 0},
                    {"name": "landmarks + snapshots", "landmarks": True, "snapshot_every": args.snapshot_every}]
            for job in jobs:
                row = run_in_fresh_process(_transfer, {**common, **job, "load_average": os.getloadavg()[0]})
                runs.append(row)
                print(f"{row['run']}: {row['seconds']:.1f} s wall, {row['cpu_seconds']:.1f} s CPU, {row['peak_memory_mb']:.0f} MB", flush=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("name", "skip_runs", "source", "target", "data")}
    settings.update({"source": f"{display_path(args.source)} subdivided {args.subdivisions}x ({vertex_count} vertices, {face_count} triangles)",
                     "target": display_path(args.target), "landmark_source_ids": ids.tolist(), "threads": 1, "cpu_count": multiprocessing.cpu_count()})
    command_options += f" --subdivisions {args.subdivisions}" if args.subdivisions != 3 else ""
    header = (
        f"# Large source: {vertex_count:,} vertices ({face_count:,} triangles) onto a real target\n\n"
        f"`nice python -m bench.large_source{command_options}` ({settings['source']} by trimesh, onto "
        f"{settings['target']}, `--align identity`; {args.landmarks} landmarks among the original vertices, each at its closest "
        "target point). Each row a fresh process: peak memory is its `VmHWM`. Seconds: wall clock and CPU (user + system) "
        "on a shared 2-core machine under `nice`: wall includes waiting for the CPU. One torch thread. Target: default run <= 300 s.\n\n"
        "## End to end\n\n"
    )
    stage_note = (f"\n## Stages (one process; step pieces: mean of {args.repeats} calls; peak memory reset before the rows that show it)\n\n"
                  f"Initialisation chosen: {stages['init']}. One playback frame: {stages['snapshot_frame_mb']:.2f} MB; "
                  f"process peak {stages['peak_memory_mb']:.0f} MB.\n\n")
    markdown = header + markdown_table(runs, RUN_COLUMNS) + stage_note + markdown_table(stages["stages"], STAGE_COLUMNS)
    write_results(args.name, {"settings": settings, "runs": runs, **stages}, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
