"""Package discovery only; all metadata lives in pyproject.toml.

The three import roots map onto folders with other names (``plugins/`` installs as
``sape_geo_plugins``, ``apps/`` as ``sape_geo_apps``) so they cannot collide in site-packages; their
subpackages are found here so a new one never needs listing by hand.
"""

from setuptools import find_packages, setup

ROOTS = {"sape_geo": "sape_geo", "sape_geo_plugins": "plugins", "sape_geo_apps": "apps"}

packages, package_dir = [], {}
for name, folder in ROOTS.items():
    package_dir[name] = folder
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
