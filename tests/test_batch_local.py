"""The local engine end to end: tiny real jobs, a job failing on bad input, resume, a crashed worker, Ctrl-C."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sape_geo.runs import CONFIG_FILE, METRICS_FILE, is_complete_run
from sape_geo_apps.batch import load_pipeline, run_pipeline
from sape_geo_apps.batch.worker import FAILURE_FILE, clear_incomplete_run
from sape_geo_apps.cli import main

TINY = "{steps: 20, hidden: 16, layers: 1, frequencies: 8}"
RUN_FILES = {CONFIG_FILE, METRICS_FILE, "history.csv", "model.pt", "progress.npy"}


@pytest.fixture
def data(tmp_path):
    """A small image and a file that only claims to be one."""
    y, x = np.mgrid[0:16, 0:16]
    Image.fromarray((127 + 120 * np.sin(x / 2.0) * np.cos(y / 3.0)).astype(np.uint8)).save(tmp_path / "wave.png")
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    return tmp_path


def write_pipeline(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def test_jobs_run_in_parallel_a_failing_job_never_stops_the_others_and_a_rerun_resumes(data):
    pipeline = write_pipeline(
        data,
        f"""jobs:
  - name: curve
    task: fit1d
    settings: {TINY}
  - name: pictures
    task: image
    inputs: {{image: [wave.png, broken.png]}}
    methods: [sape-ff]
    settings: {TINY}
""",
    )
    out = data / "out"
    report = run_pipeline(pipeline, out, workers=2, progress=False)

    assert [o.status for o in report.outcomes] == ["done", "done", "failed"]
    failed = report.failed[0]
    assert failed.run_name.startswith("pictures/broken-") and not report.ok
    assert "ImageReadError" in failed.error and "broken.png" in failed.error
    assert not is_complete_run(out / failed.run_name)
    record = json.loads((out / failed.run_name / FAILURE_FILE).read_text())
    assert record["task"] == "image" and record["pipeline_line"] == 5 and "Traceback" in record["traceback"]
    assert record["command"][:3] == ["sape-geo", "image", str(data / "broken.png")]
    for outcome in report.outcomes[:2]:
        assert RUN_FILES <= {p.name for p in (out / outcome.run_name).iterdir()}
        assert json.loads((out / outcome.run_name / METRICS_FILE).read_text())["steps_done"] == 20
    assert len({o.worker for o in report.outcomes}) == 2  # two worker processes shared the jobs

    curve, wave, broken = csv.DictReader(report.summary_csv.open())
    assert [curve["status"], wave["status"], broken["status"]] == ["done", "done", "failed"]
    assert float(curve["mse_all"]) > 0 and curve["psnr_all_db"] == ""  # each task has its own metrics
    assert float(wave["psnr_all_db"]) > 0 and wave["image"] == "wave.png" and wave["method"] == "sape-ff"
    assert "ImageReadError" in broken["error"]
    markdown = report.summary_markdown.read_text()
    assert "## fit1d" in markdown and "## image" in markdown and "1 failed" in markdown

    # resume after an interruption: the curve run is half-written (no metrics.json, a temporary file
    # left over); the picture run is finished and must not be touched; the failed job is retried
    curve_run, wave_run = out / report.outcomes[0].run_name, out / report.outcomes[1].run_name
    (curve_run / METRICS_FILE).unlink()
    (curve_run / ".model.pt.abc123.tmp.pt").write_bytes(b"partial")
    untouched = (wave_run / METRICS_FILE).stat().st_mtime_ns
    again = run_pipeline(pipeline, out, workers=2, progress=False)
    assert [o.status for o in again.outcomes] == ["done", "already done", "failed"]
    assert is_complete_run(curve_run) and not (curve_run / ".model.pt.abc123.tmp.pt").exists()
    assert (wave_run / METRICS_FILE).stat().st_mtime_ns == untouched


def test_incomplete_run_folder_with_foreign_files_is_refused_not_deleted(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not an unfinished sape-geo run"):
        clear_incomplete_run(folder)
    assert (folder / "thesis.tex").exists()
    (folder / "thesis.tex").unlink()
    (folder / CONFIG_FILE).write_text("{}")
    clear_incomplete_run(folder)
    assert not folder.exists()


def _worker_processes() -> list[int]:
    """Process ids of this process's batch workers (children running the worker module)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # a process that ended while we looked
        if parent == os.getpid() and b"sape_geo_apps.batch.worker_process" in command:
            found.append(int(stat.parent.name))
    return found


def _wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


LONG_THEN_SHORT = f"""
jobs:
  - name: long
    task: fit1d
    settings: {{steps: 200000, hidden: 16, layers: 1, frequencies: 8}}
  - name: short
    task: fit1d
    settings: {TINY}
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker through /proc")
def test_a_job_that_kills_its_worker_is_recorded_and_the_rest_go_on(tmp_path):
    pipeline = load_pipeline(write_pipeline(tmp_path, LONG_THEN_SHORT))
    out = tmp_path / "out"
    result = {}
    runner = threading.Thread(target=lambda: result.update(report=run_pipeline(pipeline, out, workers=1, progress=False)))
    runner.start()
    long_run = out / pipeline.jobs[0].run_name
    _wait_for(lambda: (long_run / CONFIG_FILE).exists())
    workers = _worker_processes()
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)  # what a segfault or the OOM killer would do
    runner.join(timeout=120)

    long_outcome, short_outcome = result["report"].outcomes
    assert long_outcome.status == "failed" and "WorkerCrashed" in long_outcome.error and "SIGKILL" in long_outcome.error
    assert not is_complete_run(long_run) and (long_run / FAILURE_FILE).exists()
    assert short_outcome.status == "done"


def test_ctrl_c_stops_running_jobs_without_a_result_that_looks_whole(tmp_path):
    pipeline = write_pipeline(tmp_path, LONG_THEN_SHORT)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "sape_geo_apps.cli", "batch", str(pipeline), "--out", str(out), "--workers", "2", "--quiet"]
    batch = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    jobs = load_pipeline(pipeline).jobs
    long_run, short_run = out / jobs[0].run_name, out / jobs[1].run_name
    try:
        _wait_for(lambda: is_complete_run(short_run) and (long_run / CONFIG_FILE).exists())
        batch.send_signal(signal.SIGINT)
        stdout, stderr = batch.communicate(timeout=60)
    finally:
        batch.kill()
    assert batch.returncode == 130, stderr
    assert "interrupted" in stdout
    assert not is_complete_run(long_run)
    assert not [p for p in long_run.iterdir() if ".tmp" in p.name]  # atomic writes cleaned up after themselves
    statuses = {row["run"]: row["status"] for row in csv.DictReader((out / "summary.csv").open())}
    assert statuses == {jobs[0].run_name: "interrupted", jobs[1].run_name: "done"}
    assert main(["batch", str(pipeline), "--out", str(out), "--dry-run"]) == 0  # resumable: the long job is to do


def test_dry_run_lists_jobs_and_runs_nothing(tmp_path, capsys):
    pipeline = write_pipeline(tmp_path, f"jobs:\n  - task: fit1d\n    methods: [ff, pff]\n    settings: {TINY}\n")
    assert main(["batch", str(pipeline), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("todo  fit1d/")]) == 2
    assert "--method pff" in lines[1]
    assert not (tmp_path / "out").exists()
