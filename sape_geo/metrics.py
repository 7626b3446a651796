"""Scores shared by several tasks: PSNR of signals in ``[0, 1]`` and intersection over union of labels.

Definitions follow docs/method.md, "Metrics": ``PSNR = 10 log10(1 / MSE)`` on values in ``[0, 1]`` with the
prediction clamped into that range; IoU ``= |A and B| / |A or B|`` of two boolean labellings of the
same samples (pixels of one raster, or occupancy of one set of points).
"""

from __future__ import annotations

import numpy as np

# MSE floor so a perfect fit reports a finite 100 dB instead of infinity (JSON cannot hold inf).
MIN_MSE = 1e-10


def psnr(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of ``prediction`` against ``target``, both in ``[0, 1]``.

    Parameters
    ----------
    prediction, target : arrays of equal shape, e.g. (H, W, C); ``prediction`` is clamped to ``[0, 1]``.
    mask : optional boolean array over the leading axes (e.g. (H, W)) selecting the samples scored.

    Returns
    -------
    ``10 log10(1 / MSE)`` in dB; 100 dB at most (MSE floored at 1e-10).

    Example
    -------
    >>> round(psnr(np.full((2, 2), 0.6), np.full((2, 2), 0.5)), 6)
    20.0
    """
    prediction = np.clip(np.asarray(prediction, dtype=np.float64), 0.0, 1.0)
    target = np.asarray(target, dtype=np.float64)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction shape {prediction.shape} differs from target shape {target.shape}")
    squared = (prediction - target) ** 2
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if squared.shape[: mask.ndim] != mask.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the leading axes of {squared.shape}")
        squared = squared[mask]
    if squared.size == 0:
        raise ValueError("PSNR needs at least one sample")
    return float(10.0 * np.log10(1.0 / max(float(squared.mean()), MIN_MSE)))


def intersection_over_union(predicted: np.ndarray, expected: np.ndarray) -> float:
    """IoU of two boolean labellings of the same samples; 1.0 when both are empty.

    Parameters
    ----------
    predicted, expected : boolean arrays of equal shape (True = inside / foreground).

    Example
    -------
    >>> intersection_over_union(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))
    0.3333333333333333
    """
    predicted = np.asarray(predicted, dtype=bool)
    expected = np.asarray(expected, dtype=bool)
    if predicted.shape != expected.shape:
        raise ValueError(f"label shapes differ: {predicted.shape} vs {expected.shape}")
    union = int(np.count_nonzero(predicted | expected))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(predicted & expected)) / union
