"""The house rules that code review alone would miss: import direction and plugin discovery."""

import ast
from pathlib import Path

import pytest

from sape_geo.registry import TaskPlugin, discover_tasks

from conftest import ROOT  # noqa: E402


def imported_modules(folder: Path) -> set[tuple[str, str]]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module))
    return found


def test_core_never_imports_plugins_or_apps():
    bad = [(f, m) for f, m in imported_modules(ROOT / "sape_geo") if m.split(".")[0] in ("sape_geo_plugins", "sape_geo_apps", "plugins", "apps")]
    assert bad == []


def test_plugins_never_import_apps_or_each_other():
    bad = []
    for file, module in imported_modules(ROOT / "plugins"):
        top = module.split(".")
        if top[0] in ("sape_geo_apps", "apps"):
            bad.append((file, module))
        if top[0] == "sape_geo_plugins" and len(top) > 1 and not file.startswith(f"plugins/{top[1]}"):
            bad.append((file, module))
    assert bad == []


def test_builtin_plugins_are_discovered_through_entry_points():
    plugins = discover_tasks()
    assert "fit1d" in plugins
    assert all(isinstance(p, TaskPlugin) for p in plugins.values())


def test_no_top_level_package_named_plugins_or_apps():
    import importlib.util

    for name in ("plugins", "apps"):
        spec = importlib.util.find_spec(name)
        assert spec is None or "sape" not in str(spec.origin or "")
