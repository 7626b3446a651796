"""Image fitting benchmark (issues 5 and 17): methods on natural and text images at 256 px, quality against time.

Every image of ``images_natural`` and ``images_text`` (``--data``) is downscaled to ``--max-size`` (256 px
on the long side) and fitted from its 25% training grid (every second row and column) with the image
task's defaults for that size (:func:`sape_geo_plugins.image.default_method_settings`: FF sigma per
method, SIREN's omega_0, RBF bandwidths; :func:`sape_geo_plugins.image.default_fit_config`: learning
rate, cosine schedule, batch size).

**Equal time.** Every fit gets the same CPU budget (``--budget`` seconds, torch threads 1): its step
count is calibrated from the method's measured CPU seconds per training point, so each method's
learning-rate schedule ends when its budget does. While it runs, a
:class:`~bench.curves.QualityClock` scores it every ``--every`` fit seconds (PSNR on all,
held-out and training pixels; evaluation time excluded), which gives the quality-vs-wall-time curves
(``benchmarks/images_curves_<set>.png``, mean over the set's images).

**Equal steps.** On the first ``--equal-steps-images`` images of each set, ``ff`` is also run for
exactly as many steps as ``sape-ff`` took (``ff`` is cheaper per step, so its equal-time run has more).

``--methods`` (default ``sape-ff ff``) run on every image; ``--other-methods`` on the first
``--others-per-set`` images of each set, after all of those.

Targets (issue 17): at 256 px and within 2 minutes, reach the all-pixel PSNR of the old defaults (2000
full-batch steps) with a better held-out PSNR; ``sape-ff`` beats ``ff`` at equal time on both sets.

    python -m bench.images [--data DIR] [--budget 60] [--images-per-set N] [--other-methods none siren ...]

Results go to ``benchmarks/images.json`` and ``.md`` (rewritten after every fit, so an interrupted
benchmark keeps what it measured) and ``benchmarks/images_curves_natural.png``, ``..._text.png``.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from sape_geo.experiment import run_task
from sape_geo.fitting import FitConfig
from sape_geo.methods import MethodConfig
from bench.common import RESULTS_DIR, add_data_argument, add_seed_argument, add_threads_argument, benchmark_parser, data_folder, display_path, markdown_table, write_results
from bench.curves import QualityClock, plot_quality_vs_time, quality_at
from sape_geo_plugins.image import ImageSettings, default_fit_config, default_method_settings, load_image_task

IMAGE_SETS = ("images_natural", "images_text")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp")
SCORES = ("psnr_all_db", "psnr_heldout_db", "psnr_train_db")


def image_files(folder: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    return files[:limit] if limit else files


class StepCost:
    """CPU seconds per training point and step, per method: first from a short probe fit, then from
    every finished fit (a probe of a few steps on a busy machine can be off by a third)."""

    def __init__(self, probe_steps: int = 6) -> None:
        self.probe_steps = probe_steps
        self.per_point: dict[str, float] = {}

    def seconds_per_step(self, task, method: MethodConfig, fit: FitConfig) -> float:
        points = min(task.settings.batch_size, task.train_coords.shape[0])
        if method.name not in self.per_point:
            marks: list[float] = []
            probe = FitConfig(**{**fit.__dict__, "steps": self.probe_steps, "progress_bar": False})
            run_task(task, method, probe, None, callbacks=[lambda step, loss, model: marks.append(time.process_time())])
            # The first step pays one-off costs (lookups, allocations); time the others.
            self.per_point[method.name] = (marks[-1] - marks[0]) / (len(marks) - 1) / points
        return self.per_point[method.name] * points

    def update(self, name: str, cpu_seconds: float, steps: int, points: int) -> None:
        """Use a finished fit's own cost (its CPU seconds include building the model and the clock)."""
        self.per_point[name] = cpu_seconds / max(steps, 1) / points


def fit_with_clock(task, method: MethodConfig, fit: FitConfig, every: float) -> dict:
    """One fit, scored every ``every`` fit seconds; returns its final scores and its readings."""
    scores: list[dict] = []

    def evaluate(model) -> float:
        metrics = task.evaluate(model)
        scores.append({key: metrics[key] for key in SCORES})
        return metrics["psnr_all_db"]

    clock = QualityClock(evaluate, every_seconds=every)
    clock.start()
    result = run_task(task, method, fit, None, callbacks=[clock])
    clock.finish(result.model)
    wall, cpu = clock.elapsed()
    readings = [{"step": r.step, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds, **s} for r, s in zip(clock.readings, scores)]
    m = result.metrics
    return {
        **{key: m[key] for key in SCORES},
        "steps": result.fit.steps_done,
        "seconds": wall,  # fit wall seconds, evaluations excluded (includes building the model)
        "cpu_seconds": cpu,
        "stop_reason": m["stop_reason"],
        "mean_progress": m["mean_progress"],
        "parameters": m["parameters"],
        "readings": readings,
    }


def mean_curve(runs: list[dict], method: str, score: str, grid: list[float]) -> list[tuple[float, float]]:
    """Mean over images of each run's last reading by ``t``, at every ``t`` where every run has one."""
    chosen = [run for run in runs if run["method"] == method and run["kind"] == "equal_time"]
    points = []
    for t in grid:
        values = [quality_at([(r["seconds"], r[score]) for r in run["readings"]], t) for run in chosen]
        if chosen and all(v is not None for v in values):
            points.append((t, statistics.fmean(values)))
    return points


def summary_rows(runs: list[dict], methods: list[str], kind: str) -> list[dict]:
    rows = []
    for image_set in IMAGE_SETS:
        for method in methods:
            group = [r for r in runs if r["set"] == image_set and r["method"] == method and r["kind"] == kind]
            if group:
                row = {"set": image_set.removeprefix("images_"), "method": method, "images": len(group)}
                for key in (*SCORES, "steps", "seconds", "cpu_seconds"):
                    row[f"mean_{key}"] = statistics.fmean(r[key] for r in group)
                rows.append(row)
    return rows


def paired_rows(runs: list[dict], kind_a: str, kind_b: str) -> list[dict]:
    """sape-ff (equal time) against ff (``kind_b``), per image where both exist."""
    rows = []
    for sape in (r for r in runs if r["method"] == "sape-ff" and r["kind"] == kind_a):
        ff = next((r for r in runs if r["method"] == "ff" and r["kind"] == kind_b and r["image"] == sape["image"]), None)
        if ff is not None:
            rows.append({
                "set": sape["set"].removeprefix("images_"), "image": sape["image"],
                "sape-ff_steps": sape["steps"], "ff_steps": ff["steps"],
                "sape-ff_cpu_s": sape["cpu_seconds"], "ff_cpu_s": ff["cpu_seconds"],
                "sape-ff_all_db": sape["psnr_all_db"], "ff_all_db": ff["psnr_all_db"],
                "sape-ff_heldout_db": sape["psnr_heldout_db"], "ff_heldout_db": ff["psnr_heldout_db"],
                "gain_all_db": sape["psnr_all_db"] - ff["psnr_all_db"],
                "gain_heldout_db": sape["psnr_heldout_db"] - ff["psnr_heldout_db"],
            })
    return rows


def equal_cpu_rows(runs: list[dict]) -> list[dict]:
    """sape-ff against ff at the smaller of their two fits' CPU seconds: each fit's last reading by then
    (the fits' own budgets come from a calibration that can miss by a quarter)."""
    rows = []
    for sape in (r for r in runs if r["method"] == "sape-ff" and r["kind"] == "equal_time"):
        ff = next((r for r in runs if r["method"] == "ff" and r["kind"] == "equal_time" and r["image"] == sape["image"]), None)
        if ff is None:
            continue
        cpu = min(sape["cpu_seconds"], ff["cpu_seconds"])
        at = {}
        for name, run in (("sape-ff", sape), ("ff", ff)):
            reached = [r for r in run["readings"] if r["cpu_seconds"] <= cpu + 1e-9]
            at[name] = reached[-1] if reached else None
        if at["sape-ff"] and at["ff"]:
            rows.append({
                "set": sape["set"].removeprefix("images_"), "image": sape["image"], "cpu_s": cpu,
                "sape-ff_all_db": at["sape-ff"]["psnr_all_db"], "ff_all_db": at["ff"]["psnr_all_db"],
                "sape-ff_heldout_db": at["sape-ff"]["psnr_heldout_db"], "ff_heldout_db": at["ff"]["psnr_heldout_db"],
                "gain_all_db": at["sape-ff"]["psnr_all_db"] - at["ff"]["psnr_all_db"],
            })
    return rows


def verdicts(rows: list[dict]) -> list[str]:
    lines = []
    for image_set in ("natural", "text"):
        sape = next((r for r in rows if r["set"] == image_set and r["method"] == "sape-ff"), None)
        ff = next((r for r in rows if r["set"] == image_set and r["method"] == "ff"), None)
        if sape and ff:
            gain = sape["mean_psnr_all_db"] - ff["mean_psnr_all_db"]
            met = "met" if gain > 0 else "NOT met"
            lines.append(f"- {image_set}: sape-ff {sape['mean_psnr_all_db']:.2f} dB vs ff {ff['mean_psnr_all_db']:.2f} dB (all pixels, "
                         f"{sape['images']} images, equal CPU time): {gain:+.2f} dB, target {met}")
    return lines


def write_report(settings: dict, runs: list[dict], methods: list[str]) -> None:
    equal_time = summary_rows(runs, methods, "equal_time")
    columns = ["set", "method", "images", "mean_psnr_all_db", "mean_psnr_heldout_db", "mean_psnr_train_db", "mean_steps", "mean_seconds",
               "mean_cpu_seconds"]
    sections = [
        "# Image fitting at 256 px: quality against time\n",
        f"Settings: long side {settings['max_size']} px, trained on every second row and column (25%), the image task's defaults "
        f"for that size (per method: {settings['method_settings']}; loop: {settings['fit']}"
        + (f"; other methods' loop: {settings['fit_other_methods']}" if "fit_other_methods" in settings else "")
        + f"), seed {settings['seed']}, "
        f"torch threads = {settings['threads']}, CPU shared with other jobs. Every fit gets the same CPU budget of "
        f"{settings['budget']:g} s (steps calibrated from each method's measured CPU seconds per training point: "
        f"{settings['cpu_seconds_per_step']}); seconds are fit wall seconds with evaluations excluded. PSNR in dB on [0, 1]; "
        "`all` = every pixel (the paper's score), `heldout` = the 75% never trained on.\n",
        f"Command: `{settings['command']}`\n",
        "## Targets\n",
        *verdicts(equal_time),
        "",
        "## Equal time: means per set\n",
        markdown_table(equal_time, columns, "{:.2f}"),
        "Curves (mean all-pixel PSNR over the set's images against fit wall seconds): "
        + ", ".join(f"`{name}`" for name in settings["curves"]) + "\n",
        "## sape-ff against ff per image, equal time\n",
        "Each fit's final scores; `cpu_s` shows how close the calibrated budgets came.\n",
        markdown_table(paired_rows(runs, "equal_time", "equal_time"),
                       ["set", "image", "sape-ff_steps", "ff_steps", "sape-ff_cpu_s", "ff_cpu_s", "sape-ff_all_db", "ff_all_db", "sape-ff_heldout_db",
                        "ff_heldout_db", "gain_all_db", "gain_heldout_db"], "{:.2f}"),
        "## sape-ff against ff per image, at the same CPU seconds\n",
        "The last reading of each fit within the smaller of the two fits' CPU seconds (the longer fit is cut mid-schedule there, "
        "which slightly favours the shorter one).\n",
        markdown_table(equal_cpu_rows(runs), ["set", "image", "cpu_s", "sape-ff_all_db", "ff_all_db", "sape-ff_heldout_db", "ff_heldout_db",
                                              "gain_all_db"], "{:.2f}"),
    ]
    shared = [image for image in dict.fromkeys(r["image"] for r in runs)
              if len({r["method"] for r in runs if r["image"] == image and r["kind"] == "equal_time"}) > 2]
    if shared:
        sections += [
            "## Every method on the same images, equal time\n",
            "The means above average different images for different methods; here every method on the images all of them ran on.\n",
            markdown_table([r for r in runs if r["image"] in shared and r["kind"] == "equal_time"],
                           ["set", "image", "method", "psnr_all_db", "psnr_heldout_db", "psnr_train_db", "steps", "cpu_seconds"], "{:.2f}"),
        ]
    equal_steps = paired_rows(runs, "equal_time", "equal_steps")
    if equal_steps:
        sections += [
            "## sape-ff against ff per image, equal steps (ff run for sape-ff's step count)\n",
            markdown_table(equal_steps, ["set", "image", "sape-ff_steps", "ff_steps", "sape-ff_all_db", "ff_all_db", "sape-ff_heldout_db",
                                         "ff_heldout_db", "gain_all_db", "gain_heldout_db"], "{:.2f}"),
        ]
    sections += [
        "## Every fit\n",
        markdown_table(runs, ["set", "image", "method", "kind", "psnr_all_db", "psnr_heldout_db", "psnr_train_db", "steps", "seconds",
                              "cpu_seconds", "mean_progress", "stop_reason"], "{:.2f}"),
    ]
    write_results("images", {"settings": settings, "summary_equal_time": equal_time, "runs": runs}, "\n".join(sections))


def plot_curves(runs: list[dict], methods: list[str], budget: float, every: float) -> list[str]:
    names = []
    grid = [every * k for k in range(int(budget * 1.5 / every) + 2)]
    for image_set in IMAGE_SETS:
        in_set = [run for run in runs if run["set"] == image_set]
        curves = {method: mean_curve(in_set, method, "psnr_all_db", grid) for method in methods}
        curves = {method: points for method, points in curves.items() if points}
        if curves:
            count = len({run["image"] for run in in_set})
            name = f"images_curves_{image_set.removeprefix('images_')}.png"
            plot_quality_vs_time(curves, RESULTS_DIR / name, "PSNR all pixels (dB), mean over images",
                                 f"{image_set.removeprefix('images_')} images at 256 px ({count} images), 25% pixels")
            names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__)
    add_data_argument(parser, holds="folder holding images_natural/ and images_text/")
    parser.add_argument("--methods", nargs="+", default=["sape-ff", "ff"], help="methods fitted on every image (default sape-ff ff)")
    parser.add_argument("--other-methods", nargs="*", default=["none", "siren", "pff", "rbfg", "sape-rbfg", "sasnet"],
                        help="methods fitted on the first --others-per-set images of each set, after the others")
    parser.add_argument("--others-per-set", type=int, default=1)
    parser.add_argument("--equal-steps-images", type=int, default=2, help="images per set that also get ff at sape-ff's step count")
    parser.add_argument("--max-size", type=int, default=256, help="long side in pixels after downscaling (default 256)")
    parser.add_argument("--budget", type=float, default=60.0, help="CPU seconds per fit (default 60)")
    parser.add_argument("--every", type=float, default=10.0, help="score every this many fit seconds (default 10)")
    parser.add_argument("--images-per-set", type=int, default=None, help="only the first N images of each set (default all)")
    add_seed_argument(parser)
    add_threads_argument(parser)
    parser.add_argument("--report-only", action="store_true", help="re-render images.md and the curves from benchmarks/images.json")
    args = parser.parse_args(argv)
    args.data = data_folder(parser, args.data)
    torch.set_num_threads(args.threads)
    if args.report_only:
        import json

        saved = json.loads((RESULTS_DIR / "images.json").read_text())
        settings, runs = saved["settings"], saved["runs"]
        methods = list(dict.fromkeys([*settings["methods"], *settings["other_methods"]]))
        settings["curves"] = plot_curves(runs, methods, settings["budget"], settings["every"])
        write_report(settings, runs, methods)
        print((RESULTS_DIR / "images.md").read_text())
        return 0

    config = ImageSettings(max_size=args.max_size)
    costs = StepCost()
    all_methods = list(dict.fromkeys([*args.methods, *args.other_methods]))
    fit_defaults = default_fit_config()
    settings = {
        "command": "python -m bench.images " + " ".join(argv if argv is not None else __import__("sys").argv[1:]),
        "data": display_path(args.data), "max_size": args.max_size, "budget": args.budget, "every": args.every, "seed": args.seed,
        "threads": args.threads, "methods": args.methods, "other_methods": args.other_methods,
        "method_settings": {m: default_method_settings(args.max_size // 2).get(m, {}) for m in all_methods},
        "fit": {"lr": {m: default_fit_config(m).lr for m in all_methods}, "lr_schedule": fit_defaults.lr_schedule, "lr_final_factor": fit_defaults.lr_final_factor,
                "batch_size": config.batch_size},
        "cpu_seconds_per_step": {}, "curves": [],
    }
    runs: list[dict] = []
    started = time.perf_counter()
    plan = []
    for image_set in IMAGE_SETS:
        for position, path in enumerate(image_files(args.data / image_set, args.images_per_set)):
            plan += [(image_set, path, name, "equal_time") for name in args.methods]
            if position < args.equal_steps_images and {"ff", "sape-ff"} <= set(args.methods):
                plan.append((image_set, path, "ff", "equal_steps"))
    for image_set in IMAGE_SETS:
        for path in image_files(args.data / image_set, args.others_per_set):
            plan += [(image_set, path, name, "equal_time") for name in args.other_methods if name not in args.methods]

    for image_set, path, name, kind in plan:
        task = load_image_task(path, config)
        train_long_side = max(task.train_shape)
        method = MethodConfig(name=name, **default_method_settings(train_long_side).get(name, {}))
        fit = FitConfig(**{**default_fit_config(name).__dict__, "seed": args.seed, "threads": args.threads, "device": "cpu",
                           "progress_bar": False})
        if kind == "equal_steps":
            sape = next(r for r in runs if r["image"] == path.name and r["method"] == "sape-ff" and r["kind"] == "equal_time")
            steps = sape["steps"]
        else:
            per_step = costs.seconds_per_step(task, method, fit)
            settings["cpu_seconds_per_step"][name] = round(per_step, 4)
            steps = max(10, int(args.budget / per_step))
        fit = FitConfig(**{**fit.__dict__, "steps": steps})
        row = {"set": image_set, "image": path.name, "method": name, "kind": kind, "width_px": task.image.width,
               "height_px": task.image.height, **fit_with_clock(task, method, fit, args.every)}
        runs.append(row)
        if kind == "equal_time":
            costs.update(name, row["cpu_seconds"], row["steps"], min(config.batch_size, task.train_coords.shape[0]))
        print(f"[{time.perf_counter() - started:6.0f} s] {image_set}/{path.name} {name} ({kind}, {row['steps']} steps): PSNR all "
              f"{row['psnr_all_db']:.2f} held-out {row['psnr_heldout_db']:.2f} train {row['psnr_train_db']:.2f} dB in "
              f"{row['seconds']:.0f} s ({row['cpu_seconds']:.0f} s CPU)", flush=True)
        settings["curves"] = plot_curves(runs, all_methods, args.budget, args.every)
        write_report(settings, runs, all_methods)
    print((RESULTS_DIR / "images.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
