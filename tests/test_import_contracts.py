"""The layers hold: import-linter's contracts in pyproject.toml (apps -> plugins -> core, plugins apart,
the benchmarks on the plugins' exported names, no import cycle between modules, lazy imports included) are kept, and each of them can fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT
from import_contracts import import_cycles

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=folder, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


class _Graph:
    def __init__(self, edges: dict[str, set[str]]) -> None:
        self.edges = edges

    def find_modules_directly_imported_by(self, module: str) -> set[str]:
        return set(self.edges.get(module, ()))


def test_import_cycles_are_the_strongly_connected_components():
    graph = _Graph({"a": {"b"}, "b": {"c", "x"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}, "x": set()})
    assert import_cycles(graph, set("abcdefx")) == [["a", "b", "c"], ["d", "e"]]
    assert import_cycles(graph, set("abdfx")) == []  # edges leaving the modules checked are left out


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    "files, broken",
    [
        # the core importing an app, inside a function
        ({"sape_geo/config.py": "def f():\n    import sape_geo_apps.cli\n"}, "apps -> plugins -> core"),
        ({"sape_geo_plugins/a/__init__.py": "import sape_geo_plugins.b\n"}, "a plugin never imports another plugin"),
        # a package's __init__ importing its module lazily, the module importing the __init__
        ({"sape_geo_plugins/a/__init__.py": "def load():\n    from sape_geo_plugins.a import task\n",
          "sape_geo_plugins/a/task.py": "from sape_geo_plugins.a import load\n"}, "no import cycle"),
        # a benchmark reaching into a plugin's module instead of its package's exported names
        ({"sape_geo_plugins/a/task.py": "", "bench/large.py": "from sape_geo_plugins.a.task import ITERATIONS\n"}, "the benchmarks"),
    ],
)
def test_each_contract_fails_on_the_import_it_forbids(tmp_path, files, broken):
    """The repository's own contracts, on four tiny packages of the same names."""
    for package in ("sape_geo", "sape_geo_plugins", "sape_geo_plugins/a", "sape_geo_plugins/b", "sape_geo_apps", "bench"):
        _write(tmp_path, {f"{package}/__init__.py": ""})
    _write(tmp_path, {"sape_geo/config.py": "", "sape_geo_apps/cli.py": "import sape_geo_plugins\n"})
    _write(tmp_path, files)
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = []
    for contract in settings["contracts"]:
        if contract["id"] == "plugins":
            contract = {**contract, "modules": ["sape_geo_plugins.a", "sape_geo_plugins.b"]}
        contracts.append({key: value for key, value in contract.items() if key not in ("ignore_imports", "unmatched_ignore_imports_alerting")})
    lines = ["[importlinter]", "root_packages =", *(f"    {name}" for name in settings["root_packages"]),
             "contract_types =", *(f"    {entry}" for entry in settings["contract_types"])]
    for contract in contracts:
        lines.append(f"[importlinter:contract:{contract['id']}]")
        for key, value in contract.items():
            if key != "id":
                lines += [f"{key} ="] + [f"    {item}" for item in value] if isinstance(value, list) else [f"{key} = {value}"]
    (tmp_path / ".importlinter").write_text("\n".join(lines) + "\n")
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "import_contracts.py", tmp_path / "tests" / "import_contracts.py")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    report = " ".join(result.stdout.split())
    assert "1 broken" in report and broken in report.split("Broken contracts")[1], report
