"""Mesh transfer: the source's tessellation onto the target's shape (docs/method.md, "Mesh transfer").

Python: :func:`transfer_mesh`. Command: ``sape-geo transfer SOURCE TARGET --landmarks FILE --out RUN``.

Modules, each importing only modules listed before it: :mod:`.settings` (the settings dataclass, no
heavy imports); :mod:`.command` (the plugin declaration and its summary; imports :mod:`.settings`);
:mod:`.carrying` (geometry moved with the fit); :mod:`.prepared` (inputs, alignment, initialisation,
evaluation, the initialisation-only baselines; imports :mod:`.settings` and :mod:`.carrying`);
:mod:`.task` (the network's loss; imports :mod:`.settings`); :mod:`.pipeline` (the plugin's
``make_task`` and :func:`transfer_mesh`, which runs through :func:`sape_geo.registry.run_plugin` like
every task; imports all the others). The declaration names ``make_task`` as a string, so it never
imports the pipeline. This package imports only :mod:`.command` and :mod:`.settings`; the other names
load on first use. The order is checked by import-linter (pyproject.toml, ``[tool.importlinter]``).
"""

from __future__ import annotations

from sape_geo.lazy import lazy_exports

from .command import PLUGIN, default_method_config
from .settings import ALIGNMENTS, INIT_METHODS, INITIALISATIONS, TransferSettings

_LAZY = {
    **dict.fromkeys(("PreparedTransfer", "TransferInputWarning", "prepare_transfer", "read_marker_pairs"), ".prepared"),
    **dict.fromkeys(("TransferResult", "transfer_mesh"), ".pipeline"),
    "MeshTransferTask": ".task",
}

__all__ = ["ALIGNMENTS", "INITIALISATIONS", "INIT_METHODS", "PLUGIN", "TransferSettings", "default_method_config", *_LAZY]

__getattr__ = lazy_exports(__name__, _LAZY)
