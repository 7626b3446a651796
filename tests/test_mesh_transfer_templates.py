"""Mesh transfer with production templates (issue 23): the source file comes back whole with new
positions, polygons are measured, accessories follow the body, rigid parts keep their shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sape_geo.geometry.alignment import fit_similarity
from sape_geo.geometry.mesh_io import MeshInputError
from sape_geo.geometry.template_file import read_template
from sape_geo_apps.cli import main
from sape_geo_plugins.mesh_transfer import transfer_mesh

STRETCH = np.array([1.3, 0.8, 1.1])


def _quad_sphere(n: int = 4, radius: float = 1.0, centre=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, list[list[int]]]:
    """A cube of ``6 n^2`` quads blown up onto a sphere (shared vertices, outward winding)."""
    points, quads, index = [], [], {}

    def vertex(p):
        key = tuple(np.round(p, 9))
        if key not in index:
            index[key] = len(points)
            points.append(p)
        return index[key]

    axes = np.eye(3)
    for axis in range(3):
        for sign in (-1.0, 1.0):
            u, v = axes[(axis + 1) % 3], axes[(axis + 2) % 3]
            if sign < 0:
                u, v = v, u
            grid = [[vertex(sign * axes[axis] + (2 * i / n - 1) * u + (2 * j / n - 1) * v) for j in range(n + 1)] for i in range(n + 1)]
            quads += [[grid[i][j], grid[i + 1][j], grid[i + 1][j + 1], grid[i][j + 1]] for i in range(n) for j in range(n)]
    cube = np.array(points)
    return radius * cube / np.linalg.norm(cube, axis=1, keepdims=True) + np.asarray(centre), quads


def _obj_text(parts: list[tuple[str, np.ndarray, list[list[int]]]]) -> str:
    """An OBJ of named parts with every line type: mtllib, o, g, usemtl, s, vt per corner, vn per vertex."""
    lines, offset = ["# template written by a test", "mtllib template.mtl", "o Template"], 0
    for name, vertices, quads in parts:
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
        lines += [f"vn {x:.6f} {y:.6f} {z:.6f}" for x, y, z in (vertices - vertices.mean(axis=0)) / np.linalg.norm(vertices - vertices.mean(axis=0), axis=1, keepdims=True)]
        lines += ["vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1", f"g {name}", f"usemtl {name}_material", "s 1"]
        for quad in quads:
            lines.append("f " + " ".join(f"{offset + c + 1}/{-4 + k}/{offset + c + 1}" for k, c in enumerate(quad)))
        offset += len(vertices)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import trimesh

    folder = tmp_path_factory.mktemp("templates")
    body, body_quads = _quad_sphere(4)
    eye, eye_quads = _quad_sphere(1, radius=0.15, centre=(0.0, 0.0, 0.55))
    (folder / "template.obj").write_text(_obj_text([("body", body, body_quads), ("eye", eye, eye_quads)]))
    target = trimesh.creation.icosphere(subdivisions=3)
    (folder / "target.obj").write_text("\n".join([f"v {x} {y} {z}" for x, y, z in target.vertices * STRETCH]
                                                 + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in target.faces]) + "\n")
    # landmarks on the body: its six cube-face centres and eight corners, onto the stretched sphere
    ids = [int(np.argmax(body @ d)) for d in np.vstack([np.eye(3), -np.eye(3), np.array(np.meshgrid(*[[-1, 1]] * 3)).reshape(3, -1).T])]
    (folder / "marks.txt").write_text("".join(f"{i} {x} {y} {z}\n" for i, (x, y, z) in zip(ids, body[ids] * STRETCH)))
    (folder / "body.obj").write_text(_obj_text([("body", body, body_quads)]))
    return folder


def _keyword(line: str) -> str:
    return line.split()[0] if line.split() else ""


def test_result_is_the_source_file_with_new_positions(files, tmp_path):
    result = transfer_mesh(files / "body.obj", files / "target.obj", files / "marks.txt", method="biharmonic", out=tmp_path / "run")
    source_lines = (files / "body.obj").read_text().splitlines()
    result_lines = (tmp_path / "run" / "result.obj").read_text().splitlines()
    assert [a for a in source_lines if _keyword(a) not in ("v", "vn")] == [b for b in result_lines if _keyword(b) not in ("v", "vn")]
    assert sum(_keyword(line) == "vt" for line in result_lines) == 4
    np.testing.assert_allclose(read_template(tmp_path / "run" / "result.obj").vertices, result.vertices, atol=1e-12)
    init_lines = (tmp_path / "run" / "init.obj").read_text().splitlines()
    assert [a for a in source_lines if _keyword(a) not in ("v", "vn")] == [b for b in init_lines if _keyword(b) not in ("v", "vn")]
    assert len(result.polygons) == 96 and result.polygons.sizes.tolist() == [4] * 96
    assert result.faces.shape == (192, 3) and np.bincount(result.triangle_polygon).tolist() == [2] * 96
    metrics = result.metrics
    for key in ("polygon_nonplanarity_mean", "polygon_nonplanarity_max", "turned_polygons", "source_polygon_nonplanarity_max"):
        assert key in metrics
    assert metrics["turned_polygons"] == 0 and 0 < metrics["polygon_nonplanarity_max"] < 0.2


def test_a_quad_counts_once_in_the_conformal_energy(files):
    """The conformal triangles are every fan of each quad (both diagonal splits) at weights that sum to
    the quad's two triangles; a similarity scores 0."""
    from sape_geo_plugins.mesh_transfer.prepared import prepare_transfer

    prepared = prepare_transfer(files / "body.obj", files / "target.obj", files / "marks.txt")
    triangles, weights = prepared.conformal_triangles()
    assert len(triangles) == 96 * 8 and np.isclose(weights.sum(), 96 * 2)
    # the energy counts area once: a similarity scores 0, and the weighted area is the quads' area
    moved = 2.0 * prepared.source_vertices + 1.0
    assert prepared.polygon_metrics(moved)["conformal_ratio"] == pytest.approx(0.0, abs=1e-12)


def test_carrying_the_source_reproduces_the_result_and_a_shell_stays_outside(files, tmp_path):
    import igl

    result = transfer_mesh(files / "body.obj", files / "target.obj", files / "marks.txt", method="biharmonic",
                           out=tmp_path / "run", carry=(str(files / "body.obj"),))
    diagonal = result.metrics["target_diagonal"]
    carried = read_template(tmp_path / "run" / "carried" / "body.obj").vertices
    assert np.abs(carried - result.vertices).max() <= 1e-6 * diagonal
    source = result.prepared.source_vertices
    triangles = result.faces
    normals = igl.per_vertex_normals(source, triangles)
    offset = 0.01 * np.linalg.norm(np.ptp(source, axis=0))
    shell = result.carry(source + offset * normals)
    signed = igl.signed_distance(shell, result.vertices, triangles)[0]
    area = lambda V: igl.doublearea(V, triangles).sum()  # noqa: E731
    expected = offset * np.sqrt(area(result.vertices) / area(source))
    assert (signed > 0).all()
    assert 0.7 * expected <= signed.min() and signed.max() <= 1.3 * expected


def test_rigid_group_keeps_its_shape_exactly(files, tmp_path):
    result = transfer_mesh(files / "template.obj", files / "target.obj", files / "marks.txt", method="biharmonic", rigid=("eye",))
    eye = read_template(files / "template.obj").groups["eye"]
    rest, moved = result.prepared.source_vertices[eye], result.vertices[eye]
    fitted = fit_similarity(rest, moved).apply(rest)
    assert np.abs(fitted - moved).max() < 1e-9
    free = transfer_mesh(files / "template.obj", files / "target.obj", files / "marks.txt", method="biharmonic")
    assert np.abs(fit_similarity(rest, free.vertices[eye]).apply(rest) - free.vertices[eye]).max() > 1e-3  # it did deform before
    with pytest.raises(MeshInputError, match="no group or object 'nose'.*body, eye"):
        transfer_mesh(files / "template.obj", files / "target.obj", files / "marks.txt", method="biharmonic", rigid=("nose",))


def test_cli_carry_rigid_and_refusals(files, tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--landmarks", str(files / "marks.txt"), "--method", "biharmonic", "--quiet"]
    code = main(["transfer", str(files / "template.obj"), str(files / "target.obj"), *common, "--out", str(run),
                 "--carry", str(files / "body.obj"), "--rigid", "eye"])
    assert code == 0 and (run / "carried" / "body.obj").is_file() and (run / "carry.npz").is_file()
    assert main(["carry", str(run), str(files / "body.obj"), "--out", str(tmp_path / "later")]) == 0
    assert (tmp_path / "later" / "body.obj").read_bytes() == (run / "carried" / "body.obj").read_bytes()
    assert main(["carry", str(run), str(files / "body.obj"), "--out", str(tmp_path / "later")]) == 2  # no silent overwrite
    assert "exists already" in capsys.readouterr().err
    stl = tmp_path / "hat.stl"
    stl.write_text("solid hat\nendsolid hat\n")
    assert main(["transfer", str(files / "template.obj"), str(files / "target.obj"), *common, "--out", str(tmp_path / "refused"),
                 "--carry", str(stl)]) == 2
    assert "cannot be written back as it was" in capsys.readouterr().err and not (tmp_path / "refused").exists()
    assert main(["transfer", str(files / "template.obj"), str(files / "target.obj"), *common, "--out", str(tmp_path / "nogroup"),
                 "--rigid", "nose"]) == 2
    assert "'nose'" in capsys.readouterr().err and not (tmp_path / "nogroup").exists()


def test_ply_source_comes_back_as_ply_in_its_encoding(files, tmp_path):
    body = read_template(files / "body.obj")
    header = (f"ply\nformat binary_little_endian 1.0\nelement vertex {len(body.vertices)}\nproperty float x\nproperty float y\n"
              f"property float z\nproperty uchar red\nelement face {len(body.polygons)}\nproperty list uchar int vertex_indices\nend_header\n")
    records = np.zeros(len(body.vertices), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1")])
    for k, name in enumerate("xyz"):
        records[name] = body.vertices[:, k]
    records["red"] = np.arange(len(body.vertices)) % 256
    faces = b"".join(np.uint8(4).tobytes() + np.asarray(q, dtype="<i4").tobytes() for q in body.polygons.to_list())
    (tmp_path / "body.ply").write_bytes(header.encode() + records.tobytes() + faces)
    result = transfer_mesh(tmp_path / "body.ply", files / "target.obj", files / "marks.txt", method="biharmonic", out=tmp_path / "run")
    written = (tmp_path / "run" / "result.ply").read_bytes()
    assert written.startswith(header.encode()) and written.endswith(faces)
    back = read_template(tmp_path / "run" / "result.ply")
    np.testing.assert_allclose(back.vertices, result.vertices, atol=1e-5)
    assert result.prepared.result_name == "result.ply"


def test_rigid_vertex_file_splits_into_connected_parts(files, tmp_path):
    from sape_geo_plugins.mesh_transfer.prepared import rigid_parts

    template = read_template(files / "template.obj")
    triangles, _ = template.triangulation()
    eye = template.groups["eye"]
    ids = tmp_path / "rigid.txt"
    ids.write_text("# an eye and one body vertex\n" + ", ".join(map(str, eye)) + "\n0\n")
    parts = rigid_parts((str(ids),), template, triangles)
    assert sorted(len(part) for part in parts) == [1, len(eye)]
    ids.write_text(f"{len(template.vertices)}\n")
    with pytest.raises(MeshInputError, match="vertex ids must be in 0..*, got"):
        rigid_parts((str(ids),), template, triangles)


def test_network_fit_of_a_quad_template_keeps_the_file_and_folds_count_polygons(files, tmp_path):
    import torch

    from sape_geo_plugins.mesh_transfer.prepared import prepare_transfer
    from sape_geo_plugins.mesh_transfer.task import MeshTransferTask

    prepared = prepare_transfer(files / "body.obj", files / "target.obj", files / "marks.txt")
    task = MeshTransferTask(prepared)
    assert len(task.polygon_pairs) == 96 * 4 // 2  # the edges between quads are folds of their own
    source = torch.tensor(prepared.source_vertices, dtype=torch.float32)
    assert float(task.fold_excess(source).max()) == 0.0
    squashed = source.clone()
    squashed[source[:, 0] > 0, 0] *= -1.0  # the +x half mirrored into the -x half: creases everywhere on the seam
    assert float(task.fold_excess(squashed).max()) > 0.5
    result = transfer_mesh(files / "body.obj", files / "target.obj", files / "marks.txt", out=tmp_path / "run", steps=3,
                           surface_samples=200, target_batch=200, progress_bar=False)
    source_lines = [line for line in (files / "body.obj").read_text().splitlines() if _keyword(line) not in ("v", "vn")]
    assert source_lines == [line for line in (tmp_path / "run" / "result.obj").read_text().splitlines() if _keyword(line) not in ("v", "vn")]
    assert result.metrics["steps_done"] == 3 and "folded_polygon_edges" in result.metrics


def test_a_target_with_the_source_quads_is_its_ground_truth(files, tmp_path):
    template = read_template(files / "body.obj")
    template.write(tmp_path / "stretched.obj", template.vertices * STRETCH)
    result = transfer_mesh(files / "body.obj", tmp_path / "stretched.obj", files / "marks.txt", method="biharmonic")
    assert "vertex i -> target vertex i" in result.prepared.ground_truth_source
    assert result.metrics["correspondence_error_pct_diag"] < 1e-3  # the landmarks and the biharmonic field follow a linear stretch


def _mixed_off(vertices: np.ndarray, quads: list[list[int]]) -> str:
    """The quad mesh as an OFF of pentagons, quads and triangles: the midpoint of the first quad's first
    edge goes into both polygons that share it (two pentagons, no crack), and every third other quad is
    written as two triangles."""
    a, b = quads[0][0], quads[0][1]
    middle = len(vertices)
    polygons = []
    for index, quad in enumerate(quads):
        cyclic = [(quad[k], quad[(k + 1) % 4]) for k in range(4)]
        if (a, b) in cyclic or (b, a) in cyclic:
            start = cyclic.index((a, b)) if (a, b) in cyclic else cyclic.index((b, a))
            polygons.append(quad[:start + 1] + [middle] + quad[start + 1:])
        elif index % 3 == 0:
            polygons += [quad[:3], [quad[0], quad[2], quad[3]]]
        else:
            polygons.append(quad)
    points = np.vstack([vertices, (vertices[a] + vertices[b]) / 2])
    return (f"OFF\n{len(points)} {len(polygons)} 0\n" + "".join(f"{x!r} {y!r} {z!r}\n" for x, y, z in points.tolist())
            + "".join(f"{len(p)} {' '.join(map(str, p))}\n" for p in polygons))


def test_an_off_target_mixing_pentagons_quads_and_triangles_is_transferred_onto(files, tmp_path, capsys, tiny_args):
    body, quads = _quad_sphere(4)
    (tmp_path / "target.off").write_text(_mixed_off(body * STRETCH, quads))
    code = main(["transfer", str(files / "body.obj"), str(tmp_path / "target.off"), "--landmarks", str(files / "marks.txt"),
                 *tiny_args["transfer"], "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "result.obj").exists()
