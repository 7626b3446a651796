"""The installed task plugins as a mapping whose entries are imported only when looked up.

A batch needs only the tasks of its jobs (:func:`sape_geo.registry.load_task`); importing the others
and their libraries would cost every worker seconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import metadata

from sape_geo.registry import ENTRY_POINT_GROUP, TaskPlugin, load_task


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
