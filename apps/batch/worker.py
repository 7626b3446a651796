"""Running one batch job, wherever it runs (a local worker process or a Ray task).

A job runs through :func:`sape_geo.registry.run_plugin`, the one run path of every task (the command
line's and the Python API's): its settings are built from the pipeline's values, checked again on the
worker, and the run directory is written with ``metrics.json`` last, so a run is complete iff it exists. A job
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
from sape_geo.atomic import is_atomic_temporary, write_json_atomic
from sape_geo.run_lock import RunDirectoryBusyError, RunLock
from sape_geo.runs import (
    FAILURE_FILE,
    METRICS_FILE,
    RunDirectoryExistsError,
    is_complete_run,
    is_run_directory,
    read_json,
    run_problems,
)
from sape_geo_apps.batch.pipeline import Job
from sape_geo_apps.batch.job_settings import TaskFields
from sape_geo.registry import load_task, run_plugin

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
    notes : the warnings the job raised, one line each (e.g. a hand-edited file kept beside its run).
    """

    run_name: str
    status: str
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    worker: str = ""
    notes: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.status in (DONE, ALREADY_DONE)


def finished_outcome(job: Job, out_root: str | os.PathLike) -> JobOutcome | None:
    """The outcome of a job whose run directory is complete and whole, else None.

    Whole: every file the run recorded in ``metrics.json`` has its recorded size and checksum
    (:func:`~sape_geo.runs.run_problems`); a truncated or deleted result makes the job to do again.
    """
    run_dir = Path(out_root) / job.run_name
    if run_problems(run_dir):
        return None
    return JobOutcome(job.run_name, ALREADY_DONE, metrics=read_json(run_dir / METRICS_FILE))


def damage(job: Job, out_root: str | os.PathLike) -> str | None:
    """Why an existing run of ``job`` does not count as done (a damaged or unfinished run), else None."""
    run_dir = Path(out_root) / job.run_name
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return None
    problems = run_problems(run_dir)
    return "; ".join(problems) if problems else None


def clear_incomplete_run(run_dir: Path) -> bool:
    """Make ``run_dir`` ready for a new attempt; returns whether the new run must replace a previous one.

    A run directory this tool wrote (its marker, nothing else in it) is kept until the new run is
    complete and then replaced (``--overwrite``). A folder holding only a failure record and temporary
    files of atomic writes is removed. Anything else may be the user's and is refused.

    Raises
    ------
    RunDirectoryExistsError : the folder holds other files.
    """
    if not run_dir.exists():
        return False
    if not run_dir.is_dir():
        raise RunDirectoryExistsError(f"{run_dir} is a file where the job's run directory belongs; move it away or use another --out")
    if is_run_directory(run_dir):
        return True
    entries = list(run_dir.iterdir())
    if all(entry.is_file() and (entry.name == FAILURE_FILE or is_atomic_temporary(entry.name)) for entry in entries):
        shutil.rmtree(run_dir)
        return False
    raise RunDirectoryExistsError(
        f"{run_dir} holds files that are not an unfinished sape-geo run ({', '.join(sorted(e.name for e in entries)[:5])}); "
        "move them away or use another --out"
    )


def execute_job(job: Job, out_root: str | os.PathLike, threads: int) -> JobOutcome:
    """Run ``job`` into ``out_root / job.run_name`` with ``threads`` torch threads.

    Never raises for a failing job: the error is returned (and written to ``RUN/error.json``).
    ``KeyboardInterrupt`` during the job gives an ``interrupted`` outcome; the run directory is then as
    it was before the job (the new run is built beside it) and the next batch redoes it. The run
    directory is locked while the job runs: a second process running the same job fails at once.
    """
    run_dir = Path(out_root) / job.run_name
    worker = f"{socket.gethostname()}:{os.getpid()}"
    started = time.perf_counter()
    lock = RunLock(run_dir)
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        with lock:
            finished = finished_outcome(job, out_root)
            if finished is not None:
                return finished
            replace = clear_incomplete_run(run_dir)
            plugin = load_task(job.task)
            if plugin is None:
                raise LookupError(f"task {job.task!r} is not installed on {socket.gethostname()}")
            settings, overrides = TaskFields(plugin).build(job.method, dict(job.values))
            torch.set_num_threads(threads)
            with warnings.catch_warnings(record=True) as warned:  # notes of the summary, not lines on a worker's stderr
                warnings.simplefilter("ignore", FitDivergedWarning)  # the summary reports stop_reason instead
                result = run_plugin(
                    plugin, dict(job.inputs), settings, job.method, run_dir, replace,
                    extra_config={"command": command(job, run_dir)}, threads=threads, progress_bar=False, **overrides,
                )
        notes = tuple(dict.fromkeys(" ".join(str(w.message).split()) for w in warned))
        return JobOutcome(job.run_name, DONE, time.perf_counter() - started, dict(result.metrics), worker=worker, notes=notes)
    except KeyboardInterrupt:
        return JobOutcome(job.run_name, INTERRUPTED, time.perf_counter() - started, worker=worker)
    except Exception as error:  # one failing job must never stop the others
        message = f"{type(error).__name__}: {error}"
        # never add files to a folder that is not ours, nor to one another process is writing
        if not isinstance(error, (RunDirectoryExistsError, RunDirectoryBusyError)):
            record_failure(run_dir, job, message, traceback.format_exc(), worker)
        return JobOutcome(job.run_name, FAILED, time.perf_counter() - started, error=message, worker=worker)


def command(job: Job, run_dir: str | os.PathLike) -> list[str]:
    """The ``sape-geo`` command line that runs ``job`` into ``run_dir`` by hand."""
    return ["sape-geo", job.task, *job.command_line, "--out", str(run_dir)]


def record_failure(run_dir: Path, job: Job, message: str, trace: str, worker: str) -> None:
    """``RUN/error.json``: what failed, where, and the command that reproduces it."""
    if (run_dir.exists() and not run_dir.is_dir()) or is_complete_run(run_dir):
        return
    record = {
        "error": message,
        "task": job.task,
        "command": command(job, run_dir),
        "pipeline_line": job.line,
        "worker": worker,
        "traceback": trace,
    }
    try:
        write_json_atomic(run_dir / FAILURE_FILE, record)
    except OSError:
        pass  # the outcome still carries the error to the summary
