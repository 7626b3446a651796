"""sape-geo: geometry processing with SAPE (spatially-adaptive progressive encoding).

The core is one loop shared by every task: coordinates -> encoding -> mask -> MLP -> per-point loss ->
optimiser step -> mask feedback. Tasks (mesh transfer, silhouettes, images, occupancy, 1-D regression)
are plugins; see :mod:`sape_geo.registry`.

Quick start::

    from sape_geo import FitConfig, MethodConfig, run_task
    result = run_task(my_task, MethodConfig("sape-ff", sigma=10), FitConfig(steps=2000), out="runs/a")
"""

from sape_geo.encodings import Encoding, FourierFeatures, IdentityEncoding, PositionalEncoding, RBFGrid
from sape_geo.experiment import LoadedRun, RunResult, load_model, load_run, run_task
from sape_geo.fitting import Batch, FitConfig, FitDivergedWarning, FitResult, Task, choose_device, fit, seed_everything
from sape_geo.masks import GridMask, MaskPolicy, ProgressiveMask, SampleMask, StaticMask
from sape_geo.methods import (
    DEFAULT_METHOD,
    MaskDomain,
    MethodConfig,
    ModelSpec,
    build_model,
    method_names,
    register_method,
)
from sape_geo.networks import FieldModel, MaskedEncodingMLP, Siren
from sape_geo.hashgrid import HashGrid
from sape_geo.sasnet import SASNet, SASNetSettings  # registers the method "sasnet"; after sape_geo.methods
from sape_geo.registry import TaskPlugin, discover_tasks
from sape_geo.runs import (
    RunDirectory,
    RunDirectoryBusyError,
    RunDirectoryError,
    RunDirectoryExistsError,
    is_complete_run,
    is_run_directory,
    run_problems,
)

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "DEFAULT_METHOD",
    "Encoding",
    "FieldModel",
    "FitConfig",
    "FitDivergedWarning",
    "FitResult",
    "FourierFeatures",
    "GridMask",
    "HashGrid",
    "IdentityEncoding",
    "LoadedRun",
    "MaskDomain",
    "MaskPolicy",
    "MaskedEncodingMLP",
    "MethodConfig",
    "ModelSpec",
    "PositionalEncoding",
    "ProgressiveMask",
    "RBFGrid",
    "RunDirectory",
    "RunDirectoryBusyError",
    "RunDirectoryError",
    "RunDirectoryExistsError",
    "RunResult",
    "SASNet",
    "SASNetSettings",
    "SampleMask",
    "Siren",
    "StaticMask",
    "Task",
    "TaskPlugin",
    "build_model",
    "choose_device",
    "discover_tasks",
    "fit",
    "is_complete_run",
    "is_run_directory",
    "run_problems",
    "load_model",
    "load_run",
    "method_names",
    "register_method",
    "run_task",
    "seed_everything",
]
