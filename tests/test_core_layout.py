"""The house rules that code review alone would miss: plugin discovery and import names. The import
direction (apps -> plugins -> core, no cycles) is import-linter's (tests/test_import_contracts.py)."""

import json
import subprocess
import sys

from sape_geo.registry import TaskPlugin, discover_tasks


def test_builtin_plugins_are_discovered_through_entry_points():
    plugins = discover_tasks()
    assert "fit1d" in plugins
    assert all(isinstance(p, TaskPlugin) for p in plugins.values())


def test_no_top_level_package_named_plugins_or_apps(tmp_path):
    """The install exposes plugins/ and apps/ only as sape_geo_plugins and sape_geo_apps, so they cannot
    collide with another distribution's ``plugins`` in site-packages, and leaves the benchmarks (bench/)
    out. Asked from a folder outside the
    repository: from its root, the folders themselves would be found as namespace packages."""
    code = ("import importlib.util, json; "
            "print(json.dumps({name: (lambda spec: spec and list(spec.submodule_search_locations or [spec.origin]))"
            "(importlib.util.find_spec(name)) for name in ('plugins', 'apps', 'bench', 'sape_geo_plugins', 'sape_geo_apps')}))")
    found = json.loads(subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout)
    assert found["plugins"] is None and found["apps"] is None and found["bench"] is None, found
    assert found["sape_geo_plugins"] and found["sape_geo_apps"], found
