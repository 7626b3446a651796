"""What a run was made with, for ``config.json``: the software and device, and the input files' checksums."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_VERSIONED_PACKAGES = ("sape-geo", "torch", "numpy", "scipy", "libigl", "trimesh", "open3d", "polyscope", "scikit-image", "pillow")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of the file at ``path``, as 64 hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_input_file(path: str | os.PathLike) -> dict[str, Any]:
    """Absolute path, size and SHA-256 of an input file, for ``config.json``."""
    path = Path(path)
    return {"path": str(path.resolve()), "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def environment_versions() -> dict[str, Any]:
    """Python, platform, package versions and the compute device, for ``config.json``."""
    versions: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    import torch  # here, not at the top: reading or checking a run must not pay for importing torch

    versions["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    versions["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return versions
