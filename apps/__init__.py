"""What a person runs: the ``sape-geo`` command line, the viewer and batch runs (the benchmarks live in ``bench/``, outside the installed packages).

Installed as ``sape_geo_apps``.
"""
