"""Starting Polyscope (window, offscreen EGL, or the mock backend of tests), cameras and screenshots.

A missing display or a missing EGL library is a :class:`ViewerUnavailableError` whose message says
what to install or which option to use instead, never a crash deep inside OpenGL.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from sape_geo.atomic import atomic_path

MODES = ("window", "offscreen", "mock")
CAMERAS = ("auto", "front", "back", "left", "right", "top", "bottom", "iso")
UP_CHOICES = ("auto", "y", "z", "x", "-y", "-z", "-x")
"""``--up``: ``auto`` reads the run's recorded up axis, else infers it from the shapes."""
_BACKENDS = {"window": "openGL3_glfw", "offscreen": "openGL3_egl", "mock": "openGL_mock"}
EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1 libgles2"
"""Debian/Ubuntu packages that provide EGL with Mesa's software renderer."""

BACKGROUND = (1.0, 1.0, 1.0)


class ViewerUnavailableError(RuntimeError):
    """Polyscope cannot start in the requested mode here (no display, no EGL); the message says why."""


_started_mode: str | None = None


def started_mode() -> str | None:
    """The mode Polyscope was started in by this process (None: not started)."""
    return _started_mode


def has_display() -> bool:
    """True when a window can plausibly open (X11 or Wayland on Linux; always elsewhere)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def start_polyscope(mode: str) -> None:
    """Initialise Polyscope once per process in ``mode`` (``window``, ``offscreen`` or ``mock``).

    Polyscope keeps one global context, so a second call with the same mode only clears the scene;
    another mode in the same process is refused (run the second mode in its own process).

    Raises
    ------
    ViewerUnavailableError : no display for ``window``; no working EGL for ``offscreen``; or Polyscope
        already started in another mode.
    """
    global _started_mode
    import polyscope as ps

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "window" and not has_display():
        raise ViewerUnavailableError(
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset): an interactive window needs a screen "
            "(run on a desktop, or over ssh -X)."
        )
    if _started_mode is not None:
        if _started_mode != mode:
            raise ViewerUnavailableError(f"Polyscope already runs in {_started_mode!r} mode in this process; cannot switch to {mode!r}")
        _clear_scene()
        return
    ps.set_use_prefs_file(False)  # never leave .polyscope.ini in the user's folder
    ps.set_errors_throw_exceptions(True)
    ps.set_program_name("sape-geo")
    ps.set_verbosity(0)
    if mode == "offscreen":
        ps.set_allow_headless_backends(True)
    try:
        ps.init(_BACKENDS[mode])
    except Exception as error:  # Polyscope reports every backend failure as a plain RuntimeError
        if mode != "mock":
            # Polyscope's exit hook raises when no context exists; a mock context keeps exit quiet.
            ps.init(_BACKENDS["mock"])
            _started_mode = "mock"
        raise ViewerUnavailableError(_start_failure_message(mode, error)) from None
    _started_mode = mode
    if mode == "mock":
        ps.set_frame_tick_limit_fps_mode("ignore_limits")  # every frame_tick() runs the callback (tests)
    ps.set_background_color(BACKGROUND)


def _start_failure_message(mode: str, error: Exception) -> str:
    if mode == "offscreen":
        return (
            f"offscreen rendering needs EGL, which failed to start ({error}). On Debian/Ubuntu install "
            f"the packages {EGL_PACKAGES} (Mesa renders without a GPU); with a GPU, its driver's EGL."
        )
    if mode == "window":
        return f"cannot open a window ({error}); render offscreen with --screenshot OUT.png instead"
    return f"Polyscope failed to start in {mode} mode: {error}"


def _clear_scene() -> None:
    import polyscope as ps

    ps.remove_all_structures()
    ps.remove_all_groups()
    ps.remove_all_slice_planes()
    ps.clear_user_callback()


UP_AXES = ("y", "z", "x", "-y", "-z", "-x")
# Per up axis: (up, front) unit vectors, front being where the "front" camera looks from.
_FRAMES = {
    "y": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    "z": ((0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "x": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
}
_POLYSCOPE_FRONT = {(0.0, 0.0, 1.0): "z_front", (0.0, -1.0, 0.0): "neg_y_front"}


def axis_frame(up_axis: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(up, front, right) unit vectors of the scene for ``up_axis`` (``y``, ``z``, ``x``, or negated)."""
    if up_axis not in UP_AXES:
        raise ValueError(f"up axis must be one of {', '.join(UP_AXES)}, got {up_axis!r}")
    sign = -1.0 if up_axis.startswith("-") else 1.0
    up, front = (np.asarray(v) for v in _FRAMES[up_axis.lstrip("-")])
    up = sign * up
    return up, front, np.cross(up, front)


def setup_navigation(dimension: int, up_axis: str = "y") -> None:
    """2-D scenes: planar navigation, no ground plane; 3-D: turntable about ``up_axis`` with a soft
    shadow under the shapes."""
    import polyscope as ps

    _, front, _ = axis_frame(up_axis)
    ps.set_up_dir(("neg_" if up_axis.startswith("-") else "") + up_axis.lstrip("-") + "_up")
    ps.set_front_dir(_POLYSCOPE_FRONT[tuple(float(v) for v in front)])
    if dimension == 2:
        ps.set_navigation_style("planar")
        ps.set_ground_plane_mode("none")
    else:
        ps.set_navigation_style("turntable")
        ps.set_ground_plane_mode("shadow_only")


def check_camera(camera: str) -> None:
    """ValueError unless ``camera`` is a preset or an existing file (checked before any rendering)."""
    if camera not in CAMERAS and not Path(camera).is_file():
        raise ValueError(f"--camera must be one of {', '.join(CAMERAS)} or a view JSON file; {camera!r} is neither")


def camera_direction(camera: str, dimension: int, up_axis: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """(direction from the scene towards the camera, the picture's up) of a preset camera.

    ``auto`` is ``front`` in 2-D; in 3-D a three-quarter view from the front, a little from above and
    to the right: side-by-side columns stay side by side in the picture (``iso`` stacks them in depth).
    """
    check_camera(camera)
    if camera == "auto":
        camera = "front" if dimension == 2 else "auto"
    scene_up, front, scene_right = axis_frame(up_axis)
    direction = {
        "front": front, "back": -front, "right": scene_right, "left": -scene_right, "top": scene_up, "bottom": -scene_up,
        "iso": 0.6 * scene_right + 0.45 * scene_up + 0.9 * front,
        "auto": 0.15 * scene_right + 0.55 * scene_up + 1.0 * front,
    }[camera]
    direction = direction / np.linalg.norm(direction)
    # Looking straight down (up), the picture's up is the scene's back (front) so it reads like a map.
    up = -front if camera == "top" else front if camera == "bottom" else scene_up
    return direction, up


def set_camera(camera: str, dimension: int, up_axis: str = "y", points: np.ndarray | None = None) -> None:
    """Point the camera at the whole scene (call after setting the window size: the fit uses its aspect).

    Parameters
    ----------
    camera : a preset (``auto``, ``front``, ``back``, ``left``, ``right``, ``top``, ``bottom``, ``iso``:
        the direction the camera looks from) or a JSON file saved from Polyscope's view
        (``polyscope.get_view_as_json()``, the viewer's "save camera" button).
    dimension : 2 or 3; ``auto`` is ``front`` in 2-D, a three-quarter view in 3-D.
    up_axis : the scene's up axis (``y``, ``z``, ``x``, or negated); presets are relative to it.
    points : (N, 3) what must fill the picture (:func:`~sape_geo_apps.viewer.framing.fit_view`); None:
        the corners of Polyscope's bounding box of everything registered.

    Raises
    ------
    ValueError : an unknown preset, or a camera file that is not Polyscope's view JSON.
    """
    import polyscope as ps

    from sape_geo_apps.viewer.framing import fit_view

    check_camera(camera)
    if camera not in CAMERAS:
        path = Path(camera)
        text = path.read_text(encoding="utf-8")
        try:
            json.loads(text)
            ps.set_view_from_json(text)
        except Exception as error:
            raise ValueError(f"{path} is not a Polyscope view file (from get_view_as_json): {error}") from None
        return
    direction, up = camera_direction(camera, dimension, up_axis)
    if points is None or len(points) == 0:
        low, high = (np.asarray(corner, dtype=np.float64) for corner in ps.get_bounding_box())
        points = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
    width, height = ps.get_window_size()
    eye, target = fit_view(points, direction, up, ps.get_vertical_fov_degrees(), width / max(height, 1))
    ps.look_at_dir(eye, target, up)


def render(size: tuple[int, int], include_overlay: bool = False) -> np.ndarray:
    """The current scene rendered at ``size`` (width, height) pixels: RGB (H, W, 3) uint8.
    ``include_overlay`` draws the ImGui layer too (the landmark names), not the panels."""
    import polyscope as ps

    width, height = size
    ps.set_window_size(int(width), int(height))
    return np.ascontiguousarray(ps.screenshot_to_buffer(transparent_bg=False, include_UI=include_overlay)[..., :3])


PICTURE_MARK = "sape-geo view"
"""What a picture the viewer wrote carries in its metadata (PNG ``Software`` text, GIF comment): only a
file with it is ever replaced, and only with ``--overwrite``."""


def written_by_viewer(path: str | os.PathLike) -> bool:
    """True when ``path`` is a PNG or GIF this viewer wrote (it carries :data:`PICTURE_MARK`)."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as image:
            info = image.info
    except (OSError, ValueError):  # not a picture at all, or unreadable: not ours
        return False
    comment = info.get("comment", b"")
    comment = comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)
    return info.get("Software") == PICTURE_MARK or comment == PICTURE_MARK


def check_picture_target(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse to write a picture over an existing file, unless ``overwrite`` and the file is a picture
    this viewer wrote (:func:`written_by_viewer`): a user's own file is never replaced.

    Raises
    ------
    FileExistsError : ``path`` exists and may not be replaced (the message says why and what to do).
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return path
    if not overwrite:
        raise FileExistsError(f"{path} already exists: pass --overwrite to replace it (only pictures sape-geo view wrote are replaced)")
    if path.is_symlink() or not path.is_file() or not written_by_viewer(path):
        raise FileExistsError(f"{path} exists and was not written by sape-geo view: it is never replaced; choose another file name")
    return path


def write_png(path: str | os.PathLike, pixels: np.ndarray, overwrite: bool = False) -> Path:
    """Write RGB ``pixels`` to ``path`` as PNG, atomically (an interrupted write leaves no file), marked
    as the viewer's (:data:`PICTURE_MARK`); an existing file only under :func:`check_picture_target`'s rule."""
    from PIL import Image as PILImage
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"screenshots are PNG files; {path} does not end in .png")
    if not path.parent.exists():
        raise FileNotFoundError(f"folder for the screenshot does not exist: {path.parent}")
    check_picture_target(path, overwrite)
    metadata = PngInfo()
    metadata.add_text("Software", PICTURE_MARK)
    with atomic_path(path) as temporary:
        PILImage.fromarray(np.asarray(pixels)[..., :3]).save(temporary, format="PNG", optimize=True, pnginfo=metadata)
    return path

