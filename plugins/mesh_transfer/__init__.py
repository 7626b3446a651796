"""Mesh transfer: the source's tessellation onto the target's shape (docs/method.md, "Mesh transfer").

Python: :func:`transfer_mesh`. Command: ``sape-geo transfer SOURCE TARGET --landmarks FILE --out RUN``.

Modules, each importing only those before it: :mod:`.settings` (no heavy imports) -> :mod:`.command`
(the plugin declaration) ; :mod:`.prepared` (inputs, alignment, initialisation, evaluation) ->
:mod:`.task` (the network's loss) -> :mod:`.pipeline` (:func:`transfer_mesh`) -> :mod:`.runner` (the
declaration names it as a string). Names load on first use; the order is checked by import-linter
(pyproject.toml, ``[tool.importlinter]``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .command import PLUGIN
from .settings import ALIGNMENTS, INIT_METHODS, INITIALISATIONS, TransferSettings

_LAZY = {
    **dict.fromkeys(("PreparedTransfer", "TransferInputWarning", "prepare_transfer", "read_marker_pairs"), ".prepared"),
    **dict.fromkeys(("TransferResult", "default_method_config", "transfer_mesh"), ".pipeline"),
    "MeshTransferTask": ".task",
}

__all__ = ["ALIGNMENTS", "INITIALISATIONS", "INIT_METHODS", "PLUGIN", "TransferSettings", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
