"""Silhouette inputs: foreground decision in every image mode and style, outlines, notes, bad input."""

import numpy as np
import pytest
from PIL import Image

from sape_geo.geometry.polygon import even_odd_fill, signed_area
from sape_geo.imaging import ImageReadError
from sape_geo.metrics import intersection_over_union
from sape_geo_apps.cli import main
from sape_geo_plugins.silhouette import (
    AllForegroundError,
    NoForegroundError,
    ShapeTooSmallError,
    SilhouetteError,
    load_silhouette,
)
from sape_geo_plugins.silhouette.shapes import (
    gear_outline,
    glyph_polygons,
    render_polygons,
    save_silhouette_image,
    star_outline,
)

SIZE = 96


@pytest.fixture(scope="module")
def star_coverage():
    return render_polygons([star_outline(5)], SIZE, 0.1)


@pytest.mark.parametrize(
    "name, style, mode",
    [
        ("star.png", "light on dark", "L"),
        ("star.gif", "light on dark", "P"),
        ("star.bmp", "dark on light", "RGB"),
        ("star.jpg", "dark on light", "RGB"),
        ("star.tif", "light on dark", "I;16"),
        ("star_alpha.png", "opaque on transparent", "RGBA"),
        ("star_1bit.png", "dark on light", "1"),
    ],
)
def test_every_mode_and_style_finds_the_same_shape(tmp_path, star_coverage, name, style, mode):
    path = tmp_path / name
    save_silhouette_image(path, star_coverage, style, mode)
    target = load_silhouette(path)
    truth = star_coverage >= 0.5
    assert target.foreground == style if mode != "RGBA" else "opaque on transparent"
    assert intersection_over_union(target.region, truth) > 0.97
    # The traced outline encloses exactly the region's pixel centres.
    assert np.array_equal(target.grid.fill(target.outline), target.region)
    assert target.notes == ()


def test_outline_follows_pixel_edges_in_image_coordinates(tmp_path):
    image = np.zeros((10, 12), np.uint8)
    image[2:6, 3:9] = 255  # rows 2..5, columns 3..8
    Image.fromarray(image).save(tmp_path / "rect.png")
    outline = load_silhouette(tmp_path / "rect.png").outline
    assert outline[:, 0].min() == pytest.approx(2.5) and outline[:, 0].max() == pytest.approx(8.5)
    assert outline[:, 1].min() == pytest.approx(1.5) and outline[:, 1].max() == pytest.approx(5.5)
    assert not np.array_equal(outline[0], outline[-1])  # closed implicitly, no repeated vertex


def test_shape_touching_the_border_gets_a_closed_outline(tmp_path):
    coverage = render_polygons([star_outline(6, inner=0.6)], SIZE, -0.05)
    save_silhouette_image(tmp_path / "cropped.png", coverage, "dark on light")
    target = load_silhouette(tmp_path / "cropped.png")
    assert target.foreground == "dark on light"
    assert target.touches[0] and target.touches[1]
    assert np.array_equal(target.grid.fill(target.outline), target.region)
    # The outline runs along the image edge half a pixel outside the first row.
    assert target.outline[:, 1].min() == pytest.approx(-0.5)


def test_holes_and_other_components_are_reported(tmp_path):
    coverage = render_polygons(glyph_polygons("A"), SIZE, 0.1)
    coverage[:4, :4] = 1.0  # a speck in the corner
    save_silhouette_image(tmp_path / "a.png", coverage)
    target = load_silhouette(tmp_path / "a.png")
    notes = " ".join(target.notes)
    assert "holds 2 separate shapes: fitted the largest" in notes and "--component" in notes
    assert "1 hole" in notes
    assert target.region.sum() > (coverage >= 0.5).sum()  # the hole is filled in the target region


def test_largest_component_wins(tmp_path):
    both = render_polygons([gear_outline(10) + [1.0, 0.0], star_outline(5) * 0.3 + [-2.0, 0.0]], SIZE, 0.05)
    save_silhouette_image(tmp_path / "two.png", both)
    target = load_silhouette(tmp_path / "two.png")
    assert target.outline[:, 0].min() > SIZE * 0.3  # the gear on the right, not the star on the left
    assert "holds 2 separate shapes: fitted the largest" in target.notes[0]
    star = load_silhouette(tmp_path / "two.png", component=1)
    assert star.outline[:, 0].max() < SIZE * 0.5  # --component 1: the star on the left
    assert "fitted number 1 by size" in star.notes[0]
    with pytest.raises(SilhouetteError, match="holds 2 shape"):
        load_silhouette(tmp_path / "two.png", component=2)


def test_polyline_input_is_rasterised_on_its_own_grid(tmp_path):
    star = star_outline(5) * 40 + 50
    path = tmp_path / "star.csv"
    path.write_text("".join(f"{x},{y}\n" for x, y in star))
    target = load_silhouette(path)
    assert target.kind == "polyline"
    assert np.allclose(target.outline, star)
    cell_area = target.grid.spacing**2
    assert target.region.sum() * cell_area == pytest.approx(abs(signed_area(star)), rel=0.01)


def test_outline_orientation_does_not_matter_for_the_region(tmp_path):
    star = star_outline(5) * 40 + 50
    forward = even_odd_fill(star, 100, 100)
    assert np.array_equal(forward, even_odd_fill(star[::-1], 100, 100))


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path)
    return path


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty.png"):
        load_silhouette(path)


def test_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with pytest.raises(ImageReadError, match="noise.png"):
        load_silhouette(path)
    with pytest.raises(ImageReadError, match="not found"):
        load_silhouette(tmp_path / "missing.png")


def test_no_foreground_is_a_clear_error(tmp_path):
    with pytest.raises(NoForegroundError, match="uniformly dark"):
        load_silhouette(_save(tmp_path / "black.png", np.zeros((20, 20), np.uint8)))
    transparent = np.zeros((20, 20, 4), np.uint8)
    with pytest.raises(NoForegroundError, match="transparent"):
        load_silhouette(_save(tmp_path / "clear.png", transparent, "RGBA"))


def test_all_foreground_is_a_clear_error(tmp_path):
    with pytest.raises(AllForegroundError, match="uniformly light"):
        load_silhouette(_save(tmp_path / "white.png", np.full((20, 20), 255, np.uint8)))


def test_one_pixel_shape_is_a_clear_error(tmp_path):
    image = np.zeros((20, 20), np.uint8)
    image[7, 9] = 255
    with pytest.raises(ShapeTooSmallError, match="1 pixel"):
        load_silhouette(_save(tmp_path / "dot.png", image))


def test_cli_reports_bad_input_without_writing_a_run(tmp_path, capsys):
    path = _save(tmp_path / "dot.png", np.pad(np.full((1, 1), 255, np.uint8), 5))
    code = main(["silhouette", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 2
    assert "dot.png" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_polyline_that_crosses_itself_is_refused(tmp_path, capsys):
    angles = -np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    pentagram = np.column_stack([np.cos(angles), np.sin(angles)]) * 40 + 50
    path = tmp_path / "pentagram.csv"
    path.write_text("".join(f"{x},{y}\n" for x, y in pentagram))
    with pytest.raises(SilhouetteError, match="crosses or touches itself"):
        load_silhouette(path)
    assert main(["silhouette", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "simple polygon" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
