"""Geometry of mesh transfer with exact known answers: landmarks, alignment, biharmonic, energies, metrics."""

import json
import subprocess
import sys

import igl
import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from sape_geo.geometry.alignment import (
    AffineTransform,
    align_without_landmarks,
    fit_affine,
    fit_landmark_transform,
    fit_similarity,
    is_coplanar,
    normalising_transform,
)
from sape_geo.geometry.biharmonic import BiharmonicDeformer, biharmonic_deform
from sape_geo.geometry.chamfer import chamfer_distance, nearest_squared_distances
from sape_geo.geometry.energies import (
    SourceFrames,
    arap_ratio,
    barycentric_points,
    conformal_energy_per_triangle,
    conformal_ratio,
    dirichlet_ratio,
    sample_barycentric,
    triangle_jacobians,
)
from sape_geo.geometry.landmarks import LandmarkError, Landmarks, landmarks_from_arrays, load_landmarks, save_landmarks
from sape_geo.geometry.metrics import (
    SurfaceDistance,
    distortion_energies,
    make_target,
    singular_values,
    surface_distances,
    transfer_metrics,
    triangle_quality,
)
from sape_geo.geometry.sampling import sample_surface


@pytest.fixture(scope="module")
def sphere(make_sphere):
    return make_sphere(subdivisions=2)


@pytest.fixture(scope="module")
def rotation():
    return Rotation.from_euler("xyz", [0.3, -1.1, 2.0]).as_matrix()


# ---------------------------------------------------------------- landmarks


def test_landmark_text_file_with_ids_positions_and_names(tmp_path):
    target = np.arange(30, dtype=float).reshape(10, 3)
    path = tmp_path / "marks.txt"
    path.write_text("# header comment\n0 3   # nose\n\n5 1.5 2.5 3.5\n7 9 # tail\n")
    marks = load_landmarks(path, num_source_vertices=8, target_points=target)
    np.testing.assert_array_equal(marks.source_indices, [0, 5, 7])
    np.testing.assert_array_equal(marks.target_positions, [target[3], [1.5, 2.5, 3.5], target[9]])
    assert marks.names == ("nose", "", "tail")


def test_landmark_csv_and_json_agree(tmp_path):
    target = np.random.default_rng(1).normal(size=(6, 3))
    (tmp_path / "m.csv").write_text("source,target,name\n0,1,a\n2,3,b\n4,5,c\n")
    entries = [{"source": 0, "target": 1, "name": "a"}, {"source": 2, "target": 3}, {"source": 4, "position": target[5].tolist()}]
    (tmp_path / "m.json").write_text(json.dumps({"landmarks": entries}))
    a = load_landmarks(tmp_path / "m.csv", 6, target)
    b = load_landmarks(tmp_path / "m.json", 6, target)
    np.testing.assert_array_equal(a.source_indices, b.source_indices)
    np.testing.assert_allclose(a.target_positions, b.target_positions)
    assert a.names == ("a", "b", "c")


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 1\n1 2\n9 3\n", "line 3: source vertex 9 is out of range"),
        ("0 1\n1 2\n2 30\n", "line 3: target vertex 30 is out of range"),
        ("0 1\n1 2\n0 3\n", "line 3: source vertex 0 already has a landmark"),
        ("0 1\n1 nan 0 0\n2 3\n", "line 2: target position has NaN"),
        ("0 1\n1 x\n2 3\n", "line 2: target vertex must be a whole number"),
        ("0 1 2\n", "line 1: expected"),
        ("0 1\n1 2\n", "2 landmarks found, at least 3"),
    ],
)
def test_landmark_errors_name_the_line(refuses_file, text, message):
    refuses_file("bad.txt", text, lambda path: load_landmarks(path, num_source_vertices=5, target_points=np.zeros((10, 3))),
                 LandmarkError, message)


def test_landmark_missing_file_and_bad_json(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_landmarks(tmp_path / "none.txt", 5)
    (tmp_path / "b.json").write_text('[{"source": 0,\n "target": }]')
    with pytest.raises(LandmarkError, match="line 2: invalid JSON"):
        load_landmarks(tmp_path / "b.json", 5, np.zeros((3, 3)))


def test_landmarks_round_trip_and_from_arrays(tmp_path):
    marks = landmarks_from_arrays([4, 1, 2], np.eye(3), 5, names=("x", "y", "z"))
    save_landmarks(tmp_path / "m.txt", marks)
    again = load_landmarks(tmp_path / "m.txt", 5)
    np.testing.assert_array_equal(again.source_indices, [4, 1, 2])
    np.testing.assert_allclose(again.target_positions, np.eye(3))
    assert again.names == ("x", "y", "z")
    with pytest.raises(LandmarkError, match="entry 1: source vertex 4 already"):
        landmarks_from_arrays([4, 4, 2], np.eye(3), 5)


# ---------------------------------------------------------------- alignment


def test_affine_fit_recovers_an_affine_map_exactly(rotation):
    rng = np.random.default_rng(0)
    matrix = rotation @ np.diag([2.0, 0.5, 1.3])
    source = rng.normal(size=(6, 3))
    target = source @ matrix.T + [1.0, -2.0, 3.0]
    fitted = fit_affine(source, target)
    np.testing.assert_allclose(fitted.matrix, matrix, atol=1e-10)
    np.testing.assert_allclose(fitted.apply(source), target, atol=1e-10)
    np.testing.assert_allclose(fitted.inverse().apply(target), source, atol=1e-10)


def test_similarity_fit_from_three_points_and_the_coplanar_fallback(rotation):
    source = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)  # coplanar
    target = 3.0 * source @ rotation.T + 5.0
    assert is_coplanar(source)
    with pytest.raises(ValueError, match="coplanar"):
        fit_affine(source, target)
    fitted = fit_landmark_transform(source, target)
    assert fitted.kind == "similarity"
    np.testing.assert_allclose(fitted.matrix, 3.0 * rotation, atol=1e-10)
    three = fit_similarity(source[:3], target[:3])
    np.testing.assert_allclose(three.apply(source), target, atol=1e-10)
    assert fit_landmark_transform(np.vstack([source, [[0, 0, 1]]]), np.vstack([target, [3 * rotation @ [0, 0, 1] + 5]])).kind == "affine"


def test_similarity_never_mirrors():
    source = np.random.default_rng(2).normal(size=(5, 3))
    mirrored = source * [-1, 1, 1]
    assert fit_similarity(source, mirrored).determinant > 0


@pytest.mark.parametrize("mode", ["principal-axes", "bounding-box"])
def test_alignment_without_landmarks_recovers_a_scaled_copy(mode):
    points = np.random.default_rng(3).normal(size=(3000, 3)) * [3.0, 1.5, 0.5]
    target = 2.0 * points + [10.0, 0.0, -4.0]
    transform = align_without_landmarks(points, target, mode)
    assert np.abs(transform.apply(points) - target).max() < 0.05 * np.ptp(target)


def test_principal_axes_undo_a_rotation(rotation):
    points = np.random.default_rng(4).normal(size=(3000, 3)) * [3.0, 1.5, 0.5]
    points[:, 0] += 0.4 * points[:, 0] ** 2  # asymmetric, so the axis signs are determined
    target = points @ rotation.T
    moved = align_without_landmarks(points, target).apply(points)
    assert np.median(np.linalg.norm(moved - target, axis=1)) < 0.1


def test_normalising_transform_is_uniform_and_invertible():
    points = np.array([[0, 0, 0], [10, 4, 2]], float)
    transform = normalising_transform(points, 0.9)
    moved = transform.apply(points)
    np.testing.assert_allclose(moved, [[-0.9, -0.36, -0.18], [0.9, 0.36, 0.18]])
    np.testing.assert_allclose(transform.inverse().apply(moved), points)
    composed = transform.then(AffineTransform.identity())
    np.testing.assert_allclose(composed.apply(points), moved)


# ---------------------------------------------------------------- biharmonic


def test_biharmonic_matches_igl_harmonic_and_landmarks_land_exactly(sphere):
    V, F = sphere
    handles = np.array([0, 7, 40, 99, 150])
    targets = V[handles] + np.random.default_rng(5).normal(scale=0.2, size=(5, 3))
    result = biharmonic_deform(V, F, handles, targets)
    reference = V + igl.harmonic(V, F, handles, targets - V[handles], 2)
    np.testing.assert_allclose(result, reference, atol=1e-10)
    np.testing.assert_allclose(result[handles], targets, atol=0)


def test_biharmonic_reproduces_a_translation_and_refactors_cheaply(sphere):
    V, F = sphere
    deformer = BiharmonicDeformer(V, F, np.array([1, 2, 3, 50]))
    np.testing.assert_allclose(deformer.displacements(np.tile([0.5, 0, -1], (4, 1))), np.tile([0.5, 0, -1], (len(V), 1)), atol=1e-9)
    np.testing.assert_allclose(deformer.displacements(np.zeros((4, 3))), 0.0, atol=1e-12)


def test_biharmonic_component_without_handles_stays_put(sphere):
    V, F = sphere
    V2 = np.vstack([V, V + 3.0, [[9.0, 9.0, 9.0]]])  # a second component and an unreferenced vertex
    F2 = np.vstack([F, F + len(V)])
    with pytest.warns(RuntimeWarning, match="1 connected component"):
        deformer = BiharmonicDeformer(V2, F2, np.array([0, 5, 9]))
    displacement = deformer.displacements(np.ones((3, 3)))
    np.testing.assert_allclose(displacement[: len(V)], 1.0, atol=1e-9)
    np.testing.assert_allclose(displacement[len(V) :], 0.0)


def test_biharmonic_of_a_source_with_a_needle_face_is_finite_and_says_so():
    # a vertex pushed to within 1e-9 of the midpoint of its opposite edge: an angle of nearly 180 degrees,
    # whose cotangent libigl returns as NaN; the factorisation used to fail ("exactly singular")
    sphere = trimesh.creation.icosphere(2)
    V, F = sphere.vertices.copy(), sphere.faces.copy()
    a, b = [corner for corner in F[np.any(F == 0, axis=1)][0] if corner != 0]
    V[0] = 0.5 * (V[a] + V[b]) + 1e-9 * (V[0] - 0.5 * (V[a] + V[b]))
    assert not np.isfinite(igl.cotmatrix(V, F).data).all()
    with pytest.warns(RuntimeWarning, match="needle-shaped faces"):
        deformer = BiharmonicDeformer(V, F, np.array([5, 20, 40, 100]))
    displacement = deformer.displacements(np.full((4, 3), 0.1))
    assert np.isfinite(displacement).all()
    np.testing.assert_allclose(displacement, 0.1, atol=1e-6)  # a translation of the handles moves everything


# ---------------------------------------------------------------- energies (torch)


def test_energies_identity_rotation_scale(sphere, rotation):
    V, F = sphere
    frames = SourceFrames(V, F)
    for matrix, dirichlet in ((np.eye(3), 1.0), (rotation, 1.0), (2.5 * rotation, 6.25)):
        moved = torch.tensor(V @ matrix.T + 3.0)
        assert float(dirichlet_ratio(moved, frames)) == pytest.approx(dirichlet, rel=1e-10)
        assert float(conformal_ratio(moved, frames)) == pytest.approx(0.0, abs=1e-5)
    stretched = torch.tensor(V * [1.0, 1.0, 2.0])
    assert float(conformal_ratio(stretched, frames)) > 0.1


def test_arap_energy_is_zero_for_a_rigid_motion_and_charges_a_change_of_size(sphere, rotation):
    V, F = sphere
    frames = SourceFrames(V, F)
    assert float(arap_ratio(torch.tensor(V @ rotation.T + 3.0), frames)) == pytest.approx(0.0, abs=1e-5)
    # a uniform scale s: both singular values are s, so E_ARAP / A = (s - 1)^2, where E_C stays 0
    assert float(arap_ratio(torch.tensor(1.5 * V @ rotation.T), frames)) == pytest.approx(0.25, rel=1e-6)
    moved = V + np.random.default_rng(3).normal(scale=0.05, size=V.shape)
    sigma, areas = singular_values(V, moved, F)
    expected = 0.5 * (areas * ((sigma - 1.0) ** 2).sum(axis=1)).sum() / areas.sum()
    assert float(arap_ratio(torch.tensor(moved), frames)) == pytest.approx(expected, rel=1e-6)


def test_conformal_energy_equals_dirichlet_minus_area(sphere):
    V, F = sphere
    frames = SourceFrames(V, F)
    moved = torch.tensor(V + np.random.default_rng(6).normal(scale=0.05, size=V.shape))
    jacobians = triangle_jacobians(moved, frames)
    dirichlet = 0.5 * (frames.areas * (jacobians**2).sum(dim=(1, 2))).sum()
    area = torch.tensor(trimesh.Trimesh(moved.numpy(), F, process=False).area)
    conformal = conformal_energy_per_triangle(moved, frames, eps=0.0).sum()
    assert float(conformal) == pytest.approx(float(dirichlet - area), rel=1e-9)
    reference = distortion_energies(V, moved.numpy(), F, free_of_scale=False)
    assert float(conformal_ratio(moved, frames)) == pytest.approx(reference["conformal_ratio"], rel=1e-5)


def test_energy_gradients_are_finite_for_a_collapsed_triangle(sphere):
    V, F = sphere
    frames = SourceFrames(V, F)
    moved = torch.tensor(V.copy(), requires_grad=True)
    with torch.no_grad():
        moved[F[0, 1]] = moved[F[0, 0]]
    conformal_ratio(moved, frames).backward()
    assert torch.isfinite(moved.grad).all()


def test_zero_area_source_triangle_is_refused():
    with pytest.raises(ValueError, match="zero area"):
        SourceFrames(np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0.0]]), np.array([[0, 1, 2]]))


def test_barycentric_samples_lie_on_the_surface_and_carry_gradients(sphere):
    V, F = sphere
    frames = SourceFrames(V, F)
    generator = torch.Generator().manual_seed(0)
    ids, weights = sample_barycentric(frames.areas, 500, generator)
    assert torch.allclose(weights.sum(dim=1), torch.ones(500, dtype=weights.dtype)) and (weights >= 0).all()
    vertices = torch.tensor(V, requires_grad=True)
    points = barycentric_points(vertices, torch.tensor(F), ids, weights)
    distances = SurfaceDistance(V, F)(points.detach().numpy())
    assert distances.max() < 1e-20
    points.sum().backward()
    assert vertices.grad.abs().sum() > 0


def test_surface_samples_are_trimeshs_draws_without_importing_trimesh(sphere):
    V, F = sphere
    V = V * [1.0, 2.0, 0.5]  # faces of different areas, so the area weighting matters
    for seed in (0, 7):
        ours = sample_surface(V, F, 3000, seed)
        theirs, _ = trimesh.sample.sample_surface(trimesh.Trimesh(V, F, process=False), 3000, seed=seed)
        assert np.array_equal(ours, theirs)
    assert SurfaceDistance(V, F)(ours).max() < 1e-20
    stream = np.random.default_rng(3)  # a generator is drawn from, not restarted
    assert not np.array_equal(sample_surface(V, F, 10, stream), sample_surface(V, F, 10, stream))
    code = ("import sys, numpy as np; from sape_geo.geometry.sampling import sample_surface\n"
            "sample_surface(np.eye(3), np.array([[0, 1, 2]]), 5); print('trimesh' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_kdtree_and_brute_force_chamfer_agree():
    rng = torch.Generator().manual_seed(1)
    a = torch.randn(300, 3, generator=rng, requires_grad=True)
    b = torch.randn(400, 3, generator=rng)
    brute = chamfer_distance(a, b, backend="brute")[0]
    tree = chamfer_distance(a, b, backend="kdtree")[0]
    assert float(brute) == pytest.approx(float(tree), rel=1e-6)
    tree.backward()
    assert a.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="backend"):
        nearest_squared_distances(a, b, backend="octree")


# ---------------------------------------------------------------- metrics (numpy / libigl)


def test_distance_metrics_are_zero_on_itself_and_scale_with_an_offset(sphere):
    V, F = sphere
    target = make_target(V, F, samples=4000)
    same = surface_distances(V, F, target, samples=4000)
    assert same["chamfer_l1_pct_diag"] < 1e-6 and same["hausdorff_pct_diag"] < 1e-6
    shifted = surface_distances(V + [0.01, 0, 0], F, target, samples=4000)
    diagonal = target.diagonal
    assert shifted["hausdorff_pct_diag"] == pytest.approx(100 * 0.01 / diagonal, rel=0.05)
    assert 0 < shifted["chamfer_l1_pct_diag"] <= 2 * shifted["hausdorff_pct_diag"]


def test_distance_metrics_to_a_point_cloud(sphere):
    V, F = sphere
    cloud = make_target(V * 2.0, None)
    metrics = surface_distances(V * 2.0, F, cloud, samples=2000)
    edge = 2.0 * np.linalg.norm(V[F[0, 0]] - V[F[0, 1]])
    assert metrics["hausdorff_pct_diag"] < 100 * edge / cloud.diagonal  # bounded by the edge length


def test_energy_metrics_identity_scale_rotation(sphere, rotation):
    V, F = sphere
    assert distortion_energies(V, V, F) == pytest.approx({"dirichlet_ratio": 1.0, "conformal_ratio": 0.0}, abs=1e-12)
    scaled = distortion_energies(V, 3.0 * V @ rotation.T, F, free_of_scale=False)
    assert scaled["dirichlet_ratio"] == pytest.approx(9.0) and scaled["conformal_ratio"] == pytest.approx(0.0, abs=1e-9)
    for factor in (1e-6, 3.0, 1e3):  # the reported energies are free of scale: a similarity is 1 and 0
        free = distortion_energies(V, factor * V @ rotation.T, F)
        assert free["dirichlet_ratio"] == pytest.approx(1.0) and free["conformal_ratio"] == pytest.approx(0.0, abs=1e-9)


def test_flipped_triangles_against_the_target_normals(sphere):
    V, F = sphere
    target = make_target(V, F, 1000)
    assert triangle_quality(V, V, F, target) == {"flipped_triangles": 0, "degenerate_triangles": 0, "inverted_triangles": 0,
                                                 "folded_edges": 0, "source_folded_edges": 0}
    reversed_some = F.copy()
    reversed_some[:7] = reversed_some[:7, ::-1]  # 7 triangles turned inside out
    assert triangle_quality(V, V, reversed_some, target)["flipped_triangles"] == 7
    assert triangle_quality(V, V, F[:, ::-1], target)["flipped_triangles"] == 0  # all flip: majority rules


@pytest.mark.parametrize("with_target", [True, False])
def test_flipped_and_degenerate_triangle_counts(sphere, with_target):
    V, F = sphere
    target = make_target(V, F, 1000) if with_target else None
    assert triangle_quality(V, V, F, target) == {"flipped_triangles": 0, "degenerate_triangles": 0, "inverted_triangles": 0,
                                                 "folded_edges": 0, "source_folded_edges": 0}
    vertex = F[0, 0]
    neighbour = F[0, 1]
    folded = V.copy()
    folded[vertex] = V[vertex] + 2.5 * (V[neighbour] - V[vertex])  # dragged across its neighbour: a fold
    assert triangle_quality(V, folded, F, target)["flipped_triangles"] >= 1
    assert triangle_quality(V, folded, F, target)["inverted_triangles"] >= 1
    dented = V.copy()
    dented[vertex] *= 0.97  # a dent, not a flip
    assert triangle_quality(V, dented, F, target)["flipped_triangles"] == 0
    assert triangle_quality(V, dented, F, target)["inverted_triangles"] == 0
    collapsed = V.copy()
    collapsed[F[10, 1]] = collapsed[F[10, 0]]
    assert triangle_quality(V, collapsed, F)["degenerate_triangles"] >= 1


def test_transfer_metrics_has_every_key(sphere):
    V, F = sphere
    metrics = transfer_metrics(V, V, F, make_target(V, F, 2000), samples=2000)
    expected = {"chamfer_l1_pct_diag", "chamfer_l2_diag2", "hausdorff_pct_diag", "dirichlet_ratio", "conformal_ratio", "flipped_triangles", "degenerate_triangles",
                "inverted_triangles", "folded_edges", "source_folded_edges"}
    assert expected <= set(metrics)


# ---------------------------------------------------------------- surface Chamfer (torch + libigl)


def _square():
    V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    return V, np.array([[0, 1, 2], [0, 2, 3]])


def test_squared_distance_to_mesh_is_exact_and_reaches_the_vertices():
    from sape_geo.geometry.surface_chamfer import squared_distance_to_mesh

    V, F = _square()
    vertices = torch.tensor(V, requires_grad=True)
    points = torch.tensor([[0.25, 0.5, 0.3], [2.0, 0.5, 0.0], [0.5, 0.5, -0.1]], requires_grad=True)
    squared = squared_distance_to_mesh(points, vertices, torch.tensor(F))
    np.testing.assert_allclose(squared.detach().numpy(), [0.09, 1.0, 0.01], atol=1e-12)
    squared.sum().backward()
    assert vertices.grad[:, 2].abs().sum() > 0  # pulling the plane towards the points moves its vertices
    np.testing.assert_allclose(points.grad[0].numpy(), [0, 0, 0.6], atol=1e-12)


def test_surface_chamfer_is_zero_on_the_surface_and_has_no_sampling_floor(sphere):
    from sape_geo.geometry.surface_chamfer import surface_chamfer

    V, F = sphere
    target = SurfaceDistance(V, F)
    frames = SourceFrames(V, F)
    generator = torch.Generator().manual_seed(0)
    vertices = torch.tensor(V)
    faces = torch.tensor(F)
    ids, weights = sample_barycentric(frames.areas, 200, generator)
    other_ids, other_weights = sample_barycentric(frames.areas, 200, generator)
    samples = barycentric_points(vertices, faces, ids, weights)
    target_samples = barycentric_points(vertices, faces, other_ids, other_weights)
    total, _, _ = surface_chamfer(samples, vertices, faces, target_samples, target)
    assert float(total) < 1e-20  # two different samplings of one surface: exactly 0
    assert float(chamfer_distance(samples, target_samples)[0]) > 1e-4  # the point-set Chamfer is not


def _icosphere():
    import trimesh

    mesh = trimesh.creation.icosphere(3)
    return np.array(mesh.vertices), np.array(mesh.faces)


def test_folded_edges_and_inverted_triangles_count_a_crumple_and_nothing_else():
    from sape_geo.geometry.metrics import folded_edges, inverted_triangle_mask, triangle_quality

    V, F = _icosphere()
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rotation *= np.sign(np.linalg.det(rotation))
    assert folded_edges(V, F) == 0
    for moved in (V, 1e-6 * V @ rotation.T + 3.0, 1e3 * V * [1.0, 0.4, 2.0], V * [-1.0, 1.0, 1.0]):  # rigid, any scale, stretch, mirror
        assert folded_edges(moved, F) == 0 and inverted_triangle_mask(V, moved, F).sum() == 0
    # a vertex pushed across its neighbour: the fan around it turns over
    neighbour = [v for v in F[(F == 0).any(axis=1)].ravel() if v != 0][0]
    W = V.copy()
    W[0] = V[neighbour] + (V[neighbour] - V[0])
    quality = triangle_quality(V, W, F)
    assert quality["folded_edges"] >= 2 and quality["inverted_triangles"] >= 1 and quality["source_folded_edges"] == 0
    # a sheet folded flat onto itself: the edges along the crease are folded edges
    grid = np.array([[x, y, 0.0] for y in range(4) for x in range(5)], dtype=float)
    quads = [(y * 5 + x, y * 5 + x + 1, (y + 1) * 5 + x + 1, (y + 1) * 5 + x) for y in range(3) for x in range(4)]
    sheet_F = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))])
    folded = grid.copy()
    right = folded[:, 0] > 2
    folded[right, 0] = 4 - folded[right, 0]
    folded[right, 2] = 1e-2
    assert folded_edges(grid, sheet_F) == 0
    assert folded_edges(folded, sheet_F) == 3  # the three crease edges at x = 2
    # folding paper is a rotation of each half, not an inversion: the crease is a fold, no triangle turned
    assert inverted_triangle_mask(grid, folded, sheet_F).sum() == 0
