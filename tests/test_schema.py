"""A setting is stated once: the command line, its help and the batch's checks come from the settings
dataclasses (sape_geo.schema, sape_geo.registry); commands start without torch. Import cycles are
import-linter's (tests/test_import_contracts.py)."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from sape_geo.config import FitConfig, MethodConfig
from sape_geo.registry import Input, TaskPlugin, discover_tasks, run_plugin
from sape_geo.schema import add_settings_arguments, flag_of, explicit_values, field_docs, settings_from_namespace


@dataclass(frozen=True)
class Inner:
    """Attributes
    ----------
    depth : how deep, in metres.
    """

    depth: float = 2.0


@dataclass(frozen=True)
class Demo:
    """Settings of a demo.

    Attributes
    ----------
    points : curve points; a long explanation
        that continues on the next line.
    mode : how to go.
    size : none keeps the input's size.
    pair : two numbers.
    loud : say more.
    inner : nested settings.
    """

    points: int = 500
    mode: str = field(default="fast", metadata={"choices": ("fast", "slow")})
    size: int | None = 64
    pair: tuple[int, int] = (1, 2)
    loud: bool = False
    inner: Inner = Inner()


def parser_for(cls=Demo) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_settings_arguments(parser, cls, "task")
    return parser


def test_field_docs_read_the_attributes_section_with_continuation_lines():
    docs = field_docs(Demo)
    assert docs["points"] == "curve points; a long explanation that continues on the next line."
    assert set(docs) == {"points", "mode", "size", "pair", "loud", "inner"}


def test_options_types_choices_none_pairs_flags_and_nested_settings():
    args = parser_for().parse_args(["--points", "64", "--mode", "slow", "--size", "none", "--pair", "3", "4", "--loud", "--depth", "5"])
    assert settings_from_namespace(Demo, args, "task") == Demo(64, "slow", None, (3, 4), True, Inner(5.0))
    assert settings_from_namespace(Demo, parser_for().parse_args([]), "task") == Demo()  # nothing typed: the defaults
    assert explicit_values(Demo, parser_for().parse_args(["--no-loud"]), "task") == {"loud": False}
    with pytest.raises(argparse.ArgumentError):
        parser_for().parse_args(["--mode", "medium"])
    with pytest.raises(argparse.ArgumentError):
        parser_for().parse_args(["--points", "many"])


def test_help_shows_each_fields_documentation_and_default():
    text = parser_for().format_help()
    assert "curve points; a long explanation that continues on the next line (default: 500)" in " ".join(text.split())
    assert "(default: fast)" in text and "(default: off)" in text and "in metres (default: 2)" in " ".join(text.split())


def _plugin(**changes) -> TaskPlugin:
    values = dict(name="demo", summary="s", description="d", settings=Demo, make_task=lambda settings: None,
                  defaults={"steps": 7, "sigma": 3.0}, per_method={"ff": {"sigma": 5.0}, "none": {"lr": 0.01}})
    return TaskPlugin(**{**values, **changes})


def test_defaults_layer_dataclass_then_task_then_method_then_what_the_user_typed():
    plugin = _plugin()
    method, fit = plugin.configs("ff")
    assert (method.sigma, fit.steps, fit.lr) == (5.0, 7, FitConfig().lr)
    method, fit = plugin.configs("none", {"steps": 9})
    assert (method.sigma, fit.steps, fit.lr) == (3.0, 9, 0.01)
    given = MethodConfig("sape-ff", sigma=1.5)
    assert plugin.configs(given)[0] == given  # a full MethodConfig is used as given
    with pytest.raises(ValueError, match="unknown setting.*stpes"):
        plugin.configs("ff", {"stpes": 3})


def test_a_method_without_a_network_gets_the_loop_settings_only_and_the_same_checks():
    plugin = _plugin(extra_methods={"baseline": "no network"})
    method, fit = plugin.configs("baseline", {"seed": 4})
    assert method is None and (fit.steps, fit.seed) == (7, 4)
    with pytest.raises(ValueError, match="unknown setting.*stpes"):
        plugin.configs("baseline", {"stpes": 3})


def test_a_plugin_refuses_settings_that_clash_with_the_loop_or_method_and_unknown_defaults():
    @dataclass(frozen=True)
    class Clash:
        seed: int = 0

    with pytest.raises(ValueError, match="clash"):
        _plugin(settings=Clash)
    with pytest.raises(ValueError, match="neither a FitConfig nor a MethodConfig field"):
        _plugin(defaults={"stepz": 3})


def test_the_command_line_help_says_per_method_defaults_and_bad_values_name_their_option():
    plugin = _plugin()
    parser = argparse.ArgumentParser()
    plugin.add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "per method: ff 5; others 3" in text and "--points" in text and "--method-option" in text
    with pytest.raises(ValueError, match=r"argument --lr: lr must be a positive finite number"):
        plugin.check_args(parser.parse_args(["--lr", "-1", "--out", "x"]))
    with pytest.raises(ValueError, match=r"argument --frequencies: num_frequencies must be a positive integer"):
        plugin.check_args(parser.parse_args(["--frequencies", "0", "--out", "x"]))


def test_run_plugin_checks_the_inputs_it_is_given():
    plugin = _plugin(inputs=(Input("mesh", "a mesh"), Input("marks", "pairs", optional=True)))
    with pytest.raises(TypeError, match="takes the inputs marks, mesh .required: mesh."):
        run_plugin(plugin, {})
    with pytest.raises(TypeError, match="settings of demo must be a Demo"):
        run_plugin(plugin, {"mesh": "m.obj"}, settings=Inner())


def test_every_installed_task_generates_its_options_from_its_settings():
    for plugin in discover_tasks().values():
        parser = argparse.ArgumentParser()
        plugin.add_arguments(parser)
        options = {option for action in parser._actions for option in action.option_strings}
        for item in dataclasses.fields(plugin.settings):
            if item.metadata.get("cli", True) and not dataclasses.is_dataclass(item.type if isinstance(item.type, type) else None):
                assert flag_of(item) in options or item.name == "scan", (plugin.name, item.name)
        assert {"--method", "--steps", "--seed", "--out", "--json", "--quiet", "--threads"} <= options


def test_commands_start_without_torch():
    """`sape-geo --help` and `sape-geo TASK --help` build every parser without importing torch, so they
    answer in a fraction of a second (torch alone takes seconds to import)."""
    code = ("import sys; from sape_geo_apps.cli import build_parser; "
            "[build_parser([name]) for name in ('fit1d', 'image', 'occupancy', 'silhouette', 'transfer')]; "
            "import sape_geo; print(sorted(m for m in ('torch', 'scipy', 'trimesh', 'igl', 'polyscope') if m in sys.modules))")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert printed == "[]"
