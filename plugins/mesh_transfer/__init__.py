"""Mesh transfer: the source's tessellation onto the target's shape (docs/method.md, "Mesh transfer").

Python: :func:`transfer_mesh`. Command: ``sape-geo transfer SOURCE TARGET --landmarks FILE --out RUN``.
"""

from .command import PLUGIN
from .pipeline import (
    ALIGNMENTS,
    INIT_METHODS,
    PreparedTransfer,
    TransferInputWarning,
    TransferResult,
    default_method_config,
    prepare_transfer,
    transfer_mesh,
)
from .task import MeshTransferTask, TransferSettings

__all__ = [
    "ALIGNMENTS",
    "INIT_METHODS",
    "TransferSettings",
    "MeshTransferTask",
    "PLUGIN",
    "PreparedTransfer",
    "TransferInputWarning",
    "TransferResult",
    "default_method_config",
    "prepare_transfer",
    "transfer_mesh",
]
