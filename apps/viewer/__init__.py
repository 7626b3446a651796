"""The Polyscope viewer: ``sape-geo view RUN [RUN ...]`` (see :mod:`sape_geo_apps.viewer.command`).

Layers, each its own module: :mod:`.loading` (run directory -> :class:`ViewerRun`), :mod:`.task_views`
(run -> :class:`RunView` of plain items, one small function per task), :mod:`.options` (what a
picture shows: edges, quantity, labels, metrics line), :mod:`.scene` (items ->
Polyscope ``register_*`` / ``add_*_quantity``, playback), :mod:`.panel` (the ImGui side panel),
:mod:`.backend` (window / offscreen EGL / mock start-up, cameras, screenshots), :mod:`.framing` (up
axis, camera fit, picture size, label placement: pure numpy), :mod:`.overlay` (colour bars and titles
drawn around pictures).
"""

from sape_geo_apps.viewer.backend import ViewerUnavailableError, start_polyscope
from sape_geo_apps.viewer.command import movie, prepare, screenshot, show
from sape_geo_apps.viewer.items import RunView
from sape_geo_apps.viewer.loading import RunLoadError, ViewerRun, load_viewer_run
from sape_geo_apps.viewer.options import ViewOptions
from sape_geo_apps.viewer.scene import Scene, build_scene, show_frame
from sape_geo_apps.viewer.task_views import view_of

__all__ = [
    "RunLoadError",
    "RunView",
    "Scene",
    "ViewerRun",
    "ViewOptions",
    "ViewerUnavailableError",
    "build_scene",
    "load_viewer_run",
    "movie",
    "prepare",
    "screenshot",
    "show",
    "show_frame",
    "start_polyscope",
    "view_of",
]
