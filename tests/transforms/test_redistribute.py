"""Redistribute in a TestPipeline: elements spread over workers come out unchanged; off Dask it is Beam's Reshuffle,
on Dask the first one on a path widens the pipeline to the partitions asked for and later ones only regroup (the
runs on a Dask cluster: tests/pipelines/test_dask.py)."""

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import launch
from transforms.redistribute import Redistribute, dask_partitions, partition_keys


def _labels(pipeline: beam.Pipeline) -> set[str]:
    return {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}


def test_redistribute_passes_every_element_through_unchanged_as_a_reshuffle(beam_options):
    elements = [*range(20), 3, 3]
    with TestPipeline(options=beam_options) as p:
        spread = p | beam.Create(elements) | "Spread" >> Redistribute()
        assert_that(spread, equal_to(elements))
        assert dask_partitions(p) is None
    assert "Spread/Reshuffle" in _labels(p)
    assert not any(label.startswith("Spread/Key In Turn") for label in _labels(p))


def test_on_dask_the_first_redistribute_widens_to_the_partitions_and_a_later_one_only_regroups():
    pipeline = beam.Pipeline(options=PipelineOptions([f"--runner={launch.DASK_RUNNER}", "--dask_npartitions=4"]))
    _ = pipeline | beam.Create(["spec"]) | "First" >> Redistribute() | "Second" >> Redistribute()
    assert dask_partitions(pipeline) == 4
    labels = _labels(pipeline)
    assert {"First/Key In Turn", "First/Partitions", "First/Group", "Second/Key In Turn", "Second/Group"} <= labels
    assert "Second/Partitions" not in labels
    assert not {"First/Reshuffle", "Second/Reshuffle"} & labels


def test_the_partition_keys_land_apart_in_n_and_in_n_plus_1_partitions():
    from dask.base import tokenize

    for n in range(1, 33):
        keys = partition_keys(n)
        assert [int(tokenize(k), 16) % n for k in keys] == list(range(n))
        assert len({int(tokenize(k), 16) % (n + 1) for k in keys}) == n
