"""The benchmarks read their data from --data (default ../shared/data beside the repository) and say in
one line what to pass when it is not there."""

import argparse

import pytest

from bench import common


def test_data_folder_is_the_argument_or_the_shared_default(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser()
    common.add_data_argument(parser, "silhouettes", "folder of silhouette images")
    assert common.data_folder(parser, parser.parse_args(["--data", str(tmp_path)]).data, "silhouettes") == tmp_path
    (tmp_path / "shared" / "silhouettes").mkdir(parents=True)
    monkeypatch.setattr(common, "SHARED_DATA", tmp_path / "shared")
    assert common.data_folder(parser, parser.parse_args([]).data, "silhouettes") == tmp_path / "shared" / "silhouettes"


@pytest.mark.parametrize("argv, message", [
    (["--data", "missing"], "--data: missing is not a folder"),
    ([], "no data folder ../shared/data/templates beside the repository: pass --data DIR"),
])
def test_a_missing_data_folder_ends_the_run_with_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common, "SHARED_DATA", tmp_path / "nowhere")
    parser = argparse.ArgumentParser(prog="bench.templates")
    common.add_data_argument(parser, "templates")
    with pytest.raises(SystemExit) as stopped:
        common.data_folder(parser, parser.parse_args(argv).data, "templates")
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"bench.templates: error: {message}"
