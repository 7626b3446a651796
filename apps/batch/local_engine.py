"""The local engine: jobs in worker processes on this machine, at most ``workers`` at a time.

Each worker is a Python process (:mod:`sape_geo_apps.batch.worker_process`) that runs one job after
another, so imports are paid once per worker, not per job. A job that kills its worker (a segfault in
a native library, the OOM killer) is recorded as failed and the worker is replaced; the other jobs
never notice. Each job runs with one torch thread unless asked otherwise, like ``sape-geo TASK`` (its
``--threads`` default), so a batch job reproduces the numbers of the same command line.

Ctrl-C: the workers run in their own session, so only this process receives the terminal's
interrupt; it forwards one SIGINT to each running job, which stops cleanly (the run being built beside
its run directory is deleted, so the run directory stays as it was and the job is redone next time). A
second Ctrl-C, or a job still running after the grace period, kills the workers outright. Workers die
with this process however it ends (see :mod:`~sape_geo_apps.batch.worker_process`).
"""

from __future__ import annotations

import contextlib
import numbers
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from sape_geo.registry import DEFAULT_THREADS
from sape_geo_apps.batch.pipeline import Job
from sape_geo_apps.batch.worker import DONE, FAILED, INTERRUPTED, JobOutcome, finished_outcome, record_failure

INTERRUPT_GRACE_SECONDS = 30.0
EXIT_TIMEOUT_SECONDS = 10.0
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def check_workers(workers: int | None) -> None:
    """Raise ``TypeError`` unless ``workers`` is None or a whole number, ``ValueError`` if it is below 1."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral)):
        raise TypeError(f"workers must be a whole number >= 1, got {workers!r}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")


def workers_for_this_machine(workers: int | None) -> tuple[int, tuple[str, ...]]:
    """Jobs to run at a time here: ``workers`` (None: the available cores), at most the available cores,
    and a note when ``workers`` was lowered to them. More would not finish sooner: the jobs would take
    turns on the same cores, and each worker holds its own PyTorch in memory (about 150 MB).

    Raises
    ------
    TypeError, ValueError : see :func:`check_workers`.
    """
    check_workers(workers)
    cores = available_cores()
    if workers is None or workers <= cores:
        return workers or cores, ()
    return cores, (f"--workers {workers} is more than the {cores} core(s) here: {cores} job(s) run at a time",)


@dataclass
class _Worker:
    """A worker process, our end of its socket, and the job it is running (None when idle)."""

    process: subprocess.Popen
    connection: Connection
    job: Job | None = None


class LocalEngine:
    """A process pool on this machine, one job per worker.

    Parameters
    ----------
    workers : jobs at a time (default and most: the available cores; :func:`workers_for_this_machine`).
    threads : torch threads per job (default 1, the command line's ``--threads`` default).

    Attributes
    ----------
    notes : what the engine changed from what it was asked, one line each (a lowered ``workers``).
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.workers, self.notes = workers_for_this_machine(workers)
        self.threads = threads or DEFAULT_THREADS

    def describe(self) -> str:
        return f"local engine: {self.workers} worker(s) x {self.threads} thread(s)"

    def execute(self, jobs: Sequence[Job], out_root: Path, on_outcome: Callable[[JobOutcome], None]) -> None:
        """Run ``jobs``, calling ``on_outcome`` (in this process) as each one ends.

        Raises
        ------
        KeyboardInterrupt : after the running jobs have been stopped and reported as interrupted;
            jobs not started yet are not reported.
        """
        waiting = deque(jobs)
        pool = [self._start(out_root) for _ in range(min(self.workers, len(waiting)))]
        try:
            while True:
                for index, worker in enumerate(pool):
                    if worker.job is None and waiting:
                        pool[index] = self._assign(worker, waiting.popleft(), out_root)
                if not any(worker.job for worker in pool):
                    break
                self._collect(pool, out_root, on_outcome, timeout=None)
        except KeyboardInterrupt:
            self._stop(pool, out_root, on_outcome)
            raise
        finally:
            _shut_down(pool)

    def _start(self, out_root: Path) -> _Worker:
        ours, theirs = socket.socketpair()
        environment = {**os.environ, **{name: str(self.threads) for name in _THREAD_VARIABLES}}
        command = [sys.executable, "-m", "sape_geo_apps.batch.worker_process", str(theirs.fileno()), str(self.threads), str(out_root), str(os.getpid())]
        # A session of its own: the terminal's Ctrl-C reaches only this process, which forwards it once.
        process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), env=environment, start_new_session=True)
        theirs.close()  # the worker holds the only other end, so its death reads as EOF here
        return _Worker(process, Connection(ours.detach()))

    def _assign(self, worker: _Worker, job: Job, out_root: Path) -> _Worker:
        """Hand ``job`` to ``worker``, or to a fresh worker if that one has died."""
        for _ in range(2):
            try:
                worker.connection.send(job)
                worker.job = job
                return worker
            except OSError:
                _shut_down([worker])
                worker = self._start(out_root)
        raise RuntimeError(f"could not start a batch worker process ({sys.executable} -m sape_geo_apps.batch.worker_process)")

    def _collect(self, pool: list[_Worker], out_root: Path, on_outcome, timeout: float | None) -> None:
        """Wait until some job ends (or ``timeout``), report every ended job, replace dead workers.

        Ctrl-C is held back while outcomes are read and reported, so an outcome is never received and
        then lost (it would be waited for until the grace period ends, and misreported).
        """
        wait([worker.connection for worker in pool if worker.job is not None], timeout)
        with _interrupts_deferred():
            self._report_ended(pool, out_root, on_outcome)

    def _report_ended(self, pool: list[_Worker], out_root: Path, on_outcome) -> None:
        for index, worker in enumerate(pool):
            if worker.job is None or not worker.connection.poll():
                continue
            try:
                outcome = worker.connection.recv()
            except (EOFError, OSError):  # the worker died: its socket closed without an outcome
                worker.process.wait()
                outcome = _crashed(worker, out_root)
                worker.connection.close()
                pool[index] = self._start(out_root)
            worker.job = None
            on_outcome(outcome)

    def _stop(self, pool: list[_Worker], out_root: Path, on_outcome) -> None:
        for worker in pool:
            if worker.job is not None:
                _signal(worker.process, signal.SIGINT)
        deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS
        try:
            while any(worker.job for worker in pool) and time.monotonic() < deadline:
                self._collect(pool, out_root, on_outcome, timeout=max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting; what is left is killed below
        for worker in pool:
            if worker.job is not None:
                worker.process.kill()
                worker.process.wait()
                finished = finished_outcome(worker.job, out_root)  # it may have finished as it was killed
                on_outcome(finished or JobOutcome(worker.job.run_name, INTERRUPTED, error="killed after Ctrl-C"))
                worker.job = None


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT back for the block (it is delivered right after); a no-op where that is impossible."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _shut_down(pool: list[_Worker]) -> None:
    """Ask idle workers to exit, give them a moment, kill any that do not.

    A worker still busy here (only after an unexpected error in this process) is killed at once so
    no job is left running without anyone to record it.
    """
    for worker in pool:
        if worker.job is not None:
            worker.process.kill()
        elif not worker.connection.closed:
            try:
                worker.connection.send(None)
            except OSError:
                pass  # already gone
    for worker in pool:
        try:
            worker.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        if not worker.connection.closed:
            worker.connection.close()


def _crashed(worker: _Worker, out_root: Path) -> JobOutcome:
    """The outcome of a job whose process died without reporting, also written to ``RUN/error.json``.

    A run that completed just before its process died (``metrics.json`` is written) counts as done.
    """
    finished = finished_outcome(worker.job, out_root)
    if finished is not None:
        return JobOutcome(worker.job.run_name, DONE, metrics=finished.metrics)
    code = worker.process.returncode
    how = f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
    message = f"WorkerCrashed: the job's process died ({how}) before reporting"
    record_failure(out_root / worker.job.run_name, worker.job, message, "", f"{socket.gethostname()}:{worker.process.pid}")
    return JobOutcome(worker.job.run_name, FAILED, error=message)


def _signal(process: subprocess.Popen, number: int) -> None:
    if process.poll() is None:
        process.send_signal(number)
