"""The pipeline file: jobs as a matrix of inputs x methods x settings x seeds, validated up front.

A pipeline is YAML::

    defaults:                    # optional; every job starts from these
      settings: {steps: 300}
      resources: {cpus: 1, gpus: 0}
    jobs:
      - name: sweep              # optional; names the folder DIR/sweep/ (default: the task's name)
        task: fit1d              # a registered task plugin (``sape-geo TASK``)
        methods: [ff, sape-ff]   # a matrix axis (``--method``)
        seeds: [0, 1]            # a matrix axis (``--seed``)
        settings:
          frequency: [4, 8]      # a list is a matrix axis ...
          train_samples: 64      # ... a single value is passed to every job
      - name: template-to-scans
        task: transfer
        inputs:                  # task arguments that are files: a path or a glob (relative to this file)
          source: meshes/template.obj
          target: scans/*.obj    # one job per match
      - task: transfer
        inputs:                  # a list of input sets: pairs that belong together
          - {source: a_source.obj, target: a_target.obj}
          - {source: b_source.obj, target: b_target.obj}

Settings are named by their field (``hidden_dim``) or as on the command line (``hidden``); every job's
settings are built and checked before anything runs (:mod:`~sape_geo_apps.batch.job_settings`), and any
error names the file and line it comes from (:class:`PipelineError`).
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sape_geo.registry import TaskPlugin
from sape_geo.provenance import file_sha256
from sape_geo_apps.batch.job_settings import AXES, RESERVED, TaskFields
from sape_geo_apps.batch.task_registry import InstalledTasks
from sape_geo_apps.batch.yaml_nodes import Node, YamlSyntaxError, parse_yaml

_TOP_KEYS = ("defaults", "jobs")
_DEFAULT_KEYS = ("methods", "seeds", "settings", "resources")
_JOB_KEYS = ("name", "task", "inputs", "methods", "seeds", "settings", "resources")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GLOB_CHARACTERS = re.compile(r"[*?\[]")


class PipelineError(ValueError):
    """An invalid pipeline file. The message starts with ``FILE:LINE:``.

    Attributes
    ----------
    source : the pipeline file (or ``<string>``).
    line : 1-based line of the offending value (0 when the whole file is at fault).
    """

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source, self.line = source, line
        super().__init__(f"{source}:{line}: {message}")


@dataclass(frozen=True)
class Resources:
    """What one job asks of an engine.

    Attributes
    ----------
    cpus : CPU cores (Ray's ``num_cpus``, and the job's torch threads on Ray).
    gpus : GPUs, fractions allowed (Ray's ``num_gpus``); the local engine ignores it.
    """

    cpus: int = 1
    gpus: float = 0.0


@dataclass(frozen=True)
class Job:
    """One run of one task: a point of a pipeline entry's matrix.

    Attributes
    ----------
    run_name : the run directory relative to the batch output folder, e.g. ``sweep/ff-s0-3f2a9c1e``;
        the trailing hash covers every setting and the inputs' content, so changing a pipeline or an
        input file never reuses a stale run.
    group : the pipeline entry's name (the first folder of ``run_name``).
    task : the task plugin's name.
    method : the method's name.
    inputs : the task's input files by name (absolute paths).
    values : the settings by field name, of their fields' types, in the pipeline's order
        (:meth:`~sape_geo_apps.batch.job_settings.TaskFields.build` turns them into settings).
    command_line : ``sape-geo TASK``'s arguments for the same run, without ``--out``: for showing it.
    axes : the values of this job on the entry's matrix axes (input names, method, seed, settings),
        for the summary table.
    resources : CPU/GPU request.
    line : line of the pipeline entry.
    input_names : which of ``axes`` are input files (the rest are settings).
    """

    run_name: str
    group: str
    task: str
    method: str
    inputs: tuple[tuple[str, str], ...]
    values: tuple[tuple[str, Any], ...]
    command_line: tuple[str, ...]
    axes: tuple[tuple[str, Any], ...]
    resources: Resources
    line: int
    input_names: tuple[str, ...] = ()

    @property
    def axis_values(self) -> dict[str, Any]:
        return dict(self.axes)


@dataclass(frozen=True)
class Pipeline:
    """A validated, expanded pipeline: every job it will run, in file order.

    Attributes
    ----------
    source : where it was read from.
    jobs : the expanded jobs.
    """

    source: str
    jobs: tuple[Job, ...]

    def __len__(self) -> int:
        return len(self.jobs)


def load_pipeline(path: str | os.PathLike, plugins: Mapping[str, TaskPlugin] | None = None) -> Pipeline:
    """Read, validate and expand a pipeline file.

    Parameters
    ----------
    path : the YAML file; relative input paths and globs in it are relative to its folder.
    plugins : task plugins by name (default: the installed ones, each imported when the file names it).

    Raises
    ------
    FileNotFoundError : no such file.
    PipelineError : anything wrong in it, with the line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pipeline file not found: {path}")
    return parse_pipeline(path.read_text(encoding="utf-8"), source=str(path), base_dir=path.parent, plugins=plugins)


def parse_pipeline(
    text: str,
    source: str = "<string>",
    base_dir: str | os.PathLike = ".",
    plugins: Mapping[str, TaskPlugin] | None = None,
) -> Pipeline:
    """Validate and expand a pipeline given as text (e.g. from a notebook cell); see :func:`load_pipeline`."""
    try:
        root = parse_yaml(text, source)
    except YamlSyntaxError as error:
        raise PipelineError(source, _line_of(str(error)), str(error).split(": ", 1)[1]) from None
    reader = _PipelineReader(source, Path(base_dir), dict(plugins) if plugins is not None else InstalledTasks())
    return Pipeline(source, tuple(reader.read(root)))


def _line_of(message: str) -> int:
    match = re.match(r"^.*?:(\d+): ", message)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True)
class _Axis:
    """One matrix axis (or fixed setting) of an entry: its name as written (``-`` for ``_``; it labels
    run folders), the setting's field (None for the method), its values as written (for labels and
    the summary) and as the field's type, where it was written."""

    name: str
    field: str | None
    values: tuple[Any, ...]
    typed: tuple[Any, ...]
    line: int
    varies: bool


class _PipelineReader:
    """Turns the parsed YAML into jobs; every check raises :class:`PipelineError` with a line."""

    def __init__(self, source: str, base_dir: Path, plugins: Mapping[str, TaskPlugin]) -> None:
        self.source, self.base_dir, self.plugins = source, Path(os.path.abspath(base_dir)), plugins
        self._fields: dict[str, TaskFields] = {}
        self._digests: dict[str, str] = {}  # input file -> SHA-256 of its content

    def error(self, line: int, message: str) -> PipelineError:
        return PipelineError(self.source, line, message)

    def read(self, root: Node | None) -> list[Job]:
        if root is None or not root.is_mapping:
            raise self.error(root.line if root else 1, "a pipeline is a mapping with a 'jobs' list (and optional 'defaults')")
        self._check_keys(root, _TOP_KEYS, "the pipeline")
        if "jobs" not in root.value:
            raise self.error(root.line, "the pipeline has no 'jobs' list")
        defaults = root.value.get("defaults")
        if defaults is not None:
            if not defaults.is_mapping:
                raise self.error(defaults.line, "'defaults' must be a mapping")
            self._check_keys(defaults, _DEFAULT_KEYS, "'defaults'")
        entries = root.value["jobs"]
        if not entries.is_list or not entries.value:
            raise self.error(entries.line, "'jobs' must be a non-empty list of job entries")
        jobs: list[Job] = []
        groups: dict[str, int] = {}
        for index, entry in enumerate(entries.value):
            group = self._group_name(entry, index, entries.value)
            if group in groups:
                raise self.error(entry.line, f"job name {group!r} is used twice (first on line {groups[group]}); names must be unique")
            groups[group] = entry.line
            expanded = self._expand(entry, group, defaults)
            runs = [job.run_name for job in expanded]
            repeated = next((run for run in runs if runs.count(run) > 1), None)
            if repeated is not None:
                raise self.error(entry.line, f"job {repeated!r} would run twice with the same settings (a value repeated in a list?)")
            jobs.extend(expanded)
        return jobs

    def _check_keys(self, node: Node, allowed: tuple[str, ...], where: str) -> None:
        for key in node.value:
            if key not in allowed:
                raise self.error(node.key_lines[key], f"unknown key {key!r} in {where}; allowed: {', '.join(allowed)}")

    def _group_name(self, entry: Node, index: int, entries: list[Node]) -> str:
        if not entry.is_mapping:
            raise self.error(entry.line, "each job entry must be a mapping with at least 'task'")
        self._check_keys(entry, _JOB_KEYS, "a job entry")
        if "task" not in entry.value:
            raise self.error(entry.line, "job entry has no 'task'")
        if "name" in entry.value:
            name = entry.value["name"]
            if not isinstance(name.value, str) or not _SAFE_NAME.match(name.value):
                raise self.error(name.line, f"job name {name.value!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
            return name.value
        task = str(entry.value["task"].value)
        same_task = [e for e in entries if e.is_mapping and "name" not in e.value and str(e.value.get("task", Node(None, 0)).value) == task]
        return task if len(same_task) == 1 else f"{task}-{index + 1}"

    def _task_fields(self, node: Node) -> TaskFields:
        task = node.value
        try:
            installed = isinstance(task, str) and task in self.plugins
        except Exception as error:  # a plugin that fails to import: say which, and why
            raise self.error(node.line, f"task {task!r} failed to load: {type(error).__name__}: {error}") from None
        if not installed:
            known = ", ".join(sorted(self.plugins)) or "none installed"
            raise self.error(node.line, f"unknown task {task!r}; installed tasks: {known}")
        if task not in self._fields:
            self._fields[task] = TaskFields(self.plugins[task])
        return self._fields[task]

    def _expand(self, entry: Node, group: str, defaults: Node | None) -> list[Job]:
        fields = self._task_fields(entry.value["task"])
        task = entry.value["task"].value
        resources = self._resources(entry, defaults)
        axes = self._axes(entry, defaults, fields)
        input_sets = self._input_sets(entry, fields)
        varying_inputs = {name for name in {n for s in input_sets for n in s} if len({s.get(name) for s in input_sets}) > 1}
        jobs = []
        for inputs in input_sets:
            files = {name.replace("-", "_"): path for name, path in inputs.items() if name.replace("-", "_") in fields.input_names}
            # an input that is a setting (transfer's carry): a path, of the setting's type
            file_settings = [
                (field, fields.value(field, path)) for name, path in inputs.items()
                if (field := fields.field_name(name)) is not None and name.replace("-", "_") not in fields.input_names
            ]
            for indices in itertools.product(*(range(len(axis.values)) for axis in axes)):
                values = [axis.values[i] for axis, i in zip(axes, indices)]
                chosen = dict(zip((axis.name for axis in axes), values))
                method = chosen.get("method", fields.plugin.default_method)
                settings_values = file_settings + [(axis.field, axis.typed[i]) for axis, i in zip(axes, indices) if axis.field is not None]
                digest = self._job_digest(fields, method, settings_values, entry, axes, inputs)
                labels = [Path(inputs[name]).stem for name in inputs if name in varying_inputs]
                labels += [_label(axis, value) for axis, value in zip(axes, values) if axis.varies or axis.name in ("method", "seed")]
                jobs.append(
                    Job(
                        run_name=f"{group}/{_run_folder(labels, digest)}",
                        group=group,
                        task=task,
                        method=method,
                        inputs=tuple(files.items()),
                        values=tuple(settings_values),
                        command_line=tuple(fields.command_line(files, chosen.get("method"), settings_values)),
                        axes=tuple((name, _relative(path, self.base_dir)) for name, path in inputs.items()) + tuple(chosen.items()),
                        resources=resources,
                        line=entry.line,
                        input_names=tuple(inputs),
                    )
                )
        return jobs

    def _job_digest(
        self, fields: TaskFields, method: str, values: list[tuple[str, Any]], entry: Node, axes: list[_Axis], inputs: dict[str, str]
    ) -> str:
        """A hash of what the job means: the task, its settings that differ from the task's defaults
        (:meth:`TaskFields.meaning`) and the content of its input files. Two pipelines naming the same
        job (through other relative paths, a default written out or left out) get the same run; a
        changed input file or setting gets a new one. Building the settings runs their own checks:
        raises :class:`PipelineError` at the line of the setting they refuse."""
        try:
            settings, overrides = fields.build(method, dict(values))
        except ValueError as error:
            message = str(error)
            field = next((name for name, _ in values if message.startswith((f"{name} ", f"{name}:"))), None)
            axis = next((axis for axis in axes if axis.field is not None and axis.field == field), None)
            key = axis.name if axis is not None else next((n for n in inputs if fields.field_name(n) == field), None)
            line = axis.line if axis is not None else self._input_line(entry, key)
            named = f"setting {key!r}: " if key is not None else ""
            raise self.error(line or entry.line, f"task {fields.plugin.name!r} rejects this job: {named}{message}") from None
        meaning = fields.meaning(method, settings, overrides)
        meaning.update({f"input.{name}": f"sha256:{self._content_digest(path)}" for name, path in inputs.items()})
        text = json.dumps([fields.plugin.name, meaning], sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]

    def _content_digest(self, path: str) -> str:
        if path not in self._digests:
            self._digests[path] = file_sha256(path)
        return self._digests[path]

    def _input_line(self, entry: Node, name: str | None) -> int | None:
        inputs = entry.value.get("inputs")
        if name is None or inputs is None:
            return None
        if inputs.is_mapping:
            return inputs.key_lines.get(name)
        return inputs.line

    def _resources(self, entry: Node, defaults: Node | None) -> Resources:
        merged: dict[str, Node] = {}
        for node in (defaults.value.get("resources") if defaults else None, entry.value.get("resources")):
            if node is None:
                continue
            if not node.is_mapping:
                raise self.error(node.line, "'resources' must be a mapping like {cpus: 1, gpus: 0}")
            self._check_keys(node, ("cpus", "gpus"), "'resources'")
            merged.update(node.value)
        cpus = merged.get("cpus", Node(1, 0))
        gpus = merged.get("gpus", Node(0.0, 0))
        if isinstance(cpus.value, bool) or not isinstance(cpus.value, int) or cpus.value < 1:
            raise self.error(cpus.line, f"resources.cpus must be a whole number >= 1, got {cpus.value!r}")
        if isinstance(gpus.value, bool) or not isinstance(gpus.value, (int, float)) or not 0 <= gpus.value < float("inf"):
            raise self.error(gpus.line, f"resources.gpus must be a number >= 0, got {gpus.value!r}")
        return Resources(cpus=cpus.value, gpus=float(gpus.value))

    def _axes(self, entry: Node, defaults: Node | None, fields: TaskFields) -> list[_Axis]:
        """Methods, settings (in file order) and seeds of an entry, defaults filled in."""
        settings: dict[str, tuple[Node, int]] = {}
        for scope in (defaults, entry):
            node = scope.value.get("settings") if scope else None
            if node is None:
                continue
            if not node.is_mapping:
                raise self.error(node.line, "'settings' must be a mapping of setting: value (a list = one job per value)")
            for key, value in node.value.items():
                settings[key.replace("_", "-")] = (value, node.key_lines[key])
        for key, (value, line) in settings.items():
            field = fields.field_name(key)
            if key in ("method", "seed") or field in AXES:
                axis = AXES.get(field, f"{key}s")
                raise self.error(line, f"write '{axis}: [...]' beside 'settings', not '{key}' inside it")
        axes: list[_Axis] = []
        methods = entry.value.get("methods") or (defaults.value.get("methods") if defaults else None)
        if methods is not None:
            axes.append(self._method_axis(methods, fields))
        for key, (value, line) in settings.items():
            axes.append(self._axis(key, value, line, fields))
        seeds = entry.value.get("seeds") or (defaults.value.get("seeds") if defaults else None)
        if seeds is not None:
            axes.append(self._axis("seed", seeds, seeds.line, fields))
        return axes

    def _method_axis(self, node: Node, fields: TaskFields) -> _Axis:
        methods = [item.plain() for item in node.value] if node.is_list else [node.plain()]
        known = fields.method_names()
        for method in methods:
            if method not in known:
                raise self.error(node.line, f"unknown method {method!r}; task {fields.plugin.name!r} runs: {', '.join(known)}")
        return _Axis("method", None, tuple(methods), tuple(methods), node.line, len(methods) > 1)

    def _axis(self, name: str, node: Node, line: int, fields: TaskFields) -> _Axis:
        task = fields.plugin.name
        field = fields.field_name(name)
        if name in RESERVED or field in RESERVED:
            raise self.error(line, f"setting {name!r} is not allowed: {RESERVED.get(name) or RESERVED[field]}")
        if name.replace("-", "_") in fields.input_names:
            raise self.error(line, f"{name!r} is an input of task {task!r}: list it under 'inputs'")
        if field is None:
            raise self.error(line, f"task {task!r} has no setting {name!r}; its settings: {', '.join(fields.names())}")
        if node.is_mapping:
            raise self.error(node.line, f"setting {name!r} must be a value or a list of values, not a mapping")
        if node.is_list and (not fields.takes_several_values(field) or any(item.is_list for item in node.value)):
            values = [item.plain() for item in node.value]
            if not values:
                raise self.error(node.line, f"setting {name!r} is an empty list: a matrix axis needs at least one value")
        else:
            values = [node.plain()]
        try:
            typed = tuple(fields.value(field, value) for value in values)
        except ValueError as error:
            raise self.error(node.line, f"setting {name!r} {error}") from None
        return _Axis(name, field, tuple(values), typed, line, len(values) > 1)

    def _input_sets(self, entry: Node, fields: TaskFields) -> list[dict[str, str]]:
        """Every combination of input files of an entry: ``[{input name: absolute path}, ...]`` (a required
        input by its name, an optional one or a setting naming files, like ``carry``, with ``-``)."""
        node = entry.value.get("inputs")
        required = fields.required_inputs
        if node is None:
            if required:
                raise self.error(entry.line, f"task {fields.plugin.name!r} needs inputs: {', '.join(required)}")
            return [{}]
        groups = node.value if node.is_list else [node]
        if not groups:
            raise self.error(node.line, "'inputs' is an empty list")
        combinations: list[dict[str, str]] = []
        for group in groups:
            if not group.is_mapping:
                raise self.error(group.line, "inputs must be a mapping {argument: path or glob} or a list of such mappings")
            missing = [name for name in required if name not in {key.replace("-", "_") for key in group.value}]
            if missing:
                raise self.error(group.line, f"task {fields.plugin.name!r} needs inputs {', '.join(missing)}")
            files: dict[str, list[str]] = {}
            for key, value in group.value.items():
                name = key.replace("-", "_") if key.replace("-", "_") in required else key.replace("_", "-")
                field = fields.field_name(key)
                if not (key.replace("-", "_") in fields.input_names or field is not None) or name in RESERVED or field in RESERVED:
                    raise self.error(
                        group.key_lines[key],
                        f"task {fields.plugin.name!r} has no input {key!r}; its inputs: "
                        f"{', '.join(fields.input_names) or 'none'} (or any setting naming a file)",
                    )
                files[name] = self._expand_paths(key, value)
            for chosen in itertools.product(*files.values()):
                combinations.append(dict(zip(files, chosen)))
        return combinations

    def _expand_paths(self, key: str, node: Node) -> list[str]:
        patterns = node.value if node.is_list else [node]
        paths: list[str] = []
        for pattern in patterns:
            if not isinstance(pattern.value, str) or not pattern.value:
                raise self.error(pattern.line, f"input {key!r} must be a path or a glob, got {pattern.value!r}")
            full = os.path.join(self.base_dir, os.path.expanduser(pattern.value))
            if _GLOB_CHARACTERS.search(pattern.value):
                matches = sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))
                if not matches:
                    raise self.error(pattern.line, f"input {key!r}: no file matches {pattern.value!r} (relative to {self.base_dir})")
                paths.extend(os.path.abspath(p) for p in matches)
            elif not os.path.isfile(full):
                raise self.error(pattern.line, f"input {key!r}: file not found: {full}")
            else:
                paths.append(os.path.abspath(full))
        return paths


def _label(axis: _Axis, value: Any) -> str:
    if axis.name == "method":
        return str(value)
    if axis.name == "seed":
        return f"s{value}"
    shown = "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return f"{axis.name}={shown}"


def _relative(path: str, base_dir: Path) -> str:
    """A path as the pipeline would write it: relative to the pipeline's folder when inside it."""
    relative = os.path.relpath(path, base_dir)
    return path if relative.startswith("..") else relative


def _run_folder(labels: list[str], digest: str) -> str:
    """A readable, filesystem-safe folder name ending in the job's hash (``_PipelineReader._job_digest``).

    The hash covers input files by content, not by path, so moving a project with its data, or
    naming the same files from another pipeline's folder, keeps its runs resumable.
    """
    safe = [re.sub(r"[^A-Za-z0-9._=+-]", "_", label)[:40] for label in labels]
    return "-".join([*safe, digest])
