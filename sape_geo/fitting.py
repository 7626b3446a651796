"""The one loop every task runs: batch -> network -> per-point loss -> step -> mask feedback.

A task is a :class:`Task`; it knows its data and loss, nothing about encodings or masks. :func:`fit`
knows the loop, nothing about tasks: seeding, device, Adam, the progress bar, loss history, a guard
that stops on NaN/Inf or divergence and restores the last good state, early stopping, snapshots.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.methods import MaskDomain
from sape_geo.networks import FieldModel

if TYPE_CHECKING:
    from sape_geo.runs import RunDirectory


@dataclass(frozen=True)
class FitConfig:
    """Settings of the optimisation loop (immutable).

    Attributes
    ----------
    steps : optimisation steps ``T`` (also the length SAPE's schedule is built for).
    lr : Adam learning rate.
    lr_schedule : ``"constant"`` or ``"cosine"`` (decay to ``lr * lr_final_factor`` at the last step).
    seed : seed of every random number generator (torch, numpy, python).
    device : ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    progress_bar : show a tqdm bar on stderr.
    early_stop_patience : stop when the loss has not improved by ``early_stop_min_delta`` (relative)
        for this many steps; ``None`` disables early stopping.
    divergence_factor : a finite loss above ``divergence_factor * max(first loss, best loss)`` counts as
        divergence.
    guard_every : steps between in-memory copies of the last good state.
    snapshot_every : steps between snapshots for playback (0 = none).
    threads : torch CPU threads (``None`` = torch's default).
    """

    steps: int = 2000
    lr: float = 1e-3
    lr_schedule: str = "constant"
    lr_final_factor: float = 0.01
    seed: int = 0
    device: str = "auto"
    progress_bar: bool = True
    early_stop_patience: int | None = None
    early_stop_min_delta: float = 1e-4
    divergence_factor: float = 1e4
    guard_every: int = 25
    snapshot_every: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.early_stop_patience is not None and self.early_stop_patience < 1:
            raise ValueError("early_stop_patience must be >= 1 or None")
        if self.guard_every < 1 or self.snapshot_every < 0:
            raise ValueError("guard_every must be >= 1 and snapshot_every >= 0")
        if self.threads is not None and self.threads < 1:
            raise ValueError("threads must be >= 1")
        choose_device(self.device)  # validates the name

    def replace(self, **changes: Any) -> "FitConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Batch:
    """The points of one step.

    Attributes
    ----------
    coords : (N, d) network inputs in the normalised domain.
    index : (N,) long sample ids (needed by per-sample masks), or None.
    data : anything else the task's loss needs (targets, weights), keyed by name.
    """

    coords: Tensor
    index: Tensor | None = None
    data: dict[str, Any] = field(default_factory=dict)


Callback = Callable[[int, float, FieldModel], None]


class Task:
    """What a task plugin implements. Only :meth:`batch`, :meth:`loss` and :meth:`progress_map` are
    required; the others have sensible defaults.

    Attributes
    ----------
    name : task name (used in ``config.json``).
    in_dim, out_dim : network input and output sizes.
    """

    name: str = "task"
    in_dim: int = 1
    out_dim: int = 1

    def mask_domain(self) -> MaskDomain:
        """Where SAPE keeps progress for this task (per sample or a grid)."""
        raise NotImplementedError

    def to(self, device: torch.device) -> None:
        """Move the task's tensors to ``device`` (called once before fitting)."""

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        """The points of step ``step``; ``generator`` is the seeded source of randomness."""
        raise NotImplementedError

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """``output`` ``(N, out_dim)`` -> (total scalar loss to minimise, per-point loss ``(N,)``)."""
        raise NotImplementedError

    def evaluate(self, model: FieldModel) -> dict[str, float]:
        """Final metrics, with units in their names."""
        return {}

    def export(self, model: FieldModel, run: "RunDirectory") -> None:
        """Write the task's product (``result.*``) into the run directory, atomically."""

    def progress_map(self, model: FieldModel) -> np.ndarray:
        """Progress per location (vertex, curve point, pixel, grid cell) for ``progress.npy``."""
        raise NotImplementedError

    def snapshot(self, model: FieldModel) -> dict[str, np.ndarray]:
        """Arrays describing the current state, for playback (empty = the task records none)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Task settings and input files (paths, checksums) for ``config.json``."""
        return {"task": self.name}

    def callbacks(self) -> Sequence[Callback]:
        """Callbacks the task itself needs during the fit (e.g. a validity guard), run after every step."""
        return ()

    def finish(self, model: FieldModel) -> dict[str, Any]:
        """Called once after the fit and before :meth:`evaluate`; a task may restore a valid state of
        ``model`` here. Returns metrics of what it did."""
        return {}


@dataclass
class FitResult:
    """What :func:`fit` did: its history, why it stopped, and frames for playback."""

    history: list[dict[str, float]]
    steps_done: int
    seconds: float
    stop_reason: str  # "completed", "early_stop", "diverged", "non_finite"
    message: str = ""
    snapshots: list[dict[str, np.ndarray]] = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        return self.stop_reason in ("diverged", "non_finite")


class FitDivergedWarning(RuntimeWarning):
    """The loss became NaN/Inf or exploded; the last good state was restored."""


def choose_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU. Raises ValueError for unknown or unavailable devices."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    return device


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _learning_rate(config: FitConfig, step: int) -> float:
    if config.lr_schedule == "constant":
        return config.lr
    progress = step / max(config.steps - 1, 1)
    final = config.lr * config.lr_final_factor
    return final + 0.5 * (config.lr - final) * (1.0 + math.cos(math.pi * progress))


def _copy_state(model: FieldModel, optimiser: torch.optim.Optimizer) -> tuple[dict, dict]:
    return (
        {key: value.detach().clone() for key, value in model.state_dict().items()},
        copy.deepcopy(optimiser.state_dict()),
    )


def fit(
    task: Task,
    model: FieldModel,
    config: FitConfig,
    callbacks: Sequence[Callback] = (),
    parameter_groups: Sequence[dict[str, Any]] | None = None,
) -> FitResult:
    """Optimise ``model`` on ``task`` for ``config.steps`` steps (or until it stops early).

    Each step: ``batch = task.batch(step)``, ``output = model(batch.coords, batch.index)``,
    ``total, per_point = task.loss(output, batch)``, Adam step, then ``model.feedback(batch.coords,
    per_point, batch.index)`` lets the mask policy open frequencies where the loss is still high.

    Parameters
    ----------
    task, model : what to fit and with which network (moved to the chosen device here).
    config : loop settings.
    callbacks : called as ``callback(step, loss, model)`` after every step.
    parameter_groups : optional Adam parameter groups (default: all parameters at ``config.lr``); a
        group's ``"lr_scale"`` multiplies the schedule's learning rate.

    Returns
    -------
    FitResult. On NaN/Inf or divergence the model holds the last good state and ``stop_reason`` says
    why; no exception is raised so callers can still export what was reached.
    """
    from tqdm.auto import tqdm

    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    device = choose_device(config.device)
    model.to(device)
    task.to(device)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    groups = list(parameter_groups) if parameter_groups is not None else [{"params": list(model.parameters())}]
    optimiser = torch.optim.Adam([{k: v for k, v in g.items() if k != "lr_scale"} for g in groups], lr=config.lr)
    lr_scales = [float(g.get("lr_scale", 1.0)) for g in groups]

    history: list[dict[str, float]] = []
    snapshots: list[dict[str, np.ndarray]] = []
    good_state = _copy_state(model, optimiser)
    first_loss: float | None = None
    best_loss = math.inf
    best_step = 0
    stop_reason, message = "completed", ""
    started = time.perf_counter()
    bar = tqdm(total=config.steps, desc=f"{task.name}", unit="step", disable=not config.progress_bar, leave=False, dynamic_ncols=True)
    step = 0
    for step in range(config.steps):
        for group, scale in zip(optimiser.param_groups, lr_scales):
            group["lr"] = _learning_rate(config, step) * scale
        batch = task.batch(step, generator)
        output = model(batch.coords, batch.index)
        total, per_point = task.loss(output, batch)
        loss_value = float(total.detach())
        if first_loss is None:
            first_loss = loss_value
        if not math.isfinite(loss_value):
            stop_reason = "non_finite"
            message = f"loss became {loss_value} at step {step}; restored the state of the last good step"
            break
        if loss_value > config.divergence_factor * max(abs(first_loss), best_loss if math.isfinite(best_loss) else 0.0, 1e-12):
            stop_reason = "diverged"
            message = f"loss diverged to {loss_value:.4g} at step {step}; restored the state of the last good step"
            break
        if step % config.guard_every == 0:
            good_state = _copy_state(model, optimiser)
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        optimiser.step()
        model.feedback(batch.coords.detach(), per_point.detach(), batch.index)

        history.append(
            {"step": step, "loss": loss_value, "seconds": time.perf_counter() - started, "mean_progress": model.mean_progress()}
        )
        if loss_value < best_loss * (1.0 - config.early_stop_min_delta):
            best_loss, best_step = loss_value, step
        if config.snapshot_every and (step % config.snapshot_every == 0 or step == config.steps - 1):
            with torch.no_grad():
                frame = task.snapshot(model)
            if frame:
                snapshots.append({**frame, "step": np.asarray(step)})
        for callback in callbacks:
            callback(step, loss_value, model)
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss_value:.3e}", progress=f"{model.mean_progress():.2f}")
        if config.early_stop_patience is not None and step - best_step >= config.early_stop_patience:
            stop_reason = "early_stop"
            message = f"loss did not improve for {config.early_stop_patience} steps; stopped at step {step}"
            break
    bar.close()

    if stop_reason in ("non_finite", "diverged"):
        model.load_state_dict(good_state[0])
        warnings.warn(message, FitDivergedWarning, stacklevel=2)
    steps_done = len(history)
    return FitResult(history, steps_done, time.perf_counter() - started, stop_reason, message, snapshots)

