"""Helpers every benchmark uses: where the data is, where results go, and writing them as JSON plus a
markdown table."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sape_geo.atomic import write_json_atomic, write_text_atomic
from sape_geo.provenance import environment_versions
from sape_geo.registry import DEFAULT_THREADS

# ./benchmarks under the working directory (the repository's own when run from its root, as the README
# says), or $SAPE_GEO_BENCH_DIR: never beside this file.
RESULTS_DIR = Path(os.environ.get("SAPE_GEO_BENCH_DIR", "benchmarks")).absolute()

# The repository's root (this folder's parent): the benchmarks read its assets/.
ROOT = Path(__file__).resolve().parents[1]

# The data the benchmarks read is not the project's (tests use assets/ instead): by default the shared
# data folder beside the repository, else whatever --data names.
SHARED_DATA = ROOT.parent / "shared" / "data"


def benchmark_parser(description: str, results_name: str | None = None) -> argparse.ArgumentParser:
    """The parser a benchmark starts from: ``description`` (its module docstring) shown as written and,
    given ``results_name``, ``--name``: the stem of the result files it writes into ``benchmarks/``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if results_name is not None:
        parser.add_argument("--name", default=results_name, help="result files benchmarks/<name>.* (default %(default)s)")
    return parser


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    """``--seed N``: the seed of every fit the benchmark runs (default 0)."""
    parser.add_argument("--seed", type=int, default=0, help="seed of every fit (default %(default)s)")


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: torch CPU threads per fit; the default is the command line's
    (:data:`~sape_geo.registry.DEFAULT_THREADS`), so a row reproduces ``sape-geo TASK``'s numbers."""
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch CPU threads per fit (default %(default)s)")


def add_transfer_steps_argument(parser: argparse.ArgumentParser) -> None:
    """``--steps N`` of a mesh-transfer benchmark: None leaves the transfer's own default."""
    parser.add_argument("--steps", type=int, default=None, help="fit steps (default: the transfer default)")


def add_data_argument(parser: argparse.ArgumentParser, subfolder: str = "", holds: str = "the data folder") -> None:
    """``--data DIR``: what the benchmark reads; resolve it with :func:`data_folder` after parsing."""
    default = "/".join(("../shared/data", subfolder)) if subfolder else "../shared/data"
    parser.add_argument("--data", type=Path, default=None, metavar="DIR", help=f"{holds} (default {default} beside the repository)")


def data_folder(parser: argparse.ArgumentParser, given: Path | None, subfolder: str = "") -> Path:
    """``--data`` if given, else ``SHARED_DATA / subfolder``; a folder that is not there ends the run
    with one line (``parser.error``, exit code 2) naming what to pass."""
    folder = given if given is not None else SHARED_DATA / subfolder
    if not folder.is_dir():
        parser.error(f"--data: {given} is not a folder" if given is not None
                     else f"no data folder ../shared/data{'/' + subfolder if subfolder else ''} beside the repository: pass --data DIR")
    return folder


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
        return str(Path("..") / resolved.relative_to(ROOT.parent))
    except ValueError:
        return str(Path(*resolved.parts[-2:]))


def process_status_mb(key: str) -> float:
    """A ``/proc/self/status`` memory field (``VmHWM``, ``VmRSS``) in MB; 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def peak_memory_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` on Linux. ``getrusage``'s ``ru_maxrss`` is the
    fallback elsewhere; on Linux a child keeps the maxrss of the parent it was forked from across
    ``exec``, so it cannot tell runs in fresh processes apart."""
    import resource

    return process_status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_in_fresh_process(target, job: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``target(job, queue)`` in a new interpreter (``spawn``) and return the row it puts on the queue.

    A fresh process per row keeps one run's memory peak and imports out of the next one's numbers. A
    child that dies without answering raises instead of leaving the benchmark waiting for ever.
    """
    import multiprocessing
    import queue as queue_module

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=target, args=(job, results))
    process.start()
    while True:
        try:
            row = results.get(timeout=5)
            break
        except queue_module.Empty:
            if not process.is_alive():
                raise RuntimeError(f"the benchmark process {target.__name__} died with exit code {process.exitcode}") from None
    process.join()
    return row
