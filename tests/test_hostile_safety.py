"""The hostile-input matrix, second round: the user's files and intentions (issue 25).

Batch outputs over a user's files, hand-edited runs, malformed landmark YAML, warnings on stderr,
booleans as vertex indices, YAML merge keys, run folder modes, landmarks by index on a scan, help texts
that teach, and the batch's job names, summary and threads. Each case asserts the exit code, that the
message names the problem, and that nothing of the user's is lost or silently changed. Fast: tiny
fits in this process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sape_geo.runs import (
    METRICS_FILE,
    OWNED_MARKER_FILE,
    RunDirectory,
    RunDirectoryExistsError,
    edited_files,
    run_problems,
    write_owned_files,
)
from sape_geo_apps.batch import parse_pipeline
from sape_geo_apps.batch.worker import execute_job
from sape_geo_apps.cli import main

from conftest import ASSETS, TINY_ARGS  # noqa: E402

TINY_FIT1D = TINY_ARGS["fit1d"]
FIT1D_PIPELINE = "jobs:\n  - task: fit1d\n    methods: [ff]\n    settings: {steps: 3, hidden: 8, layers: 1, frequencies: 4}\n"


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run ``sape-geo ARGV`` in this process; no traceback may reach the user."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, captured.err
    return code, captured.out, captured.err


def write_pipeline(folder: Path, text: str = FIT1D_PIPELINE) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def small_run(path: Path, value: float = 1.0) -> Path:
    """A run directory with one product file, written by :class:`RunDirectory` (no fit)."""
    run = RunDirectory(path, overwrite=True)
    run.write_json("config.json", {"seed": 0})
    (run.file("result.txt")).write_text(f"result {value}\n")
    run.write_metrics({"mse": value})
    return path


# ------------------------------------------------------------------ 1. batch outputs over a user's files

def test_batch_refuses_a_users_summary_csv_and_runs_nothing(tmp_path, capsys):
    out = tmp_path / "home"
    out.mkdir()
    (out / "summary.csv").write_text("my own table\n")
    code, _, err = cli(capsys, "batch", write_pipeline(tmp_path), "--out", out, "--quiet")
    assert code == 2 and f"{out / 'summary.csv'} was not written by sape-geo" in err
    assert (out / "summary.csv").read_text() == "my own table\n"
    assert sorted(p.name for p in out.iterdir()) == ["summary.csv"]  # no job ran, nothing added
    code, listed, err = cli(capsys, "batch", write_pipeline(tmp_path), "--out", out, "--dry-run")
    assert code == 2 and "todo" in listed and "was not written by sape-geo" in err  # the dry run says so too


def test_batch_refuses_a_tasks_run_directory_as_its_folder(tmp_path, capsys):
    run = small_run(tmp_path / "run")
    before = sorted(p.name for p in run.iterdir())
    code, _, err = cli(capsys, "batch", write_pipeline(tmp_path), "--out", run, "--quiet")
    assert code == 2 and "is the run directory of one task" in err and sorted(p.name for p in run.iterdir()) == before


def test_summary_files_are_replaced_only_while_sape_geo_wrote_them_unchanged(tmp_path):
    first = write_owned_files(tmp_path, {"summary.csv": "a\n", "summary.md": "# a\n"})
    assert [p.read_text() for p in first] == ["a\n", "# a\n"] and (tmp_path / OWNED_MARKER_FILE).is_file()
    write_owned_files(tmp_path, {"summary.csv": "b\n", "summary.md": "# b\n"})  # ours, unchanged: replaced
    assert (tmp_path / "summary.csv").read_text() == "b\n"
    (tmp_path / "summary.md").write_text("# my notes\n")
    with pytest.raises(RunDirectoryExistsError, match="summary.md was changed since sape-geo wrote it"):
        write_owned_files(tmp_path, {"summary.csv": "c\n", "summary.md": "# c\n"})
    assert (tmp_path / "summary.md").read_text() == "# my notes\n" and (tmp_path / "summary.csv").read_text() == "b\n"
    (tmp_path / "summary.md").unlink()
    os.symlink(tmp_path / "summary.csv", tmp_path / "summary.md")
    with pytest.raises(RunDirectoryExistsError, match="a link or a folder"):
        write_owned_files(tmp_path, {"summary.md": "# d\n"})
    (tmp_path / OWNED_MARKER_FILE).unlink()
    (tmp_path / OWNED_MARKER_FILE).mkdir()
    with pytest.raises(RunDirectoryExistsError, match="record of its files"):
        write_owned_files(tmp_path, {"other.md": "# e\n"})


# --------------------------------------------------------------------------------------- 2. hand edits

def test_overwrite_keeps_a_hand_edited_result_beside_the_new_run(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli(capsys, "fit1d", *TINY_FIT1D, "--out", run)[0] == 0
    (run / "result.csv").write_text("x,y\n0,0\n")  # cleaned up by hand
    code, out, _ = cli(capsys, "fit1d", *TINY_FIT1D, "--out", run, "--overwrite")
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("run.edited-")]
    assert code == 0 and len(kept) == 1 and (kept[0] / "result.csv").read_text() == "x,y\n0,0\n"
    assert "result.csv" in out and str(kept[0]) in out  # the summary says where the edited file went
    assert run_problems(run) == [] and (run / "result.csv").read_text() != "x,y\n0,0\n"


def test_edited_metrics_or_a_lost_files_table_do_not_count_as_done(tmp_path):
    run = small_run(tmp_path / "run")
    assert run_problems(run) == [] and edited_files(run) == []
    metrics = json.loads((run / METRICS_FILE).read_text())
    (run / METRICS_FILE).write_text(json.dumps({**metrics, "mse": 0.0}))
    assert any("metrics.json changed since the run wrote it" in p for p in run_problems(run))
    assert edited_files(run) == [METRICS_FILE]
    (run / METRICS_FILE).write_text(json.dumps({"mse": 1.0}))  # the checksums dropped
    assert any("has no 'files' entry" in p for p in run_problems(run))


def test_batch_resume_keeps_a_hand_edited_result_and_redoes_the_run(tmp_path):
    job = parse_pipeline(FIT1D_PIPELINE, base_dir=tmp_path).jobs[0]
    assert execute_job(job, tmp_path, threads=1).status == "done"
    run = tmp_path / job.run_name
    (run / "result.csv").write_text("edited\n")
    outcome = execute_job(job, tmp_path, threads=1)
    kept = list(run.parent.glob(f"{run.name}.edited-*/result.csv"))
    assert outcome.status == "done" and [p.read_text() for p in kept] == ["edited\n"] and run_problems(run) == []
    assert any("result.csv" in note and str(kept[0].parent) in note for note in outcome.notes)  # the report says so


def test_run_folders_are_made_with_the_umask_like_mkdir(tmp_path):
    previous = os.umask(0o022)
    try:
        run = small_run(tmp_path / "run")
    finally:
        os.umask(previous)
    assert run.stat().st_mode & 0o777 == 0o755


# ------------------------------------------------------------------------- 8, 12. landmark files

MARKERS = 'source: {reference: cat.obj}\nmarkers:\n  - "0:1"   # nose\n  - "2:3"\n  - "{bad}"\n  - "4:5"  # tail\n'


@pytest.mark.parametrize("bad", ["9;523", "-1:319", "7", "1:2:3"])
def test_a_yaml_marker_that_does_not_parse_is_refused_naming_it_and_its_line(tmp_path, bad):
    from sape_geo.geometry.landmarks import LandmarkError, read_marker_file

    path = tmp_path / "markers.yml"
    path.write_text(MARKERS.replace("{bad}", bad))
    with pytest.raises(LandmarkError, match=f"markers.yml, line 5: marker entry '{bad}' is not"):
        read_marker_file(path)


def test_yaml_markers_keep_their_names_and_only_the_markers_key_counts(tmp_path):
    from sape_geo.geometry.landmarks import LandmarkError, read_marker_file

    path = tmp_path / "markers.yml"
    path.write_text(MARKERS.replace('  - "{bad}"\n', "  - 9:23\n"))  # unquoted: YAML 1.1 would read 563
    pairs, names = read_marker_file(path)
    assert pairs.tolist() == [[0, 1], [2, 3], [9, 23], [4, 5]] and names == ("nose", "", "", "tail")
    path.write_text('not_markers:\n  - "0:1"\n  - "2:3"\n  - "4:5"\n')
    with pytest.raises(LandmarkError, match="no 'markers:' list .*'not_markers'"):
        read_marker_file(path)


def test_transfer_refuses_a_malformed_yaml_marker_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "markers.yml"
    path.write_text(MARKERS.replace("{bad}", "9;523"))
    code, _, err = cli(capsys, "transfer", ASSETS / "creature_source.obj", ASSETS / "creature_target.obj", "--landmarks", path,
                       "--out", tmp_path / "run", *TINY_ARGS["transfer"])
    assert code == 2 and "line 5: marker entry '9;523'" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("entry", ['{"source": true, "target": 3}', '{"source": 1, "target": false}', '{"source": 1, "position": [true, 0, 0]}'])
def test_json_booleans_are_not_vertex_numbers(tmp_path, entry):
    from sape_geo.geometry.landmarks import LandmarkError, load_landmarks

    path = tmp_path / "marks.json"
    path.write_text(f'[{entry}, {{"source": 4, "target": 5}}, {{"source": 6, "target": 7}}, {{"source": 8, "target": 9}}]')
    with pytest.raises(LandmarkError, match="marks.json, entry 0: .*(true|false)"):
        load_landmarks(path, 20, __import__("numpy").zeros((20, 3)))


# --------------------------------------------------------------------------------- 12, 13. batch

def test_a_yaml_merge_key_in_a_pipeline_works_and_a_bad_one_names_its_line(tmp_path):
    from sape_geo_apps.batch import PipelineError

    text = ("defaults: &base\n  settings: {steps: 3, hidden: 8}\njobs:\n  - task: fit1d\n    methods: [ff]\n"
            "    settings:\n      <<: *base_settings\n")
    merged = parse_pipeline(
        "jobs:\n  - task: fit1d\n    settings: &small {steps: 3, hidden: 8}\n  - name: deeper\n    task: fit1d\n"
        "    settings:\n      <<: *small\n      layers: 1\n", base_dir=tmp_path,
    )
    assert merged.jobs[1].command_line == ("--steps", "3", "--hidden", "8", "--layers", "1")
    with pytest.raises(PipelineError, match=r"<string>:7: invalid YAML: found undefined alias"):
        parse_pipeline(text, base_dir=tmp_path)
    with pytest.raises(PipelineError, match=r"<string>:3: a merge key \('<<'\) takes a mapping"):
        parse_pipeline("jobs:\n  - task: fit1d\n    settings: {<<: 5}\n", base_dir=tmp_path)


def test_the_same_job_from_two_pipelines_in_two_folders_is_one_run(tmp_path):
    """The README's pipeline (in the project folder) and examples/pipeline_local.yaml (one below) name
    the same creatures jobs through other relative paths, with steps in defaults or in the job."""
    readme = parse_pipeline(
        f"jobs:\n  - name: creatures\n    task: transfer\n    inputs: {{source: assets/creature_source.obj, "
        f"target: assets/creature_target.obj, landmarks: assets/creature_landmarks.txt}}\n    methods: [ff]\n"
        f"    settings: {{steps: 300}}\n", base_dir=ASSETS.parent,
    )
    example = parse_pipeline(
        "defaults:\n  settings: {steps: 300}\njobs:\n  - name: creatures\n    task: transfer\n    inputs:\n"
        "      target: ../assets/creature_target.obj\n      landmarks: ../assets/creature_landmarks.txt\n"
        "      source: ../assets/creature_source.obj\n    methods: [ff]\n", base_dir=ASSETS.parent / "examples",
    )
    assert readme.jobs[0].run_name == example.jobs[0].run_name
    written_out = "jobs:\n  - task: fit1d\n    settings: {steps: 1500, sigma: 12.0}\n"  # fit1d's defaults
    assert parse_pipeline(written_out, base_dir=tmp_path).jobs[0].run_name == parse_pipeline("jobs:\n  - task: fit1d\n").jobs[0].run_name
    assert parse_pipeline(written_out, base_dir=tmp_path).jobs[0].run_name != parse_pipeline(written_out.replace("1500", "1501")).jobs[0].run_name
    (tmp_path / "a.obj").write_bytes((ASSETS / "creature_source.obj").read_bytes())


def test_dry_run_prints_runnable_command_lines_with_out(tmp_path, capsys):
    out = tmp_path / "out"
    code, text, _ = cli(capsys, "batch", write_pipeline(tmp_path), "--out", out, "--dry-run")
    job = parse_pipeline(FIT1D_PIPELINE, base_dir=tmp_path).jobs[0]
    assert code == 0 and f"sape-geo fit1d --method ff --steps 3 --hidden 8 --layers 1 --frequencies 4 --out {out / job.run_name}" in text


def test_batch_jobs_run_with_the_command_lines_thread_default():
    from sape_geo.registry import DEFAULT_THREADS
    from sape_geo_apps.batch import LocalEngine

    assert LocalEngine(workers=1).threads == DEFAULT_THREADS == 1


def test_summary_markdown_is_a_few_key_columns_and_names_other_pipelines_runs(tmp_path):
    from sape_geo_apps.batch.summary import summary_markdown

    metrics = {f"metric_{k}": float(k) for k in range(30)} | {"chamfer_l1_pct_diag": 0.5, "folded_edges": 0, "load_seconds": 0.1}
    rows = [{"run": f"creatures/{m}-abc", "task": "transfer", "status": "done", "seconds": 1.0, "worker": "h:1",
             "source": "a.obj", "method": m, "steps": 300, **metrics, "error": ""} for m in ("ff", "sape-ff")]
    rows[1]["source"] = "b.obj"  # an input that varies: named by the run folder, its path only in the CSV
    text = summary_markdown(rows, axes=["source", "method", "steps"], inputs=["source"], others=["outlines/pff-1234"])
    header = next(line for line in text.splitlines() if line.startswith("| run"))
    assert header == "| run | status | seconds | method | chamfer_l1_pct_diag | folded_edges |"
    assert "- outlines/pff-1234" in text and "every setting and metric is in summary.csv" in text


@pytest.mark.slow
def test_make_creatures_reproduces_the_committed_assets(tmp_path):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("make_creatures", ASSETS / "make_creatures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    # The creature's source (the mesh that used to differ), as make_pair makes it: the pair's target and
    # the teddy go through the same code at two and three times the cost.
    from sape_geo.geometry.mesh_io import save_mesh

    source, _, faces, _, resolution = module.PAIRS["creature"]
    path = save_mesh(tmp_path / "creature_source.obj", *module.mesh_creature(source, resolution, faces))
    assert path.read_bytes() == (ASSETS / "creature_source.obj").read_bytes()


# ------------------------------------------------------------------- 13. landmarks by index on a scan

def test_mesh_vertex_ids_on_a_scan_are_refused_and_positions_fix_it(tmp_path, capsys):
    """The creature target's landmark file holds vertex ids of the target mesh; on a scan of that mesh
    (its points in another order) they would pick arbitrary points: refused, with the way out."""
    import numpy as np
    import trimesh

    target = trimesh.load(ASSETS / "creature_target.obj", process=False)
    points = np.asarray(target.vertices)[np.random.default_rng(0).permutation(len(target.vertices))]
    scan = tmp_path / "scan.ply"
    trimesh.PointCloud(points).export(scan)
    source, by_index = ASSETS / "creature_source.obj", ASSETS / "creature_landmarks.txt"
    code, out, err = cli(capsys, "transfer", source, scan, "--landmarks", by_index, "--out", tmp_path / "bad", *TINY_ARGS["transfer"])
    said = err if code == 2 else out
    assert "do not describe one alignment" in said and "landmarks-to-positions" in said, (code, out, err)
    assert code == 2 or "WARNING" in out  # refused when the affine fit had to be rejected, a loud note otherwise

    positions = tmp_path / "positions.txt"
    assert cli(capsys, "landmarks-to-positions", by_index, ASSETS / "creature_target.obj", "--out", positions)[0] == 0
    assert positions.read_text().splitlines()[1].endswith("# snout")
    code, again, _ = cli(capsys, "landmarks-to-positions", by_index, ASSETS / "creature_target.obj", "--out", positions)
    assert code == 2  # never written over
    code, out, _ = cli(capsys, "transfer", source, scan, "--landmarks", positions, "--out", tmp_path / "good", *TINY_ARGS["transfer"])
    assert code == 0 and "do not describe one alignment" not in out


# ------------------------------------------------------------------------------ 9. warnings on stderr

def test_warnings_become_summary_notes_and_never_show_source_lines(tmp_path, capsys):
    source = tmp_path / "source.obj"
    text = (ASSETS / "creature_source.obj").read_text()
    first_face = next(line for line in text.splitlines() if line.startswith("f "))
    source.write_text(text + first_face + "\n")  # a duplicated face: TransferInputWarning
    code, out, err = cli(capsys, "transfer", source, ASSETS / "creature_target.obj", "--landmarks", ASSETS / "creature_landmarks.txt",
                         "--out", tmp_path / "run", *TINY_ARGS["transfer"])
    assert code == 0 and "note: 1 degenerate or duplicated source faces" in out
    assert "Warning:" not in err and "warnings.warn" not in err and "pipeline.py" not in err and "prepared.py" not in err, err


def test_a_warning_outside_a_task_is_one_plain_line(capsys):
    import warnings

    from sape_geo_apps.cli import _show_warning_plainly

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _show_warning_plainly
        warnings.warn("a note\n  over two lines", UserWarning)
    assert capsys.readouterr().err == "sape-geo: warning: a note over two lines\n"


# ------------------------------------------------------------------------------ 13. help that teaches

def _help_problems(parser) -> list[str]:
    """Options of ``parser`` whose help only repeats the option's name, or shows Python's None."""
    import argparse
    import re

    formatter = parser._get_formatter()
    problems = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        text = formatter._expand_help(action) if action.help else ""
        body = re.sub(r"\(default:[^)]*\)", "", text)
        own = set(re.findall(r"[a-z0-9]+", " ".join([*action.option_strings, action.dest]).lower()))
        teaching = [word for word in re.findall(r"[a-z0-9]+", body.lower()) if word not in own]
        if len(teaching) < 3 or re.search(r"\bNone\b", body):
            problems.append(f"{'/'.join(action.option_strings)}: {text!r}")
    return problems


def test_every_option_of_every_command_has_help_that_teaches():
    import argparse

    from sape_geo_apps.cli import build_parser

    parser, _ = build_parser(None)
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction)).choices
    problems = [f"sape-geo {name} {problem}" for name, sub in commands.items() for problem in _help_problems(sub)]
    assert problems == []


def test_the_help_check_fails_on_a_placeholder_and_docs_survive_prose():
    import argparse
    from dataclasses import dataclass

    from sape_geo.schema import add_settings_arguments, field_docs

    @dataclass(frozen=True)
    class Settings:
        """Demo.

        Attributes
        ----------
        max_points : keep at most this many points; ignored when ``voxel_size`` is given.
        Defaults measured on a benchmark: prose, not a field.
        voxel_size : cubes of this side instead; None: by ``max_points``.

        Notes
        -----
        not_a_field : text of another section.
        """

        max_points: int = 5
        voxel_size: float | None = None
        feedback_every: int = 4

    assert set(field_docs(Settings)) == {"max_points", "voxel_size"}
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, Settings, "task")
    assert _help_problems(parser) == ["--feedback-every: 'feedback every (default: 4)'"]
    voxel = next(action for action in parser._actions if "--voxel-size" in action.option_strings)
    assert voxel.help == "cubes of this side instead; none: by --max-points (default: none)"


def test_a_pipeline_that_expands_through_aliases_is_refused_quickly(tmp_path):
    from sape_geo_apps.batch import PipelineError

    lines = ["a0: &a0 [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values
    bomb = "\n".join(lines) + "\njobs:\n  - task: fit1d\n    seeds: *a8\n"
    with pytest.raises(PipelineError, match="expands to more than 100,000 values"):
        parse_pipeline(bomb, base_dir=tmp_path)
    with pytest.raises(PipelineError, match="<string>:1: an alias refers to the value that contains it"):
        parse_pipeline("a: &a [1, *a]\njobs: []\n", base_dir=tmp_path)
