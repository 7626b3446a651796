"""One template onto several targets, and a table comparing the results.

Each bundled pair (``assets/creature_*``, ``assets/teddy_*``) gives a template (its source) and a
target mesh with landmarks. The template goes onto three targets: the target mesh, a noisy scan of it
with holes (a point cloud this script writes as PLY, as a scanner would), and the same scan with stray
points, cleaned by ``--remove-outliers``'s statistical outlier removal. Every result is scored
against the clean target mesh, so the rows compare like with like.

    python examples/transfer_to_targets.py --out runs/targets            # under a minute per pair on 2 cores
    python examples/transfer_to_targets.py --pairs creature --steps 100  # quicker

Writes ``OUT/<pair>-<target>/`` run directories, ``OUT/comparison.csv`` and ``OUT/comparison.md``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from sape_geo.geometry.landmarks import load_landmarks
from sape_geo.geometry.mesh_io import load_mesh
from sape_geo.geometry.metrics import folded_edges, make_target, surface_distances
from sape_geo.geometry.sampling import sample_surface
from sape_geo.geometry.point_clouds import ScanSettings, write_point_cloud
from sape_geo_plugins.mesh_transfer import transfer_mesh

ASSETS = Path(__file__).resolve().parents[1] / "assets"
COLUMNS = ["pair", "target", "target_points", "seconds", "chamfer_l1_pct_diag", "hausdorff_pct_diag", "folded_edges_added"]


def make_scan(vertices: np.ndarray, faces: np.ndarray, points: int, strays: int = 0, seed: int = 0) -> np.ndarray:
    """``points`` surface samples with 0.2 % noise and three holes, plus ``strays`` random points around."""
    rng = np.random.default_rng(seed)
    diagonal = np.linalg.norm(np.ptp(vertices, axis=0))
    scan = sample_surface(vertices, faces, points, seed)
    for centre in scan[rng.choice(points, 3, replace=False)]:
        scan = scan[np.linalg.norm(scan - centre, axis=1) > 0.05 * diagonal]
    scan += rng.normal(scale=0.002 * diagonal, size=scan.shape)
    around = vertices.mean(axis=0) + rng.uniform(-0.6, 0.6, size=(strays, 3)) * diagonal
    return np.vstack([scan, around])


def compare(pair: str, out: Path, steps: int, scan_points: int) -> list[dict]:
    source, target = ASSETS / f"{pair}_source.obj", ASSETS / f"{pair}_target.obj"
    target_V, target_F = load_mesh(target)
    # landmarks name target vertices; as (source vertex, position) pairs they fit every target
    landmarks = load_landmarks(ASSETS / f"{pair}_landmarks.txt", len(load_mesh(source)[0]), target_V)
    scans = out / "scans"
    targets = {
        "mesh": (target, ScanSettings()),
        "scan": (write_point_cloud(scans / f"{pair}_scan.ply", make_scan(target_V, target_F, scan_points)), ScanSettings()),
        "scan+strays, outliers removed": (
            write_point_cloud(scans / f"{pair}_scan_strays.ply", make_scan(target_V, target_F, scan_points, strays=scan_points // 500)),
            ScanSettings(remove_outliers=True),
        ),
    }
    clean = make_target(target_V, target_F, 20000, seed=1)
    rows = []
    for name, (path, scan) in targets.items():
        start = time.perf_counter()
        result = transfer_mesh(source, path, landmarks, steps=steps, scan=scan, progress_bar=False,
                               out=out / f"{pair}-{name.split(',')[0].replace('+', '-')}", overwrite=True)
        seconds = time.perf_counter() - start
        faces = result.prepared.energy_faces
        distances = surface_distances(result.vertices, faces, clean, 20000, seed=1)
        rows.append({
            "pair": pair, "target": name, "target_points": int(result.prepared.target.vertices.shape[0]), "seconds": round(seconds, 1),
            "chamfer_l1_pct_diag": round(distances["chamfer_l1_pct_diag"], 4), "hausdorff_pct_diag": round(distances["hausdorff_pct_diag"], 3),
            "folded_edges_added": folded_edges(result.vertices, faces) - folded_edges(result.prepared.source_vertices, faces),
        })
        print(" | ".join(str(rows[-1][c]) for c in COLUMNS), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=["creature", "teddy"], choices=["creature", "teddy"])
    parser.add_argument("--out", type=Path, default=Path("runs/targets"))
    parser.add_argument("--steps", type=int, default=400, help="fit steps per transfer (default 400, the transfer default)")
    parser.add_argument("--scan-points", type=int, default=200_000, help="points of each synthetic scan (default 200,000)")
    args = parser.parse_args(argv)
    rows = [row for pair in args.pairs for row in compare(pair, args.out, args.steps, args.scan_points)]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "comparison.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    table += ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in rows]
    (args.out / "comparison.md").write_text(
        "Chamfer L1 and Hausdorff against the clean target mesh, % of its diagonal.\n\n" + "\n".join(table) + "\n"
    )
    print(f"wrote {args.out / 'comparison.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
