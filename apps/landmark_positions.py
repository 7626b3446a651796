"""``sape-geo landmarks-to-positions LANDMARKS TARGET_MESH --out POSITIONS.txt``: landmark pairs with
target vertex ids (``source_vertex target_vertex``, a YAML ``markers:`` list, CSV, JSON) rewritten as
``source_vertex x y z  # name``, the target vertices' positions. A point-cloud target (a scan of that
mesh) needs positions: vertex ids would index the scan's points.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sape_geo.geometry.landmarks import landmarks_as_positions, save_landmarks
from sape_geo.geometry.mesh_io import load_mesh_or_points
from sape_geo.runs import RunDirectoryExistsError
from sape_geo_apps.cli import AppCommand

DESCRIPTION = """\
Rewrite landmark pairs given by target vertex ids as target positions, for a point-cloud target.

A scan (PLY, PCD, XYZ) has points, not the mesh's vertices: a landmark file whose target column holds
vertex ids of the target MESH must become 'source_vertex x y z' positions before a transfer onto a
scan of it. The mesh is read as `sape-geo transfer` reads a target, so the ids mean the same here.
The output keeps each pair's name (its comment) and is never written over an existing file.

example: sape-geo landmarks-to-positions markers-cat-dog.yml dog.obj --out dog_positions.txt
         sape-geo transfer cat.obj dog_scan.ply --landmarks dog_positions.txt --out runs/cat-scan"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("landmarks", metavar="LANDMARKS", help="pairs with target vertex ids: text, CSV, JSON or a YAML 'markers:' list")
    parser.add_argument("target", metavar="TARGET_MESH", help="the mesh whose vertex ids the file uses (OBJ, OFF, PLY, STL)")
    parser.add_argument("--out", required=True, type=Path, help="the positions file to write (refused if it exists)")


def run(args: argparse.Namespace) -> int:
    if args.out.exists() or args.out.is_symlink():
        raise RunDirectoryExistsError(f"{args.out} exists; choose another --out (sape-geo never writes over a file)")
    vertices, _ = load_mesh_or_points(args.target)
    marks = landmarks_as_positions(args.landmarks, vertices)
    save_landmarks(args.out, marks)
    print(f"{len(marks)} landmarks as target positions: {args.out}")
    return 0


COMMAND = AppCommand(
    description=DESCRIPTION,
    add_arguments=add_arguments,
    run=run,
)
