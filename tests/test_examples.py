"""Every file in examples/ runs, with tiny settings: the pipelines (local engine and Ray) and the scripts."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

from sape_geo.runs import is_complete_run
from sape_geo_apps.batch import load_pipeline, run_pipeline

from conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end runs of seconds each; `make test-fast` leaves them out
EXAMPLES = ROOT / "examples"
TINY = "{steps: 3, hidden: 16, layers: 1, frequencies: 8}"


def tiny_copy(name: str, folder: Path, replacements: dict[str, str]) -> Path:
    """The example pipeline with tiny settings, in a copy of the layout its relative paths expect."""
    (folder / "examples").mkdir()
    (folder / "assets").symlink_to(ROOT / "assets")
    text = (EXAMPLES / name).read_text()
    for old, new in {"settings: {steps: 300}": f"settings: {TINY}", **replacements}.items():
        assert old in text, f"{name} no longer has {old!r}; update this test"
        text = text.replace(old, new)
    path = folder / "examples" / name
    path.write_text(text)
    return path


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["pipeline_local.yaml", "pipeline_ray.yaml"])
def test_example_pipelines_are_valid_as_shipped(name):
    pipeline = load_pipeline(EXAMPLES / name)
    tasks = {job.task for job in pipeline.jobs}
    assert tasks == {"transfer", "silhouette"}
    assert len(pipeline.jobs) >= 8


def test_local_pipeline_example_runs(tmp_path):
    path = tiny_copy("pipeline_local.yaml", tmp_path, {"seeds: [0, 1]": "seeds: [0]"})
    report = run_pipeline(path, tmp_path / "out", workers=2, progress=False)
    assert report.outcomes and all(o.status == "done" for o in report.outcomes), [o.error for o in report.failed]
    assert all(is_complete_run(tmp_path / "out" / o.run_name) for o in report.outcomes)
    assert (tmp_path / "out" / "summary.md").is_file()


def test_ray_pipeline_example_runs(tmp_path):
    ray = pytest.importorskip("ray")
    path = tiny_copy("pipeline_ray.yaml", tmp_path, {"seeds: [0, 1, 2]": "seeds: [0]", "methods: [pff, sape-ff]": "methods: [sape-ff]",
                                                  "methods: [ff, pff, sape-ff]": "methods: [sape-ff]"})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = run_pipeline(path, tmp_path / "out", engine="ray", progress=False)
    finally:
        ray.shutdown()
    assert len(report.outcomes) == 3 and all(o.status == "done" for o in report.outcomes), [o.error for o in report.failed]


def test_transfer_to_targets_example_writes_its_table(tmp_path):
    script = load_script("transfer_to_targets")
    out = tmp_path / "targets"
    assert script.main(["--pairs", "creature", "--steps", "2", "--scan-points", "6000", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "comparison.csv")))
    assert [row["target"] for row in rows] == ["mesh", "scan", "scan+strays, outliers removed"]
    assert all(float(row["chamfer_l1_pct_diag"]) < 5.0 for row in rows)
    assert (out / "comparison.md").read_text().count("| creature |") == 3


def test_compare_silhouette_methods_example_writes_its_table(tmp_path):
    script = load_script("compare_silhouette_methods")
    out = tmp_path / "star"
    assert script.main(["--methods", "pff", "sape-ff/chamfer", "--steps", "3", "--out", str(out)]) == 0
    table = (out / "comparison.md").read_text()
    assert "| pff |" in table and "| sape-ff/chamfer |" in table
    assert is_complete_run(out / "sape-ff-chamfer")
