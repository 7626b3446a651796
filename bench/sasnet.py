"""SASNet beside SAPE and SIREN (issue 8): images and occupancy, same data and step budget, parameter counts.

Four parts, each method run with the task's defaults and the one loop (Adam at lr 1e-3, constant, the
budget every method gets in the image and occupancy benchmarks):

- **images, benchmark setting**: the image benchmark's setting (long side ``--max-size``, 25% training
  grid, ``--steps`` steps, 3 x 256 backbone) on the first ``--images-per-set`` images of each set;
- **images, small backbone**: a larger image (``--small-max-size``) and a narrow backbone
  (3 x ``--small-hidden``), still scored on all pixels after training on 25%;
- **images, full fit**: every pixel trained and scored (representation, not interpolation), a narrow
  backbone (3 x ``--small-hidden``) on ``--small-max-size`` images: the regime where the SASNet
  authors report their largest gains (a backbone with clearly fewer parameters than the signal has
  values). SAPE keeps one grid node per pixel;
- **occupancy**: the occupancy benchmark's comparison setting on the watertight meshes.

The full-fit part also runs ``sasnet`` with the authors' mask learning rate (0.5x the backbone's
instead of this toolkit's 10x), to show what the default buys over a short budget.

``--parts`` re-runs some parts and keeps the others' rows from the previous ``benchmarks/sasnet.json``.

Target (from the issue): report where ``sasnet`` beats ``sape-ff`` and where it does not.

    python -m bench.sasnet [--data DIR] [--images-per-set 2] [--steps 400] [--occupancy-steps 300]

Results go to ``benchmarks/sasnet.json`` and ``.md``, rewritten after every run.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch
from torch import Tensor

from sape_geo.experiment import run_task
from sape_geo.fitting import Batch, FitConfig, Task
from sape_geo.imaging import read_image
from sape_geo.methods import MaskDomain, MethodConfig
from sape_geo.metrics import psnr
from bench.common import RESULTS_DIR, add_data_argument, add_seed_argument, add_threads_argument, benchmark_parser, data_folder, markdown_table, write_results
from bench.images import IMAGE_SETS, image_files
from bench.occupancy import split_meshes
from sape_geo_plugins.image import ImageSettings, default_sigmas, load_image_task, pixel_coordinates, prepare_image
from sape_geo_plugins.occupancy import OccupancySettings, default_method_config, load_occupancy_task

METHODS = ("siren", "sape-ff", "sasnet")
# The authors' mask learning rate (half the backbone's), as an ablation of this toolkit's default (10x).
AUTHORS_MASK_LR = ("sasnet-mask-lr-0.5", "sasnet", (("mask_lr_scale", 0.5),))
IMAGE_PARTS = (("images-bench", "benchmark setting"), ("images-small", "small backbone"), ("images-fullfit", "full fit, small backbone"))
PARTS = (*(part for part, _ in IMAGE_PARTS), "occupancy")


class FullImageFit(Task):
    """Every pixel of an image trained and scored (the image task holds 75% out; this part does not)."""

    name = "image-full-fit"
    in_dim = 2

    def __init__(self, path: Path, max_size: int) -> None:
        image = prepare_image(read_image(path), max_size)
        self.shape = image.values.shape[:2]
        self.out_dim = image.values.shape[2]
        self.values = image.values
        self.coords = pixel_coordinates(*self.shape)
        self.targets = torch.from_numpy(image.values.reshape(-1, self.out_dim))
        self.train_coords = self.coords  # signal_values counts these

    def mask_domain(self) -> MaskDomain:
        return MaskDomain("grid", resolution=self.shape)

    def batch(self, step: int, generator: torch.Generator) -> Batch:
        return Batch(self.coords, None, {"target": self.targets})

    def loss(self, output: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        per_point = ((output - batch.data["target"]) ** 2).mean(dim=1)
        return per_point.mean(), per_point

    def evaluate(self, model) -> dict[str, float]:
        prediction = model(self.coords).clamp(0.0, 1.0).numpy().reshape(self.values.shape)
        score = psnr(prediction, self.values)
        return {"psnr_all_db": score, "psnr_heldout_db": None, "psnr_train_db": score}

    def progress_map(self, model):
        return model.progress(self.coords).numpy()


def fit_config(steps: int, seed: int, threads: int) -> FitConfig:
    return FitConfig(steps=steps, seed=seed, progress_bar=False, threads=threads, device="cpu")


def image_row(part: str, path: Path, task, method: MethodConfig, config: FitConfig, label: str | None = None) -> dict:
    metrics = run_task(task, method, config).metrics
    return {
        "part": part, "image": path.name, "method": label or method.name, "hidden": method.hidden_dim,
        "parameters": metrics["parameters"], "signal_values": task.train_coords.shape[0] * task.out_dim,
        "psnr_all_db": metrics["psnr_all_db"], "psnr_heldout_db": metrics["psnr_heldout_db"],
        "psnr_train_db": metrics["psnr_train_db"], "mean_progress": metrics["mean_progress"],
        "max_progress": metrics["max_progress"], "seconds": metrics["fit_seconds"],
    }


def occupancy_row(path: Path, task, method: MethodConfig, config: FitConfig) -> dict:
    metrics = run_task(task, method, config).metrics
    return {
        "part": "occupancy", "mesh": path.name, "method": method.name, "parameters": metrics["parameters"],
        "iou_uniform": metrics["iou_uniform"], "iou_near_surface": metrics["iou_near_surface"], "iou_mean": metrics["iou_mean"],
        "mean_progress": metrics["mean_progress"], "max_progress": metrics["max_progress"], "seconds": metrics["fit_seconds"],
    }


def mean_rows(rows: list[dict], part: str, score: str) -> list[dict]:
    summary = []
    for method in dict.fromkeys(row["method"] for row in rows if row["part"] == part):
        chosen = [row for row in rows if row["part"] == part and row["method"] == method]
        if chosen:
            summary.append({"part": part, "method": method, "runs": len(chosen), f"mean_{score}": statistics.fmean(r[score] for r in chosen),
                            "mean_parameters": statistics.fmean(r["parameters"] for r in chosen),
                            "mean_seconds": statistics.fmean(r["seconds"] for r in chosen)})
    return summary


def head_to_head(rows: list[dict], part: str, key: str, score: str) -> str:
    """``sasnet`` against ``sape-ff`` on each input of one part: wins, losses, mean difference."""
    by_input = {}
    for row in rows:
        if row["part"] == part and row["method"] in ("sasnet", "sape-ff"):
            by_input.setdefault(row[key], {})[row["method"]] = row[score]
    pairs = [(v["sasnet"], v["sape-ff"]) for v in by_input.values() if len(v) == 2]
    if not pairs:
        return f"- {part}: no pairs yet"
    wins = sum(a > b for a, b in pairs)
    difference = statistics.fmean(a - b for a, b in pairs)
    return f"- {part}: sasnet beats sape-ff on {wins} of {len(pairs)} inputs by {score}; mean difference {difference:+.4g}"


def write_report(settings: dict, images: list[dict], occupancy: list[dict]) -> None:
    image_columns = ["image", "method", "hidden", "parameters", "signal_values", "psnr_all_db", "psnr_heldout_db", "psnr_train_db",
                     "mean_progress", "max_progress", "seconds"]
    sections = [
        "# SASNet beside SAPE and SIREN: images and occupancy\n",
        f"Settings: {settings}. Every method: Adam lr 1e-3 (constant), the same steps, seed and data; task defaults "
        "otherwise (image sigmas from the training grid's Nyquist frequency, occupancy sigmas ff 4 / sape-ff 8, SAPE "
        "grids as the tasks set them). sasnet: default settings, band limit from the task's grid (a third of its "
        "Nyquist frequency), hash grid 10 levels x 2 features, 2^10 entries, resolution 8..128, mask network lr 10x the backbone's. "
        "`parameters` counts trainable parameters (sasnet's frozen first layer excluded, its mask network included); "
        "`signal_values` = training pixels x channels. `mean_progress` / `max_progress`: the heat map "
        "(SAPE: levels open; sasnet: sum of the high-band masks). Seconds: CPU shared with other jobs, indicative only.\n",
        "## Where sasnet beats sape-ff\n",
        head_to_head(images, "images-bench", "image", "psnr_all_db"),
        head_to_head(images, "images-small", "image", "psnr_all_db"),
        head_to_head(images, "images-fullfit", "image", "psnr_all_db"),
        head_to_head(occupancy, "occupancy", "mesh", "iou_mean"),
        "",
    ]
    for part, title in IMAGE_PARTS:
        sections += [f"## Images, {title}\n", markdown_table(mean_rows(images, part, "psnr_all_db"),
                                                             ["method", "runs", "mean_psnr_all_db", "mean_parameters", "mean_seconds"], "{:.2f}"),
                     markdown_table([r for r in images if r["part"] == part], image_columns, "{:.2f}")]
    sections += ["## Occupancy\n",
                 markdown_table(mean_rows(occupancy, "occupancy", "iou_mean"), ["method", "runs", "mean_iou_mean", "mean_parameters", "mean_seconds"], "{:.4f}"),
                 markdown_table(occupancy, ["mesh", "method", "parameters", "iou_uniform", "iou_near_surface", "iou_mean", "mean_progress",
                                            "max_progress", "seconds"], "{:.4f}")]
    write_results("sasnet", {"settings": settings, "images": images, "occupancy": occupancy}, "\n".join(sections))


def previous_rows(rerun: set[str]) -> tuple[list[dict], list[dict]]:
    """Rows of the parts not re-run, from the last ``sasnet.json`` (none when there is none)."""
    path = RESULTS_DIR / "sasnet.json"
    if not path.is_file():
        return [], []
    payload = json.loads(path.read_text())
    keep = [row for row in payload.get("images", []) if row["part"] not in rerun]
    return keep, [] if "occupancy" in rerun else list(payload.get("occupancy", []))


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__)
    add_data_argument(parser, holds="folder holding images_natural/, images_text/ and meshes_occupancy/")
    parser.add_argument("--meshes", type=Path, default=None, help="folder of occupancy meshes (default: DIR/meshes_occupancy)")
    parser.add_argument("--images-per-set", type=int, default=2, help="first N images of each set (default 2)")
    parser.add_argument("--max-size", type=int, default=64, help="benchmark setting: long side in pixels (default 64)")
    parser.add_argument("--steps", type=int, default=400, help="image steps (default 400, the image benchmark's)")
    parser.add_argument("--small-max-size", type=int, default=128, help="small-backbone part: long side in pixels (default 128)")
    parser.add_argument("--small-hidden", type=int, default=64, help="small-backbone part: width of the 3 layers (default 64)")
    parser.add_argument("--occupancy-steps", type=int, default=300, help="occupancy steps (default 300, the occupancy benchmark's)")
    parser.add_argument("--occupancy-meshes", type=int, default=None, help="first N watertight meshes (default all)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="parts to run (default all); the others keep their rows from the previous sasnet.json")
    add_seed_argument(parser)
    add_threads_argument(parser)
    args = parser.parse_args(argv)
    args.data = data_folder(parser, args.data)
    args.meshes = args.meshes if args.meshes is not None else args.data / "meshes_occupancy"
    torch.set_num_threads(args.threads)
    settings = {key: getattr(args, key) for key in ("images_per_set", "max_size", "steps", "small_max_size", "small_hidden",
                                                     "occupancy_steps", "seed", "threads")}
    images, occupancy = previous_rows(set(args.parts))
    started = time.perf_counter()
    image_parts = (("images-bench", args.max_size, 256), ("images-small", args.small_max_size, args.small_hidden),
                   ("images-fullfit", args.small_max_size, args.small_hidden))
    for part, max_size, hidden in image_parts:
        if part not in args.parts:
            continue
        for image_set in IMAGE_SETS:
            for path in image_files(args.data / image_set, args.images_per_set):
                if part == "images-fullfit":
                    task = FullImageFit(path, max_size)
                    sigmas = default_sigmas(max(task.shape))
                else:
                    task = load_image_task(path, ImageSettings(max_size=max_size))
                    sigmas = default_sigmas(max(task.train_shape))
                runs = [(name, name, ()) for name in METHODS] + ([AUTHORS_MASK_LR] if part == "images-fullfit" else [])
                for label, name, options in runs:
                    method = MethodConfig(name=name, sigma=sigmas.get(name, 10.0), hidden_dim=hidden, options=options)
                    images.append(image_row(part, path, task, method, fit_config(args.steps, args.seed, args.threads), label))
                    print(f"[{time.perf_counter() - started:6.0f} s] {part} {path.name} {label}: PSNR {images[-1]['psnr_all_db']:.2f} dB, "
                          f"{images[-1]['parameters']} parameters", flush=True)
                    write_report(settings, images, occupancy)
    comparison = OccupancySettings(train_points=100_000, batch_size=4096, eval_points=50_000, mesh_resolution=64, sampling_seed=args.seed)
    watertight, _ = split_meshes(args.meshes) if "occupancy" in args.parts else ([], [])
    for path in watertight[: args.occupancy_meshes]:
        task = load_occupancy_task(path, comparison)
        for name in METHODS:
            occupancy.append(occupancy_row(path, task, default_method_config(name), fit_config(args.occupancy_steps, args.seed, args.threads)))
            print(f"[{time.perf_counter() - started:6.0f} s] occupancy {path.name} {name}: IoU {occupancy[-1]['iou_mean']:.4f}", flush=True)
            write_report(settings, images, occupancy)
    write_report(settings, images, occupancy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
