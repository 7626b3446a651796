import math

import pytest
import torch

from sape_geo.config import MaskDomain, MethodConfig, ModelSpec
from sape_geo.encoding_settings import FourierSettings, RBFSettings
from sape_geo.encodings import FourierFeatures, IdentityEncoding, PositionalEncoding, RBFGrid
from sape_geo.methods import build_model


@pytest.mark.parametrize("d", [1, 2, 3])
def test_fourier_shapes_levels_and_identity_first(d):
    enc = FourierFeatures(d, num_frequencies=16, sigma=5.0, generator=torch.Generator().manual_seed(0))
    coords = torch.rand(7, d) * 2 - 1
    features = enc(coords)
    assert features.shape == (7, d + 32) == (7, enc.out_dim)
    assert torch.equal(features[:, :d], coords)  # identity channels first, untouched
    assert enc.num_levels == 16
    assert enc.levels[:d].tolist() == [0] * d
    # cos and sin of one frequency share one level, levels ascend 1..L in pairs
    assert enc.levels[d:].tolist() == [j for j in range(1, 17) for _ in range(2)]


def test_fourier_sorted_by_lipschitz_and_values():
    enc = FourierFeatures(2, num_frequencies=64, sigma=10.0, generator=torch.Generator().manual_seed(1))
    magnitudes = enc.frequencies.norm(dim=1)
    assert bool((magnitudes[1:] >= magnitudes[:-1]).all())
    assert torch.allclose(enc.level_lipschitz[1:], 2 * math.pi * magnitudes)
    p = torch.tensor([[0.3, -0.7]])
    phase = 2 * math.pi * (p @ enc.frequencies.T)[0]
    features = enc(p)[0]
    assert torch.allclose(features[2::2], torch.cos(phase), atol=1e-5)
    assert torch.allclose(features[3::2], torch.sin(phase), atol=1e-5)


def test_fourier_same_seed_same_frequencies():
    a = FourierFeatures(3, 8, 4.0, generator=torch.Generator().manual_seed(5))
    b = FourierFeatures(3, 8, 4.0, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.frequencies, b.frequencies)


def test_positional_encoding_levels_are_octaves():
    enc = PositionalEncoding(2, num_octaves=4)
    assert enc.out_dim == 2 + 4 * 2 * 2
    assert enc.levels[2:].tolist() == [k for k in range(1, 5) for _ in range(4)]
    features = enc(torch.tensor([[0.25, 0.5]]))[0]
    # level 2 = octave 1: cos(2 pi x), cos(2 pi y), sin(2 pi x), sin(2 pi y)
    expected = torch.tensor([math.cos(math.pi / 2), math.cos(math.pi), math.sin(math.pi / 2), math.sin(math.pi)])
    assert torch.allclose(features[6:10], expected, atol=1e-6)
    with pytest.raises(ValueError):
        PositionalEncoding(2, num_octaves=40)


def test_positional_encoding_is_the_pe_methods_with_octaves_as_a_method_option():
    method = MethodConfig("sape-pe", options={"num_octaves": 3})
    model = build_model(ModelSpec(method, 2, 1, 20, MaskDomain("samples", 5)))
    assert isinstance(model.encoding, PositionalEncoding) and model.encoding.num_levels == 3
    assert build_model(ModelSpec(MethodConfig("pe"), 1, 1, 20, MaskDomain("samples", 5))).encoding.num_levels == 10
    with pytest.raises(ValueError, match="num_octaves must be in 1..16, got 17"):
        MethodConfig("pe", options={"num_octaves": 17})  # refused when the settings are read, before any fit


def test_each_encodings_settings_check_the_method_fields_they_read_whatever_the_method():
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        MethodConfig("siren", sigma=0.0)
    with pytest.raises(ValueError, match="rbf_max_channels must be a positive integer"):
        MethodConfig("sape-ff", rbf_max_channels=True)
    assert MethodConfig("rbfg", rbf_levels=4).encoding_settings() == RBFSettings(rbf_levels=4)
    assert MethodConfig("ff", sigma=3.0).encoding_settings() == FourierSettings(3.0, 256)


def test_rbf_grid_levels_sorted_and_periodic():
    enc = RBFGrid(2, num_levels=5, min_bandwidth=0.05, max_bandwidth=0.5, max_channels=400)
    assert bool((enc.level_lipschitz[1:] >= enc.level_lipschitz[:-1]).all())
    assert bool((enc.levels[1:] >= enc.levels[:-1]).all())
    assert enc.out_dim <= 2 + 400
    # periodic: x = -1 and x = +1 are the same point of the domain
    left, right = enc(torch.tensor([[-1.0, 0.2]])), enc(torch.tensor([[1.0, 0.2]]))
    assert torch.allclose(left[:, 2:], right[:, 2:], atol=1e-5)
    # a bump is 1 at its centre
    centre = enc.centres[0:1]
    assert float(enc.encode_levels(centre)[0, 0]) == pytest.approx(1.0)


def test_identity_encoding_has_no_levels():
    enc = IdentityEncoding(3)
    assert enc.num_levels == 0 and enc.out_dim == 3


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        FourierFeatures(0)
    with pytest.raises(ValueError):
        FourierFeatures(2, sigma=-1.0)
    with pytest.raises(ValueError):
        FourierFeatures(2)(torch.zeros(4, 3))


@pytest.mark.parametrize(
    "encoding",
    [
        FourierFeatures(2, 6, 3.0, generator=torch.Generator().manual_seed(0)),
        PositionalEncoding(2, 3),
        RBFGrid(2, 3, 0.1, 0.5, max_channels=60),
    ],
)
def test_masked_encoding_equals_channel_mask_times_features(encoding):
    coords = torch.rand(5, 2) * 2 - 1
    ramps = torch.rand(5, encoding.num_levels)
    mask = torch.cat([torch.ones(5, 1), ramps], dim=1)[:, encoding.levels]
    assert torch.allclose(encoding.forward_masked(coords, ramps), encoding(coords) * mask, atol=1e-6)


def test_fourier_features_of_fixed_coordinates_are_computed_once_and_follow_changes():
    encoding = FourierFeatures(2, 6, 3.0, generator=torch.Generator().manual_seed(0))
    coords = torch.rand(5, 2) * 2 - 1
    ramps = torch.rand(5, encoding.num_levels)
    first = encoding.forward_masked(coords, ramps)
    kept = encoding._fixed[3]
    assert torch.equal(encoding.forward_masked(coords, ramps), first) and encoding._fixed[3] is kept  # reused, unchanged
    coords.mul_(0.5)  # in place: the kept features are stale
    assert torch.allclose(encoding.forward_masked(coords, ramps), encoding.forward_masked(coords.clone(), ramps), atol=1e-6)
    assert not torch.allclose(encoding.forward_masked(coords, ramps), first)
    with torch.no_grad():
        encoding.frequencies.mul_(2.0)
    assert torch.allclose(encoding.forward_masked(coords, ramps), encoding.forward_masked(coords.clone(), ramps), atol=1e-6)
    moving = coords.clone().requires_grad_()  # coordinates with a gradient are never kept
    encoding.forward_masked(moving, ramps).sum().backward()
    assert moving.grad.abs().sum() > 0 and encoding._fixed[0] is not moving
