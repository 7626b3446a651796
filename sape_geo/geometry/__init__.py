"""Geometry: plain ``(V, F)`` arrays in, arrays out (libigl / gpytoolbox style).

Submodules: :mod:`~sape_geo.geometry.chamfer` (differentiable nearest-point distances in any
dimension); :mod:`~sape_geo.geometry.point_clouds` (scans with open3d: reading, normals, downsampling,
outliers); the mesh-transfer modules (I/O, alignment, biharmonic deformation, energies, metrics) live
beside them.
"""
