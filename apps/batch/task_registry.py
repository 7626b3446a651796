"""Task plugins loaded one by one, by name.

:func:`sape_geo.registry.discover_tasks` imports every installed plugin; a batch worker needs only the
tasks of its jobs, and importing the others (and their libraries) would cost every worker seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import metadata

from sape_geo.registry import ENTRY_POINT_GROUP, TaskPlugin, discover_tasks


@lru_cache(maxsize=None)
def load_task(name: str) -> TaskPlugin | None:
    """The installed task plugin called ``name``, importing only its module; None if there is none."""
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        plugin = entry_point.load()
        if isinstance(plugin, TaskPlugin) and plugin.name == name:
            return plugin
    # a plugin whose entry point is named differently from its task: the full scan finds it
    return discover_tasks().get(name)


class InstalledTasks(Mapping):
    """Every installed task plugin by name, each imported only when it is looked up."""

    def __getitem__(self, name: str) -> TaskPlugin:
        plugin = load_task(name)
        if plugin is None:
            raise KeyError(name)
        return plugin

    def __iter__(self) -> Iterator[str]:
        return iter(sorted({entry_point.name for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP)}))

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and load_task(name) is not None
