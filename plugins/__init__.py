"""Built-in task plugins of sape-geo, installed as ``sape_geo_plugins``.

Each module exposes ``PLUGIN`` (a :class:`sape_geo.registry.TaskPlugin`) through the ``sape_geo.tasks``
entry-point group. Plugins import ``sape_geo`` only: never an app, never another plugin.
"""
