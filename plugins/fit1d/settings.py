"""Settings of the 1-D task, apart from the declaration (:mod:`.command`) and the task
(:mod:`.task`) so both import them without importing each other."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Regression1DSettings:
    """Settings of the 1-D task.

    Attributes
    ----------
    train_samples : evenly spaced training samples on [-1, 1] (the SAPE grid has one node each).
    eval_samples : evenly spaced points where the result and the metrics are computed.
    frequency : oscillations per unit on the right half.
    """

    train_samples: int = 64
    eval_samples: int = 2001
    frequency: float = 6.0

    def __post_init__(self) -> None:
        if self.train_samples < 4 or self.eval_samples < 4:
            raise ValueError("need at least 4 training and 4 evaluation samples")
        if not (self.frequency > 0 and math.isfinite(self.frequency)):
            raise ValueError("frequency must be positive")
