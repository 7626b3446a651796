"""Options every task command shares behave the same: --json, --threads, status lines after the bar."""

import json

import pytest

from sape_geo.registry import DEFAULT_THREADS
from sape_geo_apps.cli import build_parser, main


def task_parsers():
    parser, plugins = build_parser(None)
    subparsers = next(action for action in parser._actions if action.dest == "command").choices
    return {name: subparsers[name] for name in plugins}


@pytest.mark.parametrize("name", sorted(task_parsers()))
def test_every_task_has_json_and_one_threads_default(name):
    parser = task_parsers()[name]
    options = {option: action for action in parser._actions for option in action.option_strings}
    assert "--json" in options, f"{name} has no --json"
    assert f"(default: {DEFAULT_THREADS})" in options["--threads"].help


def test_json_prints_the_metrics_and_status_lines_follow_the_progress_bar(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit1d", "--steps", "5", "--hidden", "16", "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out[captured.out.index("\n{") + 1:])
    written = json.loads((out / "metrics.json").read_text())
    assert set(printed) <= set(written) and printed["steps_done"] == written["steps_done"] == 5
    assert "fit1d: evaluating" in captured.err and "writing the run directory" in captured.err
    assert printed["export_seconds"] >= 0.0
    assert json.loads((out / "config.json").read_text())["fit"]["threads"] == DEFAULT_THREADS  # the default --help shows


def test_quiet_silences_the_status_lines(tmp_path, capsys):
    assert main(["fit1d", "--steps", "5", "--hidden", "16", "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert "evaluating" not in capsys.readouterr().err
