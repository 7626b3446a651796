"""Make the silhouette demo inputs: stars, a gear and font glyphs, in several image modes and styles.

Every shape is drawn by :mod:`sape_geo_plugins.silhouette.shapes` (glyphs from the DejaVu Sans font
matplotlib ships), so the outlines are known exactly and nothing is downloaded. The set covers what the
silhouette task must read: grey, palette, RGB (JPEG) and RGBA files; light on dark, dark on light and
opaque on transparent; a shape touching the border; a glyph with a hole; and a polyline file.

Run ``python assets/make_silhouettes.py`` from the repository root (writes ``assets/silhouettes/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sape_geo.atomic import atomic_path, write_text_atomic
from sape_geo_plugins.silhouette.shapes import (
    gear_outline,
    glyph_polygons,
    render_polygons,
    save_silhouette_image,
    star_outline,
)

OUT_DIR = Path(__file__).resolve().parent / "silhouettes"

# name -> (polygons, margin, style, PIL mode); a negative margin crops the shape so it touches the border.
DEMOS = {
    "star.png": ([star_outline(5)], 0.1, "light on dark", "L"),
    "gear.gif": ([gear_outline(12)], 0.1, "light on dark", "P"),
    "glyph_G.png": (glyph_polygons("G"), 0.1, "opaque on transparent", "RGBA"),
    "glyph_A.jpg": (glyph_polygons("A"), 0.1, "dark on light", "RGB"),
    "star_cropped.tif": ([star_outline(6, inner=0.6)], -0.04, "dark on light", "L"),
}


def make_silhouettes(out_dir: Path = OUT_DIR, size: int = 256) -> list[Path]:
    """Write every demo silhouette (``size`` x ``size`` pixels) and a star polyline; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (polygons, margin, style, mode) in DEMOS.items():
        path = out_dir / name
        with atomic_path(path) as temporary:
            save_silhouette_image(temporary, render_polygons(polygons, size, margin), style, mode)
        written.append(path)
    # The same star as a polyline in pixel units (x = column, y = row), one x,y a line.
    star = star_outline(7, inner=0.5) * (0.4 * size) + size / 2
    polyline = out_dir / "star7_polyline.csv"
    write_text_atomic(polyline, "x,y\n" + "".join(f"{x:.3f},{y:.3f}\n" for x, y in star))
    written.append(polyline)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (default 256)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = parser.parse_args()
    for path in make_silhouettes(args.out, args.size):
        print(path)


if __name__ == "__main__":
    main()
