"""Run a pipeline: skip finished runs, hand the rest to an engine, draw one progress bar, write the summary.

This is the Python API behind ``sape-geo batch``::

    from sape_geo_apps.batch import run_pipeline
    report = run_pipeline("pipeline.yaml", out="runs/batch", workers=2)
    report.rows        # the summary table, one dict per job
    report.failed      # outcomes of the jobs that failed
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from sape_geo.registry import TaskPlugin
from sape_geo.atomic import explain_os_error
from sape_geo.run_lock import RunDirectoryError
from sape_geo.runs import RunDirectoryExistsError, read_marker
from sape_geo_apps.batch.local_engine import LocalEngine
from sape_geo_apps.batch.pipeline import Job, Pipeline, load_pipeline
from sape_geo_apps.batch.ray_engine import RayEngine
from sape_geo_apps.batch.summary import check_summary_files, other_finished_runs, summary_rows, write_summary
from sape_geo_apps.batch.worker import FAILED, NOT_RUN, JobOutcome, damage, finished_outcome

ENGINES = ("local", "ray")


class Engine(Protocol):
    """What runs the jobs: :class:`LocalEngine`, :class:`RayEngine`, or your own."""

    name: str

    def describe(self) -> str: ...

    def execute(self, jobs: list[Job], out_root: Path, on_outcome) -> None: ...


@dataclass(frozen=True)
class BatchReport:
    """What a batch did.

    Attributes
    ----------
    out : the batch output folder.
    outcomes : every job's outcome, in pipeline order.
    rows : the summary table (as in ``summary.csv``).
    summary_csv, summary_markdown : the summary files.
    interrupted : the batch was stopped by Ctrl-C (unfinished jobs are redone by the next run).
    redone : ``(run_name, why)`` of runs found damaged or unfinished on resume and run again.
    notes : what the engine changed from what it was asked (``--workers`` lowered to the cores).
    """

    out: Path
    outcomes: tuple[JobOutcome, ...]
    rows: tuple[dict[str, Any], ...]
    summary_csv: Path
    summary_markdown: Path
    interrupted: bool = False
    redone: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> list[JobOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == FAILED]

    @property
    def ok(self) -> bool:
        """Every job finished (now or in an earlier batch)."""
        return all(outcome.succeeded for outcome in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the batch; ``report`` describes what had finished (the summary is written)."""

    def __init__(self, report: BatchReport) -> None:
        super().__init__("batch interrupted")
        self.report = report


def make_engine(engine: str = "local", workers: int | None = None, address: str | None = None) -> Engine:
    """An engine by name: ``local`` (a process pool) or ``ray`` (``address`` or a local Ray)."""
    if engine == "local":
        if address is not None:
            raise ValueError("--address is for the ray engine; add --engine ray")
        return LocalEngine(workers)
    if engine == "ray":
        return RayEngine(address, workers)
    raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


def run_pipeline(
    pipeline: Pipeline | str | os.PathLike,
    out: str | os.PathLike,
    engine: str | Engine = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    plugins: dict[str, TaskPlugin] | None = None,
) -> BatchReport:
    """Run every job of ``pipeline`` into ``out``; jobs already finished there are skipped.

    Parameters
    ----------
    pipeline : a pipeline file or a :class:`Pipeline` (:func:`parse_pipeline` for text in a notebook).
    out : the batch output folder: one run directory per job, ``summary.csv``, ``summary.md``.
    engine : ``"local"``, ``"ray"``, or an engine object.
    workers : jobs at a time (local default: the cores; ray default: what the cluster schedules); on this
        machine (local engine, local Ray) at most its cores, and ``report.notes`` says when it was lowered.
    address : the Ray cluster (ray engine only); None starts a local Ray for the run.
    progress : draw the overall progress bar (stderr).
    plugins : task plugins by name, for reading a pipeline file (default: the installed ones).

    Returns
    -------
    BatchReport ; failed jobs are in it (and in their ``RUN/error.json``), never raised.

    Raises
    ------
    PipelineError : the pipeline file is invalid (nothing has run).
    RunDirectoryExistsError : ``summary.csv`` or ``summary.md`` in ``out`` is not sape-geo's, or was
        edited since sape-geo wrote it (nothing has run; it is never replaced).
    BatchInterrupted : Ctrl-C; running jobs were stopped, the summary written, ``.report`` attached.
    """
    if not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline, plugins)
    engine = make_engine(engine, workers, address) if isinstance(engine, str) else engine
    out_root = Path(out).absolute()
    if out_root.exists() and not out_root.is_dir():
        raise NotADirectoryError(f"--out {out_root} exists and is not a folder")
    if read_marker(out_root) is not None:
        raise RunDirectoryExistsError(f"--out {out_root} is the run directory of one task; give a batch its own folder")
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirectoryError(f"cannot create the batch folder {out_root}: {explain_os_error(error)}") from None
    check_summary_files(out_root)  # a user's summary.csv there: refused before anything runs

    outcomes: dict[str, JobOutcome] = {job.run_name: JobOutcome(job.run_name, NOT_RUN) for job in pipeline.jobs}
    todo, redone = [], []
    for job in pipeline.jobs:
        finished = finished_outcome(job, out_root)
        if finished is None:
            todo.append(job)
            why = damage(job, out_root)
            if why is not None:
                redone.append((job.run_name, why))
        else:
            outcomes[job.run_name] = finished
    bar = tqdm(total=len(pipeline.jobs), initial=len(pipeline.jobs) - len(todo), unit="job", desc="batch", disable=not progress)
    failures = 0

    def record(outcome: JobOutcome) -> None:
        nonlocal failures
        outcomes[outcome.run_name] = outcome
        failures += outcome.status == FAILED
        bar.update(1)
        bar.set_postfix(failed=failures, refresh=False)

    interrupted = False
    try:
        if todo:
            engine.execute(todo, out_root, record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        rows = summary_rows(pipeline.jobs, outcomes)
        axes = list(dict.fromkeys(name for job in pipeline.jobs for name in job.axis_values))
        inputs = list(dict.fromkeys(name for job in pipeline.jobs for name in job.input_names))
        others = other_finished_runs(out_root, [job.run_name for job in pipeline.jobs])
        csv_path, markdown_path = write_summary(out_root, rows, axes, inputs, others)
    report = BatchReport(
        out_root, tuple(outcomes[job.run_name] for job in pipeline.jobs), tuple(rows), csv_path, markdown_path, interrupted, tuple(redone),
        tuple(getattr(engine, "notes", ())),  # an engine of the user's own need not have notes
    )
    if interrupted:
        raise BatchInterrupted(report)
    return report
