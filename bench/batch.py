"""Batch throughput benchmark (issue 7): 8 small transfer jobs on 2 workers vs one after another.

The pipeline: the project's two mesh pairs (``assets/creature_*``, ``assets/teddy_*``, with their
landmarks) x methods ``ff`` and ``sape-ff`` x seeds 0 and 1 = 8 transfer jobs of ``--steps`` steps
each (default 150, a few seconds a job). Every configuration runs the same pipeline into a fresh
folder, with 1 torch thread per job (so the comparison is between processes, not thread pools):

- ``sequential``: the local engine with 1 worker (jobs one after another);
- ``local x2``: the local engine with 2 workers;
- ``ray x2`` (``--ray``): a local Ray started for the run with 2 CPUs, Ray startup included.

Columns: wall seconds for the whole batch (worker start-up included), jobs per minute, speed-up over
sequential, the sum of the jobs' own seconds (it grows when the two workers slow each other down), the
CPU seconds the local workers used and ``cores_busy`` = that / wall (how many cores the batch really
got: 2 is the most a 2-core machine can give), and the machine's 1-minute load average before the run
(the machine is shared; a load above the core count means other processes took part of the cores).
Target: close to 2x on a 2-core machine that nothing else is using.

    python -m bench.batch [--steps 150] [--repeats 1] [--ray]

Results: ``benchmarks/batch.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sape_geo_apps.batch import LocalEngine, RayEngine, load_pipeline, run_pipeline
from bench.common import ROOT, markdown_table, write_results

ASSETS = ROOT / "assets"
PAIRS = ("creature", "teddy")
COLUMNS = (
    "engine", "workers", "jobs", "wall_seconds", "jobs_per_minute", "speedup", "job_seconds_sum", "worker_cpu_seconds", "cores_busy", "load_before",
)


def pipeline_text(steps: int, assets: Path = ASSETS) -> str:
    """The benchmark's pipeline: 2 pairs x 2 methods x 2 seeds of small transfer jobs, inputs in ``assets``
    (the results record it with ``assets/``, relative to the repository, not this machine's path)."""
    pairs = "\n".join(
        f"      - {{source: {assets}/{name}_source.obj, target: {assets}/{name}_target.obj, landmarks: {assets}/{name}_landmarks.txt}}"
        for name in PAIRS
    )
    return f"""jobs:
  - name: transfer
    task: transfer
    inputs:
{pairs}
    methods: [ff, sape-ff]
    seeds: [0, 1]
    settings: {{steps: {steps}}}
"""


def measure(label: str, engine, pipeline, folder: Path) -> dict[str, Any]:
    """Run the whole pipeline with ``engine`` into a fresh folder; wall time and the jobs' own time."""
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    children_before = _children_cpu_seconds()
    started = time.perf_counter()
    report = run_pipeline(pipeline, folder, engine=engine, progress=False)
    wall = time.perf_counter() - started
    # local workers are this process's children, so their CPU time is measurable; Ray's are not
    worker_cpu = _children_cpu_seconds() - children_before if isinstance(engine, LocalEngine) else None
    if not report.ok:
        raise RuntimeError(f"{label}: jobs failed: {[o.error for o in report.failed]}")
    return {
        "engine": label,
        "workers": getattr(engine, "workers", None),
        "jobs": len(report.outcomes),
        "wall_seconds": wall,
        "jobs_per_minute": 60.0 * len(report.outcomes) / wall,
        "job_seconds_sum": sum(o.seconds for o in report.outcomes),
        "worker_cpu_seconds": worker_cpu,
        "cores_busy": worker_cpu / wall if worker_cpu is not None else None,
        "load_before": load_before,
    }


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="optimisation steps per transfer job (default 150)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration; the median wall time is kept (default 1)")
    parser.add_argument("--ray", action="store_true", help="also run the pipeline on a local Ray with 2 CPUs")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sape-geo-bench-batch-") as scratch:
        scratch = Path(scratch)
        (scratch / "pipeline.yaml").write_text(pipeline_text(args.steps))
        pipeline = load_pipeline(scratch / "pipeline.yaml")
        configurations = [("sequential", lambda: LocalEngine(workers=1, threads=1)), ("local x2", lambda: LocalEngine(workers=2, threads=1))]
        if args.ray:
            configurations.append(("ray x2", lambda: RayEngine(workers=2)))
        rows = []
        for label, make in configurations:
            runs = [measure(label, make(), pipeline, scratch / f"{label.replace(' ', '_')}-{repeat}") for repeat in range(args.repeats)]
            row = min(runs, key=lambda run: abs(run["wall_seconds"] - statistics.median(r["wall_seconds"] for r in runs)))
            row["wall_seconds_all"] = [run["wall_seconds"] for run in runs]
            rows.append(row)
            print(f"{label}: {row['wall_seconds']:.1f} s for {row['jobs']} jobs", flush=True)
    sequential = rows[0]["wall_seconds"]
    for row in rows:
        row["speedup"] = sequential / row["wall_seconds"]

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    markdown = (
        "# Batch throughput: 8 small transfer jobs, 2 workers vs one after another\n\n"
        f"Pipeline: {' and '.join(PAIRS)} pairs from assets/ x methods ff, sape-ff x seeds 0, 1; {args.steps} steps "
        f"per job; 1 torch thread per job; {cores} CPU cores; median of {args.repeats} run(s). `job_seconds_sum` is the "
        "jobs' own time added up; `cores_busy` the local workers' CPU seconds over the wall time (2 at most here); "
        "`load_before` the 1-minute load average when the run started (the machine is shared).\n\n"
        + markdown_table(rows, COLUMNS, float_format="{:.2f}")
    )
    payload = {"steps": args.steps, "repeats": args.repeats, "cores": cores, "pipeline": pipeline_text(args.steps, Path("assets")), "rows": rows}
    json_path, md_path = write_results("batch", payload, markdown)
    print(markdown)
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
