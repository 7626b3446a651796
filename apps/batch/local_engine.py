"""The local engine: jobs in worker processes on this machine, at most ``workers`` at a time.

Workers are forked from a server process that has already imported torch and the toolkit
(multiprocessing's ``forkserver``), and each runs one job after another, so imports are paid once per
worker, not per job. A job that kills its worker (a segfault in a native library, the OOM killer) is
recorded as failed and the worker is replaced; the other jobs never notice. Torch threads per job are
``cores // workers`` so workers never oversubscribe the cores.

Ctrl-C: the workers run in their own process group, so only this process receives the terminal's
interrupt; it forwards one SIGINT to each running job, which stops cleanly (atomic writes delete their
temporary files, and no ``metrics.json`` is written, so the run counts as unfinished and is redone next
time). A second Ctrl-C, or a job still running after the grace period, kills the workers outright.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from sape_geo_apps.batch.pipeline import Job
from sape_geo_apps.batch.worker import DONE, FAILED, INTERRUPTED, JobOutcome, execute_job, finished_outcome, record_failure

# Modules the fork server imports once, so each job's process starts with them loaded.
_PRELOAD = ["torch", "sape_geo.experiment", "sape_geo_apps.batch.worker"]
INTERRUPT_GRACE_SECONDS = 30.0
EXIT_TIMEOUT_SECONDS = 10.0


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass
class _Worker:
    """A worker process, its end of the pipe, and the job it is running (None when idle)."""

    process: multiprocessing.process.BaseProcess
    connection: Connection
    job: Job | None = None


class LocalEngine:
    """A process pool on this machine, one job per worker.

    Parameters
    ----------
    workers : jobs at a time (default: the available cores).
    threads : torch threads per job (default: ``cores // workers``, at least 1).
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None) -> None:
        cores = available_cores()
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.workers = workers or cores
        self.threads = threads or max(1, cores // self.workers)

    def describe(self) -> str:
        return f"local engine: {self.workers} worker(s) x {self.threads} thread(s)"

    def execute(self, jobs: Sequence[Job], out_root: Path, on_outcome: Callable[[JobOutcome], None]) -> None:
        """Run ``jobs``, calling ``on_outcome`` (in this process) as each one ends.

        Raises
        ------
        KeyboardInterrupt : after the running jobs have been stopped and reported as interrupted;
            jobs not started yet are not reported.
        """
        context = _process_context()
        waiting = deque(jobs)
        pool = [self._start(context, out_root) for _ in range(min(self.workers, len(waiting)))]
        try:
            while True:
                for index, worker in enumerate(pool):
                    if worker.job is None and waiting:
                        pool[index] = self._assign(context, worker, waiting.popleft(), out_root, on_outcome)
                if not any(worker.job for worker in pool):
                    break
                self._collect(context, pool, out_root, on_outcome, timeout=None)
        except KeyboardInterrupt:
            self._stop(context, pool, out_root, on_outcome)
            raise
        finally:
            _shut_down(pool)

    def _start(self, context, out_root: Path) -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(target=_worker_main, args=(theirs, str(out_root), self.threads), name="sape-geo-batch-worker")
        process.start()
        theirs.close()  # the worker holds the only other end, so its death reads as EOF here
        return _Worker(process, ours)

    def _assign(self, context, worker: _Worker, job: Job, out_root: Path, on_outcome) -> _Worker:
        """Hand ``job`` to ``worker`` (or to a fresh worker if that one has died)."""
        for _ in range(2):
            try:
                worker.connection.send(job)
                worker.job = job
                return worker
            except (BrokenPipeError, OSError):
                _shut_down([worker])
                worker = self._start(context, out_root)
        raise RuntimeError("could not start a batch worker process")

    def _collect(self, context, pool: list[_Worker], out_root: Path, on_outcome, timeout: float | None) -> None:
        """Wait until some job ends (or ``timeout``), report every ended job, replace dead workers."""
        busy = [worker for worker in pool if worker.job is not None]
        wait([worker.connection for worker in busy] + [worker.process.sentinel for worker in busy], timeout)
        for index, worker in enumerate(pool):
            if worker.job is None:
                continue
            outcome = None
            if worker.connection.poll():
                try:
                    outcome = worker.connection.recv()
                except (EOFError, OSError):
                    outcome = None
            if outcome is None and worker.process.is_alive():
                continue
            if outcome is None:
                worker.process.join()
                outcome = _crashed(worker, out_root)
                pool[index] = self._start(context, out_root)
            worker.job = None
            on_outcome(outcome)

    def _stop(self, context, pool: list[_Worker], out_root: Path, on_outcome) -> None:
        for worker in pool:
            if worker.job is not None:
                _signal(worker.process, signal.SIGINT)
        deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS
        try:
            while any(worker.job for worker in pool) and time.monotonic() < deadline:
                self._collect(context, pool, out_root, on_outcome, timeout=max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting; _shut_down kills what is left
        for worker in pool:
            if worker.job is not None:
                on_outcome(JobOutcome(worker.job.run_name, INTERRUPTED, error="killed after Ctrl-C"))
                worker.job = None
                worker.process.kill()


def _process_context():
    """``forkserver`` where the OS has it (cheap, fork-safe with torch), ``spawn`` elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


def _worker_main(connection: Connection, out_root: str, threads: int) -> None:
    """A worker's life: leave the terminal's process group, then run jobs until told to stop.

    SIGINT is ignored between jobs (so an interrupt never kills an idle worker mid-receive) and raises
    ``KeyboardInterrupt`` during a job, which :func:`execute_job` turns into an ``interrupted`` outcome.
    """
    if hasattr(os, "setpgid"):
        os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return  # the batch process is gone
        if job is None:
            return
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            outcome = execute_job(job, out_root, threads)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        connection.send(outcome)


def _shut_down(pool: list[_Worker]) -> None:
    """Ask idle workers to exit, give them a moment, kill any that do not."""
    for worker in pool:
        if worker.job is None:
            try:
                worker.connection.send(None)
            except (BrokenPipeError, OSError):
                pass  # already gone
    for worker in pool:
        worker.process.join(timeout=EXIT_TIMEOUT_SECONDS)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.connection.close()


def _crashed(worker: _Worker, out_root: Path) -> JobOutcome:
    """The outcome of a job whose process died without reporting, also written to ``RUN/error.json``.

    A run that completed just before its process died (``metrics.json`` is written) counts as done.
    """
    finished = finished_outcome(worker.job, out_root)
    if finished is not None:
        return JobOutcome(worker.job.run_name, DONE, metrics=finished.metrics)
    code = worker.process.exitcode
    how = f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
    message = f"WorkerCrashed: the job's process died ({how}) before reporting"
    record_failure(out_root / worker.job.run_name, worker.job, message, "", f"{socket.gethostname()}:{worker.process.pid}")
    return JobOutcome(worker.job.run_name, FAILED, error=message)


def _signal(process: multiprocessing.process.BaseProcess, number: int) -> None:
    try:
        os.kill(process.pid, number)
    except (ProcessLookupError, TypeError):
        pass  # already gone (or never started): nothing to stop
