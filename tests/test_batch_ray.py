"""The Ray engine: the same pipeline as Ray tasks on a Ray started inside the test with 2 CPUs."""

import os

import pytest

from sape_geo.runs import is_complete_run
from sape_geo_apps.batch import load_pipeline, run_pipeline
from sape_geo_apps.batch.ray_engine import _reject_unschedulable
from test_batch_local import TINY, transfer_pipeline, write_pipeline

pytestmark = pytest.mark.slow  # end-to-end runs of seconds each; `make test-fast` leaves them out

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_engine_runs_jobs_as_tasks_records_failures_and_resumes(local_ray, tmp_path):
    pipeline = transfer_pipeline(tmp_path, names=("creature",))
    out = tmp_path / "out"
    report = run_pipeline(pipeline, out, engine="ray", progress=False)

    assert [o.status for o in report.outcomes] == ["done", "failed", "done"]
    assert "no vertices" in report.failed[0].error
    assert all(is_complete_run(out / o.run_name) for o in report.outcomes if o.status == "done")
    assert all(o.worker and not o.worker.endswith(f":{os.getpid()}") for o in report.outcomes)  # ran in Ray workers
    assert local_ray.is_initialized()  # a connection the caller opened is left open

    again = run_pipeline(pipeline, out, engine="ray", progress=False)
    assert [o.status for o in again.outcomes] == ["already done", "failed", "already done"]


def test_jobs_asking_for_more_than_a_local_ray_has_fail_at_once_instead_of_waiting_forever(tmp_path):
    class TwoCpuRay:  # what ray.cluster_resources() says of a local Ray started with num_cpus=2
        @staticmethod
        def cluster_resources():
            return {"CPU": 2.0, "memory": 1e9}

    fits = load_pipeline(write_pipeline(tmp_path, f"jobs:\n  - task: fit1d\n    settings: {TINY}\n"))
    wants_gpu = load_pipeline(write_pipeline(tmp_path, f"jobs:\n  - task: fit1d\n    resources: {{gpus: 0.5}}\n    settings: {TINY}\n"))
    rejected = []
    kept = _reject_unschedulable(TwoCpuRay, [*fits.jobs, *wants_gpu.jobs], tmp_path, rejected.append)
    assert kept == list(fits.jobs)
    assert [o.status for o in rejected] == ["failed"] and "Unschedulable" in rejected[0].error
    assert (tmp_path / wants_gpu.jobs[0].run_name / "error.json").is_file()
