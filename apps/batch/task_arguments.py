"""A job's settings as its task's own command line, checked by the task's own parser.

A batch job runs ``plugin.run(parser.parse_args(argv))``, exactly what ``sape-geo TASK ...`` does, so a
pipeline can use every option a task has, and the task's parser (types, ranges, choices) validates the
pipeline before any job starts.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any

from sape_geo.config import FitConfig, MethodConfig
from sape_geo.registry import TaskPlugin
from sape_geo.schema import explicit_values, settings_from_namespace

# Options the batch runner sets itself for every job; a pipeline may not set them.
RESERVED_OPTIONS = {
    "out": "each job's run directory is chosen by the batch runner (under --out DIR)",
    "overwrite": "the batch runner redoes incomplete runs itself and never overwrites finished ones",
    "quiet": "jobs never draw their own progress bar; the batch draws one for all jobs",
    "threads": "threads per job come from the engine (1 locally, as on the command line; resources.cpus on Ray)",
    "help": "not a setting",
}


class TaskArgumentError(ValueError):
    """The task's parser rejected a command line (the message is argparse's)."""


class _RaisingParser(argparse.ArgumentParser):
    """An argparse parser that raises instead of printing usage and exiting the process."""

    def error(self, message: str) -> None:  # argparse's documented hook for parse errors
        raise TaskArgumentError(message)


class TaskArguments:
    """The command-line interface of one task plugin, seen as named settings.

    Parameters
    ----------
    plugin : the task plugin.

    Raises
    ------
    ValueError : the task has no ``--out`` option, so a batch cannot give its jobs a run directory.
    """

    def __init__(self, plugin: TaskPlugin) -> None:
        self.plugin = plugin
        self.parser = _RaisingParser(prog=f"sape-geo {plugin.name}", add_help=False)
        plugin.add_arguments(self.parser)
        # argparse keeps its actions in a private list; it has been stable API in practice since 2.7.
        actions = list(self.parser._actions)
        self._options = {option: action for action in actions for option in action.option_strings}
        self._positionals = [action for action in actions if not action.option_strings]
        if "--out" not in self._options:
            raise ValueError(f"task {plugin.name!r} has no --out option, so batch jobs cannot give it a run directory")

    @property
    def positional_names(self) -> list[str]:
        """Positional arguments in command-line order (their ``dest``)."""
        return [action.dest for action in self._positionals]

    def option_names(self) -> list[str]:
        """Every long option without its dashes, e.g. ``["method", "sigma", ...]``."""
        return sorted(option[2:] for option in self._options if option.startswith("--") and len(option) > 2)

    def has_option(self, name: str) -> bool:
        return _option_string(name) in self._options

    def is_positional(self, name: str) -> bool:
        return name.replace("-", "_") in self.positional_names

    def is_flag(self, name: str) -> bool:
        """True for options that take no value (``store_true`` and the like)."""
        return self._options[_option_string(name)].nargs == 0

    def takes_several_values(self, name: str) -> bool:
        """True when one value of the option is a list: ``nargs`` of ``+``, ``*`` or more than 1, or a
        repeatable option (``action="append"``, e.g. ``--method-option``)."""
        return self._is_repeatable(name) or self._takes_several_words(name)

    def _takes_several_words(self, name: str) -> bool:
        nargs = self._options[_option_string(name)].nargs
        return nargs in ("+", "*") or (isinstance(nargs, int) and nargs > 1)

    def _is_repeatable(self, name: str) -> bool:
        # argparse names its action classes privately; "append"/"extend" are the repeatable ones.
        return isinstance(self._options[_option_string(name)], (argparse._AppendAction, argparse._ExtendAction))

    def command_line(self, positionals: dict[str, Any], options: Sequence[tuple[str, Any]]) -> list[str]:
        """The argument list for ``positionals`` (by name) and ``options`` (name, value) pairs.

        Flags are included when their value is true and left out when false (``--no-NAME`` for a
        setting that is on by default); a list value becomes
        several words for options that take several values, and a repeated option for repeatable ones.
        """
        argv: list[str] = []
        for name in self.positional_names:
            if name in positionals:
                argv.extend(_words(positionals[name]))
        for name, value in options:
            if self.is_flag(name):
                if value:
                    argv.append(_option_string(name))
                elif isinstance(self._options[_option_string(name)], argparse.BooleanOptionalAction):
                    argv.append("--no-" + _option_string(name)[2:])  # a setting that is on by default, turned off
            elif self._is_repeatable(name) and not self._takes_several_words(name):
                for item in value if isinstance(value, (list, tuple)) else [value]:
                    argv += [_option_string(name), _word(item)]
            else:
                argv.append(_option_string(name))
                argv.extend(_words(value))
        return argv

    def parse(self, argv: Sequence[str]) -> argparse.Namespace:
        """Parse ``argv`` with the task's parser, then build the settings it describes.

        Raises
        ------
        TaskArgumentError : argparse's or the settings' message (``argument --steps: steps must be a
            positive integer, got 0``).
        """
        args = self.parser.parse_args(list(argv))
        try:
            self.plugin.check_args(args)
        except ValueError as error:
            raise TaskArgumentError(str(error)) from None
        return args

    def settings_meaning(self, args: argparse.Namespace) -> dict[str, Any]:
        """What a parsed command line computes, apart from its input files: the method, and every task,
        loop and method setting whose value differs from what the task uses for that method when the
        setting is left out (``{"task.frequency": 8, "fit.steps": 50, ...}``). Writing a default out
        or leaving it out, in any order, gives the same meaning."""
        overrides = {**explicit_values(FitConfig, args, "fit"), **explicit_values(MethodConfig, args, "method")}
        method = overrides.pop("name", None) or self.plugin.default_method
        meaning: dict[str, Any] = {"method": method}
        chosen = [settings_from_namespace(self.plugin.settings, args, "task"), *self.plugin.configs(method, overrides)]
        defaults = [self.plugin.settings(), *self.plugin.configs(method, {})]
        for group, settings, default in zip(("task", "method", "fit"), chosen, defaults):
            if settings is None:  # a method without a network (a transfer baseline)
                continue
            base = dataclasses.asdict(default)
            meaning.update({f"{group}.{key}": value for key, value in dataclasses.asdict(settings).items() if value != base[key]})
        return meaning

    def offending_name(self, message: str, names: Sequence[str]) -> str | None:
        """Which of ``names`` an argparse error message is about (``argument --steps: ...``), if any."""
        for name in names:
            for spelling in (_option_string(name), name.replace("-", "_")):
                if f"argument {spelling}:" in message or f"argument {spelling}/" in message:
                    return name
        return None


def _option_string(name: str) -> str:
    """Pipeline keys may use ``_`` or ``-``: ``train_samples`` -> ``--train-samples``."""
    return "--" + name.replace("_", "-")


def _words(value: Any) -> list[str]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [_word(item) for item in values]


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
