"""The batch summary: one row per job with its matrix values, status and metrics, as CSV and markdown.

``summary.csv`` has one table with every column any job has; ``summary.md`` has one table per task
(tasks report different metrics) with a few key columns for reading: the run, its status and seconds,
the values that vary, and the task's headline metrics (every metric is in the CSV). Both files are
sape-geo's own (:func:`sape_geo.runs.write_owned_files`): a file of that name the user wrote, or
edited, is never replaced.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sape_geo.runs import check_owned_files, is_complete_run, is_run_directory, write_owned_files
from sape_geo_apps.batch.pipeline import Job
from sape_geo_apps.batch.worker import JobOutcome

SUMMARY_CSV = "summary.csv"
SUMMARY_MARKDOWN = "summary.md"
SUMMARY_FILES = (SUMMARY_CSV, SUMMARY_MARKDOWN)
_LEADING = ("run", "task", "status", "seconds", "worker")
# The metrics that compare runs at a glance, in this order; a task reporting none of them shows its
# first few numeric metrics instead. The rest stays in the CSV.
_HEADLINE_METRICS = (
    "chamfer_l1_pct_diag", "hausdorff_pct_diag", "folded_edges", "inverted_triangles",  # transfer
    "iou", "self_intersections",  # silhouette (and its Chamfer above)
    "psnr_all_db", "psnr_heldout_db",  # image
    "iou_uniform", "iou_near_surface",  # occupancy
    "mse_smooth_region", "mse_oscillating_region",  # fit1d
)
_MARKDOWN_METRICS = 5


def summary_rows(jobs: Sequence[Job], outcomes: dict[str, JobOutcome]) -> list[dict[str, Any]]:
    """One row per job, in pipeline order: run, task, status, seconds, worker, axes, metrics, warnings, error."""
    rows = []
    for job in jobs:
        outcome = outcomes[job.run_name]
        row: dict[str, Any] = {
            "run": job.run_name,
            "task": job.task,
            "status": outcome.status,
            "seconds": round(outcome.seconds, 3),
            "worker": outcome.worker,
        }
        row.update(job.axis_values)
        row.update({key: _plain(value) for key, value in outcome.metrics.items() if _is_scalar(value)})
        if outcome.notes:  # "warnings": a task may report "notes" among its metrics (occupancy does)
            row["warnings"] = " | ".join(outcome.notes)
        row["error"] = outcome.error or ""
        rows.append(row)
    return rows


def check_summary_files(out_root: str | os.PathLike) -> None:
    """Raise before a batch runs when ``summary.csv`` or ``summary.md`` in ``out_root`` is not sape-geo's.

    Raises
    ------
    RunDirectoryExistsError : names the file (a user's own, or one edited since sape-geo wrote it).
    """
    check_owned_files(out_root, SUMMARY_FILES)


def write_summary(
    out_root: str | os.PathLike,
    rows: Sequence[dict[str, Any]],
    axes: Sequence[str] = (),
    inputs: Sequence[str] = (),
    others: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.md`` into ``out_root`` (atomically, and only over summaries
    sape-geo wrote there). ``axes`` are the columns that hold the jobs' settings and inputs (the rest
    are metrics), ``inputs`` those of them that are input files; ``others`` are finished runs in the
    folder that are not in ``rows``.

    Returns
    -------
    The paths of ``summary.csv`` and ``summary.md``.

    Raises
    ------
    RunDirectoryExistsError : a summary file there is not sape-geo's (nothing is written).
    """
    csv_path, markdown_path = write_owned_files(out_root, {SUMMARY_CSV: summary_csv(rows), SUMMARY_MARKDOWN: summary_markdown(rows, axes, inputs, others)})
    return csv_path, markdown_path


def other_finished_runs(out_root: str | os.PathLike, run_names: Sequence[str]) -> list[str]:
    """Finished runs in ``out_root`` (``GROUP/RUN`` folders) that are not among ``run_names``: jobs of
    other pipelines that share the folder."""
    out_root, listed = Path(out_root), set(run_names)
    found = []
    for group in _folders(out_root):
        for run in _folders(group):
            name = f"{group.name}/{run.name}"
            if name not in listed and is_run_directory(run) and is_complete_run(run):
                found.append(name)
    return found


def _folders(path: Path) -> list[Path]:
    """The visible sub-folders of ``path``; none where it cannot be read (``--out ~`` holds folders we may not list)."""
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except OSError:
        return []


def summary_csv(rows: Sequence[dict[str, Any]]) -> str:
    columns = _columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def summary_markdown(
    rows: Sequence[dict[str, Any]], axes: Sequence[str] = (), inputs: Sequence[str] = (), others: Sequence[str] = ()
) -> str:
    """One table per task with its key columns (:func:`markdown_columns`); ``others`` (finished runs
    of other pipelines in the folder) are named below the tables."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    lines = [
        "# Batch summary", "",
        f"{len(rows)} jobs of this pipeline: " + ", ".join(f"{n} {status}" for status, n in counts.items())
        + f". Key columns only: every setting and metric is in {SUMMARY_CSV}.", "",
    ]
    for task in dict.fromkeys(row["task"] for row in rows):
        task_rows = [row for row in rows if row["task"] == task]
        columns = markdown_columns(task_rows, axes, inputs)
        lines += [f"## {task}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in task_rows:
            lines.append("| " + " | ".join(_cell(row.get(column, "")) for column in columns) + " |")
        lines.append("")
    if others:
        lines += [
            f"## Other finished runs in this folder ({len(others)})", "",
            "Not jobs of this pipeline (another pipeline wrote them here); each has its metrics.json:", "",
            *[f"- {name}" for name in others], "",
        ]
    return "\n".join(lines)


def markdown_columns(rows: Sequence[dict[str, Any]], axes: Sequence[str] = (), inputs: Sequence[str] = ()) -> list[str]:
    """The reading table's columns for one task's rows: run, status, seconds, the settings among
    ``axes`` whose values differ between rows (input files are named by the run folder's name, so
    their long paths stay in the CSV), up to five headline metrics, and ``error`` when a job failed."""
    present = [c for c in _columns(rows) if c not in _LEADING and c != "error"]
    varying = [c for c in present if c in axes and c not in inputs and len({str(row.get(c, "")) for row in rows}) > 1]
    metric_names = [c for c in present if c not in axes]
    metrics = [name for name in _HEADLINE_METRICS if name in metric_names]
    if not metrics:
        metrics = [name for name in metric_names if not name.endswith("_seconds") and any(_is_number(row.get(name)) for row in rows)]
    columns = ["run", "status", "seconds", *varying, *metrics[:_MARKDOWN_METRICS]]
    if any(row.get("error") for row in rows):
        columns.append("error")
    return columns


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Leading columns, then every other key in first-seen order, ``error`` last."""
    seen = dict.fromkeys(_LEADING)
    for row in rows:
        seen.update(dict.fromkeys(key for key in row if key != "error"))
    return [*seen, "error"]


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, numbers.Real))


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers, so CSV and markdown print them alike."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return value


def _cell(value: Any) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value).replace("|", "\\|").replace("\n", " ")
