"""The transfer plugin's runner: the command line's and the batch's way into :func:`~.pipeline.transfer_mesh`.

Kept apart from the declaration (:mod:`.command` names it as ``"module:function"``) so the declaration
never imports the pipeline it describes: the pipeline imports the declaration (its defaults), never
the other way round.
"""

from __future__ import annotations

import sys
from typing import Any

from .pipeline import transfer_mesh


def run_transfer(plugin, inputs, settings, method, out, overwrite, callbacks, config, overrides) -> Any:
    """The plugin's runner: :func:`~.pipeline.transfer_mesh` (stages, then the network or a baseline)."""
    if overrides.get("progress_bar", True):  # reading a scan of millions of points takes seconds before the bar opens
        print(f"transfer: reading {inputs['source']} and {inputs['target']}, aligning, initialising", file=sys.stderr, flush=True)
    ground_truth = inputs.get("ground_truth_map")
    return transfer_mesh(
        inputs["source"], inputs["target"], inputs.get("landmarks"), method, out, settings, overwrite,
        extra_config=config, check_landmarks=inputs.get("check_landmarks"),
        ground_truth=ground_truth if ground_truth is not None else "auto", callbacks=callbacks, **overrides,
    )
