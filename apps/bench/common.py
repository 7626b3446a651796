"""Helpers every benchmark uses: where results go, and writing them as JSON plus a markdown table."""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sape_geo.runs import environment_versions, write_json_atomic, write_text_atomic

# ./benchmarks under the working directory (the repository's own when run from its root, as the README
# says), or $SAPE_GEO_BENCH_DIR: never beside this file, which is inside site-packages once installed.
RESULTS_DIR = Path(os.environ.get("SAPE_GEO_BENCH_DIR", "benchmarks")).absolute()


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], float_format: str = "{:.4g}") -> str:
    """Rows of dicts -> a GitHub markdown table with the given columns."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return float_format.format(value)
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def group_means(
    runs: Sequence[Mapping[str, Any]], keys: Sequence[str], fields: Sequence[str], count_name: str, order: Sequence[str],
    prefix: str = "mean_",
) -> list[dict[str, Any]]:
    """One row per distinct combination of ``keys``: the keys, the number of runs as ``count_name``, and
    ``<prefix><field>`` (default ``mean_<field>``) for each of ``fields``.

    Only runs whose ``method`` is in ``order`` count; rows follow the first key's first appearance, then
    the methods' order in ``order``.
    """
    chosen_runs = sorted((run for run in runs if run["method"] in order), key=lambda run: order.index(run["method"]))
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for run in chosen_runs:
        groups.setdefault(tuple(run[key] for key in keys), []).append(run)
    first_seen = {key: position for position, key in enumerate(dict.fromkeys(run[keys[0]] for run in runs))}
    rows = []
    for values, group in sorted(groups.items(), key=lambda item: first_seen[item[0][0]]):
        row: dict[str, Any] = dict(zip(keys, values))
        row[count_name] = len(group)
        row.update({f"{prefix}{field}": statistics.fmean(run[field] for run in group) for field in fields})
        rows.append(row)
    return rows


def write_results(name: str, payload: Mapping[str, Any], markdown: str, directory: Path = RESULTS_DIR) -> tuple[Path, Path]:
    """Write ``benchmarks/<name>.json`` (payload + versions) and ``benchmarks/<name>.md``."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
    write_json_atomic(json_path, {**payload, "versions": environment_versions()})
    write_text_atomic(md_path, markdown)
    return json_path, md_path


def display_path(path: Path) -> str:
    """A data path as a table may show it: relative to the repository's parent (``../shared/data/...``),
    else its last two parts, so no table carries a machine-specific path."""
    resolved = Path(path).resolve()
    try:
        return str(Path("..") / resolved.relative_to(Path(__file__).resolve().parents[3]))
    except ValueError:
        return str(Path(*resolved.parts[-2:]))
