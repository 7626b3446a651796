"""``sape-geo occupancy``: the task's declaration (settings, defaults, summary) and its Python API,
:func:`fit_occupancy`. Torch-free: the task (:mod:`.task`) loads by name when a fit starts."""

from __future__ import annotations

from typing import Any

from sape_geo.registry import Input, TaskPlugin

from .settings import PER_METHOD_DEFAULTS, TASK_DEFAULTS, OccupancySettings


def _summarise(result: Any) -> list[str]:
    m = result.metrics
    lines = [
        f"IoU uniform {m['iou_uniform']:.4f}   near surface {m['iou_near_surface']:.4f}",
        f"heat map: mean {m['mean_progress']:.1f} of {m['max_progress']:.0f} levels open on the grid",
    ]
    lines += [f"note: {note}" for note in filter(None, m.get("notes", "").split(" | "))]
    if m.get("surface_faces"):
        pieces = m.get("surface_components", 1)
        lines.append(f"surface: {m['surface_faces']} triangles in result.ply, {pieces} connected piece{'s' if pieces != 1 else ''}")
    return lines


PLUGIN = TaskPlugin(
    name="occupancy",
    summary="fit a 3-D occupancy field (inside logit) to a mesh; IoU on uniform and near-surface points",
    description=(
        "Fit an inside/outside logit to a mesh, trained with BCE on a pool of points drawn uniformly in the\n"
        "box and near the surface (surface samples + two Gaussian bands; --uniform-fraction, --wide-fraction),\n"
        "half of each batch drawn where the loss is (--hard-fraction). Labels come from the generalised winding\n"
        "number, so slightly open meshes work (the summary says how open). sape-ff keeps its progress on a\n"
        "--resolution^3 grid.\n\n"
        "Writes RUN/result.ply (marching cubes of the fitted field, in the input mesh's coordinates),\n"
        "RUN/heatmap_slices.png (levels open on the x, y, z = 0 planes), RUN/progress.npy (the grid's\n"
        "progress, R x R x R) and the usual run files; metrics.json holds IoU on fresh uniform and\n"
        "near-surface points.\n\n"
        "example: sape-geo occupancy shape.stl --method sape-ff --out runs/shape-sape"
    ),
    settings=OccupancySettings,
    make_task="sape_geo_plugins.occupancy.task:make_occupancy_task",
    inputs=(Input("mesh", "triangle mesh (OBJ, OFF, PLY, STL); slightly open meshes are fine"),),
    defaults=TASK_DEFAULTS,
    per_method=PER_METHOD_DEFAULTS,
    summarise=_summarise,
)


fit_occupancy = PLUGIN.python_function("fit_occupancy", """Python API: fit the occupancy of a mesh (a file, ``(V, F)`` arrays or a ``trimesh.Trimesh``).

``overrides`` change any setting of the task, the loop or the method (``steps=600``,
``train_points=50_000``, ``sigma=8``); ``extras["mesh"]`` is the fitted surface as a
``trimesh.Trimesh`` in the input's coordinates.

Example
-------
>>> result = fit_occupancy("bunny.obj", "sape-ff", out="runs/bunny")  # doctest: +SKIP
>>> result.metrics["iou_near_surface"], result.extras["mesh"].is_watertight  # doctest: +SKIP
""")


# The task's defaults for a method (TASK_DEFAULTS, then PER_METHOD_DEFAULTS): its sigma, the geometric
# epsilon, DEFAULT_STEPS and the learning rate and schedule; keyword changes override any field.
default_method_config = PLUGIN.default_method_config
default_fit_config = PLUGIN.default_fit_config
