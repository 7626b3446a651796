"""``sape-geo batch``: run a pipeline file, locally or on Ray."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from sape_geo_apps.batch.pipeline import load_pipeline
from sape_geo_apps.batch.runner import ENGINES, BatchInterrupted, BatchReport, run_pipeline
from sape_geo_apps.batch.summary import check_summary_files
from sape_geo_apps.batch.worker import command, damage, finished_outcome
from sape_geo_apps.cli import AppCommand

DESCRIPTION = """\
Run every job of a pipeline file (YAML: tasks, inputs as paths or globs, methods, settings, seeds;
lists expand into a matrix). The whole file is validated first, errors name the line. Each job writes
its own run directory under --out, named by a hash of the job's settings and input files' content;
running the same command again resumes (finished runs are skipped; unfinished ones, and finished
ones whose files or metrics.json no longer match the checksums sape-geo recorded, are redone, and a
file you edited is first kept beside the run in RUN.edited-TIME/). A failing job is recorded in
RUN/error.json and never stops the others. Each job runs with 1 torch thread, like a task's --threads.
Writes DIR/summary.csv (every setting and metric) and DIR/summary.md (key columns); a summary file
there that sape-geo did not write, or that was edited, is never replaced: the batch is refused.

exit status: 0 all jobs finished, 1 some failed, 2 invalid pipeline, 130 interrupted (Ctrl-C).

example pipeline:
  defaults:
    settings: {steps: 500}
  jobs:
    - name: sweep
      task: fit1d
      methods: [ff, sape-ff]
      seeds: [0, 1]
      settings: {frequency: [4, 8]}

example: sape-geo batch pipeline.yaml --out runs/batch --workers 2
         sape-geo batch pipeline.yaml --out runs/batch --engine ray --address ray://head:10001"""


def positive_int(text: str) -> int:
    """argparse type of --workers: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="the pipeline file (YAML)")
    parser.add_argument("--out", required=True, help="output folder: one run directory per job, summary.csv, summary.md")
    parser.add_argument("--engine", choices=ENGINES, default="local", help="local process pool (default) or ray")
    parser.add_argument("--address", default=None, help="Ray cluster address (ray engine; default: start a local Ray for the run)")
    parser.add_argument(
        "--workers", type=positive_int, default=None,
        help="jobs at a time (default: the cores; ray: the cluster's choice); on this machine at most its cores: more is lowered to them, with a note",
    )
    parser.add_argument("--dry-run", action="store_true", help="validate and list the jobs (and which are finished), run nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _dry_run(args)
    try:
        report = run_pipeline(args.pipeline, args.out, engine=args.engine, workers=args.workers, address=args.address, progress=not args.quiet)
    except BatchInterrupted as interruption:
        _print_report(interruption.report)
        print("batch interrupted: the jobs that were running left their run directories as they were; the same command redoes them")
        return 130
    _print_report(report)
    return 0 if report.ok else 1


def _dry_run(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args.pipeline)
    finished = 0
    for job in pipeline.jobs:
        done = finished_outcome(job, args.out) is not None
        finished += done
        print(f"{'done' if done else 'todo'}  {job.run_name}  {shlex.join(command(job, Path(args.out) / job.run_name))}")
        why = None if done else damage(job, args.out)
        if why is not None:
            print(f"      redo: {why}")
    print(f"{len(pipeline.jobs)} jobs, {finished} already finished in {Path(args.out)}")
    if Path(args.out).is_dir():
        check_summary_files(args.out)  # the run would be refused: say so now (exit 2)
    return 0


def _print_report(report: BatchReport) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items())
    print(f"batch: {len(report.outcomes)} jobs: {counts}")
    for note in report.notes:
        print(f"  note    {note}")
    for run_name, why in report.redone:
        print(f"  rerun   {run_name}: {why}")
    for outcome in report.outcomes:
        for note in outcome.notes:
            print(f"  note    {outcome.run_name}: {note}")
    for outcome in report.failed:
        print(f"  failed  {outcome.run_name}: {outcome.error}  (details: {report.out / outcome.run_name / 'error.json'})")
    print(f"summary: {report.summary_markdown}  {report.summary_csv}")


COMMAND = AppCommand(
    description=DESCRIPTION,
    add_arguments=add_arguments,
    run=run,
)
