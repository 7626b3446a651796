"""Accessories follow the body: files (eyes, teeth, clothes, hair cards, markers) carried by a transfer's
fitted deformation and written back with their own file structure (docs/method.md, "Accessories").

- ``sape-geo transfer ... --carry FILE`` (repeatable): read and checked before the fit, written to
  ``RUN/carried/<file name>`` with the result.
- ``sape-geo carry RUN FILE... --out DIR``: the same later, from a finished run (its ``carry.npz``
  holds the source's rest surface, its ``result.*`` the deformed one).
- :meth:`TransferResult.carry <.pipeline.TransferResult.carry>` in Python.

The binding is :mod:`sape_geo.geometry.carry`'s: closest point on the source, offset kept in the body's
local frame and scaled with it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sape_geo.geometry.carry import bind_points, carry_points, local_frames
from sape_geo.geometry.mesh_io import MeshInputError
from sape_geo.geometry.template_file import TemplateFile, read_template

CARRIED_FOLDER = "carried"
CARRY_FILE = "carry.npz"  # in a run: the source's rest surface that later carried files bind to
RESULT_SUFFIXES = (".obj", ".ply", ".off")


def read_carried(files: tuple[str | os.PathLike, ...] | list) -> list[TemplateFile]:
    """Every file to carry, read and checked now (before any fit): each must be writable back as it was.

    Raises
    ------
    FileNotFoundError, MeshInputError : a missing file, one whose format cannot be kept (named with what
        cannot be kept), or two files with the same name (they would land on one path).
    """
    templates, names = [], {}
    for file in files:
        template = read_template(file)
        name = Path(file).name
        if name in names:
            raise MeshInputError(f"--carry: {file} and {names[name]} have the same file name; both would be written to {CARRIED_FOLDER}/{name}")
        names[name] = file
        templates.append(template)
    return templates


class Carrier:
    """The deformation ``rest -> deformed`` of a triangulated surface, ready to carry points.

    Parameters
    ----------
    rest_vertices : (n, 3) the source's positions (its file units).
    triangles : (m, 3) its working triangles.
    deformed_vertices : (n, 3) the result's positions (the target's frame).
    """

    def __init__(self, rest_vertices: np.ndarray, triangles: np.ndarray, deformed_vertices: np.ndarray) -> None:
        self.rest = np.ascontiguousarray(rest_vertices, dtype=np.float64)
        self.triangles = np.ascontiguousarray(triangles, dtype=np.int64)
        self.deformed = np.ascontiguousarray(deformed_vertices, dtype=np.float64)
        if self.rest.shape != self.deformed.shape:
            raise ValueError(f"the rest surface has {len(self.rest)} vertices, the deformed one {len(self.deformed)}")
        self.frames = local_frames(self.rest, self.deformed, self.triangles)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Where ``points`` ``(k, 3)`` (source frame) go ``(k, 3)`` (result frame)."""
        binding = bind_points(points, self.rest, self.triangles)
        return carry_points(binding, self.rest, self.deformed, self.triangles, self.frames)

    def write(self, templates: list[TemplateFile], folder: Path) -> list[Path]:
        """Each template carried and written to ``folder / <its file name>`` (atomically)."""
        return [template.write(folder / template.path.name, self(template.vertices)) for template in templates]


def carry_from_run(run: str | os.PathLike, files: list[str], out: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """``sape-geo carry``: carry ``files`` with the deformation of the finished transfer ``run``.

    Raises
    ------
    FileNotFoundError : no run, or a run without ``carry.npz`` / ``result.*``.
    MeshInputError : a file that cannot be written back as it was (see :func:`read_carried`).
    FileExistsError : an output file exists already and ``overwrite`` is off (nothing is written then).
    """
    run = Path(run)
    rest_file = run / CARRY_FILE
    if not rest_file.is_file():
        raise FileNotFoundError(f"{run}: no {CARRY_FILE} (not a transfer run, or one made before sape-geo carry existed)")
    result = next((run / f"result{suffix}" for suffix in RESULT_SUFFIXES if (run / f"result{suffix}").is_file()), None)
    if result is None:
        raise FileNotFoundError(f"{run}: no result.obj, result.ply or result.off")
    templates = read_carried(files)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--out {folder} is a file, not a folder")
    taken = [str(folder / t.path.name) for t in templates if (folder / t.path.name).exists()]
    if taken and not overwrite:
        raise FileExistsError(f"{', '.join(taken)} exists already; choose another --out or pass --overwrite")
    with np.load(rest_file, allow_pickle=False) as rest:
        rest_vertices, triangles = rest["source_vertices"], rest["triangles"]
    deformed = read_template(result).vertices
    return Carrier(rest_vertices, triangles, deformed).write(templates, folder)
