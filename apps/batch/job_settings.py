"""A batch job's settings, built from a pipeline's values by field name, without a command line.

A pipeline names a setting by its field name (``hidden_dim``, ``surface_samples``) or by its
command-line spelling (``hidden``, ``samples``: what ``sape-geo TASK --help`` shows), with ``_`` or
``-``. Each value is checked against its field's type here, and the settings' own checks
(``__post_init__``) run when :meth:`TaskFields.build` builds them, so a pipeline is refused before any
job starts. A job runs through :func:`~sape_geo.registry.run_plugin`, as the Python API does; its
command line (:meth:`TaskFields.command_line`) is derived only to show it (``--dry-run``, ``error.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sape_geo.catalogue import method_names
from sape_geo.config import FitConfig, MethodConfig
from sape_geo.registry import DEFAULT_THREADS, TaskPlugin
from sape_geo.schema import NONE_WORD, flag_of, is_settings, key_value, replace_settings, strip_optional

# What the batch runner sets itself for every job; a pipeline may not set it.
RESERVED = {
    "out": "each job's run directory is chosen by the batch runner (under --out DIR)",
    "overwrite": "the batch runner redoes incomplete runs itself and never overwrites finished ones",
    "quiet": "jobs never draw their own progress bar; the batch draws one for all jobs",
    "progress_bar": "jobs never draw their own progress bar; the batch draws one for all jobs",
    "threads": f"threads per job come from the engine ({DEFAULT_THREADS} locally, as on the command line; resources.cpus on Ray)",
}
# Settings a pipeline gives as matrix axes beside 'settings': field -> the axis key.
AXES = {"name": "methods", "seed": "seeds"}


@dataclass(frozen=True)
class _Field:
    """A setting a pipeline may give: which settings it belongs to and where in them."""

    group: str  # "task", "method" or "fit"
    path: tuple[str, ...]  # field names from the group's settings down to it (nested settings)
    field: dataclasses.Field
    annotation: Any  # its type, Optional removed
    optional: bool

    @property
    def name(self) -> str:
        return self.path[-1]


class TaskFields:
    """Every setting of one task a pipeline may give: the task's, its method's and its loop's.

    Parameters
    ----------
    plugin : the task plugin.
    """

    def __init__(self, plugin: TaskPlugin) -> None:
        self.plugin = plugin
        self.input_names = [item.name for item in plugin.inputs]
        self.required_inputs = [item.name for item in plugin.inputs if not item.optional]
        self._fields: dict[str, _Field] = {}  # field name -> field
        self._spellings: dict[str, str] = {}  # a key as a pipeline may write it, with "_" -> field name
        self._collect(plugin.settings, "task", ())
        self._collect(MethodConfig, "method", ())
        self._collect(FitConfig, "fit", ())

    def _collect(self, cls: type, group: str, path: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            annotation, optional = strip_optional(hints[item.name])
            if is_settings(annotation):
                self._collect(annotation, group, (*path, item.name))
                continue
            self._fields[item.name] = _Field(group, (*path, item.name), item, annotation, optional)
            for spelling in (item.name, flag_of(item)[2:]):
                self._spellings[spelling.replace("-", "_")] = item.name

    def method_names(self) -> list[str]:
        """The methods the task runs: the networks and its own (mesh transfer's baselines)."""
        return [*method_names(), *self.plugin.extra_methods]

    def field_name(self, key: str) -> str | None:
        """The field a pipeline key names (``hidden``, ``hidden-dim`` -> ``hidden_dim``); None if none."""
        return self._spellings.get(key.replace("-", "_"))

    def names(self) -> list[str]:
        """The settings a pipeline may give, by field name."""
        return sorted(name for name in self._fields if name not in RESERVED and name not in AXES)

    def takes_several_values(self, name: str) -> bool:
        """True when one value of the setting is a list (``weights: [1, 0.5]``), so a matrix axis of it is a list of lists."""
        return typing.get_origin(self._fields[name].annotation) is tuple

    def is_flag(self, name: str) -> bool:
        return self._fields[name].annotation is bool

    def value(self, name: str, value: Any) -> Any:
        """``value`` as the field's type (an int for a float becomes a float, a list a tuple, ...).

        Raises
        ------
        ValueError : the value does not fit the field; the message says what it expects.
        """
        item = self._fields[name]
        if value is None or (item.optional and isinstance(value, str) and value.strip().lower() == NONE_WORD):
            if item.optional:
                return None
            raise ValueError("has no value")
        annotation = item.annotation
        if typing.get_origin(annotation) is tuple:
            return self._tuple(item, value)
        return _scalar(annotation, value, _choices(item))

    def _tuple(self, item: _Field, value: Any) -> tuple[Any, ...]:
        arguments = typing.get_args(item.annotation)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if arguments and typing.get_origin(arguments[0]) is tuple:  # (key, value) pairs: KEY=VALUE words
            try:
                return tuple(key_value(str(text)) for text in values)
            except argparse.ArgumentTypeError as error:
                raise ValueError(str(error)) from None
        if not (len(arguments) == 2 and arguments[1] is Ellipsis) and len(values) != len(arguments):
            raise ValueError(f"takes {len(arguments)} values, got {len(values)}")
        return tuple(_scalar(arguments[0], item_value, ()) for item_value in values)

    def build(self, method: str, values: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The task's settings and the loop's and method's overrides that ``values`` (by field name,
        already of the field's type) describe for ``method``, checked by the settings themselves.

        Raises
        ------
        ValueError : a setting the task, its method or its loop refuses (``steps must be a positive
            integer, got 0``), or a method the task does not know.
        """
        task_values: dict[str, Any] = {}
        overrides: dict[str, Any] = {}
        for name, value in values.items():
            item = self._fields[name]
            if item.group != "task":
                overrides[name] = value
                continue
            level = task_values
            for part in item.path[:-1]:
                level = level.setdefault(part, {})
            level[name] = value
        if method not in self.method_names():
            raise ValueError(f"unknown method {method!r}; {self.plugin.name} runs: {', '.join(self.method_names())}")
        settings = replace_settings(self.plugin.settings(), task_values)
        self.plugin.configs(method, overrides)
        return settings, overrides

    def meaning(self, method: str, settings: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """What a job computes, apart from its input files: the method, and every task, loop and method
        setting whose value differs from what the task uses for that method when the setting is left
        out (``{"task.frequency": 8, "fit.steps": 50, ...}``). Writing a default out or leaving it out,
        in any order, gives the same meaning."""
        meaning: dict[str, Any] = {"method": method}
        chosen = [settings, *self.plugin.configs(method, overrides)]
        defaults = [self.plugin.settings(), *self.plugin.configs(method, {})]
        for group, values, default in zip(("task", "method", "fit"), chosen, defaults):
            if values is None:  # a method without a network (a transfer baseline)
                continue
            base = dataclasses.asdict(default)
            meaning.update({f"{group}.{key}": value for key, value in dataclasses.asdict(values).items() if value != base[key]})
        return meaning

    def command_line(self, inputs: Mapping[str, str], method: str | None, values: Sequence[tuple[str, Any]]) -> list[str]:
        """``sape-geo TASK``'s arguments that run the same job (without ``--out``), for showing it.

        Inputs come first (positional ones by position), then ``--method`` (None: the task's default,
        left out) and the settings in the order given; a flag is written when on (``--no-NAME`` when off), a repeatable setting once per
        value.
        """
        words = [str(inputs[item.name]) for item in self.plugin.inputs if not item.optional and item.name in inputs]
        for item in self.plugin.inputs:
            if item.optional and item.name in inputs:
                words += ["--" + item.name.replace("_", "-"), str(inputs[item.name])]
        if method is not None:
            words += ["--method", method]
        for name, value in values:
            field = self._fields[name].field
            flag = flag_of(field)
            if isinstance(value, bool):
                words.append(flag if value else "--no-" + flag[2:])
            elif isinstance(value, tuple) and (field.metadata.get("repeat") or (value and isinstance(value[0], tuple))):
                for item_value in value:
                    words += [flag, "=".join(map(_word, item_value)) if isinstance(item_value, tuple) else _word(item_value)]
            elif isinstance(value, tuple):
                words += [flag, *map(_word, value)]
            else:
                words += [flag, _word(value)]
        return words


def _choices(item: _Field) -> tuple[Any, ...]:
    if typing.get_origin(item.annotation) is typing.Literal:
        return typing.get_args(item.annotation)
    return tuple(item.field.metadata.get("choices", ()))


def _scalar(kind: Any, value: Any, choices: tuple[Any, ...]) -> Any:
    """One value as ``kind`` (bool, int, float, str, Path or one of ``choices``); ValueError if it is not one."""
    if choices:
        text = str(value) if not isinstance(value, bool) else None
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(map(str, choices))}, got {value!r}")
        return text
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"is an on/off flag: write true or false, not {value!r}")
        return value
    if isinstance(value, (bool, dict, list, tuple)) or value is None:
        raise ValueError(f"expected {_KIND_NAMES.get(kind, 'a value')}, got {value!r}")
    if kind in (int, float):
        if kind is int and isinstance(value, float):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            return kind(value)  # a quoted number ("8") reads as on the command line
        except ValueError:
            raise ValueError(f"expected {_KIND_NAMES[kind]}, got {value!r}") from None
    if kind is Path:
        return Path(str(value))
    return str(value)


_KIND_NAMES = {int: "a whole number", float: "a number", str: "text", Path: "a path"}


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return NONE_WORD
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # as written (1, not 1.0); the option reads it as a float again
    return str(value)
