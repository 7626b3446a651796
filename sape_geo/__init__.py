"""sape-geo: geometry processing with SAPE (spatially-adaptive progressive encoding).

The core is one loop shared by every task: coordinates -> encoding -> mask -> MLP -> per-point loss ->
optimiser step -> mask feedback. Tasks (mesh transfer, silhouettes, images, occupancy, 1-D regression)
are plugins; see :mod:`sape_geo.registry`.

Quick start::

    from sape_geo import FitConfig, MethodConfig, run_task
    result = run_task(my_task, MethodConfig("sape-ff", sigma=10), FitConfig(steps=2000), out="runs/a")

Names are imported when first used, so ``import sape_geo`` (and ``sape-geo --help``) does not wait for
torch.
"""

from __future__ import annotations

from sape_geo.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("Encoding", "FourierFeatures", "IdentityEncoding", "PositionalEncoding", "RBFGrid"), "sape_geo.encodings"),
    **dict.fromkeys(("LoadedRun", "RunResult", "load_model", "load_run", "run_task", "write_run"), "sape_geo.experiment"),
    **dict.fromkeys(("Batch", "FitDivergedWarning", "FitResult", "Task", "choose_device", "fit", "seed_everything"), "sape_geo.fitting"),
    **dict.fromkeys(("FitConfig", "MaskDomain", "MethodConfig", "ModelSpec"), "sape_geo.config"),
    **dict.fromkeys(("DEFAULT_METHOD", "method_names", "register_encoding", "register_method"), "sape_geo.catalogue"),
    **dict.fromkeys(("GridMask", "MaskPolicy", "ProgressiveMask", "SampleMask", "StaticMask"), "sape_geo.masks"),
    "build_model": "sape_geo.methods",
    **dict.fromkeys(("FieldModel", "MaskedEncodingMLP", "Siren"), "sape_geo.networks"),
    "HashGrid": "sape_geo.hashgrid",
    **dict.fromkeys(("SASNet", "SASNetSettings"), "sape_geo.sasnet"),
    **dict.fromkeys(("Input", "TaskPlugin", "discover_tasks", "run_plugin"), "sape_geo.registry"),
    **dict.fromkeys(
        ("RunDirectory", "RunDirectoryExistsError", "is_complete_run", "is_run_directory", "run_problems"),
        "sape_geo.runs",
    ),
    **dict.fromkeys(("RunDirectoryBusyError", "RunDirectoryError"), "sape_geo.run_lock"),
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
