"""A new encoding in one class and one registration call: triangle waves, static and under SAPE.

``TriangleWaves`` maps each coordinate to triangle waves of periods ``base_period / 2^k``, one level per
octave ``k`` (a piecewise-linear cousin of NeRF's positional encoding). Its typed settings are a frozen
dataclass; :func:`sape_geo.register_encoding` adds the encoding and the methods made of it (here ``tri``,
all levels open, and ``sape-tri``, SAPE's mask), which every task then accepts, from Python and from
``sape-geo TASK --method sape-tri --method-option num_octaves=6`` in a process that registered them.

    python examples/custom_encoding.py --steps 600

fits the 1-D demo signal (smooth on the left, oscillating on the right) with both methods and with
``sape-ff``, and prints the error on each half and the levels SAPE opened there.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sape_geo import Encoding, register_encoding
from sape_geo.encoding_settings import check_positive_int, check_positive_number
from sape_geo_plugins.fit1d import fit_1d


@dataclass(frozen=True)
class TriangleSettings:
    """Settings of :class:`TriangleWaves`, set by ``--method-option KEY=VALUE`` (or ``options=``).

    Attributes
    ----------
    num_octaves : levels; level ``k`` holds the waves of period ``base_period / 2^(k-1)``.
    base_period : the coarsest period, in units of the normalised [-1, 1] domain.
    """

    num_octaves: int = 8
    base_period: float = 2.0

    def __post_init__(self) -> None:
        check_positive_int("num_octaves", self.num_octaves)
        check_positive_number("base_period", self.base_period)


class TriangleWaves(Encoding):
    """Two triangle waves a quarter period apart per axis and octave (like a cos/sin pair).

    ``tri(x) = 1 - 4 |(x mod 1) - 1/2|`` takes values in [-1, 1] with slope 4 per period, so octave ``k``
    has the Lipschitz constant ``4 * 2^(k-1) / base_period``: the levels are already in ascending order.

    Parameters
    ----------
    in_dim : input dimension ``d``.
    num_octaves, base_period : see :class:`TriangleSettings`.
    """

    def __init__(self, in_dim: int, num_octaves: int = 8, base_period: float = 2.0) -> None:
        super().__init__(in_dim)
        TriangleSettings(num_octaves, base_period)  # the same checks from Python and from the settings
        cycles = 2.0 ** torch.arange(num_octaves, dtype=torch.float32) / base_period  # (K,) per unit
        self.register_buffer("cycles", cycles)
        self.register_buffer("shifts", torch.tensor([0.0, 0.25]), persistent=False)  # a quarter period
        self._set_levels(torch.arange(1, num_octaves + 1).repeat_interleave(2 * in_dim), 4.0 * cycles)

    def encode_levels(self, coords: Tensor) -> Tensor:
        phase = coords[:, None, None, :] * self.cycles[None, :, None, None] + self.shifts[None, None, :, None]
        return (1.0 - 4.0 * (torch.remainder(phase, 1.0) - 0.5).abs()).flatten(1)  # (N, K * 2 * d), level-major


register_encoding(
    "triangle", TriangleWaves, TriangleSettings, {"tri": "static", "sape-tri": "sape"},
    "triangle waves, one level per octave",
)


def compare(methods: list[str], steps: int, options: dict[str, Any] | None = None) -> list[dict[str, float]]:
    """Fit the 1-D signal with each method (nothing written); one row of metrics per method."""
    rows = []
    for method in methods:
        extra = {"options": options} if options and method.endswith("tri") else {}
        result = fit_1d(method, steps=steps, progress_bar=False, **extra)
        m = result.metrics
        rows.append({"method": method, "mse_smooth": m["mse_smooth_region"], "mse_oscillating": m["mse_oscillating_region"],
                     "levels_smooth": m["progress_smooth_region_levels"], "levels_oscillating": m["progress_oscillating_region_levels"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["tri", "sape-tri", "sape-ff"])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--octaves", type=int, default=TriangleSettings.num_octaves)
    args = parser.parse_args(argv)
    print("| method | MSE smooth half | MSE oscillating half | levels open, smooth | levels open, oscillating |")
    print("|---|---|---|---|---|")
    for row in compare(args.methods, args.steps, {"num_octaves": args.octaves}):
        print(f"| {row['method']} | {row['mse_smooth']:.2e} | {row['mse_oscillating']:.2e} | "
              f"{row['levels_smooth']:.1f} | {row['levels_oscillating']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
