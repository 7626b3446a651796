"""Benchmarks: scripts that write JSON and markdown tables into ``benchmarks/``.

Run each as ``python -m bench.<name>``. Speed and quality targets live here, never in
timed test assertions.
"""
