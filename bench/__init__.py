"""Benchmarks: scripts that write JSON and markdown tables into ``benchmarks/``.

Run each as ``python -m bench.<name>`` from the repository root: this folder is not installed (the
wheel holds sape_geo, sape_geo_plugins and sape_geo_apps only). Each reads its data from ``--data DIR``
(default ``../shared/data`` beside the repository) and uses the public API: a plugin through its
package's exported names, never its modules (import-linter's "bench" contract in pyproject.toml).
Speed and quality targets live here, never in timed test assertions.
"""
