"""Benchmark tables: means over seeds weigh every pair (or shape) the same, and the verdicts read them."""

import pytest

from bench import silhouettes, transfer


def _transfer_row(pair, method, seed, chamfer, hausdorff=1.0, dirichlet=1.0):
    return {"pair": pair, "method": method, "seed": seed, "chamfer_l1_pct_diag": chamfer, "hausdorff_pct_diag": hausdorff,
            "dirichlet_ratio": dirichlet, "conformal_ratio": 0.0, "flipped_triangles": 0, "seconds": 1.0}


def test_transfer_summary_averages_seeds_within_a_pair_first():
    rows = [
        _transfer_row("creature", "sape-ff", 0, 1.0), _transfer_row("creature", "sape-ff", 1, 3.0),  # pair mean 2
        _transfer_row("teddy", "sape-ff", 0, 4.0),  # one seed only
        _transfer_row("creature", "ff", 0, 2.5, dirichlet=0.5), _transfer_row("teddy", "ff", 0, 2.5, dirichlet=0.5),
        _transfer_row("08r_hand_to_lowres", "sape-ff", 0, 100.0),  # the timing-only pair never counts
        {"pair": "teddy", "method": "nricp", "seed": 0, "error": "ValueError: boom"},
    ]
    summary = {row["method"]: row for row in transfer.summary_rows(rows)}
    assert summary["sape-ff"]["chamfer_l1_pct_diag"] == pytest.approx(3.0)  # (2 + 4) / 2, not (1 + 3 + 4) / 3
    assert summary["sape-ff"]["runs"] == 3
    assert "nricp" not in summary
    lines = transfer.verdicts(list(summary.values()))
    assert any("best Chamfer of the neural methods: ff" in line for line in lines)
    assert any("Dirichlet" in line and "WORSE" in line for line in lines)


def _silhouette_run(shape, method, seed, iou, crossings=0, restored=False):
    return {"shape": shape, "method": method, "seed": seed, "iou": iou, "self_intersections": crossings, "restored": restored,
            "chamfer_pct_diag": 1.0, "hausdorff_pct_diag": 2.0, "seconds": 1.0, "cpu_seconds": 1.0}


def test_silhouette_summary_reports_each_seed():
    runs = [
        _silhouette_run("a", "pff", 0, 0.9), _silhouette_run("b", "pff", 0, 0.7, crossings=3),
        _silhouette_run("a", "pff", 1, 1.0), _silhouette_run("b", "pff", 1, 0.8, restored=True),
    ]
    (row,) = silhouettes.summary_rows(runs, ["pff", "ff"])
    assert (row["shapes"], row["runs"]) == (2, 4)
    assert row["mean_iou"] == pytest.approx(0.85)
    assert row["iou_seed0"] == pytest.approx(0.8) and row["iou_seed1"] == pytest.approx(0.9)
    assert (row["runs_not_simple"], row["max_self_intersections"], row["runs_restored"]) == (1, 3, 1)
    (shape_a, shape_b) = silhouettes.iou_matrix(runs, ["pff", "ff"])
    assert shape_a["pff"] == pytest.approx(0.95) and shape_a["ff"] is None


def test_silhouette_variants_name_task_settings():
    assert silhouettes.parse_variant("sape-ff") == ("sape-ff", {}, {})
    assert silhouettes.parse_variant("sape-ff/chamfer/no-tangle-feedback") == (
        "sape-ff", {"data_term": "chamfer", "tangle_feedback": False}, {"lr": 1e-4})
    with pytest.raises(ValueError, match="unknown variant"):
        silhouettes.parse_variant("pff/bogus")


def test_a_benchmark_child_that_dies_raises_instead_of_hanging():
    import os

    from bench.common import run_in_fresh_process

    # os._exit(job, queue) fails in the child (wrong arguments), so it dies without putting a row.
    with pytest.raises(RuntimeError, match="died with exit code"):
        run_in_fresh_process(os._exit, {})
