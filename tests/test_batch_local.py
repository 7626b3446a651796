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

import pytest

from sape_geo.runs import CONFIG_FILE, METRICS_FILE, is_complete_run
from sape_geo_apps.batch import load_pipeline, run_pipeline
from sape_geo_apps.batch.worker import FAILURE_FILE, clear_incomplete_run
from sape_geo_apps.cli import main

pytestmark = pytest.mark.slow  # end-to-end runs of seconds each; `make test-fast` leaves them out

TINY = "{steps: 20, hidden: 16, layers: 1, frequencies: 8}"
RUN_FILES = {CONFIG_FILE, METRICS_FILE, "history.csv", "model.pt", "progress.npy"}


ASSETS = Path(__file__).resolve().parents[1] / "assets"
TINY_TRANSFER = "{steps: 10, samples: 400, target-batch: 400, hidden: 16, frequencies: 8}"


def transfer_pipeline(folder: Path, names: tuple[str, ...] = ("creature", "teddy")) -> Path:
    """The project's mesh pairs ``names``, one pair whose source is not a mesh, and a 1-D fit."""
    (folder / "broken.obj").write_text("this is not a mesh\n")
    pairs = [
        f"{{source: {ASSETS}/{name}_source.obj, target: {ASSETS}/{name}_target.obj, landmarks: {ASSETS}/{name}_landmarks.txt}}"
        for name in names
    ]
    pairs.append(f"{{source: broken.obj, target: {ASSETS}/teddy_target.obj, landmarks: {ASSETS}/teddy_landmarks.txt}}")
    listed = "\n".join(f"      - {pair}" for pair in pairs)
    return write_pipeline(
        folder,
        f"""jobs:
  - name: meshes
    task: transfer
    inputs:
{listed}
    settings: {TINY_TRANSFER}
  - name: curve
    task: fit1d
    settings: {TINY}
""",
    )


def write_pipeline(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def test_jobs_run_in_parallel_a_failing_job_never_stops_the_others_and_a_rerun_resumes(tmp_path):
    pipeline = transfer_pipeline(tmp_path)
    out = tmp_path / "out"
    report = run_pipeline(pipeline, out, workers=2, progress=False)

    assert [o.status for o in report.outcomes] == ["done", "done", "failed", "done"]
    failed = report.failed[0]
    assert failed.run_name.startswith("meshes/broken-teddy_target-") and not report.ok
    assert "broken.obj" in failed.error and "no vertices" in failed.error
    assert not is_complete_run(out / failed.run_name)
    record = json.loads((out / failed.run_name / FAILURE_FILE).read_text())
    assert record["task"] == "transfer" and record["pipeline_line"] == 2 and "Traceback" in record["traceback"]
    assert record["command"][:3] == ["sape-geo", "transfer", str(tmp_path / "broken.obj")]
    for index, steps in ((0, 10), (1, 10), (3, 20)):
        run_dir = out / report.outcomes[index].run_name
        assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
        assert json.loads((run_dir / METRICS_FILE).read_text())["steps_done"] == steps
    assert (out / report.outcomes[0].run_name / "result.obj").is_file()
    assert len({o.worker for o in report.outcomes}) == 2  # two worker processes shared the jobs

    creature, teddy, broken, curve = csv.DictReader(report.summary_csv.open())
    assert [creature["status"], teddy["status"], broken["status"], curve["status"]] == ["done", "done", "failed", "done"]
    assert creature["source"] == str(ASSETS / "creature_source.obj") and teddy["landmarks"].endswith("teddy_landmarks.txt")
    assert float(creature["chamfer_l1_pct_diag"]) > 0 and curve["chamfer_l1_pct_diag"] == ""  # each task its metrics
    assert float(curve["mse_all"]) > 0 and "no vertices" in broken["error"]
    markdown = report.summary_markdown.read_text()
    assert "## transfer" in markdown and "## fit1d" in markdown and "1 failed" in markdown

    # resume after an interruption: the curve run is half-written (no metrics.json, a temporary file
    # left over); the creature run is finished and must not be touched; the failed job is retried
    curve_run, creature_run = out / report.outcomes[3].run_name, out / report.outcomes[0].run_name
    (curve_run / METRICS_FILE).unlink()
    (curve_run / ".model.pt.abc123.tmp.pt").write_bytes(b"partial")
    untouched = (creature_run / METRICS_FILE).stat().st_mtime_ns
    again = run_pipeline(pipeline, out, workers=2, progress=False)
    assert [o.status for o in again.outcomes] == ["already done", "already done", "failed", "done"]
    assert is_complete_run(curve_run) and not (curve_run / ".model.pt.abc123.tmp.pt").exists()
    assert (creature_run / METRICS_FILE).stat().st_mtime_ns == untouched


def test_incomplete_run_folder_with_foreign_files_is_refused_not_deleted(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not an unfinished sape-geo run"):
        clear_incomplete_run(folder)
    assert (folder / "thesis.tex").exists()
    (folder / "thesis.tex").unlink()
    (folder / CONFIG_FILE).write_text("{}")  # a config.json alone does not make a folder a run directory
    with pytest.raises(FileExistsError, match="not an unfinished sape-geo run"):
        clear_incomplete_run(folder)
    assert (folder / CONFIG_FILE).exists()
    (folder / FAILURE_FILE).unlink(missing_ok=True)
    (folder / CONFIG_FILE).unlink()
    (folder / FAILURE_FILE).write_text("{}")  # only a failure record: removed
    assert clear_incomplete_run(folder) is False and not folder.exists()


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


def _building(run: Path) -> bool:
    """A job is writing ``run``: its folder under construction beside it holds a config.json."""
    return any(run.parent.glob(f".{run.name}.sape-geo-building-*/{CONFIG_FILE}"))


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
    _wait_for(lambda: _building(long_run))
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
    # Start it as a terminal would: with SIGINT's default disposition. pytest-xdist workers ignore SIGINT,
    # and a child inheriting SIG_IGN never turns Ctrl-C into KeyboardInterrupt.
    batch = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    jobs = load_pipeline(pipeline).jobs
    long_run, short_run = out / jobs[0].run_name, out / jobs[1].run_name
    try:
        _wait_for(lambda: is_complete_run(short_run) and _building(long_run))
        batch.send_signal(signal.SIGINT)
        # bounded by the engine: 30 s grace for running jobs, then kill; generous for a loaded CI machine
        stdout, stderr = batch.communicate(timeout=180)
    finally:
        batch.kill()
    assert batch.returncode == 130, stderr
    assert "interrupted" in stdout
    assert not is_complete_run(long_run)
    assert not long_run.exists() and not list(out.rglob("*sape-geo-building*"))  # the half-built run was removed
    summary = (out / "summary.csv").read_text()
    statuses = {row["run"]: row["status"] for row in csv.DictReader(summary.splitlines())}
    assert statuses == {jobs[0].run_name: "interrupted", jobs[1].run_name: "done"}, summary
    assert main(["batch", str(pipeline), "--out", str(out), "--dry-run"]) == 0  # resumable: the long job is to do


def test_dry_run_lists_jobs_and_runs_nothing(tmp_path, capsys):
    pipeline = write_pipeline(tmp_path, f"jobs:\n  - task: fit1d\n    methods: [ff, pff]\n    settings: {TINY}\n")
    assert main(["batch", str(pipeline), "--out", str(tmp_path / "out"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("todo  fit1d/")]) == 2
    assert "--method pff" in lines[1]
    assert not (tmp_path / "out").exists()


def test_more_workers_than_cores_are_lowered_to_the_cores_with_a_note(tmp_path, monkeypatch, capsys):
    from sape_geo_apps.batch import local_engine

    monkeypatch.setattr(local_engine, "available_cores", lambda: 1)
    pipeline = write_pipeline(tmp_path, f"jobs:\n  - task: fit1d\n    methods: [ff, pff]\n    settings: {TINY}\n")
    assert main(["batch", str(pipeline), "--out", str(tmp_path / "out"), "--workers", "100000", "--quiet"]) == 0
    assert "note    --workers 100000 is more than the 1 core(s) here: 1 job(s) run at a time" in capsys.readouterr().out
    report = run_pipeline(pipeline, tmp_path / "again", workers=100000, progress=False)
    assert len({outcome.worker for outcome in report.outcomes}) == 1  # both jobs ran in the one worker
    assert report.notes == ("--workers 100000 is more than the 1 core(s) here: 1 job(s) run at a time",)


@pytest.mark.parametrize("workers, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError), ("4", TypeError)])
def test_workers_that_are_not_a_whole_number_from_1_are_refused_naming_workers(tmp_path, workers, error):
    pipeline = write_pipeline(tmp_path, f"jobs:\n  - task: fit1d\n    settings: {TINY}\n")
    with pytest.raises(error, match="workers must be"):
        run_pipeline(pipeline, tmp_path / "out", workers=workers, progress=False)
    assert not (tmp_path / "out").exists()
