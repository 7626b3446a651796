"""Pipeline files: matrix expansion, inputs from globs, and every error named by its line (nothing runs)."""

import textwrap
from dataclasses import dataclass

import pytest

from sape_geo.registry import Input, TaskPlugin, discover_tasks
from sape_geo_apps.batch import PipelineError, parse_pipeline
from sape_geo_apps.batch.yaml_nodes import parse_yaml
from sape_geo_apps.cli import main


@dataclass(frozen=True)
class PairSettings:
    """Attributes
    ----------
    weights : two loss weights.
    """

    weights: tuple[float, float] = (1.0, 1.0)


PAIR = TaskPlugin(
    "pair", "two meshes in", "test task with two positional inputs", PairSettings, make_task=lambda settings, **inputs: None,
    inputs=(Input("source", "a mesh"), Input("target", "a mesh"), Input("landmarks", "pairs", optional=True)), defaults={"steps": 100},
)


@pytest.fixture
def plugins():
    return {**discover_tasks(), "pair": PAIR}


@pytest.fixture
def meshes(tmp_path):
    for name in ("a_source", "a_target", "b_source", "b_target", "template"):
        (tmp_path / f"{name}.obj").write_text("v 0 0 0\n")
    (tmp_path / "scans").mkdir()
    for name in ("scan1", "scan2", "scan3"):
        (tmp_path / "scans" / f"{name}.obj").write_text("v 0 0 0\n")
    return tmp_path


def parse(text, base_dir=".", plugins=None):
    return parse_pipeline(textwrap.dedent(text), source="p.yaml", base_dir=base_dir, plugins=plugins)


def pair_job(inputs):
    """A pipeline of one job of the two-input test task with ``inputs`` (YAML, from the key's value on)."""
    return f"jobs:\n  - task: pair\n    settings: {{steps: 5}}\n    inputs: {inputs}\n"


def test_matrix_is_methods_x_settings_x_seeds_with_defaults_merged():
    pipeline = parse(
        """
        defaults:
          settings: {steps: 30, hidden: 16}
          seeds: [0]
        jobs:
          - name: sweep
            task: fit1d
            methods: [ff, sape-ff]
            seeds: [0, 1, 2]
            settings:
              frequency: [4, 8]
              hidden: 32
        """
    )
    assert len(pipeline.jobs) == 2 * 2 * 3
    runs = [job.run_name for job in pipeline.jobs]
    assert len(set(runs)) == len(runs)
    assert all(run.startswith("sweep/") for run in runs)
    first = pipeline.jobs[0]
    assert first.axis_values == {"method": "ff", "steps": 30, "hidden": 32, "frequency": 4, "seed": 0}
    argv = " ".join(first.command_line)
    assert "--method ff" in argv and "--steps 30" in argv and "--hidden 32" in argv and "--seed 0" in argv
    assert {job.axis_values["seed"] for job in pipeline.jobs} == {0, 1, 2}  # the job's seeds replace the default


def test_repeatable_option_takes_a_list_per_job_and_a_list_of_lists_as_an_axis():
    pipeline = parse(
        """
        jobs:
          - task: fit1d
            methods: [sasnet]
            settings:
              method_option: [[high_bands=2, bandlimit=16], [high_bands=3]]
        """
    )
    assert [" ".join(job.command_line) for job in pipeline.jobs] == [
        "--method sasnet --method-option high_bands=2 --method-option bandlimit=16",
        "--method sasnet --method-option high_bands=3",
    ]


def test_a_setting_on_by_default_can_be_turned_off_and_on(meshes):
    pipeline = parse(
        f"""
        jobs:
          - task: silhouette
            inputs: {{shape: {meshes}/a_source.obj}}
            settings:
              tangle_feedback: [false, true]
        """
    )
    argvs = [job.command_line for job in pipeline.jobs]
    assert "--no-tangle-feedback" in argvs[0] and "--tangle-feedback" in argvs[1]


def test_run_names_change_with_any_setting_so_a_changed_pipeline_never_reuses_a_run():
    template = "jobs:\n  - {{task: fit1d, settings: {{steps: {}}}}}\n"
    assert parse(template.format(30)).jobs[0].run_name != parse(template.format(31)).jobs[0].run_name
    assert parse(template.format(30)).jobs[0].run_name == parse(template.format(30)).jobs[0].run_name


def test_inputs_glob_pairs_and_nargs_options(meshes, plugins):
    pipeline = parse(
        """
        jobs:
          - name: template-to-scans
            task: pair
            inputs: {source: template.obj, target: "scans/*.obj"}
            settings: {weights: [1, 0.5], steps: 5}
          - name: pairs
            task: pair
            inputs:
              - {source: a_source.obj, target: a_target.obj}
              - {source: b_source.obj, target: b_target.obj}
            settings: {weights: [[1, 0.5], [1, 2]], steps: 5}
        """,
        meshes,
        plugins,
    )
    scans = [job for job in pipeline.jobs if job.group == "template-to-scans"]
    assert [job.axis_values["target"] for job in scans] == ["scans/scan1.obj", "scans/scan2.obj", "scans/scan3.obj"]
    assert scans[0].command_line[:2] == (str(meshes / "template.obj"), str(meshes / "scans" / "scan1.obj"))
    assert "--weights 1 0.5" in " ".join(scans[0].command_line)  # a list is one value for a two-value option
    pairs = [job for job in pipeline.jobs if job.group == "pairs"]
    assert len(pairs) == 2 * 2  # list of lists = an axis; inputs zipped in sets, not crossed
    assert {(j.axis_values["source"], j.axis_values["target"]) for j in pairs} == {
        ("a_source.obj", "a_target.obj"),
        ("b_source.obj", "b_target.obj"),
    }
    assert pairs[0].run_name.startswith("pairs/a_source-a_target-")


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("jobs: []\n", 1, "non-empty list"),
        ("jobz:\n  - task: fit1d\n", 1, "unknown key 'jobz'"),
        ("jobs:\n  - task: fit1d\n  - task: nope\n", 3, "unknown task 'nope'"),
        ("jobs:\n  - task: fit1d\n    settings:\n      hidden: 8\n      steps: 0\n", 5, "setting 'steps': steps must be a positive integer"),
        ("jobs:\n  - task: fit1d\n    settings:\n      stepz: 3\n", 4, "has no setting 'stepz'"),
        ("jobs:\n  - task: fit1d\n    settings:\n      steps: [10, ten]\n", 4, "expected a whole number"),
        ("jobs:\n  - task: fit1d\n\n    methods: [ff, bogus]\n", 4, "unknown method 'bogus'"),
        ("jobs:\n  - task: fit1d\n    settings: {out: x}\n", 3, "not allowed"),
        ("jobs:\n  - task: fit1d\n    settings:\n      quiet: yes\n", 4, "not allowed"),
        ("jobs:\n  - task: fit1d\n    settings:\n      method: ff\n", 4, "methods: [...]"),
        ("jobs:\n  - task: fit1d\n    resources: {cpus: 0}\n", 3, "resources.cpus"),
        ("jobs:\n  - name: a\n    task: fit1d\n  - name: a\n    task: fit1d\n", 4, "used twice"),
        ("jobs:\n  - task: fit1d\n    settings:\n      steps: 3\n      steps: 4\n", 5, "duplicate key"),
        ("jobs:\n  - task: fit1d\n    settings: [steps\n", 4, "flow sequence started on line 3"),
        ("jobs:\n  - name: ../escape\n    task: fit1d\n", 2, "names a folder"),
        ("jobs:\n  - task: fit1d\n    seeds: [0, 1, 0]\n", 2, "would run twice"),
        (pair_job("{source: template.obj}"), 4, "needs inputs target"),
        (pair_job("{source: template.obj, target: missing.obj}"), 4, "file not found"),
        (pair_job("{source: template.obj, target: \"nothing/*.obj\"}"), 4, "no file matches"),
        (pair_job("\n      source: template.obj\n      target: a_target.obj\n      colour: red.obj"), 7, "no input 'colour'"),
    ],
)
def test_invalid_pipelines_name_the_line(meshes, plugins, text, line, fragment):
    with pytest.raises(PipelineError) as caught:
        parse(text, base_dir=meshes, plugins=plugins)
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"p.yaml:{line}: ")
    assert fragment in str(caught.value)


def test_task_without_positional_inputs_needs_none_and_with_them_demands_them(plugins):
    with pytest.raises(PipelineError, match="needs inputs: source, target"):
        parse("jobs:\n  - task: pair\n", plugins=plugins)


def test_yaml_nodes_keep_lines_and_values():
    root = parse_yaml("a: 1\nb:\n  - x\n  - {c: 2.5}\n")
    assert root.plain() == {"a": 1, "b": ["x", {"c": 2.5}]}
    assert root.key_lines == {"a": 1, "b": 2}
    assert root.value["b"].value[1].value["c"].line == 4


def test_cli_rejects_invalid_pipeline_before_running_anything(tmp_path, capsys):
    pipeline = tmp_path / "bad.yaml"
    pipeline.write_text("jobs:\n  - task: fit1d\n    settings: {steps: 5}\n  - task: fit1d\n    settings: {lr: -1}\n")
    assert main(["batch", str(pipeline), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert f"{pipeline}:5:" in error and "setting 'lr'" in error
    assert not (tmp_path / "out").exists()  # the valid first job did not run either


def test_settings_are_named_by_field_or_as_on_the_command_line_and_mean_the_same_job():
    by_flag = parse("jobs:\n  - task: fit1d\n    settings: {hidden: 8, layers: 1, frequencies: 4, sigma: 2}\n").jobs[0]
    by_field = parse("jobs:\n  - task: fit1d\n    settings: {hidden_dim: 8, num-hidden-layers: 1, num_frequencies: 4, sigma: 2.0}\n").jobs[0]
    assert by_field.run_name == by_flag.run_name  # the same settings, so the same run
    assert dict(by_field.values) == {"hidden_dim": 8, "num_hidden_layers": 1, "num_frequencies": 4, "sigma": 2.0}
    assert by_field.command_line == ("--hidden", "8", "--layers", "1", "--frequencies", "4", "--sigma", "2")


def test_a_value_of_the_wrong_type_names_the_setting_and_its_line():
    with pytest.raises(PipelineError) as caught:
        parse("jobs:\n  - task: fit1d\n    settings:\n      hidden_dim: 8\n      lr_schedule: [constant, sometimes]\n")
    assert caught.value.line == 5 and "setting 'lr-schedule' must be one of constant, cosine, got 'sometimes'" in str(caught.value)


def test_the_command_line_shown_for_a_job_runs_the_same_settings():
    from sape_geo.config import FitConfig, MethodConfig
    from sape_geo.registry import load_task
    from sape_geo.schema import explicit_values, settings_from_namespace
    from sape_geo_apps.batch.job_settings import TaskFields
    from sape_geo_apps.cli import build_parser

    job = parse("jobs:\n  - task: fit1d\n    methods: [sasnet]\n    seeds: [3]\n    settings: "
                "{hidden: 8, method_option: [high_bands=2], lr_schedule: cosine, guard_every: 5, lr: 0.002}\n").jobs[0]
    args = build_parser(None)[0].parse_args(["fit1d", *job.command_line, "--out", "x"])
    plugin = load_task("fit1d")
    settings, overrides = TaskFields(plugin).build(job.method, dict(job.values))
    from_command = {**explicit_values(FitConfig, args, "fit"), **explicit_values(MethodConfig, args, "method")}
    assert from_command.pop("name") == job.method == "sasnet"
    assert settings_from_namespace(plugin.settings, args, "task") == settings
    assert plugin.configs(job.method, from_command) == plugin.configs(job.method, overrides)
