"""Cost of SAPE's grid mask in a training step (issue 2's performance benchmark).

For 16,384 points, 256 Fourier frequencies and a 3 x 256 ReLU MLP, time one optimisation step
(forward, backward, Adam, and for SAPE the mask lookup and the feedback) with

- ``ff``: the same encoding and MLP with every level open (no mask work at all),
- ``sape-ff``: the grid mask, 128^2 for d = 2 and 128^3 for d = 3,

and report the overhead of the mask and the memory of its state, for two kinds of batch: ``repeated``
(the same points every step, as a full-batch fit: the mask reuses its lookup and its per-batch plan of
distinct nodes) and ``fresh`` (new random points every step, as mini-batches: every step pays the corner
lookup and the sort-free feedback). Target: overhead <= 10 %, the 128^3 grid's state < 50 MB.

    python -m bench.core [--repeats 30] [--threads N]
"""

from __future__ import annotations

import statistics
import time

import torch

from sape_geo.methods import MaskDomain, MethodConfig, ModelSpec, build_model
from bench.common import benchmark_parser, markdown_table, write_results

POINTS = 16_384


class StepTimer:
    """One model, its optimiser and a closure that times a full training step."""

    def __init__(self, model) -> None:
        self.model = model
        self.optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(self, coords: torch.Tensor, target: torch.Tensor) -> float:
        """Seconds for forward, loss, backward, Adam and the mask feedback."""
        started = time.perf_counter()
        output = self.model(coords)
        per_point = ((output - target) ** 2).sum(dim=1)
        self.optimiser.zero_grad(set_to_none=True)
        per_point.mean().backward()
        self.optimiser.step()
        self.model.feedback(coords, per_point.detach())
        return time.perf_counter() - started


def benchmark_dimension(d: int, resolution: int, repeats: int, warmup: int = 3, fresh: bool = False) -> dict:
    """Time ff and sape-ff steps alternately, so load from other processes hits both alike; ``fresh``:
    new points every step (both methods get the same ones), else the same points every step."""
    generator = torch.Generator().manual_seed(d)
    batches = [
        (torch.rand(POINTS, d, generator=generator) * 2 - 1, torch.rand(POINTS, 3, generator=generator))
        for _ in range(warmup + repeats if fresh else 1)
    ]
    domain = MaskDomain("grid", resolution=(resolution,) * d)
    timers = {}
    for name in ("ff", "sape-ff"):
        # epsilon 0: every visited cell keeps advancing, so the feedback does its full work every step.
        timers[name] = StepTimer(build_model(ModelSpec(MethodConfig(name, sigma=10.0, epsilon=0.0), d, 3, 1000, domain)))
    times: dict[str, list[float]] = {name: [] for name in timers}
    for repeat in range(warmup + repeats):
        coords, target = batches[repeat % len(batches)]
        for name, timer in timers.items():
            seconds = timer.step(coords, target)
            if repeat >= warmup:
                times[name].append(seconds)
    ratios = [sape / ff for ff, sape in zip(times["ff"], times["sape-ff"])]
    mask = timers["sape-ff"].model.mask
    return {
        "d": d,
        "grid": f"{resolution}^{d}",
        "batch": "fresh" if fresh else "repeated",
        "points": POINTS,
        "ff_step_ms": 1000 * statistics.median(times["ff"]),
        "sape-ff_step_ms": 1000 * statistics.median(times["sape-ff"]),
        "overhead_pct": 100 * (statistics.median(ratios) - 1),
        "mask_state_mb": sum(b.numel() * b.element_size() for b in mask.buffers()) / 2**20,
    }


def main(argv: list[str] | None = None) -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per configuration (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [benchmark_dimension(d, 128, args.repeats, fresh=fresh) for fresh in (False, True) for d in (2, 3)]
    columns = ["d", "grid", "batch", "points", "ff_step_ms", "sape-ff_step_ms", "overhead_pct", "mask_state_mb"]
    table = markdown_table(rows, columns, "{:.2f}")
    header = (
        "# SAPE grid-mask overhead per training step\n\n"
        f"16,384 points, 256 Fourier frequencies, 3 x 256 ReLU MLP, Adam; median of {args.repeats} alternating steps (overhead = median of per-pair ratios); "
        f"torch threads = {torch.get_num_threads()}, device = CPU, shared with other jobs (step times are indicative; ratios are per alternating pair).\n"
        "Batch `repeated`: the same points every step (full-batch fits; the mask reuses its lookup and its per-batch plan of distinct "
        "nodes); `fresh`: new points every step (mini-batches; corner lookup and sort-free feedback every step).\n"
        "Targets: overhead <= 10 %, 128^3 mask state < 50 MB.\n\n"
    )
    write_results("core", {"rows": rows, "repeats": args.repeats, "threads": torch.get_num_threads()}, header + table)
    print(header + table)


if __name__ == "__main__":
    main()
