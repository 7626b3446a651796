"""Shared test settings and fixtures.

One torch thread per test worker (the suite runs with -n 2 on 2 cores). Tests marked ``slow`` train
networks end to end for seconds each; ``make test-fast`` leaves them out, ``make test`` runs everything.
"""

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"

# The smallest useful run of each task on the command line: seconds, not minutes.
TINY_ARGS = {
    "fit1d": ["--steps", "3", "--hidden", "8", "--layers", "1", "--frequencies", "4", "--quiet", "--threads", "1"],
    "transfer": ["--steps", "2", "--hidden", "8", "--frequencies", "4", "--samples", "300", "--target-batch", "300", "--quiet"],
}


@pytest.fixture(scope="session")
def assets() -> Path:
    """The project's own demo assets (meshes with landmarks, silhouettes)."""
    return ASSETS


@pytest.fixture(scope="session")
def make_sphere():
    """``make_sphere(radius=1, centre=(0, 0, 0), subdivisions=3) -> (V, F)``: an icosphere as float64 / int64 arrays."""
    import trimesh

    def make(radius: float = 1.0, centre=(0.0, 0.0, 0.0), subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
        mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
        return np.asarray(mesh.vertices, dtype=np.float64) + np.asarray(centre, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)

    return make


@pytest.fixture(scope="session")
def tiny_args():
    """Command-line options for the smallest run of a task, by task name."""
    return TINY_ARGS


@pytest.fixture
def refuses_file(tmp_path):
    """``refuses_file(name, text, read, error, match)``: writes ``text`` to ``tmp_path / name`` and checks
    that ``read(path)`` raises ``error`` matching ``match`` (a regular expression) with the file's name in
    its message: every reader names the file it refuses."""

    def check(name: str, text: str, read, error: type[Exception], match: str) -> None:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(error, match=match) as info:
            read(path)
        assert name in str(info.value)

    return check
