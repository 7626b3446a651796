"""What a person runs: the ``sape-geo`` command line, the viewer, benchmarks and batch runs.

Installed as ``sape_geo_apps``.
"""
