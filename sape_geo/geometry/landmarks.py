"""Correspondence points (landmarks) between a source mesh and a target shape.

A landmark pairs a source vertex with a target position. Files:

- **text** (any suffix but ``.csv`` / ``.json``): one pair a line, ``source_vertex target_vertex`` (both
  0-based; the target vertex indexes the target's vertices or points) or ``source_vertex x y z`` (a
  position in the target's file units); ``#`` starts a comment, and a comment after a pair is its name.
- **CSV**: the same two or four fields separated by commas (or by semicolons with decimal commas, as
  spreadsheets in many locales write them); an optional header line (``source,target`` or
  ``source,x,y,z``) and an optional last ``name`` column.
- **JSON**: a list of objects ``{"source": 12, "target": 40}`` or ``{"source": 12, "position": [x, y,
  z]}``, each with an optional ``"name"``; or ``{"landmarks": [...]}``. ``true``/``false`` are not numbers.
- **YAML marker lists** (:func:`read_marker_file`, the Deformation Transfer data sets): a ``markers:``
  list of ``"source:target"`` vertex pairs, each entry's comment its name.

Every error names the file and the line (or JSON entry): malformed numbers, index out of range, a
duplicated source vertex, NaN/Inf, too few pairs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sape_geo.arrays import from_tensor
from sape_geo.textfiles import read_text

MIN_LANDMARKS = 3


class LandmarkError(ValueError):
    """A landmark file or array that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Landmarks:
    """Pairs of a source vertex and a target position.

    Attributes
    ----------
    source_indices : (k,) int64 source vertex ids, 0-based, unique.
    target_positions : (k, 3) float64 positions in the target's file units.
    names : k names (empty strings where the file gave none).
    """

    source_indices: np.ndarray
    target_positions: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.source_indices.shape[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_indices": self.source_indices.tolist(),
            "target_positions": self.target_positions.tolist(),
            "names": list(self.names),
        }


@dataclass(frozen=True)
class _Row:
    where: str  # "line 3" or "entry 2"
    source: Any
    target: Any  # an index, or a sequence of 3 coordinates
    name: str


def _whole_number(text: Any, where: str, what: str) -> int:
    if isinstance(text, (bool, np.bool_)):  # JSON true is not vertex 1
        raise LandmarkError(f"{where}: {what} must be a whole number, got {str(bool(text)).lower()}")
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise LandmarkError(f"{where}: {what} must be a whole number, got {text!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise LandmarkError(f"{where}: {what} must be a whole number, got {text!r}")
    return int(number)


def _coordinates(values: Any, where: str) -> np.ndarray:
    if any(isinstance(v, (bool, np.bool_)) for v in values):
        shown = ", ".join(str(v).lower() if isinstance(v, (bool, np.bool_)) else str(v) for v in values)
        raise LandmarkError(f"{where}: target position must be 3 numbers, got [{shown}] (true/false are not numbers)")
    try:
        array = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise LandmarkError(f"{where}: target position must be 3 numbers, got {values!r}") from None
    if array.shape != (3,):
        raise LandmarkError(f"{where}: target position must be 3 numbers, got {len(array)}")
    if not np.isfinite(array).all():
        raise LandmarkError(f"{where}: target position has NaN/Inf: {array.tolist()}")
    return array


def _rows_from_fields(fields: list[str], where: str, name: str) -> _Row:
    if len(fields) == 2:
        return _Row(where, fields[0], fields[1], name)
    if len(fields) == 4:
        return _Row(where, fields[0], fields[1:4], name)
    raise LandmarkError(
        f"{where}: expected 'source_vertex target_vertex' or 'source_vertex x y z', got {len(fields)} fields"
    )


def _parse_text(text: str, label: str) -> list[_Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        content, _, comment = line.partition("#")
        fields = content.replace(",", " ").split()
        if fields:
            rows.append(_rows_from_fields(fields, f"{label}, line {number}", comment.strip()))
    return rows


def _decimal_point(field: str) -> str:
    """``"0,25"`` -> ``"0.25"``; any other text (a name) unchanged."""
    return field.replace(",", ".") if re.fullmatch(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?", field) else field


def _parse_csv(text: str, label: str) -> list[_Row]:
    # Spreadsheets set to a locale with decimal commas (German, French, ...) write ';' between fields.
    semicolons = ";" in next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    rows = []
    for number, record in enumerate(csv.reader(io.StringIO(text), delimiter=";" if semicolons else ","), start=1):
        fields = [_decimal_point(field.strip()) if semicolons else field.strip() for field in record]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if number == 1 and fields[0].lower() in ("source", "source_vertex", "src"):
            continue  # header
        name = ""
        if len(fields) in (3, 5):  # a trailing name column
            name, fields = fields[-1], fields[:-1]
        rows.append(_rows_from_fields(fields, f"{label}, line {number}", name))
    return rows


def _parse_json(text: str, label: str) -> list[_Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise LandmarkError(f"{label}, line {error.lineno}: invalid JSON: {error.msg}") from None
    if isinstance(data, dict):
        data = data.get("landmarks")
    if not isinstance(data, list):
        raise LandmarkError(f"{label}: expected a list of landmarks (or {{\"landmarks\": [...]}})")
    rows = []
    for number, entry in enumerate(data):
        where = f"{label}, entry {number}"
        if isinstance(entry, (list, tuple)):
            rows.append(_rows_from_fields([str(v) for v in entry], where, ""))
            continue
        if not isinstance(entry, dict) or "source" not in entry:
            raise LandmarkError(f"{where}: expected an object with 'source' and 'target' or 'position'")
        if ("target" in entry) == ("position" in entry):
            raise LandmarkError(f"{where}: give exactly one of 'target' (a vertex id) or 'position' ([x, y, z])")
        target = entry["target"] if "target" in entry else entry["position"]
        if "position" in entry and not isinstance(target, (list, tuple)):
            raise LandmarkError(f"{where}: 'position' must be [x, y, z]")
        rows.append(_Row(where, entry["source"], target, str(entry.get("name", ""))))
    return rows


def _resolve_rows(
    rows: list[_Row],
    num_source_vertices: int,
    target_points: np.ndarray | None,
    label: str,
    minimum: int,
) -> Landmarks:
    sources: list[int] = []
    positions: list[np.ndarray] = []
    first_seen: dict[int, str] = {}
    for row in rows:
        source = _whole_number(row.source, row.where, "source vertex")
        if not 0 <= source < num_source_vertices:
            raise LandmarkError(
                f"{row.where}: source vertex {source} is out of range; the source has {num_source_vertices} vertices (0-based)"
            )
        if source in first_seen:
            raise LandmarkError(f"{row.where}: source vertex {source} already has a landmark ({first_seen[source]})")
        first_seen[source] = row.where
        if isinstance(row.target, (list, tuple, np.ndarray)):
            position = _coordinates(row.target, row.where)
        else:
            target = _whole_number(row.target, row.where, "target vertex")
            if target_points is None:
                raise LandmarkError(f"{row.where}: a target vertex id needs the target's vertices; give x y z instead")
            if not 0 <= target < target_points.shape[0]:
                raise LandmarkError(
                    f"{row.where}: target vertex {target} is out of range; the target has {target_points.shape[0]} "
                    "vertices/points (0-based)"
                )
            position = np.asarray(target_points[target], dtype=np.float64)
        sources.append(source)
        positions.append(position)
    if len(sources) < minimum:
        raise LandmarkError(
            f"{label}: {len(sources)} landmark{'s' if len(sources) != 1 else ''} found, at least {minimum} are needed "
            "(or align without landmarks)"
        )
    return Landmarks(
        np.asarray(sources, dtype=np.int64).reshape(-1),
        np.asarray(positions, dtype=np.float64).reshape(-1, 3),
        tuple(row.name for row in rows),
    )


def load_landmarks(
    path: str | os.PathLike,
    num_source_vertices: int,
    target_points: np.ndarray | None = None,
    minimum: int = MIN_LANDMARKS,
) -> Landmarks:
    """Read and validate a landmark file (text, CSV or JSON; see the module docstring).

    Parameters
    ----------
    path : the file.
    num_source_vertices : the source's vertex count (ids are checked against it).
    target_points : (n, 3) target vertices or points, needed when the file gives target vertex ids.
    minimum : fewest pairs accepted.

    Raises
    ------
    FileNotFoundError : no such file.
    LandmarkError : any fault, naming the file and the line or entry.

    Example
    -------
    >>> marks = load_landmarks("assets/creatures.landmarks.txt", len(V_source), V_target)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"landmark file not found: {path}")
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        rows = _parse_json(text, str(path))
    elif suffix == ".csv":
        rows = _parse_csv(text, str(path))
    else:
        rows = _parse_text(text, str(path))
    return _resolve_rows(rows, num_source_vertices, target_points, str(path), minimum)


_MARKER_ENTRY = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def read_marker_file(path: str | os.PathLike) -> tuple[np.ndarray, tuple[str, ...]]:
    """The ``markers:`` list of a YAML file: ``(k, 2)`` int64 ``source_vertex, target_vertex`` pairs
    (entries ``"s:t"``, 0-based) and each pair's name, the comment after its entry
    (``- "80:267"  # front left foot``), empty where there is none. Other top-level keys are ignored.

    Entries are read as written (YAML would read an unquoted ``9:23`` as the base-60 number 563).

    Raises
    ------
    FileNotFoundError : no such file.
    LandmarkError : invalid YAML, no ``markers:`` list, or an entry that is not two vertex numbers;
        the message names the file, the line and the entry.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"landmark file not found: {path}")
    text = read_text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise LandmarkError(f"{path}, line {mark.line + 1 if mark else '?'}: invalid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise LandmarkError(f"{path}: invalid YAML: {error}") from None
    if not isinstance(root, yaml.MappingNode):
        raise LandmarkError(f"{path}: expected a YAML mapping with a 'markers:' list of \"source:target\" entries")
    found = [(key, value) for key, value in root.value if isinstance(key, yaml.ScalarNode) and key.value == "markers"]
    if not found:
        keys = ", ".join(repr(key.value) for key, _ in root.value if isinstance(key, yaml.ScalarNode)) or "none"
        raise LandmarkError(f"{path}: no 'markers:' list of \"source:target\" entries (top-level keys: {keys})")
    if len(found) > 1:
        raise LandmarkError(f"{path}, line {found[1][0].start_mark.line + 1}: a second 'markers:' key")
    markers = found[0][1]
    if not isinstance(markers, yaml.SequenceNode) or not markers.value:
        raise LandmarkError(f"{path}, line {markers.start_mark.line + 1}: 'markers' must be a list of \"source:target\" entries")
    lines = text.splitlines()
    pairs, names = [], []
    for entry in markers.value:
        match = _MARKER_ENTRY.match(entry.value) if isinstance(entry, yaml.ScalarNode) else None
        if match is None:
            shown = repr(entry.value) if isinstance(entry, yaml.ScalarNode) else "a nested list or mapping"
            raise LandmarkError(
                f"{path}, line {entry.start_mark.line + 1}: marker entry {shown} is not \"source:target\" "
                "(two vertex numbers, 0-based)"
            )
        pairs.append((int(match.group(1)), int(match.group(2))))
        end = entry.end_mark
        comment = re.match(r"\s*#\s*(.*?)\s*$", lines[end.line][end.column:]) if end.line < len(lines) else None
        names.append(comment.group(1) if comment else "")
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), tuple(names)


def landmarks_as_positions(path: str | os.PathLike, target_points: np.ndarray) -> Landmarks:
    """Any landmark file (text, CSV, JSON or a YAML ``markers:`` list) with its target vertex ids
    replaced by those vertices' positions in ``target_points`` ``(n, 3)``: what a point-cloud target
    (a scan of that mesh) needs, since ids would index the scan's points instead.

    Raises
    ------
    FileNotFoundError : no such file.
    LandmarkError : any fault of the file, naming the line; a target id out of range.
    """
    path = Path(path)
    target_points = np.asarray(target_points, dtype=np.float64)
    if path.suffix.lower() in (".yml", ".yaml"):
        pairs, names = read_marker_file(path)
        rows = [_Row(f"{path}, marker {k}", int(s), int(t), names[k]) for k, (s, t) in enumerate(pairs)]
    else:
        rows = {".json": _parse_json, ".csv": _parse_csv}.get(path.suffix.lower(), _parse_text)(read_text(path), str(path))
    any_source = np.iinfo(np.int64).max  # the source is not given: its ids are checked when the landmarks are used
    return _resolve_rows(rows, any_source, target_points, str(path), MIN_LANDMARKS)


def landmarks_from_arrays(
    source_indices: np.ndarray,
    target_positions: np.ndarray,
    num_source_vertices: int,
    names: tuple[str, ...] | None = None,
    minimum: int = MIN_LANDMARKS,
) -> Landmarks:
    """Validated :class:`Landmarks` from arrays (the Python API's path); errors name the entry."""
    indices = np.asarray(from_tensor(source_indices)).reshape(-1)
    positions = np.asarray(from_tensor(target_positions), dtype=np.float64)
    if positions.shape != (indices.shape[0], 3):
        raise LandmarkError(f"landmarks: target positions must be ({indices.shape[0]}, 3), got {positions.shape}")
    names = tuple(names) if names is not None else ("",) * indices.shape[0]
    rows = [_Row(f"landmarks, entry {k}", indices[k], list(positions[k]), names[k]) for k in range(indices.shape[0])]
    return _resolve_rows(rows, num_source_vertices, None, "landmarks", minimum)


def save_landmarks(path: str | os.PathLike, landmarks: Landmarks, target_indices: np.ndarray | None = None) -> None:
    """Write the text format atomically: ``source target`` when ``target_indices`` is given, else ``source x y z``."""
    from sape_geo.atomic import write_text_atomic

    lines = ["# source_vertex " + ("target_vertex" if target_indices is not None else "x y z") + "  # name"]
    for k in range(len(landmarks)):
        if target_indices is not None:
            pair = f"{landmarks.source_indices[k]} {int(target_indices[k])}"
        else:
            x, y, z = landmarks.target_positions[k]
            pair = f"{landmarks.source_indices[k]} {x:.9g} {y:.9g} {z:.9g}"
        name = landmarks.names[k] if k < len(landmarks.names) else ""
        lines.append(f"{pair}  # {name}" if name else pair)
    write_text_atomic(path, "\n".join(lines) + "\n")
