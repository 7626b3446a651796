"""Benchmarks write under the working directory (or $SAPE_GEO_BENCH_DIR), never beside their scripts."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def results_dir(cwd, **env):
    code = "from bench.common import RESULTS_DIR; print(RESULTS_DIR)"
    # bench/ is not installed: the repository root on the path, the working directory elsewhere
    environment = {k: v for k, v in os.environ.items() if k != "SAPE_GEO_BENCH_DIR"} | {"PYTHONPATH": str(ROOT)} | env
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True, text=True, check=True).stdout.strip()


def test_results_go_to_the_working_directory_or_the_variable(tmp_path):
    assert results_dir(tmp_path) == str(tmp_path / "benchmarks")
    assert results_dir(tmp_path, SAPE_GEO_BENCH_DIR=str(tmp_path / "elsewhere")) == str(tmp_path / "elsewhere")
