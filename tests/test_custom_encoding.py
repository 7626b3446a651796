"""A new encoding is one class and one registration call (examples/custom_encoding.py): its methods are
listed, checked, built, reachable from the command line and fitted like the built-in ones."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from dataclasses import dataclass

import pytest
import torch

from conftest import ROOT
from sape_geo.catalogue import encoding_names, method_descriptions, method_names, register_encoding
from sape_geo.config import MaskDomain, MethodConfig, ModelSpec
from sape_geo.methods import build_model
from sape_geo_plugins.fit1d import PLUGIN as FIT1D


def _load_example():
    """The example module, executed once per process (its registration is a one-time call)."""
    if "custom_encoding" not in sys.modules:
        spec = importlib.util.spec_from_file_location("custom_encoding", ROOT / "examples" / "custom_encoding.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["custom_encoding"] = module
        spec.loader.exec_module(module)
    return sys.modules["custom_encoding"]


example = _load_example()


def test_the_registration_adds_the_encoding_and_its_methods():
    assert "triangle" in encoding_names()
    assert {"tri", "sape-tri"} <= set(method_names())
    assert method_descriptions()["sape-tri"].startswith("triangle waves, one level per octave; SAPE")


def test_a_registered_method_builds_the_encoding_from_its_typed_options():
    method = MethodConfig("sape-tri", options={"num_octaves": 3, "base_period": 4})
    assert method.encoding_settings() == example.TriangleSettings(3, 4.0)
    model = build_model(ModelSpec(method, 2, 1, 50, MaskDomain("samples", 10)))
    encoding = model.encoding
    assert isinstance(encoding, example.TriangleWaves) and encoding.num_levels == 3 and encoding.out_dim == 2 + 3 * 2 * 2
    assert torch.allclose(encoding.level_lipschitz[1:], torch.tensor([1.0, 2.0, 4.0]))
    coords = torch.rand(6, 2) * 2 - 1
    ramps = torch.rand(6, 3)
    channel_mask = torch.cat([torch.ones(6, 1), ramps], dim=1)[:, encoding.levels]
    assert torch.allclose(encoding.forward_masked(coords, ramps), encoding(coords) * channel_mask, atol=1e-6)
    # a level's channels are triangle waves of slope 4 x cycles per unit: 1 cycle per unit at the finest
    h = 1e-4
    slope = (encoding(coords + h) - encoding(coords)) / h
    assert float(slope[:, 2:].abs().max()) == pytest.approx(4.0, rel=1e-2)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_octaves": 0}, "num_octaves must be a positive integer"),
        ({"num_octaves": 2.5}, "tri option num_octaves must be a whole number"),
        ({"base_period": "wide"}, "tri option base_period must be a float"),
        ({"octaves": 3}, "unknown tri option.*octaves; known: num_octaves, base_period"),
    ],
)
def test_bad_options_of_a_registered_encoding_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        MethodConfig("tri", options=options)


def test_the_built_in_methods_keep_refusing_options():
    with pytest.raises(ValueError, match="method ff takes no method options, got num_octaves"):
        MethodConfig("ff", options={"num_octaves": 3})


def test_names_and_settings_are_checked_when_registering():
    with pytest.raises(ValueError, match="already registered"):
        register_encoding("triangle", example.TriangleWaves, example.TriangleSettings)
    with pytest.raises(ValueError, match="method 'sape-ff' is already registered"):
        register_encoding("triangle2", example.TriangleWaves, example.TriangleSettings, {"sape-ff": "sape"})
    with pytest.raises(ValueError, match="unknown mask policy 'sometimes'"):
        register_encoding("triangle3", example.TriangleWaves, example.TriangleSettings, {"tri3": "sometimes"})

    @dataclass(frozen=True)
    class NoDefault:
        width: int

    with pytest.raises(ValueError, match="width need a default"):
        register_encoding("triangle4", example.TriangleWaves, NoDefault)
    assert not {"triangle2", "triangle3", "triangle4"} & set(encoding_names())
    assert "tri3" not in method_names()


def test_the_command_line_offers_and_checks_a_registered_method():
    parser = argparse.ArgumentParser()
    FIT1D.add_arguments(parser)
    assert "sape-tri" in parser.format_help()
    FIT1D.check_args(parser.parse_args(["--method", "sape-tri", "--method-option", "num_octaves=4", "--out", "x"]))
    with pytest.raises(ValueError, match="num_octaves must be a positive integer"):
        FIT1D.check_args(parser.parse_args(["--method", "sape-tri", "--method-option", "num_octaves=0", "--out", "x"]))


def test_a_registered_method_fits_through_the_run_path():
    (row,) = example.compare(["sape-tri"], steps=5, options={"num_octaves": 4})
    assert all(torch.isfinite(torch.tensor(value)) for key, value in row.items() if key != "method")
    assert 0.0 <= row["levels_smooth"] <= 4.0 and 0.0 <= row["levels_oscillating"] <= 4.0
