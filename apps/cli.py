"""The ``sape-geo`` command line: one subcommand per installed task plugin, plus the apps' commands.

Task subcommands come from the plugin registry (``sape_geo.tasks`` entry points), so installing a
plugin package adds its subcommand here without editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import warnings
from collections.abc import Sequence

from sape_geo.registry import TaskPlugin, discover_tasks, summary_lines

EPILOG = """\
Every task writes a run directory: config.json (all settings, versions, input checksums),
metrics.json, history.csv, progress.npy (the frequency heat map), result.*, model.pt.
Run `sape-geo TASK --help` for a task's options."""


# Apps that add commands of their own (viewer, landmark picker, batch runs): name -> (module, summary).
# Each module exposes COMMAND, an AppCommand; it is imported only when its command runs or shows its
# help, so `sape-geo --help` does not wait for Polyscope, torch or Ray.
APP_MODULES: dict[str, tuple[str, str]] = {
    "view": ("sape_geo_apps.viewer.command", "look at runs in Polyscope (heat maps, playback, comparisons) or render pictures offscreen"),
    "landmarks": ("sape_geo_apps.landmarks_picker", "pick landmark pairs on a source and a target mesh for mesh transfer (Polyscope window)"),
    "batch": ("sape_geo_apps.batch.command", "run a pipeline file of many jobs, locally or on a Ray cluster; resumable"),
    "landmarks-to-positions": (
        "sape_geo_apps.landmark_positions",
        "rewrite landmark pairs given by target vertex ids as positions (for a scan of that target)",
    ),
    "carry": ("sape_geo_apps.carry", "move accessories (eyes, clothes, markers) with a finished mesh transfer's deformation"),
}


class AppCommand:
    """A non-task command: its ``description`` (``--help``), ``add_arguments(parser)`` and
    ``run(args) -> int`` (the exit code). Its name and one-line summary are :data:`APP_MODULES`' alone:
    ``sape-geo --help`` shows them without importing the module."""

    def __init__(self, description, add_arguments, run) -> None:
        self.description, self.add_arguments, self.run = description, add_arguments, run


def app_command(name: str) -> AppCommand | None:
    """The app command ``name``, its module imported now; None (with a warning) when it fails to load."""
    module_name = APP_MODULES[name][0]
    try:
        return importlib.import_module(module_name).COMMAND
    except Exception as error:  # one broken app must not take the task commands down with it
        warnings.warn(f"command module {module_name} failed to load: {error}", RuntimeWarning, stacklevel=2)
        return None


def _chosen_command(argv: Sequence[str] | None) -> str | None:
    """The subcommand ``argv`` names (its first word that is not an option), if any."""
    words = list(sys.argv[1:] if argv is None else argv)
    return next((word for word in words if not word.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = ()) -> tuple[argparse.ArgumentParser, dict[str, TaskPlugin]]:
    """The ``sape-geo`` parser. Every task's options are generated (cheap: no torch); an app command's
    options are added only for the command ``argv`` names (``argv=None``: all of them)."""
    parser = argparse.ArgumentParser(
        prog="sape-geo",
        description="Geometry processing with SAPE: spatially-adaptive progressive encoding.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins = discover_tasks()
    for plugin in plugins.values():
        sub = subcommands.add_parser(
            plugin.name, help=plugin.summary, description=plugin.description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        plugin.add_arguments(sub)
    chosen = _chosen_command(argv) if argv is not None else None
    for name, (_, summary) in APP_MODULES.items():
        command = app_command(name) if argv is None or name == chosen else None
        sub = subcommands.add_parser(
            name, help=summary, description=command.description if command else summary,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command is not None:
            command.add_arguments(sub)
    return parser, plugins


def print_summary(plugin: TaskPlugin, result, warned: Sequence[warnings.WarningMessage] = ()) -> None:
    """A one-screen summary of a finished run on stdout; ``warned`` (the warnings the run raised) become
    notes of the summary, each once, unless the task's own lines already say them."""
    metrics = result.metrics
    print(f"\n{plugin.name}: {metrics.get('stop_reason', 'completed')} after {metrics['steps_done']} steps "
          f"in {metrics['fit_seconds']:.1f} s")
    lines = summary_lines(plugin, result)
    if metrics.get("stop_message"):
        lines.append(f"note: {metrics['stop_message']}")
    said = "\n".join(lines)
    lines += [f"note: {text}" for text in dict.fromkeys(plain_warning(w.message) for w in warned) if text not in said]
    for line in lines:
        print(f"  {line}")
    print(f"  run directory: {result.path}")


def plain_warning(message: Warning | str) -> str:
    """A warning's text on one line (a user reads it; Python's own format adds the file and the source line)."""
    return " ".join(str(message).split())


def _show_warning_plainly(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: ``sape-geo: warning: TEXT``, one line."""
    print(f"sape-geo: warning: {plain_warning(message)}", file=file if file is not None else sys.stderr)


# Errors that mean "the input, a setting or the output folder is wrong": one line, exit code 2
# (RunDirectoryError is an OSError).
USER_ERRORS = (ValueError, LookupError, OSError)
# Set to see the traceback of an unexpected error (a bug) instead of its one-line report.
TRACEBACK_VARIABLE = "SAPE_GEO_TRACEBACK"


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    from sape_geo.run_lock import RunDirectoryError

    if isinstance(error, OSError) and not isinstance(error, RunDirectoryError) and error.filename and str(error.filename) not in text:
        text = f"{error.filename}: {text}"
    return text


def _report_unexpected(command: str, error: Exception) -> int:
    """A bug or a library failing in a way we did not foresee: one line, exit code 3 (no traceback unless asked)."""
    if os.environ.get(TRACEBACK_VARIABLE):
        raise error
    print(
        f"sape-geo {command}: unexpected error: {type(error).__name__}: {_describe(error)}\n"
        f"  (no run directory was completed; set {TRACEBACK_VARIABLE}=1 to see where it happened, and please report it)",
        file=sys.stderr,
    )
    return 3


def _show_recorded(warned: Sequence[warnings.WarningMessage]) -> None:
    """The warnings of a run that failed: one plain line each on stderr, before the error."""
    for text in dict.fromkeys(plain_warning(w.message) for w in warned):
        print(f"sape-geo: warning: {text}", file=sys.stderr)


def _terminate_as_interrupt():
    """SIGTERM (``kill PID``) stops a task like Ctrl-C does, so the folder being built is cleaned up;
    returns the previous handler (None when signals cannot be set here, e.g. off the main thread)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    with warnings.catch_warnings():  # restores Python's own warning format when main returns
        warnings.showwarning = _show_warning_plainly
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    parser, plugins = build_parser(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command not in plugins:
        try:
            command = app_command(args.command)
            if command is None:
                print(f"sape-geo {args.command}: this command failed to load (see the warning above)", file=sys.stderr)
                return 2
            return int(command.run(args))
        except USER_ERRORS as error:
            print(f"sape-geo {args.command}: error: {_describe(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"sape-geo {args.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as error:  # noqa: BLE001 - the last line of defence against a traceback
            return _report_unexpected(args.command, error)
    plugin = plugins[args.command]
    try:  # every setting checked before anything is read or fitted, like argparse's own checks
        plugin.check_args(args)
    except ValueError as error:
        print(f"sape-geo {args.command}: error: {error}", file=sys.stderr)
        return 2
    previous_terminate = _terminate_as_interrupt()
    warned: list[warnings.WarningMessage] = []
    try:
        from sape_geo.fitting import FitDivergedWarning

        with warnings.catch_warnings(record=True) as warned:  # into the summary's notes
            warnings.simplefilter("ignore", FitDivergedWarning)  # reported in the summary instead
            result = plugin.run(args)
    except USER_ERRORS as error:
        _show_recorded(warned)
        print(f"sape-geo {args.command}: error: {_describe(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"sape-geo {args.command}: interrupted; nothing was written under {getattr(args, 'out', 'the run directory')} "
            "(a previous run there is as it was)",
            file=sys.stderr,
        )
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence against a traceback
        _show_recorded(warned)
        return _report_unexpected(args.command, error)
    finally:
        if previous_terminate is not None:
            signal.signal(signal.SIGTERM, previous_terminate)
    print_summary(plugin, result, warned)
    if getattr(args, "json", False):
        print(json.dumps(result.metrics, indent=2, default=str))
    return 1 if result.metrics.get("stop_reason") in ("diverged", "non_finite") else 0


if __name__ == "__main__":
    sys.exit(main())
