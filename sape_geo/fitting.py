"""The one loop every task runs: batch -> network -> per-point loss -> step -> mask feedback.

A task is a :class:`Task`; it knows its data and loss, nothing about encodings or masks. :func:`fit`
knows the loop, nothing about tasks: seeding, device, Adam, the progress bar, loss history, a guard
that stops on NaN/Inf or divergence and restores the last good state, early stopping, snapshots.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from sape_geo.adam import Adam
from sape_geo.config import FitConfig, MaskDomain
from sape_geo.networks import FieldModel

if TYPE_CHECKING:
    from sape_geo.runs import RunDirectory


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


@dataclass
class NetworkFree:
    """A task's result for a method it answers without a network (:meth:`Task.without_network`): an
    initialisation alone, or an input that leaves nothing to fit.

    Attributes
    ----------
    metrics : every metric, ``fit_seconds``, ``steps_done`` and ``stop_reason`` included.
    progress : the heat map for ``progress.npy`` (zeros: no level opened).
    product : the result in memory, as :meth:`Task.product` gives it.
    export : ``export(run)`` writes the task's ``result.*`` into the run directory, as :meth:`Task.export`.
    """

    metrics: dict[str, Any]
    progress: np.ndarray
    product: dict[str, Any]
    export: Callable[["RunDirectory"], None]


class Task(ABC):
    """What a task plugin implements: its data, its loss, and what it makes of a trained network.

    Required: :meth:`mask_domain`, :meth:`batch`, :meth:`loss`, :meth:`progress_map`. The others have
    defaults that do nothing, so a small task stays small.

    A task may answer some methods without a network (:meth:`without_network`: mesh transfer's
    initialisation-only baselines); the run then writes the same files, less the network's.

    The loop calls, in order: :meth:`to`, then per step :meth:`batch` -> network -> :meth:`loss` ->
    optimiser step -> mask feedback -> :meth:`snapshot` (every ``snapshot_every``) -> :meth:`callbacks`.
    :func:`~sape_geo.experiment.run_task` calls :meth:`initialise` before the loop, :meth:`finish`,
    :meth:`evaluate`, :meth:`progress_map`, :meth:`product` after it, and :meth:`export` and
    :meth:`describe` when it writes a run directory.

    Attributes
    ----------
    name : task name (used in ``config.json`` and the progress bar).
    in_dim, out_dim : network input and output sizes.
    zero_output : the network starts at exactly 0 (a task that learns a correction of an initial state).
    evaluation_summary : what evaluation computes, for the status line after the progress bar.
    """

    name: str = "task"
    in_dim: int = 1
    out_dim: int = 1
    zero_output: bool = False
    evaluation_summary: str = "metrics, heat map"

    @abstractmethod
    def mask_domain(self) -> MaskDomain:
        """Where SAPE keeps progress for this task (per sample or a grid)."""

    def to(self, device: torch.device) -> None:
        """Move the task's tensors to ``device`` (called once before fitting)."""

    @abstractmethod
    def batch(self, step: int, generator: torch.Generator) -> Batch:
        """The points of step ``step``; ``generator`` is the seeded source of randomness."""

    @abstractmethod
    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """``output`` ``(N, out_dim)`` -> (total scalar loss to minimise, per-point loss ``(N,)``)."""

    def evaluate(self, model: FieldModel) -> dict[str, float]:
        """Final metrics, with units in their names."""
        return {}

    def export(self, model: FieldModel, run: "RunDirectory") -> None:
        """Write the task's product (``result.*``) into the run directory, atomically."""

    @abstractmethod
    def progress_map(self, model: FieldModel) -> np.ndarray:
        """The heat map: levels open per location (vertex, curve point, pixel, grid cell), for
        ``progress.npy``; its mean is ``metrics.json``'s ``mean_progress``."""

    def snapshot(self, model: FieldModel) -> dict[str, np.ndarray]:
        """Arrays describing the current state, for playback (empty = the task records none)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Task settings and input files (paths, checksums) for ``config.json``."""
        return {"task": self.name}

    def config_entries(self) -> Mapping[str, Any]:
        """More top-level entries of ``config.json`` that the task knows only once its input is read
        (mesh transfer's ``"transfer"``: the alignment and initialisation it chose)."""
        return {}

    def without_network(self, method: str) -> Callable[[], NetworkFree] | None:
        """How this task answers ``method`` without a network, or None to fit one (the default).

        Returns a function computing the :class:`NetworkFree` result, called once the run directory is
        open (so a folder that cannot be written fails before the work). A method name the catalogue
        does not know (the plugin's ``extra_methods``) must be answered here."""
        return None

    def callbacks(self) -> Sequence[Callback]:
        """Callbacks the task itself needs during the fit (e.g. a validity guard), run after every step."""
        return ()

    def method_defaults(self, method: str) -> Mapping[str, Any]:
        """This task's defaults for ``method`` that depend on its input (e.g. a Fourier sigma that
        follows an image's size): :class:`~sape_geo.config.MethodConfig` or :class:`FitConfig` fields.
        Fixed defaults belong in the plugin (:class:`~sape_geo.registry.TaskPlugin`), where ``--help``
        can show them."""
        return {}

    def initialise(self, model: FieldModel, fit_config: FitConfig) -> dict[str, Any]:
        """Called once with the freshly built network before the loop, to start it somewhere other than
        its random initialisation (e.g. calibrated on a simpler problem). Returns metrics of what it did."""
        return {}

    def finish(self, model: FieldModel) -> dict[str, Any]:
        """Called once after the fit and before :meth:`evaluate`; a task may restore a valid state of
        ``model`` here. Returns metrics of what it did."""
        return {}

    def product(self, model: FieldModel) -> dict[str, Any]:
        """The task's result in memory (a curve, an image, a mesh's vertices and faces), returned to a
        Python caller in ``RunResult.extras``; the run directory holds the same in files."""
        return {}


@dataclass
class FitResult:
    """What :func:`fit` did: its history, why it stopped, and frames for playback."""

    history: list[dict[str, float]]
    steps_done: int
    seconds: float
    stop_reason: str  # "completed", "early_stop", "time_budget", "diverged", "non_finite"
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


def _copy_state(model: FieldModel) -> dict[str, Tensor]:
    """The model's parameters and buffers, copied (the state a diverged fit goes back to)."""
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


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
    parameter_groups : Adam parameter groups (default: ``model.parameter_groups()``); a group's
        ``"lr_scale"`` multiplies the schedule's learning rate.

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
    groups = list(parameter_groups) if parameter_groups is not None else model.parameter_groups()
    # sape_geo's own Adam: torch.optim's imports the compiler (torch._dynamo, 1.5 s) on its first use
    optimiser = Adam([{k: v for k, v in g.items() if k != "lr_scale"} for g in groups], lr=config.lr)
    lr_scales = [float(g.get("lr_scale", 1.0)) for g in groups]

    history: list[dict[str, float]] = []
    snapshots: list[dict[str, np.ndarray]] = []
    good_state = _copy_state(model)
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
            good_state = _copy_state(model)
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        optimiser.step()
        model.feedback(batch.coords.detach(), per_point.detach(), batch.index)

        history.append(
            {"step": step, "loss": loss_value, "seconds": time.perf_counter() - started, "mask_mean_progress": model.mask_mean_progress()}
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
            bar.set_postfix(loss=f"{loss_value:.3e}", mask_progress=f"{model.mask_mean_progress():.2f}")
        if config.early_stop_patience is not None and step - best_step >= config.early_stop_patience:
            stop_reason = "early_stop"
            message = f"loss did not improve for {config.early_stop_patience} steps; stopped at step {step}"
            break
        if config.max_seconds is not None and time.perf_counter() - started >= config.max_seconds and step < config.steps - 1:
            stop_reason = "time_budget"
            message = f"the time budget of {config.max_seconds:g} s ran out; stopped after step {step} of {config.steps}"
            break
    bar.close()

    if stop_reason in ("non_finite", "diverged"):
        model.load_state_dict(good_state)
        warnings.warn(message, FitDivergedWarning, stacklevel=2)
    steps_done = len(history)
    return FitResult(history, steps_done, time.perf_counter() - started, stop_reason, message, snapshots)

