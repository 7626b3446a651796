"""Shared test settings: one torch thread per test worker (the suite runs with -n 2 on 2 cores)."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)
