"""A default is written once and every other layer agrees with it (issue 26, "five layers of defaults").

The layers: the settings dataclasses (an encoding's settings, ``MethodConfig``, ``FitConfig``, a task's
settings, the viewer's ``ViewOptions``), the constructors of the classes they configure, the plugins'
``defaults``, the command lines (``sape-geo``, ``sape-geo view``, the benchmarks), the batch runner,
and the prose of the README and the method document. The code reads each default from one place
(docs/method.md, "Settings, the command line and pipelines", says which); these tests fail when a
layer states another value (a literal written again, a sentence left behind).
"""

import dataclasses
import inspect
import re
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import ROOT
from sape_geo.catalogue import DEFAULT_METHOD
from sape_geo.config import DEFAULT_OPEN_FRACTION, MaskDomain, MethodConfig
from sape_geo.encoding_settings import MAX_OCTAVES, FourierSettings, PositionalSettings, RBFSettings
from sape_geo.geometry.scan_settings import ScanSettings
from sape_geo.registry import DEFAULT_THREADS, load_task


def _signature_defaults(function) -> dict:
    return {name: p.default for name, p in inspect.signature(function).parameters.items() if p.default is not p.empty}


def test_method_config_takes_each_encoding_field_from_the_encodings_settings():
    method_defaults = {item.name: item.default for item in dataclasses.fields(MethodConfig)}
    for settings in (FourierSettings, RBFSettings):
        for item in dataclasses.fields(settings):
            assert method_defaults[item.name] == item.default, f"MethodConfig.{item.name} != {settings.__name__}.{item.name}"


def test_the_constructors_default_to_the_settings_they_are_built_from():
    from sape_geo.encodings import FourierFeatures, PositionalEncoding, RBFGrid
    from sape_geo.masks import GridMask, ProgressiveMask, SampleMask, progressive_tau
    from sape_geo.networks import MaskedEncodingMLP, Siren
    from sape_geo.sasnet import SASNet

    method = MethodConfig()
    assert _signature_defaults(FourierFeatures) == {
        "num_frequencies": FourierSettings.num_frequencies, "sigma": FourierSettings.sigma, "generator": None}
    assert _signature_defaults(PositionalEncoding) == {"num_octaves": PositionalSettings.num_octaves}
    rbf = _signature_defaults(RBFGrid)
    assert (rbf["num_levels"], rbf["min_bandwidth"], rbf["max_bandwidth"], rbf["max_channels"]) == (
        RBFSettings.rbf_levels, RBFSettings.rbf_min_bandwidth, RBFSettings.rbf_max_bandwidth, RBFSettings.rbf_max_channels)
    for network in (MaskedEncodingMLP, Siren, SASNet):
        defaults = _signature_defaults(network)
        assert (defaults["hidden_dim"], defaults["num_hidden_layers"]) == (method.hidden_dim, method.num_hidden_layers), network
        assert defaults.get("omega_0", method.omega_0) == method.omega_0, network
    for schedule in (progressive_tau, ProgressiveMask, SampleMask, GridMask):
        assert _signature_defaults(schedule)["open_fraction"] == method.open_fraction == DEFAULT_OPEN_FRACTION, schedule
    for spatial in (SampleMask, GridMask):
        assert _signature_defaults(spatial)["smoothing_steps"] == MaskDomain.smoothing_steps, spatial


def test_one_thread_default_for_the_command_line_batch_transfer_and_benchmarks():
    import argparse

    from bench.common import add_threads_argument
    from sape_geo_apps.batch.job_settings import RESERVED
    from sape_geo_apps.batch.local_engine import LocalEngine

    parser = argparse.ArgumentParser()
    add_threads_argument(parser)
    assert parser.parse_args([]).threads == DEFAULT_THREADS
    assert load_task("transfer").defaults["threads"] == DEFAULT_THREADS
    assert LocalEngine(workers=1).threads == DEFAULT_THREADS
    assert f"({DEFAULT_THREADS} locally" in RESERVED["threads"]


def test_the_viewers_command_line_defaults_are_its_options_and_functions_defaults():
    from sape_geo_apps.cli import build_parser
    from sape_geo_apps.viewer.command import movie, options_of, prepare, screenshot, show
    from sape_geo_apps.viewer.options import ViewOptions

    args = build_parser(["view"])[0].parse_args(["view", "run"])
    assert options_of(args) == ViewOptions()
    for function in (screenshot, movie, show, prepare):
        defaults = _signature_defaults(function)
        assert defaults["layout"] == args.layout and defaults["up_axis"] == args.up and defaults["options"] == ViewOptions()
        if "camera" in defaults:
            assert (defaults["camera"], defaults["size"], defaults["colour_bars"]) == (args.camera, args.size, args.colour_bars)
    assert _signature_defaults(screenshot)["frame"] == args.frame


def _configs(task: str, method: str | None = None):
    plugin = load_task(task)
    return plugin.configs(method or plugin.default_method)


def _exp(value: float) -> str:
    """3e-3 as the docs write it (not 0.003 nor 3e-03)."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _doc_claims() -> list[tuple[str, str]]:
    """(file, sentence) pairs: what the README and the method document say of a default, written from
    the values the code has."""
    transfer_method, transfer_fit = _configs("transfer")
    silhouette_method, silhouette_fit = _configs("silhouette")
    image_method, image_fit = _configs("image")
    occupancy_method, occupancy_fit = _configs("occupancy")
    fit1d_method, _ = _configs("fit1d")
    occupancy = load_task("occupancy").settings()
    image = load_task("image").settings()

    def sigma(task: str, method: str) -> str:
        return f"{_configs(task, method)[0].sigma:g}"

    def lr(task: str, method: str) -> str:
        return _exp(_configs(task, method)[1].lr)

    def net(method: MethodConfig) -> str:
        return f"{method.num_hidden_layers} x {method.hidden_dim}"

    curves = {net(silhouette_method), net(fit1d_method)}
    assert len(curves) == 1, f"the method document says one curve network for silhouettes and the 1-D demo, the code has {curves}"
    method_md = Path("docs", "method.md")
    return [
        (Path("README.md"), f"default `{DEFAULT_METHOD}`"),
        (Path("README.md"), f"`--threads` (default {DEFAULT_THREADS} for every task"),
        (Path("README.md"), f"Each job runs with {DEFAULT_THREADS} torch thread"),
        (Path("README.md"), f"{transfer_fit.steps} steps by default"),
        (Path("README.md"), f"at most N points (default {ScanSettings.max_points:,})"),
        (Path("README.md"), f"{image_fit.steps} full-batch steps of Adam at {_exp(image_fit.lr)}"),
        (Path("README.md"), f"default half-pixel threshold (`--epsilon {_exp(silhouette_method.epsilon)}`)"),
        (method_md, f"{FourierSettings.num_frequencies} frequencies by default"),
        (method_md, f"{PositionalSettings.num_octaves} by default (`--method-option num_octaves=K`), at most {MAX_OCTAVES}"),
        (method_md, f"`L` bandwidths (default {RBFSettings.rbf_levels}) shrink geometrically from "
                    f"{RBFSettings.rbf_max_bandwidth:g} to {RBFSettings.rbf_min_bandwidth:g}"),
        (method_md, f"A channel budget (default {RBFSettings.rbf_max_channels})"),
        (method_md, f"Defaults: {net(image_method)} (images, occupancy;"),
        (method_md, f"{net(silhouette_method)} for curves (silhouettes, the 1-D demo;"),
        (method_md, f"{net(transfer_method)} with {transfer_method.num_frequencies} frequencies for mesh transfer"),
        (method_md, f"\\text{{open\\_fraction}} = {Fraction(DEFAULT_OPEN_FRACTION)} \\text{{ by default}}"),
        (method_md, f"| images | per-pixel MSE (mean over channels) | {_exp(image_method.epsilon)} |"),
        (method_md, f"| occupancy | per-point BCE with logits (batches half loss-weighted) | {_exp(occupancy_method.epsilon)} |"),
        (method_md, f"| silhouettes | squared distance of the curve point to its target (normalised frame) | {_exp(silhouette_method.epsilon)} |"),
        (method_md, f"| mesh transfer | the vertex's (non-squared) distance to the target surface (normalised frame) | "
                    f"{_exp(transfer_method.epsilon)} |"),
        (method_md, f"| 1-D demo | squared error | {_exp(fit1d_method.epsilon)} |"),
        (method_md, f"Defaults: {transfer_fit.steps} steps, Adam lr {_exp(transfer_fit.lr)} ({transfer_fit.lr_schedule}), "
                    f"{net(transfer_method)} MLP, {transfer_method.num_frequencies} Fourier frequencies, sigma {sigma('transfer', 'ff')} "
                    f"(`ff`) / {sigma('transfer', 'pff')} (`pff`, `sape-ff`;"),
        (method_md, f"the paper uses 2x), {'one' if transfer_fit.threads == 1 else transfer_fit.threads} torch thread"),
        (method_md, f"Defaults: {silhouette_fit.steps} steps, Adam {_exp(silhouette_fit.lr)} with a {silhouette_fit.lr_schedule} decay "
                    f"(`none`: {lr('silhouette', 'none')}), {net(silhouette_method)} MLP, sigma {sigma('silhouette', 'ff')} (`ff`) / "
                    f"{sigma('silhouette', 'pff')} (`pff`, `sape-ff`)"),
        (method_md, f"downscaled to at most {image.max_size} pixels by default"),
        (method_md, f"that for `pff` and `sape-ff` (the paper's \"SAPE uses 2x the FF sigma\"); {net(image_method)} MLP"),
        (method_md, f"Loop (`default_fit_config`): {image_fit.steps} steps, Adam at `{_exp(image_fit.lr)}` "
                    f"(SIREN: its published `{lr('image', 'siren')}`; SASNet: `{lr('image', 'sasnet')}`"),
        (method_md, f"Training pool ({occupancy.train_points:,} points by default".replace(",", " ")),
        (method_md, f"Batches of {occupancy.batch_size} pool points"),
        (method_md, f"(`hard_fraction = {occupancy.hard_fraction:g}`"),
        (method_md, f"on a {occupancy.resolution}^3 grid with a {occupancy.smoothing_steps}-step running mean, "
                    f"`epsilon = {_exp(occupancy_method.epsilon)}`"),
        (method_md, f"Loop: {occupancy_fit.steps} Adam steps at {_exp(occupancy_fit.lr)} with a {occupancy_fit.lr_schedule} decay"),
        (method_md, f"sigma {sigma('occupancy', 'sape-ff')} for `sape-ff`, {sigma('occupancy', 'ff')} for `ff`, "
                    f"{sigma('occupancy', 'pff')} for `pff`"),
        (method_md, f"{occupancy.eval_points:,} each by default".replace(",", " ")),
    ]


@pytest.mark.parametrize("document, sentence", _doc_claims(), ids=lambda value: re.sub(r"\W+", "_", str(value))[:50])
def test_the_docs_state_the_defaults_the_code_has(document, sentence):
    text = " ".join((ROOT / document).read_text(encoding="utf-8").split())  # sentences wrap over lines
    assert sentence in text, f"{document} does not say {sentence!r}: a default changed on one side only"


BENCHMARKS = ("batch", "core", "images", "large_source", "occupancy", "partial", "sasnet", "scan", "silhouettes", "templates", "transfer")


class _Parsed(Exception):
    """Stops a benchmark's main() at its parse_args, carrying the parser it built."""


def _benchmark_parser(name: str, monkeypatch) -> "argparse.ArgumentParser":
    import argparse
    import importlib

    def stop(parser, *args, **kwargs):
        raise _Parsed(parser)

    module = importlib.import_module(f"bench.{name}")
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)
    with pytest.raises(_Parsed) as parsed:
        module.main([])
    return parsed.value.args[0]


def _stated_default(help_text: str) -> str | None:
    """What ``(default X)`` in an option's help says, up to its first remark (``400, the image
    benchmark's`` -> ``400``); None where the help says none or derives it (``%(default)s``)."""
    found = re.search(r"\(default:? ([^)]*)\)", help_text or "")
    if found is None or "%(default" in found.group(1):
        return None
    return re.split(r": |, |;", found.group(1))[0].strip()


def _help_disagreements(parser) -> tuple[int, list]:
    """How many options' help states a value as their default, and those whose stated value is not
    the option's default: ``(option strings, stated, default)``."""
    checked, wrong = 0, []
    for action in parser._actions:  # argparse keeps a parser's options nowhere public
        stated, default = _stated_default(action.help), action.default
        if stated is None or default is None or isinstance(default, bool):
            continue
        if isinstance(default, (int, float)):
            agrees = float(stated.replace(",", "")) == default
        elif stated.split()[0] not in map(str, default if isinstance(default, list) else [default]):
            continue  # words for a whole ("all", "both", "every registered one"), not a value to compare
        else:
            agrees = stated == (" ".join(map(str, default)) if isinstance(default, list) else str(default))
        checked += 1
        if not agrees:
            wrong.append((action.option_strings, stated, default))
    return checked, wrong


def test_the_help_check_finds_a_default_stated_wrongly():
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000, help="scan points (default 100,000)")
    parser.add_argument("--views", nargs="+", default=["z+", "z-"], help="views (default z+ x+)")
    parser.add_argument("--noise", type=float, default=0.002, help="noise (default 0.02)")
    parser.add_argument("--pairs", nargs="+", default=["a", "b"], help="pairs (default: all)")
    assert _help_disagreements(parser) == (3, [(["--views"], "z+ x+", ["z+", "z-"]), (["--noise"], "0.02", 0.002)])


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_benchmarks_help_states_the_default_its_option_has(name, monkeypatch):
    checked, wrong = _help_disagreements(_benchmark_parser(name, monkeypatch))
    assert wrong == []
    assert checked or name == "core"  # core's help states no default; every other benchmark's is checked
