"""Adam (Kingma and Ba 2015) on plain tensors, for the fitting loop.

``torch.optim.Adam`` imports ``torch._dynamo`` (the compiler) when it is built and on its first step:
about 1.5 s of CPU before any work, a third of a short mesh transfer's whole command. This is the same
update as torch's default (``foreach``-free, no AMSGrad, no weight decay) with the same state, so a
fit follows the same path; nothing of the compiler is imported.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import Tensor


class Adam:
    """Adam over parameter groups (dicts with ``"params"`` and optionally ``"lr"``), as
    ``torch.optim.Adam``: ``param_groups`` (each group's ``"lr"`` may be changed between steps),
    ``zero_grad`` and ``step``.

    Parameters
    ----------
    groups : parameter groups, or an iterable of parameters (one group).
    lr : learning rate of groups that do not set their own.
    betas, eps : Adam's decay rates of the first and second moments and its denominator's floor.
    """

    def __init__(self, groups: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        groups = list(groups)
        if groups and isinstance(groups[0], Tensor):
            groups = [{"params": groups}]
        if not (lr >= 0 and 0 <= betas[0] < 1 and 0 <= betas[1] < 1 and eps >= 0):
            raise ValueError(f"invalid Adam settings: lr={lr}, betas={betas}, eps={eps}")
        self.param_groups = [{"lr": lr, **group, "params": list(group["params"])} for group in groups]
        self.betas, self.eps = betas, eps
        self.state: dict[Tensor, dict[str, Any]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for group in self.param_groups:
            lr = group["lr"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state.get(param)
                if state is None:
                    state = self.state[param] = {"step": 0, "exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}
                state["step"] += 1
                step = state["step"]
                grad = param.grad
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**step)).add_(self.eps)
                param.addcdiv_(state["exp_avg"], denominator, value=-lr / (1 - beta1**step))
