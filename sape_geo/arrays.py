"""Arrays from the Python API's callers: torch tensors become NumPy arrays, on any device."""

from __future__ import annotations

from typing import Any


def from_tensor(value: Any) -> Any:
    """A torch tensor (any device, with or without gradient) as a NumPy array; anything else unchanged
    (torch is not imported for it).

    Example
    -------
    >>> import torch
    >>> from_tensor(torch.ones(2, requires_grad=True)).tolist()
    [1.0, 1.0]
    """
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value
