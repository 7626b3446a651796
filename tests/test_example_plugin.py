"""The example third-party task plugin (examples/sape_geo_example_task) installs as a package of its own
and its task runs: through the entry point, `sape-geo ripple --help`, a tiny CLI run, and the Python API.

It is installed with pip (no dependencies, no build isolation: offline and about 2 s) from a copy of its
folder into a temporary directory, not into the project's virtual environment, so the test leaves
nothing behind and two test workers cannot collide; the commands see it through PYTHONPATH, as they
would see it in site-packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from sape_geo.registry import ENTRY_POINT_GROUP
from sape_geo.runs import is_complete_run

from conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end runs of seconds each; `make test-fast` leaves them out
EXAMPLE = ROOT / "examples" / "sape_geo_example_task"
TINY = ["--steps", "5", "--hidden", "16", "--frequencies", "8", "--resolution", "8", "--quiet"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The example package installed into a fresh folder; returns that folder (a site-packages)."""
    folder = tmp_path_factory.mktemp("example-plugin")
    source = shutil.copytree(EXAMPLE, folder / "source")  # the build writes build/ and *.egg-info beside its sources
    site = folder / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(source)], check=True, timeout=300)
    return site


def sape_geo(site: Path, *arguments: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "sape-geo"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "sape_geo_apps.cli"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command + list(arguments), capture_output=True, text=True, env=environment, timeout=300)


def test_installed_example_declares_its_entry_point(installed, monkeypatch):
    monkeypatch.syspath_prepend(str(installed))
    entry = {e.name: e for e in metadata.entry_points(group=ENTRY_POINT_GROUP)}["ripple"]
    assert entry.value == "sape_geo_example_task:PLUGIN"
    from sape_geo.registry import TaskPlugin, discover_tasks

    plugin = discover_tasks()["ripple"]
    assert isinstance(plugin, TaskPlugin) and plugin.name == "ripple"


def test_example_task_help_and_tiny_run_through_the_command_line(installed, tmp_path):
    listing = sape_geo(installed, "--help")
    assert listing.returncode == 0, listing.stderr
    assert "ripple" in listing.stdout
    help_text = sape_geo(installed, "ripple", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "--resolution" in help_text.stdout and "--method" in help_text.stdout

    out = tmp_path / "ripple-run"
    finished = sape_geo(installed, "ripple", *TINY, "--out", str(out))
    assert finished.returncode == 0, finished.stderr
    assert "MSE smooth half" in finished.stdout
    assert is_complete_run(out)
    assert np.load(out / "result.npy").shape == (8, 8)
    assert (out / "progress.npy").is_file() and (out / "model.pt").is_file()


def test_example_task_python_api(installed, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(installed))
    from sape_geo_example_task import RippleSettings, fit_ripple

    result = fit_ripple("sape-ff", out=tmp_path / "api", steps=5, settings=RippleSettings(resolution=8), progress_bar=False)
    assert {"mse_smooth_half", "mse_rippled_half"} <= set(result.metrics)
    assert result.progress.shape == (8, 8)
    assert is_complete_run(tmp_path / "api")
    in_memory = fit_ripple("ff", resolution=6, steps=3, progress_bar=False)  # a task setting as a keyword, no run directory
    assert in_memory.path is None and in_memory.extras["prediction"].shape == (6, 6)
