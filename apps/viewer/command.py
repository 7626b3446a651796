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

import numpy as np

from sape_geo.schema import add_settings_arguments, settings_from_namespace
from sape_geo_apps.cli import AppCommand
from sape_geo_apps.viewer.backend import (
    CAMERAS,
    PICTURE_MARK,
    UP_AXES,
    UP_CHOICES,
    ViewerUnavailableError,
    axis_frame,
    camera_direction,
    check_camera,
    check_picture_target,
    render,
    set_camera,
    setup_navigation,
    start_polyscope,
    write_png,
)
from sape_geo_apps.viewer.framing import infer_up_axis, picture_size, projected_aspect
from sape_geo_apps.viewer.items import Curve, Points, RunView, Surface
from sape_geo_apps.viewer.loading import load_viewer_run
from sape_geo_apps.viewer.options import ViewOptions, apply_options, metrics_line, share_colour_ranges
from sape_geo_apps.viewer.overlay import caption, visible_colour_bars, with_colour_bars, with_text_lines, write_titles
from sape_geo_apps.viewer.panel import ViewerPanel, run_titles
from sape_geo_apps.viewer.scene import LAYOUTS, Scene, _positions, build_scene, label_views, show_frame, slice_sheet
from sape_geo_apps.viewer.task_views import view_of

DEFAULT_SIZE = (1024, 768)
"""Pixels of a picture (its area) when ``--size`` is not given; the aspect follows the content."""

PICTURE_FOV = 30.0
"""Vertical field of view of pictures from preset cameras, degrees: narrower than Polyscope's 45 so
side-by-side columns keep their relative sizes (less perspective)."""

UP_KEYS = ("up_axis", "up")
"""Where a run records its data's up axis: ``config.json`` top level or its ``task`` object."""


def recorded_up_axis(config: dict) -> str | None:
    """The up axis a run's ``config.json`` records (``up_axis`` or ``up``, at the top or in ``task``), if
    it is one of :data:`~sape_geo_apps.viewer.backend.UP_AXES`."""
    for holder in (config, config.get("task") if isinstance(config.get("task"), dict) else {}):
        for key in UP_KEYS:
            value = holder.get(key)
            if isinstance(value, str) and value in UP_AXES:
                return value
    return None


def resolve_up_axis(views: Sequence[RunView], up_axis: str = "auto") -> str:
    """``up_axis`` itself unless ``auto``; then the first up axis a view sets or a run records, else y for 2-D runs,
    else the axis inferred from the runs' 3-D shapes (:func:`~sape_geo_apps.viewer.framing.infer_up_axis`)."""
    if up_axis != "auto":
        axis_frame(up_axis)  # validates
        return up_axis
    for view in views:
        recorded = view.up_axis or recorded_up_axis(view.config)
        if recorded is not None:
            return recorded
    if max(view.dimension for view in views) == 2:
        return "y"
    shapes = [_positions(item) for view in views for item in view.items
              if isinstance(item, (Surface, Curve)) or (isinstance(item, Points) and not item.labels)]
    return infer_up_axis(shapes)


def prepare(runs: Sequence[str | os.PathLike], mode: str, layout: str = "auto", output_dir: str | os.PathLike = ".",
            up_axis: str = "auto", options: ViewOptions = ViewOptions()) -> tuple[Scene, ViewerPanel]:
    """Load ``runs``, start Polyscope in ``mode`` (``window``, ``offscreen``, ``mock``), register every
    run's items and install the side panel. Returns the scene and its panel.

    ``up_axis``: the data's up axis, or ``auto`` (:func:`resolve_up_axis`); the scene keeps the one used.
    ``options``: edges, the quantity shown and the labels (:func:`apply_options`).

    Raises
    ------
    FileNotFoundError, RunLoadError : a run directory or one of its files is missing or malformed, or
        nothing of a run can be drawn (all runs are read before Polyscope starts, so a typo fails fast).
    ValueError : the quantity asked for is in none of the runs (the message says where it comes from).
    ViewerUnavailableError : Polyscope cannot start in ``mode`` here.
    """
    import polyscope as ps

    if up_axis != "auto":
        axis_frame(up_axis)  # validates before anything starts
    views = [view_of(load_viewer_run(path)) for path in runs]
    label_views(views)  # before the options: their messages name the runs as the pictures do
    apply_options(views, options)
    share_colour_ranges(views)
    up_axis = resolve_up_axis(views, up_axis)
    start_polyscope(mode)
    scene = build_scene(views, layout, up_axis)
    setup_navigation(scene.dimension, up_axis)
    panel = ViewerPanel(scene, output_dir)
    ps.set_user_callback(panel)
    return scene, panel


def show(runs: Sequence[str | os.PathLike], layout: str = "auto", up_axis: str = "auto", options: ViewOptions = ViewOptions()) -> None:
    """Open the interactive viewer on ``runs`` (blocks until the window closes)."""
    import polyscope as ps

    scene, _ = prepare(runs, "window", layout, up_axis=up_axis, options=options)
    set_camera("auto", scene.dimension, scene.up_axis, visible_points(scene))
    ps.show()


def visible_points(scene: Scene, all_frames: bool = False, budget: int = 40000) -> np.ndarray:
    """(N, 3) points of what the picture shows, where it is drawn (column offsets applied): shown
    structures' vertices, nodes and points, the heat-map slice sheets; with ``all_frames`` every
    playback frame's positions too (a movie's camera must hold them all). Subsampled to ~``budget``."""
    chunks: list[np.ndarray] = []
    seen: set[str] = set()
    for run_index, (view, registered) in enumerate(zip(scene.views, scene.registered)):
        tracks = {track.item: track for track in view.tracks if track.target == "positions"}
        for name, entry in registered.items():
            item = entry.item
            if entry.structure in seen or entry.kind in ("image", "volume") or not item.enabled:
                continue
            if item.shared_key is None and not scene.shown[run_index]:
                continue
            seen.add(entry.structure)
            chunks.append(_positions(item) + entry.offset)
            if all_frames and name in tracks:
                frames = np.asarray(tracks[name].frames, dtype=np.float64)
                chunks.append(frames.reshape(-1, 3) + entry.offset)
    for _, entry in scene.slices:
        vertices, _, _ = slice_sheet(entry.item, scene.slice_fraction, scene.up_axis)
        chunks.append(vertices + entry.offset)
    chunks = [chunk for chunk in chunks if len(chunk)]
    if not chunks:
        return np.zeros((0, 3))
    total = sum(len(chunk) for chunk in chunks)
    stride = max(1, int(np.ceil(total / budget)))
    # keep each chunk's extreme points: subsampling must not cut a thin tip off the picture
    kept = []
    for chunk in chunks:
        extremes = np.unique(np.concatenate([chunk.argmin(axis=0), chunk.argmax(axis=0)]))
        kept.append(np.concatenate([chunk[::stride], chunk[extremes]]))
    return np.concatenate(kept)


def _frame_picture(scene: Scene, camera: str, size: tuple[int, int] | None, all_frames: bool = False) -> tuple[int, int]:
    """Size the window and place the camera: with no ``size`` the picture takes the shape of what it
    shows (about :data:`DEFAULT_SIZE`'s area). Returns the size used."""
    import polyscope as ps

    points = visible_points(scene, all_frames)
    if size is None:
        size = DEFAULT_SIZE
        if camera in CAMERAS and len(points):
            direction, up = camera_direction(camera, scene.dimension, scene.up_axis)
            size = picture_size(projected_aspect(points, direction, up), pixels=DEFAULT_SIZE[0] * DEFAULT_SIZE[1])
    ps.set_window_size(*size)
    if camera in CAMERAS:
        ps.set_vertical_fov_degrees(PICTURE_FOV)
    set_camera(camera, scene.dimension, scene.up_axis, points)
    return size


def _install_label_overlay(scene: Scene) -> bool:
    """Only the landmark names on the picture, not the panels: draw them in a bare callback. Returns
    whether there are names to draw."""
    import polyscope as ps

    from sape_geo_apps.viewer.panel import draw_point_labels

    labelled = any(getattr(item, "labels", None) for view in scene.views for item in view.items)
    if labelled:
        ps.set_build_default_gui_panels(False)
        ps.set_user_callback(lambda: draw_point_labels(scene))
        ps.set_open_imgui_window_for_user_callback(False)
    return labelled


def screenshot(
    runs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    camera: str = "auto",
    size: tuple[int, int] | None = None,
    layout: str = "auto",
    frame: int = -1,
    up_axis: str = "auto",
    colour_bars: bool = True,
    options: ViewOptions = ViewOptions(),
    overwrite: bool = False,
    notes: list[str] | None = None,
) -> Path:
    """Render ``runs`` offscreen (EGL) into the PNG ``out``.

    Parameters
    ----------
    runs : run directories.
    out : PNG file to write (atomically); an existing file is refused unless ``overwrite`` and it is a
        picture this viewer wrote (:func:`~sape_geo_apps.viewer.backend.check_picture_target`).
    camera : a preset of :data:`~sape_geo_apps.viewer.backend.CAMERAS` or a Polyscope view JSON file.
    size : (width, height) of the 3-D picture in pixels; None: about 1024x768 pixels shaped like what
        is shown, which fills it.
    layout : ``auto``, ``overlay`` or ``side-by-side``.
    frame : snapshot frame to show (``-1``: the final result).
    up_axis : the scene's up axis (``y``, ``z``, ``x``, or negated) or ``auto`` (recorded, else inferred).
    colour_bars : add a strip under the picture with a colour bar (name, unit, range) per scalar shown.
    options : edges, quantity, labels and the metrics line (:class:`ViewOptions`).
    overwrite : replace ``out`` if it is a picture this viewer wrote.
    notes : a list that receives the views' notes (``"run: what is not shown and why"``), for a
        command line to print: a picture cannot say what is missing from it.

    Raises
    ------
    ValueError : a bad ``out`` or ``camera``, or a picture that would show nothing (no PNG is written).
    FileExistsError : ``out`` exists and may not be replaced.
    """
    check_camera(camera)
    out = Path(out)
    if out.suffix.lower() != ".png" or not out.parent.is_dir():
        raise ValueError(f"--screenshot must be a .png file in an existing folder, got {out}")
    scene = _offscreen_scene(runs, out, overwrite, layout, up_axis, options, notes)
    if frame != -1:
        show_frame(scene, frame)
    size = _frame_picture(scene, camera, size)
    labelled = _install_label_overlay(scene)
    pixels = _picture(scene, size, labelled, _metrics_lines(scene, options), visible_colour_bars(scene) if colour_bars else [])
    return write_png(out, pixels, overwrite)


def _offscreen_scene(
    runs: Sequence[str | os.PathLike], out: Path, overwrite: bool, layout: str, up_axis: str, options: ViewOptions,
    notes: list[str] | None,
) -> Scene:
    """The offscreen scene of ``runs`` for a picture or movie into ``out``, whose target is checked
    first (a refusal costs no loading or rendering); the views' notes go into ``notes``."""
    check_picture_target(out, overwrite)
    scene, _ = prepare(runs, "offscreen", layout, up_axis=up_axis, options=options)
    if notes is not None:
        notes += [f"{view.label}: {note}" for view in scene.views for note in view.notes]
    return scene


def _metrics_lines(scene: Scene, options: ViewOptions) -> list[str]:
    """The line of key metrics of each view, when ``options`` ask for them."""
    return [metrics_line(view) for view in scene.views] if options.metrics else []


def _picture(
    scene: Scene, size: tuple[int, int], labelled: bool, metrics: list[str], bars: list, heading: str | None = None
) -> np.ndarray:
    """The scene's frame now shown, rendered ``(H, W, 3)`` uint8 and refused when blank, with the runs'
    titles, ``heading`` in its corner, the ``metrics`` lines and the colour ``bars`` under it."""
    pixels = render(size, include_overlay=labelled)
    check_not_blank(pixels, scene)
    pixels = write_titles(pixels, run_titles(scene))
    if heading is not None:
        pixels = caption(pixels, heading)
    return with_colour_bars(with_text_lines(pixels, metrics), bars)


def check_not_blank(pixels: np.ndarray, scene: Scene) -> None:
    """ValueError when a rendered picture is nothing but background: a picture that shows nothing is
    never written as if it were one."""
    from sape_geo_apps.viewer.backend import BACKGROUND

    background = np.round(np.asarray(BACKGROUND) * 255.0)
    if np.all(np.abs(pixels[..., :3].astype(np.float64) - background) <= 2.0):
        runs = ", ".join(f"{view.label} ({view.task})" for view in scene.views)
        raise ValueError(f"nothing of {runs} is visible in the picture: not written (try --camera auto, or check the run's result files)")


MOVIE_SUFFIXES = (".gif",)


def movie(
    runs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    camera: str = "auto",
    size: tuple[int, int] | None = None,
    layout: str = "auto",
    up_axis: str = "auto",
    frame_seconds: float = 0.25,
    hold_seconds: float = 1.5,
    colour_bars: bool = True,
    options: ViewOptions = ViewOptions(),
    overwrite: bool = False,
    notes: list[str] | None = None,
) -> Path:
    """Render the runs' snapshot playback offscreen into the animated GIF ``out``: every snapshot
    frame in order, captioned with its step, then the final result held for ``hold_seconds``. The
    camera is fixed and holds every frame. ``options``, ``overwrite`` and ``notes`` as for :func:`screenshot`.

    Raises
    ------
    ValueError : ``out`` is not a .gif in an existing folder, or the runs saved no snapshots (train
        with ``--snapshots EVERY``).
    FileExistsError : ``out`` exists and may not be replaced (as for :func:`screenshot`).
    """
    from PIL import Image as PILImage

    from sape_geo.atomic import atomic_path

    check_camera(camera)
    out = Path(out)
    if out.suffix.lower() not in MOVIE_SUFFIXES or not out.parent.is_dir():
        video = " (videos such as .mp4 need ffmpeg, which the viewer does not depend on; convert the GIF with ffmpeg -i OUT.gif OUT.mp4)" \
            if out.suffix.lower() in (".mp4", ".webm", ".mov", ".avi") else ""
        raise ValueError(f"--movie must be a {' or '.join(MOVIE_SUFFIXES)} file in an existing folder, got {out}{video}")
    scene = _offscreen_scene(runs, out, overwrite, layout, up_axis, options, notes)
    if scene.frame_count == 0:
        raise ValueError("the runs saved no snapshots: nothing to play (train with --snapshots EVERY)")
    size = _frame_picture(scene, camera, size, all_frames=True)
    labelled = _install_label_overlay(scene)
    bars = visible_colour_bars(scene) if colour_bars else []
    steps = scene.views[0].steps
    metrics = _metrics_lines(scene, options)
    pictures = []
    for frame in [*range(scene.frame_count), -1]:
        show_frame(scene, frame)
        heading = f"step {int(steps[frame])}" if frame >= 0 else "final result"
        pictures.append(PILImage.fromarray(_picture(scene, size, labelled, metrics, bars, heading)))
    durations = [int(frame_seconds * 1000)] * (len(pictures) - 1) + [int(hold_seconds * 1000)]
    # one shared palette keeps the GIF small and the colours steady between frames
    palette = pictures[-1].quantize(colors=255, method=PILImage.Quantize.MEDIANCUT)
    frames = [picture.quantize(palette=palette, dither=PILImage.Dither.NONE) for picture in pictures]
    check_picture_target(out, overwrite)
    with atomic_path(out) as temporary:
        frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=False,
                       comment=PICTURE_MARK.encode())
    return out


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
    parser.add_argument("--movie", metavar="OUT.gif", help="render the snapshot playback offscreen into this animated GIF and exit")
    parser.add_argument("--size", type=_size, default=None, metavar="WxH",
                        help="picture size in pixels (default: about 1024x768, shaped like what is shown so it fills the picture)")
    parser.add_argument("--up", choices=UP_CHOICES, default="auto",
                        help="the data's up axis (default auto: the one the run records, else inferred from the shapes)")
    parser.add_argument("--frame", type=int, default=-1, help="snapshot frame of the screenshot (default -1: the final result)")
    parser.add_argument("--no-colour-bars", dest="colour_bars", action="store_false",
                        help="no strip of colour bars (one per scalar quantity shown, with its unit) under the picture")
    add_settings_arguments(parser, ViewOptions, "view")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --screenshot/--movie file, if sape-geo view wrote it (a file it did not "
                             "write is never replaced)")


def options_of(args: argparse.Namespace) -> ViewOptions:
    """The :class:`ViewOptions` of a parsed command line: its defaults, with what the user typed."""
    return settings_from_namespace(ViewOptions, args, "view")


def run(args: argparse.Namespace) -> int:
    options = options_of(args)
    notes: list[str] = []
    try:
        if args.screenshot or args.movie:
            if args.screenshot:
                path = screenshot(args.runs, args.screenshot, args.camera, args.size, args.layout, args.frame, args.up, args.colour_bars,
                                  options, args.overwrite, notes)
                print(f"wrote {path}")
            if args.movie:
                path = movie(args.runs, args.movie, args.camera, args.size, args.layout, args.up, colour_bars=args.colour_bars,
                             options=options, overwrite=args.overwrite, notes=[] if args.screenshot else notes)
                print(f"wrote {path}")
            for note in notes:
                print(f"  note: {note}")
        else:
            show(args.runs, args.layout, args.up, options)
    except ViewerUnavailableError as error:
        # no display or no EGL is this machine's setup, not a bug: exit 2 with what to do instead
        hint = "" if args.screenshot or args.movie else " Or render a picture offscreen with --screenshot OUT.png."
        print(f"sape-geo view: {error}{hint}", file=sys.stderr)
        return 2
    return 0


COMMAND = AppCommand(
    description=(
        "Show one or more run directories in Polyscope: the task's result (mesh transfer: source, target,\n"
        "result, landmarks, heat map, distances, distortion, observed confidence, displacements, carried\n"
        "files; silhouettes: outline and curve; images: result and heat map; occupancy: surface and a\n"
        "movable heat-map slice; other tasks: their result files or result.npy), a side panel with\n"
        "the metrics and the config, a playback slider when the run saved snapshots (--snapshots EVERY),\n"
        "and one checkbox per run to compare methods.\n\n"
        "--screenshot renders offscreen with EGL (no display needed) and exits: with no other flag the\n"
        "picture is upright (--up auto), filled by the shapes and shaped like them, with a line of each\n"
        "run's key metrics and a colour bar (name, unit, range) per quantity shown under it. --movie\n"
        "OUT.gif renders the snapshot playback. An existing picture is replaced only with --overwrite,\n"
        "and only if sape-geo view wrote it. A transfer's source, result and carried files are drawn\n"
        "with their own polygons' edges (--no-edges to hide them); --quantity picks what colours them.\n\n"
        "examples:\n"
        "  sape-geo view runs/sape runs/ff\n"
        "  sape-geo view runs/sape runs/ff --screenshot compare.png\n"
        "  sape-geo view runs/sape --screenshot sape.png --camera front --size 800x600\n"
        "  sape-geo view runs/scan --screenshot seen.png --quantity observed --labels none\n"
        "  sape-geo view runs/sape --movie sape.gif"
    ),
    add_arguments=add_arguments,
    run=run,
)
