"""The Ray engine: the same jobs as Ray tasks, on a cluster or on a Ray started for the run.

Each job is one task with the job's CPU/GPU request (``resources`` in the pipeline); it uses that many
torch threads, and a GPU job sees its GPU through Ray's ``CUDA_VISIBLE_DEVICES`` (the core picks CUDA
when present). Workers read inputs and write run directories by path, so on a multi-machine cluster
the inputs and ``--out`` must be on a filesystem every node mounts at the same path, and sape-geo must
be installed in the workers' Python.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from sape_geo_apps.batch.pipeline import Job
from sape_geo_apps.batch.worker import FAILED, INTERRUPTED, JobOutcome, execute_job, record_failure

CANCEL_GRACE_SECONDS = 30.0


class RayEngine:
    """Jobs as Ray tasks.

    Parameters
    ----------
    address : a running cluster (``ray://host:10001``, ``host:6379`` or ``auto``); None starts a local
        Ray for the run and shuts it down afterwards. If this process is already connected to Ray
        (``ray.init`` in a notebook), that connection is used and left open.
    workers : jobs in flight at a time (default: as many as the cluster schedules); for a local Ray it
        is also the CPU count Ray is started with (default and most: this machine's cores).

    Attributes
    ----------
    notes : what the engine changed from what it was asked, one line each (a lowered ``workers``).
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        from sape_geo_apps.batch.local_engine import check_workers, workers_for_this_machine

        check_workers(workers)
        self.notes: tuple[str, ...] = ()
        if address is None and workers is not None:  # a local Ray has this machine's cores, no more
            workers, self.notes = workers_for_this_machine(workers)
        try:
            import ray  # noqa: F401  (an optional dependency: fail here, before any job starts)
        except ImportError:
            raise ValueError("the ray engine needs Ray: pip install 'sape-geo[ray]'") from None
        self.address, self.workers = address, workers

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else "local Ray"
        return f"ray engine: {where}" + (f", {self.workers} job(s) in flight" if self.workers else "")

    def execute(self, jobs: Sequence[Job], out_root: Path, on_outcome: Callable[[JobOutcome], None]) -> None:
        """Run ``jobs`` as Ray tasks, calling ``on_outcome`` as each one ends.

        Raises
        ------
        KeyboardInterrupt : after the tasks in flight were cancelled and reported as interrupted.
        """
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            self._connect(ray)
        try:
            jobs = list(jobs)
            if started_here and not self.address:
                jobs = _reject_unschedulable(ray, jobs, out_root, on_outcome)
            self._run(ray, jobs, out_root, on_outcome)
        finally:
            if started_here:
                ray.shutdown()

    def _connect(self, ray) -> None:
        if self.address:
            ray.init(address=self.address, log_to_driver=False)
        else:
            from sape_geo_apps.batch.local_engine import available_cores

            ray.init(num_cpus=self.workers or available_cores(), include_dashboard=False, log_to_driver=False)

    def _run(self, ray, jobs: list[Job], out_root: Path, on_outcome: Callable[[JobOutcome], None]) -> None:
        remote_job = ray.remote(execute_job)
        limit = self.workers or len(jobs)
        in_flight: dict = {}
        waiting = list(reversed(jobs))
        try:
            while waiting or in_flight:
                while waiting and len(in_flight) < limit:
                    job = waiting.pop()
                    options = {"num_cpus": job.resources.cpus, "num_gpus": job.resources.gpus, "max_retries": 0}
                    in_flight[remote_job.options(**options).remote(job, str(out_root), job.resources.cpus)] = job
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                job = in_flight.pop(ready[0])
                on_outcome(_outcome(ray, ready[0], job, out_root))
        except KeyboardInterrupt:
            for reference in in_flight:
                ray.cancel(reference)
            ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=CANCEL_GRACE_SECONDS)
            for reference, job in in_flight.items():
                outcome = _outcome(ray, reference, job, out_root) if reference in ready else None
                on_outcome(outcome if outcome is not None and outcome.status != FAILED else JobOutcome(job.run_name, INTERRUPTED))
            raise


def _reject_unschedulable(ray, jobs: list[Job], out_root: Path, on_outcome: Callable[[JobOutcome], None]) -> list[Job]:
    """Fail at once the jobs asking for more than the local Ray has (Ray would wait for them forever)."""
    totals = ray.cluster_resources()
    schedulable = []
    for job in jobs:
        cpus, gpus = totals.get("CPU", 0), totals.get("GPU", 0)
        if job.resources.cpus <= cpus and job.resources.gpus <= gpus:
            schedulable.append(job)
            continue
        message = (
            f"Unschedulable: the job asks for {job.resources.cpus} CPU(s) and {job.resources.gpus:g} GPU(s); "
            f"the local Ray has {cpus:g} and {gpus:g} (lower 'resources' or give --workers / --address)"
        )
        record_failure(out_root / job.run_name, job, message, "", f"ray:{os.getpid()}")
        on_outcome(JobOutcome(job.run_name, FAILED, error=message))
    return schedulable


def _outcome(ray, reference, job: Job, out_root: Path) -> JobOutcome:
    """The task's result, or a failure record when the task itself died (worker crash, node lost)."""
    try:
        return ray.get(reference)
    except ray.exceptions.TaskCancelledError:
        return JobOutcome(job.run_name, INTERRUPTED)
    except ray.exceptions.RayError as error:
        message = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        record_failure(out_root / job.run_name, job, message, str(error), f"ray:{os.getpid()}")
        return JobOutcome(job.run_name, FAILED, error=message)
