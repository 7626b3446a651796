"""``sape-geo carry RUN FILE... --out DIR``: move accessories (eyes, teeth, clothes, hair, markers) with a
finished mesh transfer's deformation; each file is written back with its own structure
(:func:`sape_geo_plugins.mesh_transfer.carrying.carry_from_run`)."""

from __future__ import annotations

import argparse

from sape_geo_apps.cli import AppCommand


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a finished transfer's run directory (sape-geo transfer --out RUN)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="meshes or point sets in the source's frame (OBJ, PLY, OFF, XYZ)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write the carried files to (same file names)")
    parser.add_argument("--overwrite", action="store_true", help="replace files of the same name in --out")


def run(args: argparse.Namespace) -> int:
    from sape_geo_plugins.mesh_transfer.carrying import carry_from_run

    for path in carry_from_run(args.run, args.files, args.out, overwrite=args.overwrite):
        print(f"carried: {path}")
    return 0


COMMAND = AppCommand(
    description=(
        "Each FILE (in the transfer's source frame) is bound to its closest point on the source surface and\n"
        "keeps its offset in the body's local frame, scaled with the body (as Houdini's Point Deform does);\n"
        "it is written to DIR under its own name with its file structure kept (OBJ lines, PLY elements and\n"
        "properties, OFF colours): only positions (and normals) change. A file whose format cannot be kept\n"
        "(STL, binary OFF, ...) is refused before anything is written.\n\n"
        "example: sape-geo carry runs/demo assets/eyes.obj --out runs/demo/eyes"
    ),
    add_arguments=add_arguments,
    run=run,
)
