"""``sape-geo view RUN [RUN ...]``: look at runs in a window, or render a picture of them offscreen.

Python: :func:`prepare` (load + register, any backend), :func:`show` (window) and :func:`screenshot`
(offscreen PNG).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sape_geo_apps.cli import AppCommand
from sape_geo_apps.viewer.backend import CAMERAS, UP_AXES, ViewerUnavailableError, axis_frame, check_camera, save_screenshot, set_camera, setup_navigation, start_polyscope
from sape_geo_apps.viewer.loading import load_viewer_run
from sape_geo_apps.viewer.panel import ViewerPanel
from sape_geo_apps.viewer.scene import LAYOUTS, Scene, build_scene, show_frame
from sape_geo_apps.viewer.task_views import view_of

DEFAULT_SIZE = (1024, 768)


def prepare(runs: Sequence[str | os.PathLike], mode: str, layout: str = "auto", output_dir: str | os.PathLike = ".",
            up_axis: str = "y") -> tuple[Scene, ViewerPanel]:
    """Load ``runs``, start Polyscope in ``mode`` (``window``, ``offscreen``, ``mock``), register every
    run's items and install the side panel. Returns the scene and its panel.

    Raises
    ------
    FileNotFoundError, RunLoadError : a run directory or one of its files is missing or malformed (all
        runs are read before Polyscope starts, so a typo fails fast).
    ViewerUnavailableError : Polyscope cannot start in ``mode`` here.
    """
    import polyscope as ps

    axis_frame(up_axis)  # validates before anything starts
    views = [view_of(load_viewer_run(path)) for path in runs]
    start_polyscope(mode)
    scene = build_scene(views, layout)
    setup_navigation(scene.dimension, up_axis)
    panel = ViewerPanel(scene, output_dir)
    ps.set_user_callback(panel)
    return scene, panel


def show(runs: Sequence[str | os.PathLike], layout: str = "auto", up_axis: str = "y") -> None:
    """Open the interactive viewer on ``runs`` (blocks until the window closes)."""
    import polyscope as ps

    scene, _ = prepare(runs, "window", layout, up_axis=up_axis)
    set_camera("auto", scene.dimension, up_axis)
    ps.show()


def screenshot(
    runs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    camera: str = "auto",
    size: tuple[int, int] = DEFAULT_SIZE,
    layout: str = "auto",
    frame: int = -1,
    up_axis: str = "y",
) -> Path:
    """Render ``runs`` offscreen (EGL) into the PNG ``out``.

    Parameters
    ----------
    runs : run directories.
    out : PNG file to write (atomically).
    camera : a preset of :data:`~sape_geo_apps.viewer.backend.CAMERAS` or a Polyscope view JSON file.
    size : (width, height) in pixels.
    layout : ``auto``, ``overlay`` or ``side-by-side``.
    frame : snapshot frame to show (``-1``: the final result).
    up_axis : the scene's up axis (``y``, ``z``, ``x``, or negated) for navigation and camera presets.
    """
    import polyscope as ps

    check_camera(camera)
    out = Path(out)
    if out.suffix.lower() != ".png" or not out.parent.is_dir():
        raise ValueError(f"--screenshot must be a .png file in an existing folder, got {out}")
    scene, _ = prepare(runs, "offscreen", layout, up_axis=up_axis)
    if frame != -1:
        show_frame(scene, frame)
    ps.set_window_size(*size)
    set_camera(camera, scene.dimension, up_axis)
    labelled = any(getattr(item, "labels", None) for view in scene.views for item in view.items)
    if labelled:
        # Only the landmark names on the picture, not the panels: draw labels in a bare callback.
        from sape_geo_apps.viewer.panel import draw_point_labels

        ps.set_build_default_gui_panels(False)
        ps.set_user_callback(lambda: draw_point_labels(scene))
        ps.set_open_imgui_window_for_user_callback(False)
    save_screenshot(out, size, include_overlay=labelled)
    return Path(out)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1024x768, got {text!r}") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise argparse.ArgumentTypeError(f"size must be between 16 and 8192 pixels per side, got {text}")
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories (several: compare them, one checkbox each)")
    parser.add_argument("--layout", choices=LAYOUTS, default="auto",
                        help="side-by-side: source, target and results apart; overlay: results on the target "
                             "(default auto: side by side in 3-D, overlay in 2-D)")
    parser.add_argument("--screenshot", metavar="OUT.png", help="render offscreen (EGL, no display needed) into this PNG and exit")
    parser.add_argument("--camera", default="auto", metavar="VIEW",
                        help=f"camera of the screenshot: {', '.join(CAMERAS)} or a view JSON file saved by the viewer (default auto)")
    parser.add_argument("--size", type=_size, default=DEFAULT_SIZE, metavar="WxH", help="screenshot size in pixels (default 1024x768)")
    parser.add_argument("--up", choices=UP_AXES, default="y", help="the data's up axis (default y; z for z-up meshes)")
    parser.add_argument("--frame", type=int, default=-1, help="snapshot frame of the screenshot (default -1: the final result)")


def run(args: argparse.Namespace) -> int:
    try:
        if args.screenshot:
            path = screenshot(args.runs, args.screenshot, args.camera, args.size, args.layout, args.frame, args.up)
            print(f"wrote {path}")
        else:
            show(args.runs, args.layout, args.up)
    except ViewerUnavailableError as error:
        hint = "" if args.screenshot else " Or render a picture offscreen with --screenshot OUT.png."
        print(f"sape-geo view: {error}{hint}", file=sys.stderr)
        return 3
    return 0


COMMAND = AppCommand(
    name="view",
    summary="look at runs in Polyscope (heat maps, playback, comparisons) or render pictures offscreen",
    description=(
        "Show one or more run directories in Polyscope: the task's result (mesh transfer: source, target,\n"
        "result, landmarks, heat map, distances, distortion, displacements; silhouettes: outline and curve;\n"
        "images: result and heat map; occupancy: surface and a movable heat-map slice), a side panel with\n"
        "the metrics and the config, a playback slider when the run saved snapshots (--snapshots EVERY),\n"
        "and one checkbox per run to compare methods.\n\n"
        "--screenshot renders offscreen with EGL (no display needed) and exits.\n\n"
        "examples:\n"
        "  sape-geo view runs/sape runs/ff\n"
        "  sape-geo view runs/sape --screenshot sape.png --camera front --size 800x600"
    ),
    add_arguments=add_arguments,
    run=run,
)
