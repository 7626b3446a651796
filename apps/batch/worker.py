"""Running one batch job, wherever it runs (a local worker process or a Ray task).

A job is run exactly as ``sape-geo TASK ...`` would run it: its command line is parsed by the task's
own parser and handed to ``plugin.run``, which writes a run directory through
:func:`sape_geo.experiment.run_task` (``metrics.json`` last, so a run is complete iff it exists). A job
that raises is recorded in ``RUN/error.json`` and reported as failed; it never takes other jobs down.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sape_geo.fitting import FitDivergedWarning
from sape_geo.runs import CONFIG_FILE, METRICS_FILE, RunDirectoryExistsError, is_complete_run, read_json, write_json_atomic
from sape_geo_apps.batch.pipeline import Job
from sape_geo_apps.batch.task_arguments import TaskArguments
from sape_geo.registry import load_task

FAILURE_FILE = "error.json"

DONE = "done"
ALREADY_DONE = "already done"
FAILED = "failed"
INTERRUPTED = "interrupted"
NOT_RUN = "not run"


@dataclass(frozen=True)
class JobOutcome:
    """What became of one job.

    Attributes
    ----------
    run_name : the job's run directory relative to the batch output folder.
    status : ``done``, ``already done`` (finished by an earlier batch), ``failed``, ``interrupted``
        or ``not run``.
    seconds : wall-clock seconds of the job in its worker (0 when it did not run).
    metrics : the run's final metrics (empty unless done).
    error : ``"ErrorType: message"`` for a failed job.
    worker : ``host:pid`` of the process that ran it.
    """

    run_name: str
    status: str
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    worker: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status in (DONE, ALREADY_DONE)


def finished_outcome(job: Job, out_root: str | os.PathLike) -> JobOutcome | None:
    """The outcome of a job whose run directory is already complete, else None."""
    run_dir = Path(out_root) / job.run_name
    if not is_complete_run(run_dir):
        return None
    return JobOutcome(job.run_name, ALREADY_DONE, metrics=read_json(run_dir / METRICS_FILE))


def clear_incomplete_run(run_dir: Path) -> None:
    """Remove what an interrupted or failed earlier attempt left in ``run_dir``.

    Only leftovers of a run are removed: a folder holding ``config.json`` (a run that never wrote its
    ``metrics.json``), or only a failure record and hidden temporary files of atomic writes.

    Raises
    ------
    RunDirectoryExistsError : the folder holds other files, which may be the user's.
    """
    if not run_dir.exists():
        return
    entries = list(run_dir.iterdir())
    leftovers_only = all(entry.name == FAILURE_FILE or (entry.name.startswith(".") and ".tmp" in entry.name) for entry in entries)
    if (run_dir / CONFIG_FILE).is_file() or leftovers_only:
        shutil.rmtree(run_dir)
        return
    raise RunDirectoryExistsError(
        f"{run_dir} holds files that are not an unfinished sape-geo run ({', '.join(sorted(e.name for e in entries)[:5])}); "
        "move them away or use another --out"
    )


def execute_job(job: Job, out_root: str | os.PathLike, threads: int) -> JobOutcome:
    """Run ``job`` into ``out_root / job.run_name`` with ``threads`` torch threads.

    Never raises for a failing job: the error is returned (and written to ``RUN/error.json``).
    ``KeyboardInterrupt`` during the job gives an ``interrupted`` outcome; the run directory then has
    no ``metrics.json`` and the next batch redoes it.
    """
    run_dir = Path(out_root) / job.run_name
    worker = f"{socket.gethostname()}:{os.getpid()}"
    started = time.perf_counter()
    try:
        finished = finished_outcome(job, out_root)
        if finished is not None:
            return finished
        clear_incomplete_run(run_dir)
        plugin = load_task(job.task)
        if plugin is None:
            raise LookupError(f"task {job.task!r} is not installed on {socket.gethostname()}")
        arguments = TaskArguments(plugin)
        engine_options = ["--out", str(run_dir)]
        if arguments.has_option("threads"):
            engine_options += ["--threads", str(threads)]
        if arguments.has_option("quiet"):
            engine_options.append("--quiet")
        args = arguments.parse([*job.argv, *engine_options])
        torch.set_num_threads(threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitDivergedWarning)  # the summary reports stop_reason instead
            result = plugin.run(args)
        return JobOutcome(job.run_name, DONE, time.perf_counter() - started, dict(result.metrics), worker=worker)
    except KeyboardInterrupt:
        return JobOutcome(job.run_name, INTERRUPTED, time.perf_counter() - started, worker=worker)
    except Exception as error:  # one failing job must never stop the others
        message = f"{type(error).__name__}: {error}"
        if not isinstance(error, RunDirectoryExistsError):  # never add files to a folder that is not ours
            record_failure(run_dir, job, message, traceback.format_exc(), worker)
        return JobOutcome(job.run_name, FAILED, time.perf_counter() - started, error=message, worker=worker)


def record_failure(run_dir: Path, job: Job, message: str, trace: str, worker: str) -> None:
    """``RUN/error.json``: what failed, where, and the command that reproduces it."""
    if (run_dir.exists() and not run_dir.is_dir()) or is_complete_run(run_dir):
        return
    record = {
        "error": message,
        "task": job.task,
        "command": ["sape-geo", job.task, *job.argv, "--out", str(run_dir)],
        "pipeline_line": job.line,
        "worker": worker,
        "traceback": trace,
    }
    try:
        write_json_atomic(run_dir / FAILURE_FILE, record)
    except OSError:
        pass  # the outcome still carries the error to the summary
