import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from sape_geo import atomic
from sape_geo.atomic import atomic_path, write_json_atomic
from sape_geo.runs import RunDirectory, RunDirectoryExistsError, is_complete_run


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "result.obj"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half a mesh")
            raise RuntimeError("crash mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left behind either


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_atomic_temporary_keeps_suffix(tmp_path):
    with atomic_path(tmp_path / "result.png") as temporary:
        assert temporary.suffix == ".png" and temporary.parent == tmp_path
        temporary.write_bytes(b"x")


def test_existing_run_directory_is_refused(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.write_config({"seed": 1})
    run.write_metrics({"mse": 1.0})
    with pytest.raises(RunDirectoryExistsError, match="--overwrite"):
        RunDirectory(tmp_path / "run")
    replacement = RunDirectory(tmp_path / "run", overwrite=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 1  # kept until the new one is complete
    replacement.write_config({"seed": 2})
    replacement.write_metrics({"mse": 0.5})
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no building folder or lock file left beside it


def test_overwrite_never_deletes_a_foreign_directory(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(RunDirectoryExistsError, match="not a sape-geo run directory"):
        RunDirectory(folder, overwrite=True)
    assert (folder / "holiday.jpg").read_bytes() == b"precious"


def test_run_files_and_completion_marker(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.write_config({"seed": 7})
    run.write_history([{"step": 0, "loss": 1.0, "seconds": 0.1, "mask_mean_progress": 0.0}])
    run.write_array("progress.npy", np.arange(3.0))
    assert not is_complete_run(run.path)
    run.write_metrics({"mse": 0.5})
    assert is_complete_run(run.path)
    config = json.loads((run.path / "config.json").read_text())
    assert config["seed"] == 7 and config["versions"]["torch"]
    with open(run.path / "history.csv") as handle:
        assert next(csv.reader(handle)) == ["step", "loss", "seconds", "mask_mean_progress"]
    assert np.array_equal(np.load(run.path / "progress.npy"), np.arange(3.0))
    assert not [name for name in os.listdir(run.path) if ".tmp" in name]


def test_atomic_files_get_ordinary_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "metrics.json", {})
    finally:
        os.umask(previous)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644


def test_a_run_is_replaced_whole_where_folders_cannot_be_exchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "exchange_folders", lambda first, second: False)  # no renameat2 (macOS, old kernels)
    for seed in (1, 2):
        run = RunDirectory(tmp_path / "run", overwrite=True)
        run.write_config({"seed": seed})
        run.write_metrics({"mse": 0.5})
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # the old run moved aside and deleted, the lock gone


def test_the_old_folder_is_put_back_when_the_new_one_cannot_be_moved_in(tmp_path, monkeypatch):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "a.txt").write_text("old")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a.txt").write_text("new")
    monkeypatch.setattr(atomic, "exchange_folders", lambda first, second: False)
    rename = os.rename

    def refuse_moving_new_in(source, destination):
        if Path(source) == tmp_path / "new":
            raise OSError(28, "No space left on device")
        rename(source, destination)

    monkeypatch.setattr(atomic.os, "rename", refuse_moving_new_in)
    with pytest.raises(OSError, match="No space"):
        atomic.swap_folders(tmp_path / "new", tmp_path / "old", aside_prefix=".old.aside-")
    assert (tmp_path / "old" / "a.txt").read_text() == "old" and (tmp_path / "new" / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]
