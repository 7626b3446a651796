"""The hostile-input matrix: every case asserts the exit code, that the message names the problem, that
no traceback is printed, and that nothing is lost or left half-written.

Most cases call the ``sape-geo`` entry point's ``main`` in this process (the installed script calls
exactly that function; a subprocess per case would cost seconds of imports). Interrupts, kills and
locks need real processes: those cases start ``sape-geo`` (or the batch) as a subprocess and send real
signals.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sape_geo.geometry.alignment import align_without_landmarks
from sape_geo.geometry.mesh_io import load_mesh
from sape_geo.runs import MARKER_FILE, METRICS_FILE, is_complete_run
from sape_geo_apps.batch import run_pipeline
from sape_geo_apps.cli import main

from conftest import ASSETS, ROOT  # noqa: E402
SAPE_GEO = [sys.executable, "-m", "sape_geo_apps.cli"]
from conftest import TINY_ARGS  # noqa: E402

TINY_FIT1D = TINY_ARGS["fit1d"]
TINY_TRANSFER = TINY_ARGS["transfer"]
TINY_OCCUPANCY = ["--steps", "3", "--resolution", "4", "--train-points", "600", "--batch-size", "200", "--eval-points", "300",
                  "--mesh-resolution", "10", "--hidden", "8", "--layers", "1", "--frequencies", "4", "--quiet", "--threads", "1"]


# --------------------------------------------------------------------------------------------- helpers

def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run ``sape-geo ARGV`` in this process; no traceback may reach the user."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, captured.err
    return code, captured.out, captured.err


def tree(path: Path) -> dict[str, str]:
    """Every file under ``path`` (hidden ones too) with its SHA-256: to show nothing changed."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


def siblings_left(run: Path) -> list[str]:
    """What a run left beside its folder: building folders or lock files."""
    return sorted(p.name for p in run.parent.iterdir() if p.name.startswith(f".{run.name}."))


def fit1d_run(capsys, out: Path, *extra: str) -> dict[str, str]:
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", out, *extra)
    assert code == 0, err
    return tree(out)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def building(run: Path) -> bool:
    return any(run.parent.glob(f".{run.name}.sape-geo-building-*/config.json"))


def start(command: list[str], **options) -> subprocess.Popen:
    """A process started as a terminal would (SIGINT at its default: pytest-xdist workers ignore it)."""
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **options,
    )


def landmark_file(folder: Path, name: str, positions) -> Path:
    """The creature's source landmark vertices paired with ``positions`` (one x y z per pair)."""
    rows = [line.split("#")[0].split() for line in (ASSETS / "creature_landmarks.txt").read_text().splitlines()]
    sources = [row[0] for row in rows if row]
    path = folder / name
    path.write_text("".join(f"{s} {float(x)!r} {float(y)!r} {float(z)!r}\n" for s, (x, y, z) in zip(sources, positions(len(sources)))))
    return path


def scaled_mesh(folder: Path, name: str, source: Path, scale: float) -> Path:
    vertices, faces = load_mesh(source)
    path = folder / name
    lines = [f"v {float(x)!r} {float(y)!r} {float(z)!r}" for x, y, z in vertices * scale] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    path.write_text("\n".join(lines) + "\n")
    return path


def transfer(capsys, out: Path, landmarks: Path, source: Path = ASSETS / "creature_source.obj",
             target: Path = ASSETS / "creature_target.obj", *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "transfer", source, target, "--landmarks", landmarks, "--out", out, *TINY_TRANSFER, *extra)


# ------------------------------------------------------------------------- data loss: --overwrite

def test_overwrite_refuses_a_project_folder_that_holds_a_config_json(tmp_path, capsys):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('precious')\n")
    (project / "config.json").write_text('{"seed": 1}\n')
    before = tree(project)
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", project, "--overwrite")
    assert code == 2 and "not a sape-geo run directory" in err and "refusing to delete" in err
    assert tree(project) == before and siblings_left(project) == []


def test_overwrite_refuses_a_run_directory_the_user_added_files_to(tmp_path, capsys):
    run = tmp_path / "run"
    fit1d_run(capsys, run)
    (run / "notes.txt").write_text("my observations")
    before = tree(run)
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", run, "--overwrite")
    assert code == 2 and "notes.txt" in err and "did not write" in err
    assert tree(run) == before


def test_existing_run_is_refused_without_overwrite_and_replaced_whole_with_it(tmp_path, capsys):
    run = tmp_path / "run"
    before = fit1d_run(capsys, run)
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", run)
    assert code == 2 and "--overwrite" in err and tree(run) == before
    fit1d_run(capsys, run, "--overwrite", "--seed", "1")
    assert json.loads((run / "config.json").read_text())["seed"] == 1
    assert (run / MARKER_FILE).is_file() and siblings_left(run) == []


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "kill", "kill-9"])
def test_an_interrupted_overwrite_leaves_the_old_run_as_it_was(tmp_path, capsys, how):
    run = tmp_path / "run"
    before = fit1d_run(capsys, run)
    process = start([*SAPE_GEO, "fit1d", "--steps", "1000000", "--hidden", "8", "--layers", "1", "--frequencies", "4",
                     "--quiet", "--threads", "1", "--out", str(run), "--overwrite"])
    try:
        wait_for(lambda: building(run) or process.poll() is not None)
        process.send_signal(how)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert tree(run) == before  # the old run, byte for byte
    assert "Traceback" not in err
    if how == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        # the killed run's folder is left hidden beside the run; the next run of that name removes it
        fit1d_run(capsys, run, "--overwrite", "--seed", "2")
        assert json.loads((run / "config.json").read_text())["seed"] == 2
    else:
        assert process.returncode == 130 and "interrupted" in err and "as it was" in err
    assert siblings_left(run) == []


def test_a_run_directory_being_written_is_locked_against_a_second_process(tmp_path, capsys):
    run = tmp_path / "run"
    holder = start([sys.executable, "-c", "import sys, time; from sape_geo.run_lock import RunLock; "
                    f"lock = RunLock({str(run)!r}).acquire(); print('locked', flush=True); time.sleep(120)"])
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", run)
        assert code == 2 and "being written by another sape-geo process" in err and f"pid {holder.pid}" in err
        assert not run.exists()
    finally:
        holder.kill()
        holder.wait()
    fit1d_run(capsys, run)  # the lock went with its process
    assert siblings_left(run) == []


# ----------------------------------------------------------------------------------- data loss: batch

def batch_pipeline(folder: Path, steps: int = 3) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(f"jobs:\n  - task: fit1d\n    methods: [ff, pff]\n    settings: {{steps: {steps}, hidden: 8, layers: 1, frequencies: 4}}\n")
    return path


@pytest.mark.slow
def test_batch_resume_redoes_runs_whose_results_were_truncated_or_deleted(tmp_path, capsys):
    pipeline, out = batch_pipeline(tmp_path), tmp_path / "out"
    first = run_pipeline(pipeline, out, workers=1, progress=False)
    assert first.ok
    truncated, deleted = (out / outcome.run_name for outcome in first.outcomes)
    metrics = json.loads((truncated / METRICS_FILE).read_text())
    assert set(metrics["files"]) >= {"result.csv", "model.pt", "config.json"} and len(metrics["files"]["model.pt"]["sha256"]) == 64
    with open(truncated / "result.csv", "r+b") as handle:
        handle.truncate(10)
    (deleted / "model.pt").unlink()

    code, out_text, _ = cli(capsys, "batch", pipeline, "--out", out, "--dry-run")
    assert code == 0 and "result.csv has 10 bytes" in out_text and "model.pt is missing" in out_text
    again = run_pipeline(pipeline, out, workers=1, progress=False)
    assert [o.status for o in again.outcomes] == ["done", "done"]
    assert [name for name, _ in again.redone] == [o.run_name for o in first.outcomes]
    third = run_pipeline(pipeline, out, workers=1, progress=False)
    assert [o.status for o in third.outcomes] == ["already done", "already done"]


@pytest.mark.slow
def test_batch_names_an_empty_metrics_json_and_redoes_the_run(tmp_path, capsys):
    pipeline, out = batch_pipeline(tmp_path), tmp_path / "out"
    assert run_pipeline(pipeline, out, workers=1, progress=False).ok
    damaged = next(p for p in out.rglob(METRICS_FILE))
    damaged.write_text("")
    code, text, _ = cli(capsys, "batch", pipeline, "--out", out, "--quiet")
    assert code == 0 and f"{damaged} is empty" in text and "rerun" in text
    assert json.loads(damaged.read_text())["steps_done"] == 3


@pytest.mark.slow
def test_batch_refuses_a_folder_in_a_jobs_place_that_it_did_not_write(tmp_path, capsys):
    pipeline, out = batch_pipeline(tmp_path), tmp_path / "out"
    assert run_pipeline(pipeline, out, workers=1, progress=False).ok
    run = next(p.parent for p in out.rglob(METRICS_FILE))
    (run / MARKER_FILE).unlink()  # e.g. a folder the user made, or copied without its marker
    (run / METRICS_FILE).write_text("")
    before = tree(run)
    code, text, _ = cli(capsys, "batch", pipeline, "--out", out, "--quiet")
    assert code == 1 and "not an unfinished sape-geo run" in text and f"{run / METRICS_FILE} is empty" in text
    assert tree(run) == before


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker through /proc")
def test_batch_workers_die_with_their_parent(tmp_path):
    pipeline, out = batch_pipeline(tmp_path, steps=1_000_000), tmp_path / "out"
    batch = start([*SAPE_GEO, "batch", str(pipeline), "--out", str(out), "--workers", "1", "--quiet"])
    try:
        wait_for(lambda: any(out.rglob(".*.sape-geo-building-*/config.json")) or batch.poll() is not None)
        workers = [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _parent_of(stat) == batch.pid]
        assert workers, "the batch has no worker process"
        batch.send_signal(signal.SIGKILL)
        batch.wait(timeout=30)
        wait_for(lambda: not any(_alive(pid) for pid in workers), timeout=30)
    finally:
        batch.kill()
    assert not [p for p in out.rglob(METRICS_FILE)]  # nothing looks finished
    locks = list(out.rglob(".*.sape-geo-lock"))
    try:
        wait_for(lambda: not any(_locked(p) for p in locks), timeout=30)  # the run is free for a rerun
    except TimeoutError:
        pytest.fail(f"a run is still locked by {_holders(locks)}")


def _holders(paths: list[Path]) -> str:
    found = []
    for link in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if any(target == str(p) for p in paths):
            pid = link.parent.parent.name
            found.append(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes().replace(bytes(1), b' ')[:200]!r}")
    return "; ".join(found)


def _parent_of(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _locked(path: Path) -> bool:
    import fcntl

    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        return False


# -------------------------------------------------------------------- errors, never tracebacks

def test_coincident_target_landmarks_are_an_error(tmp_path, capsys):
    marks = landmark_file(tmp_path, "same.txt", lambda k: [(0.1, 0.2, 0.3)] * k)
    code, _, err = transfer(capsys, tmp_path / "run", marks)
    assert code == 2 and "target landmarks all coincide" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_extreme_coordinates_are_an_error(tmp_path, capsys, scale):
    source = scaled_mesh(tmp_path, "source.obj", ASSETS / "creature_source.obj", scale)
    target = scaled_mesh(tmp_path, "target.obj", ASSETS / "creature_target.obj", scale)
    code, _, err = transfer(capsys, tmp_path / "run", ASSETS / "creature_landmarks.txt", source, target)
    assert code == 2 and "source: coordinates span" in err and "rescale" in err and not (tmp_path / "run").exists()


def test_out_under_a_file_is_an_error(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("precious")
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", blocker / "run")
    assert code == 2 and f"{blocker} is a file, not a folder" in err and blocker.read_text() == "precious"
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", blocker)
    assert code == 2 and "is not a directory" in err and blocker.read_text() == "precious"


def test_batch_out_under_a_file_is_an_error(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("precious")
    code, _, err = cli(capsys, "batch", batch_pipeline(tmp_path), "--out", blocker / "batch")
    assert code == 2 and "cannot create the batch folder" in err and "is a file" in err and blocker.read_text() == "precious"


def test_an_empty_folder_given_as_out_is_kept_and_filled(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "here"
    folder.mkdir()
    inode = folder.stat().st_ino
    monkeypatch.chdir(folder)
    fit1d_run(capsys, Path("."))
    assert folder.stat().st_ino == inode and is_complete_run(folder) and siblings_left(folder) == []


def test_out_on_a_read_only_file_system_is_an_error(tmp_path, capsys, monkeypatch):
    read_only = tmp_path / "mnt"
    read_only.mkdir()
    real_open, real_mkdir = os.open, Path.mkdir

    def refuse(path):
        if str(path).startswith(str(read_only)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(os, "open", lambda path, *a, **k: refuse(path) or real_open(path, *a, **k))
    monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: refuse(self) or real_mkdir(self, *a, **k))
    for out in (read_only / "run", read_only / "deeper" / "run"):
        code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", out)
        assert code == 2 and "read-only" in err and str(out) in err
    assert list(read_only.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_folder_without_write_permission_is_an_error(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", locked / "run")
    assert code == 2 and "permission denied" in err


def test_an_unexpected_error_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    from sape_geo import experiment

    def broken(*args, **kwargs):
        raise RuntimeError("something no one foresaw")

    monkeypatch.setattr(experiment, "run_task", broken)
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, "--out", tmp_path / "run")
    assert code == 3 and "unexpected error: RuntimeError: something no one foresaw" in err and "SAPE_GEO_TRACEBACK" in err
    monkeypatch.setenv("SAPE_GEO_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="no one foresaw"):
        main(["fit1d", *TINY_FIT1D, "--out", str(tmp_path / "run")])


# --------------------------------------------------------------------------- wrong results, exit 0

@pytest.mark.parametrize(
    "name, positions, message",
    [
        ("collinear", lambda k: [(0.1 * i, 0.2 * i, 0.3 * i) for i in range(k)], "target landmarks lie on one line"),
        ("coplanar", lambda k: [(np.cos(i), np.sin(i), 0.0) for i in range(k)], "target landmarks lie in one plane but the source"),
    ],
)
def test_degenerate_target_landmarks_are_refused(tmp_path, capsys, name, positions, message):
    code, _, err = transfer(capsys, tmp_path / "run", landmark_file(tmp_path, f"{name}.txt", positions))
    assert code == 2 and message in err and not (tmp_path / "run").exists()


def test_a_degenerate_affine_falls_back_to_the_similarity_and_says_so():
    from sape_geo.geometry.alignment import fit_landmark_transform

    rng = np.random.default_rng(0)
    source = rng.normal(size=(8, 3)) * [1.0, 1.0, 0.05]  # thin but not flat
    target = source * [1.0, 1.0, 0.001] + 0.01 * rng.normal(size=(8, 3)) * [1, 1, 0]
    transform = fit_landmark_transform(source, target)
    assert transform.kind.startswith("similarity") and "squash" in transform.kind


def test_principal_axes_of_a_mesh_onto_itself_is_the_identity():
    vertices, faces = load_mesh(ASSETS / "creature_source.obj")
    for mode in ("principal-axes", "bounding-box"):
        transform = align_without_landmarks(vertices, vertices, mode, source_faces=faces, target_faces=faces)
        assert np.allclose(transform.matrix, np.eye(3), atol=1e-9) and np.allclose(transform.translation, 0.0, atol=1e-9), mode


def test_principal_axes_transfer_of_a_mesh_onto_itself_keeps_it(tmp_path, capsys):
    source = ASSETS / "creature_source.obj"
    code, _, err = cli(capsys, "transfer", source, source, "--align", "principal-axes", "--out", tmp_path / "run", *TINY_TRANSFER)
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    alignment = config["task"]["alignment"]
    assert np.allclose(alignment["matrix"], np.eye(3), atol=1e-9) and np.allclose(alignment["translation"], 0.0, atol=1e-9)


def test_a_32_bit_integer_tiff_is_fitted_over_its_values_and_written_back_in_32_bits(tmp_path, capsys):
    from PIL import Image

    values = (np.add.outer(np.arange(16), np.arange(16)) * 1000 + 100_000).astype(np.int32)  # 100000..130000
    Image.fromarray(values).save(tmp_path / "depth.tif")
    code, _, err = cli(capsys, "image", tmp_path / "depth.tif", "--out", tmp_path / "run", "--steps", "60", "--hidden", "32",
                       "--frequencies", "16", "--quiet", "--threads", "1", "--method", "ff")
    assert code == 0, err
    result = Image.open(tmp_path / "run" / "result.tif")
    stored = np.asarray(result)
    assert result.mode == "I" and stored.dtype == np.int32
    assert 90_000 < stored.mean() < 140_000  # the input's values, not black
    preview = np.asarray(Image.open(tmp_path / "run" / "result.png"))
    assert preview.max() > 20_000  # the 16-bit preview spans the range too
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["task"]["source"]["value_range"] == [100_000.0, 130_000.0]


def test_occupancy_of_a_flat_mesh_is_refused(tmp_path, capsys):
    square = tmp_path / "square.obj"
    square.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n")
    code, _, err = cli(capsys, "occupancy", square, "--out", tmp_path / "run", *TINY_OCCUPANCY)
    assert code == 2 and "is flat" in err and "encloses no volume" in err and not (tmp_path / "run").exists()


def test_occupancy_of_an_open_mesh_says_so(tmp_path, capsys):
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2)
    top = np.argsort(-sphere.triangles_center[:, 2])[:5]
    path = tmp_path / "open.obj"
    trimesh.Trimesh(sphere.vertices, np.delete(sphere.faces, top, axis=0), process=False).export(path)
    code, out, err = cli(capsys, "occupancy", path, "--out", tmp_path / "run", *TINY_OCCUPANCY)
    assert code == 0, err
    assert "the mesh is open" in out and "1 hole" in out
    metrics = json.loads((tmp_path / "run" / METRICS_FILE).read_text())
    assert metrics["input_closed"] is False and metrics["input_boundary_loops"] == 1
    assert (metrics["surface_faces"] > 0) == (tmp_path / "run" / "result.ply").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--method-option", "bogus=1"], "takes no method options, got bogus"),
        (["--method", "sasnet", "--method-option", "bogus=1"], "unknown sasnet option(s) bogus"),
    ],
)
def test_unknown_method_options_are_rejected_before_anything_is_written(tmp_path, capsys, extra, message):
    code, _, err = cli(capsys, "fit1d", *TINY_FIT1D, *extra, "--out", tmp_path / "run")
    assert code == 2 and message in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("extra, message", [(["--snapshots", "-1"], "--snapshots: snapshot_every must be >= 0"), (["--steps", "0"], "--steps: steps must be a positive integer")])
def test_out_of_range_settings_are_rejected_by_the_parser(tmp_path, capsys, extra, message):
    code, _, err = _outcome(capsys, ["fit1d", *extra, "--out", str(tmp_path / "run")])
    assert code == 2 and message in err and not (tmp_path / "run").exists()


def _parse_error(capsys, argv: list[str]) -> tuple[int, str, str]:
    """argparse reports bad option values with exit code 2 (SystemExit) and a usage line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return exit_info.value.code, captured.out, captured.err


# ------------------------------------------------------------------------ already handled, kept so

def test_missing_inputs_and_bad_landmark_lines_name_the_file_and_line(tmp_path, capsys):
    code, _, err = cli(capsys, "transfer", tmp_path / "missing.obj", ASSETS / "creature_target.obj",
                       "--landmarks", ASSETS / "creature_landmarks.txt", "--out", tmp_path / "run", *TINY_TRANSFER)
    assert code == 2 and "missing.obj" in err
    bad = tmp_path / "bad.txt"
    bad.write_text("1996 3999\n1623 x\n")
    code, _, err = transfer(capsys, tmp_path / "run", bad)
    assert code == 2 and "line 2" in err and "bad.txt" in err
    assert not (tmp_path / "run").exists()


def _inputs(folder: Path) -> dict[str, Path]:
    files = {
        "fake.png": "not an image", "bad.yaml": "jobs:\n  - task: fit1d\n    methods: [nope]\n", "broken.yaml": "jobs: [\n",
        "range.txt": "99999 0.1 0.2 0.3\n1 0 0 0\n2 1 1 1\n", "twice.txt": "1 0 0 0\n1 1 1 1\n2 1 0 1\n",
        "nan.txt": "1 nan 0 0\n2 1 1 1\n3 1 0 1\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return {name: folder / name for name in files}


HANDLED = [
    (["image", "{fake.png}"], "is not an image file"),
    (["image", "{missing.png}"], "image file not found"),
    (["silhouette", "{fake.png}"], "is not an image file"),
    (["occupancy", "{fake.png}"], "unsupported mesh format '.png'"),
    (["fit1d", "--lr", "-1"], "--lr: lr must be a positive finite number"),
    (["fit1d", "--sigma", "nan"], "--sigma: sigma must be a positive finite number"),
    (["fit1d", "--open-fraction", "2"], "open_fraction must be in (0, 1]"),
    (["fit1d", "--epsilon", "-1"], "epsilon must be a finite number >= 0"),
    (["fit1d", "--device", "bogus", "--steps", "2"], "--device: device must be 'auto', 'cpu' or 'cuda[:N]', got 'bogus'"),
    (["transfer", f"{ASSETS}/creature_source.obj", f"{ASSETS}/creature_target.obj", "--landmarks", "{range.txt}"], "line 1: source vertex 99999 is out of range"),
    (["transfer", f"{ASSETS}/creature_source.obj", f"{ASSETS}/creature_target.obj", "--landmarks", "{twice.txt}"], "line 2: source vertex 1 already has a landmark"),
    (["transfer", f"{ASSETS}/creature_source.obj", f"{ASSETS}/creature_target.obj", "--landmarks", "{nan.txt}"], "line 1: target position has NaN/Inf"),
]


@pytest.mark.parametrize("argv, message", HANDLED, ids=[" ".join(a[:1] + a[-2:]) for a, _ in HANDLED])
def test_already_handled_bad_inputs_stay_one_line_errors(tmp_path, capsys, argv, message):
    files = {**_inputs(tmp_path), "missing.png": tmp_path / "missing.png"}
    argv = [str(files[arg.strip("{}")]) if arg.startswith("{") else arg for arg in argv] + ["--out", str(tmp_path / "run")]
    code, _, err = _outcome(capsys, argv)
    assert code == 2 and message in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "pipeline, extra, message",
    [
        ("bad.yaml", [], "bad.yaml:3: unknown method 'nope'; task 'fit1d' runs: "),
        ("broken.yaml", [], "broken.yaml:2: invalid YAML"),
        ("missing.yaml", [], "pipeline file not found"),
        ("bad.yaml", ["--workers", "0"], "--workers: must be >= 1"),
    ],
)
def test_already_handled_bad_pipelines_stay_one_line_errors(tmp_path, capsys, pipeline, extra, message):
    _inputs(tmp_path)
    code, _, err = _outcome(capsys, ["batch", str(tmp_path / pipeline), "--out", str(tmp_path / "batch"), *extra])
    assert code == 2 and message in err and not (tmp_path / "batch").exists()


def test_viewing_a_missing_run_is_a_one_line_error(tmp_path, capsys):
    code, _, err = _outcome(capsys, ["view", str(tmp_path / "nothing")])
    assert code == 2 and "run directory not found" in err


def _outcome(capsys, argv: list[str]) -> tuple[int, str, str]:
    """Exit code and output of ``sape-geo ARGV``, whether main returns or argparse exits."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, captured.err
    return code, captured.out, captured.err
