"""Command-line options generated from settings dataclasses: a setting is written once, as a field.

A frozen dataclass whose docstring has an ``Attributes`` section (numpy style, ``name : text``) becomes
a group of ``--options``: the flag is the field name with dashes (or ``metadata["flag"]``), the help is
the field's documentation, the type and choices come from the annotation (``int``, ``float``, ``str``,
``bool`` -> ``--x/--no-x``, ``X | None`` -> also ``none``, ``Literal[...]`` or ``metadata["choices"]``,
``tuple[int, int]`` -> two values, ``tuple[str, ...]`` with ``metadata["repeat"]`` -> a repeatable
option, a nested settings dataclass -> its own fields).

Options are added with no default in the namespace (``argparse.SUPPRESS``): only what the user typed
is there, so :func:`explicit_values` can layer it over the defaults of the task and the method. The
help shows the default that applies. This module does not import torch, so ``--help`` is quick.

Example
-------
>>> import argparse, dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class Demo:
...     '''Attributes
...     ----------
...     points : curve points.
...     '''
...     points: int = 500
>>> parser = argparse.ArgumentParser()
>>> add_settings_arguments(parser, Demo, "task")
>>> settings_from_namespace(Demo, parser.parse_args(["--points", "64"]), "task")
Demo(points=64)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

NONE_WORD = "none"
_METAVARS = {int: "N", float: "X", str: "TEXT", Path: "PATH"}


class OptionContainer(typing.Protocol):
    """An ``argparse.ArgumentParser`` or one of its argument groups (``parser.add_argument_group``)."""

    def add_argument(self, *names: str, **keywords: Any) -> argparse.Action: ...


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """``{field: text}`` from the ``Attributes`` section of ``cls``'s docstring (``a, b : text`` documents both).

    The section ends at the next numpydoc heading (a line underlined with dashes); a paragraph of prose
    inside it (a line at the entries' indent that is not ``name : text``) documents no field, and the
    entries after it still count.
    """
    doc = cls.__doc__ or ""
    match = re.search(r"^\s*Attributes\s*\n\s*-{3,}\s*\n", doc, flags=re.MULTILINE)
    if match is None:
        return {}
    section = doc[match.end():]
    heading = re.search(r"^[^\n]*\S[^\n]*\n\s*-{3,}\s*$", section, flags=re.MULTILINE)
    docs: dict[str, str] = {}
    names: list[str] = []
    base_indent = None
    for line in section[: heading.start() if heading else len(section)].splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        entry = re.match(r"^\s*([A-Za-z_][\w, ]*?)\s+:\s+(.*)$", line)
        if entry and (base_indent is None or indent <= base_indent):
            base_indent = indent
            names = [name.strip() for name in entry.group(1).split(",")]
            for name in names:
                docs[name] = entry.group(2).strip()
        elif base_indent is not None and indent > base_indent and names:
            for name in names:
                docs[name] += " " + line.strip()
        elif base_indent is not None and indent <= base_indent:
            names = []  # prose between the entries: its lines belong to no field
        else:
            break
    return docs


def help_text(cls: type, name: str) -> str:
    """A field's ``--help`` sentence: its docstring entry read as plain text for a terminal.

    reStructuredText marks go (``x`` -> x); a cross-reference to code in parentheses or after "see"
    (``(:func:`downsample_to_count`)``) goes, another keeps its last name; the class's own fields are
    named by their options (``voxel_size`` -> ``--target-voxel``), and Python's None by the command
    line's word for it (none). A field without an entry gets its name, which
    ``tests/test_hostile_safety.py`` refuses.
    """
    text = field_docs(cls).get(name, name.replace("_", " "))
    text = re.sub(r",?\s*see :\w+:`[^`]+`", "", text)
    text = re.sub(r"\s*\(:\w+:`[^`]+`\)", "", text)
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([^`.]+)`", r"\1", text).replace("``", "")
    flags = {field.name: flag_of(field) for field in dataclasses.fields(cls) if "_" in field.name}
    if flags:
        text = re.sub(r"(?<![\w-])(" + "|".join(map(re.escape, flags)) + r")(?![\w-])", lambda m: flags[m.group(1)], text)
    return re.sub(r"\bNone\b", NONE_WORD, text).rstrip(".")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def strip_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(arguments) == 1 and len(typing.get_args(annotation)) == 2:
            return arguments[0], True
    return annotation, False


def is_settings(annotation: Any) -> bool:
    """True for a nested settings dataclass."""
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> ``(key, value)``; the value is read as JSON (``64``, ``2.2``, ``true``), else kept as text."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if parsed is None or not isinstance(parsed, (bool, int, float, str)):
        raise argparse.ArgumentTypeError(f"a value must be a number, true/false or text, got {value!r}")
    return key.strip(), parsed


def _scalar(kind: type, optional: bool) -> Callable[[str], Any]:
    names = {int: "a whole number", float: "a number", str: "text", Path: "a path"}

    def convert(text: str) -> Any:
        if optional and text.strip().lower() == NONE_WORD:
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {names.get(kind, kind.__name__)}, got {text!r}") from None

    convert.__name__ = getattr(kind, "__name__", "value")
    return convert


def _describe_default(value: Any) -> str:
    if value is None:
        return NONE_WORD
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return " ".join(_describe_default(v) for v in value) if value else "none"
    return str(value)


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def add_settings_arguments(
    parser: OptionContainer,
    cls: type,
    group: str,
    defaults: Mapping[str, Any] | None = None,
    default_notes: Mapping[str, str] | None = None,
    exclude: tuple[str, ...] = (),
    choices: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Add one option per field of ``cls`` (recursively for nested settings) to ``parser`` (a parser or
    an argument group).

    Parameters
    ----------
    group : the namespace prefix of the options' ``dest`` (``"task"`` -> ``task.points``).
    defaults : the defaults that apply when the option is not given (for the help text; the class's
        own defaults otherwise).
    default_notes : a field's default described in words instead (e.g. ``"per method: ff 4, ..."``).
    exclude : fields that get no option.
    choices : the values a field accepts, where only the caller knows them (the methods a task runs).
    """
    hints = _hints(cls)
    notes = dict(default_notes or {})
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        annotation, optional = strip_optional(hints[field.name])
        default = dict(defaults or {}).get(field.name, field.default)
        if is_settings(annotation):
            add_settings_arguments(parser, annotation, f"{group}.{field.name}", exclude=())
            continue
        text = help_text(cls, field.name)
        text += f" (default: {notes[field.name]})" if field.name in notes else f" (default: {_describe_default(default)})"
        keywords: dict[str, Any] = {"dest": f"{group}.{field.name}", "default": argparse.SUPPRESS, "help": text.replace("%", "%%")}
        keywords["metavar"] = field.metadata.get("metavar", _METAVARS.get(annotation, "VALUE"))
        origin = typing.get_origin(annotation)
        if annotation is bool:
            keywords["action"] = argparse.BooleanOptionalAction
            del keywords["metavar"]
        elif field.name in (choices or {}):
            keywords.update(type=str, choices=tuple(choices[field.name]))
        elif origin is typing.Literal or "choices" in field.metadata:
            choices = tuple(field.metadata.get("choices", typing.get_args(annotation)))
            keywords["choices"] = (*choices, None) if optional else choices
            keywords["type"] = (lambda text: None if text.lower() == NONE_WORD else text) if optional else str
            keywords["metavar"] = field.metadata.get("metavar", "{" + ",".join(map(str, choices)) + "}")
        elif origin is tuple:
            arguments = typing.get_args(annotation)
            if arguments and typing.get_origin(arguments[0]) is tuple:  # (key, value) pairs: repeatable KEY=VALUE
                keywords.update(type=key_value, action="append")
            elif field.metadata.get("repeat"):  # one value per use of the option: --carry a --carry b
                keywords.update(type=_scalar(arguments[0], False), action="append")
            elif len(arguments) == 2 and arguments[1] is Ellipsis:
                keywords.update(type=_scalar(arguments[0], False), nargs="+")
            else:
                keywords.update(type=_scalar(arguments[0], False), nargs=len(arguments))
        else:
            keywords["type"] = _scalar(annotation if annotation in (int, float, str, Path) else str, optional)
        parser.add_argument(flag_of(field), **keywords)


def explicit_values(cls: type, namespace: argparse.Namespace, group: str) -> dict[str, Any]:
    """The fields of ``cls`` the command line set, ``{field: value}`` (nested settings as dicts)."""
    values: dict[str, Any] = {}
    hints = _hints(cls)
    for field in dataclasses.fields(cls):
        annotation, _ = strip_optional(hints[field.name])
        if is_settings(annotation):
            nested = explicit_values(annotation, namespace, f"{group}.{field.name}")
            if nested:
                values[field.name] = nested
            continue
        dest = f"{group}.{field.name}"
        if hasattr(namespace, dest):
            value = getattr(namespace, dest)
            values[field.name] = tuple(value) if isinstance(value, list) else value
    return values


def replace_settings(settings: Any, values: Mapping[str, Any]) -> Any:
    """``settings`` with ``values`` applied; nested settings take a mapping of their own fields."""
    changes = {}
    for name, value in values.items():
        current = getattr(settings, name)
        changes[name] = replace_settings(current, value) if dataclasses.is_dataclass(current) and isinstance(value, Mapping) else value
    return dataclasses.replace(settings, **changes)


def settings_from_namespace(cls: type, namespace: argparse.Namespace, group: str, base: Any = None) -> Any:
    """An instance of ``cls``: ``base`` (or the class defaults) with what the command line set."""
    return replace_settings(base if base is not None else cls(), explicit_values(cls, namespace, group))
