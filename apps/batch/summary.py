"""The batch summary: one row per job with its matrix values, status and metrics, as CSV and markdown.

``summary.csv`` has one table with every column any job has; ``summary.md`` has one table per task
(tasks report different metrics) with the scalar metrics rounded for reading.
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

from sape_geo.runs import write_text_atomic
from sape_geo_apps.batch.pipeline import Job
from sape_geo_apps.batch.worker import JobOutcome

SUMMARY_CSV = "summary.csv"
SUMMARY_MARKDOWN = "summary.md"
_LEADING = ("run", "task", "status", "seconds", "worker")
# Bookkeeping that makes the reading table wide without helping to compare runs (kept in the CSV).
_MARKDOWN_SKIPS = {"stop_message", "evaluate_seconds", "parameters", "max_progress"}


def summary_rows(jobs: Sequence[Job], outcomes: dict[str, JobOutcome]) -> list[dict[str, Any]]:
    """One row per job, in pipeline order: run, task, status, seconds, worker, axes, metrics, error."""
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
        row["error"] = outcome.error or ""
        rows.append(row)
    return rows


def write_summary(out_root: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.md`` into ``out_root`` (atomically); returns their paths."""
    out_root = Path(out_root)
    csv_path, markdown_path = out_root / SUMMARY_CSV, out_root / SUMMARY_MARKDOWN
    write_text_atomic(csv_path, summary_csv(rows))
    write_text_atomic(markdown_path, summary_markdown(rows))
    return csv_path, markdown_path


def summary_csv(rows: Sequence[dict[str, Any]]) -> str:
    columns = _columns(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def summary_markdown(rows: Sequence[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    lines = ["# Batch summary", "", f"{len(rows)} jobs: " + ", ".join(f"{n} {status}" for status, n in counts.items()), ""]
    for task in dict.fromkeys(row["task"] for row in rows):
        task_rows = [row for row in rows if row["task"] == task]
        columns = [c for c in _columns(task_rows) if c not in _MARKDOWN_SKIPS and c not in ("task", "worker")]
        if not any(row["error"] for row in task_rows):
            columns.remove("error")
        lines += [f"## {task}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in task_rows:
            lines.append("| " + " | ".join(_cell(row.get(column, "")) for column in columns) + " |")
        lines.append("")
    return "\n".join(lines)


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Leading columns, then every other key in first-seen order, ``error`` last."""
    seen = dict.fromkeys(_LEADING)
    for row in rows:
        seen.update(dict.fromkeys(key for key in row if key != "error"))
    return [*seen, "error"]


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
