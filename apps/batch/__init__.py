"""Batch pipelines: one YAML file of jobs, run on this machine or on a Ray cluster, resumable.

Command: ``sape-geo batch PIPELINE --out DIR [--engine local|ray] [--address ADDR] [--workers N]``.
Python (e.g. from a notebook)::

    from sape_geo_apps.batch import parse_pipeline, run_pipeline
    pipeline = parse_pipeline(text, base_dir="data")     # or load_pipeline("pipeline.yaml")
    report = run_pipeline(pipeline, out="runs/batch", workers=2)

The file format is described in :mod:`sape_geo_apps.batch.pipeline`.
"""

from sape_geo_apps.batch.local_engine import LocalEngine
from sape_geo_apps.batch.pipeline import Job, Pipeline, PipelineError, Resources, load_pipeline, parse_pipeline
from sape_geo_apps.batch.ray_engine import RayEngine
from sape_geo_apps.batch.runner import BatchInterrupted, BatchReport, make_engine, run_pipeline
from sape_geo_apps.batch.worker import JobOutcome

__all__ = [
    "BatchInterrupted",
    "BatchReport",
    "Job",
    "JobOutcome",
    "LocalEngine",
    "Pipeline",
    "PipelineError",
    "RayEngine",
    "Resources",
    "load_pipeline",
    "make_engine",
    "parse_pipeline",
    "run_pipeline",
]
