"""Settings of the image task and the defaults computed from the image's size, apart from the
declaration (:mod:`.command`) and the task (:mod:`.task`) so both import them without importing each
other. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

# Loop defaults, chosen for held-out quality at 256 px within two CPU minutes (benchmarks/images.md):
# a cosine-decayed learning rate ends the fit on a small step instead of memorising the training grid
# with a constant one (the old 2000 constant-rate steps reached 46.8 dB on the training pixels but
# 22.7 dB on the held-out ones).
DEFAULT_STEPS = 300
DEFAULT_LR = 3e-3
# SIREN's published rate (its sine layers memorise at the Fourier networks' rate), and SASNet's
# benchmarked one (its mask network learns 10x faster than the backbone; at 3e-3 it can diverge).
DEFAULT_LR_BY_METHOD = {"siren": 1e-4, "sasnet": 1e-3}
DEFAULT_LR_SCHEDULE = "cosine"
DEFAULT_LR_FINAL_FACTOR = 0.01
DEFAULT_MAX_SIZE = 512
TRAIN_STRIDE = 2  # every second row and column: 25% of the pixels, as the paper

# Default Fourier sigma as a fraction of the training grid's Nyquist frequency along the long side
# (``n / 4`` cycles per unit for ``n`` training samples across the 2 units of [-1, 1]), so the default
# suits any --max-size. FF's value was tuned for FF at 48 px and checked at 256 px
# (docs/method.md, "Images"); SAPE uses twice FF's sigma, as the paper, and so does progressive FF,
# whose schedule also tames high sigmas.
FF_SIGMA_PER_NYQUIST = 0.25
SIGMA_FACTOR_BY_METHOD = {"ff": 1.0, "pff": 2.0, "sape-ff": 2.0}
# SIREN's published omega_0 = 30 suits images of about 256 px on [-1, 1] (a 128-sample training grid);
# it scales with the training grid so a smaller image does not get frequencies its samples cannot pin.
SIREN_OMEGA_PER_TRAIN_SAMPLE = 30.0 / 128.0
# The RBF grid's narrowest bumps: a little wider than the training pixels' spacing (2 / n on [-1, 1]);
# narrower ones fit the training pixels and nothing between them. 128 samples -> about 0.02, the
# encoding's own default, made for that size.
RBF_MIN_BANDWIDTH_PER_SPACING = 1.25


def default_sigmas(train_long_side: int) -> dict[str, float]:
    """Default sigma per Fourier method (cycles per unit) for ``train_long_side`` training samples.

    Example
    -------
    >>> default_sigmas(128)["ff"]
    8.0
    """
    nyquist = train_long_side / 4.0
    base = FF_SIGMA_PER_NYQUIST * nyquist
    return {name: factor * base for name, factor in SIGMA_FACTOR_BY_METHOD.items()}


def default_method_settings(train_long_side: int) -> dict[str, dict[str, float]]:
    """The :class:`MethodConfig` fields each method gets by default for ``train_long_side`` training
    samples along the long side: sigma for the Fourier methods (:func:`default_sigmas`), ``omega_0`` for
    SIREN, the narrowest bandwidth of the RBF grids. Methods not listed keep MethodConfig's defaults.

    Example
    -------
    >>> default_method_settings(128)["siren"]
    {'omega_0': 30.0}
    """
    spacing = 2.0 / max(train_long_side, 1)
    rbf_min = min(RBF_MIN_BANDWIDTH_PER_SPACING * spacing, 0.25)
    settings: dict[str, dict[str, float]] = {name: {"sigma": sigma} for name, sigma in default_sigmas(train_long_side).items()}
    settings["siren"] = {"omega_0": SIREN_OMEGA_PER_TRAIN_SAMPLE * train_long_side}
    settings["rbfg"] = settings["sape-rbfg"] = {"rbf_min_bandwidth": rbf_min}
    return settings


@dataclass(frozen=True)
class ImageSettings:
    """Settings of the image task.

    Attributes
    ----------
    max_size : the long side is downscaled (anti-aliased, aspect kept) to at most this many pixels;
        none keeps the file's size.
    batch_size : training pixels per step; when the training grid holds no more, every step is a full
        batch (one progress update per step, no smoothing); otherwise random mini-batches with SAPE's
        running-mean smoothing over ``ceil(train pixels / batch_size)`` steps.
    grid_resolution : SAPE grid nodes (rows, columns); none = one per training pixel per axis.
    """

    max_size: int | None = DEFAULT_MAX_SIZE
    batch_size: int = 65536
    grid_resolution: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.max_size is not None and self.max_size < 2 * TRAIN_STRIDE:
            raise ValueError(f"max_size must be at least {2 * TRAIN_STRIDE} pixels, got {self.max_size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.grid_resolution is not None:
            resolution = tuple(int(r) for r in self.grid_resolution)
            if len(resolution) != 2 or min(resolution) < 1:
                raise ValueError(f"grid_resolution must be two positive integers, got {self.grid_resolution}")
            object.__setattr__(self, "grid_resolution", resolution)
