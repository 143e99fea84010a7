"""Spread elements over workers: a Reshuffle, except on Dask, where it has to be a GroupByKey."""
from __future__ import annotations

import random
import sys

import apache_beam as beam

_DASK_RUNNER = "apache_beam.runners.dask.dask_runner"
_WIDENED = "_veil_widened"


def dask_partitions(pipeline: beam.Pipeline) -> int | None:
    """The number of partitions a Dask run splits a Create into (``--dask_npartitions``), None off Dask."""
    # Looked up, not imported: a DaskRunner instance means its module is loaded, and other runs skip importing dask.
    dask = sys.modules.get(_DASK_RUNNER)
    if dask is None or not isinstance(pipeline.runner, dask.DaskRunner):
        return None
    return pipeline.options.view_as(dask.DaskOptions).npartitions or 1


def _random_key(element) -> tuple[int, object]:
    """Key an element at random, as Reshuffle does: each is then (almost surely) a group of its own, also when it
    comes from one of several partitions."""
    return random.getrandbits(64), element


def _widened(pcoll: beam.PCollection) -> bool:
    """Whether ``pcoll`` descends from a Redistribute that widened its pipeline on Dask."""
    seen, todo = set(), [pcoll]
    while todo:
        current = todo.pop()
        if getattr(current, _WIDENED, False):
            return True
        producer = current.producer
        if producer is not None and id(producer) not in seen:
            seen.add(id(producer))
            todo.extend(producer.main_inputs.values())
    return False


class Redistribute(beam.PTransform):
    """Spread elements over workers, unchanged: ``beam.Reshuffle()`` on every runner but Dask.

    Beam 2.77's DaskRunner makes Reshuffle a no-op, and a dask bag's GroupByKey hashes keys into as many
    partitions (dask's unit of parallelism) as its input has; a job started from a one-element Create would
    stay in one partition, on one worker, all the way. So on Dask each element becomes a group of its own,
    and the first Redistribute on a path groups them together with an empty PCollection of
    ``--dask_npartitions`` partitions (what Create makes of that many elements), which gives the shuffle
    that many more partitions to hash into. Later ones only regroup: partitions are never merged again
    on Dask (a Flatten adds its inputs' up), and every stage runs once per partition, so widening at
    each would multiply the tasks of every later stage.
    """

    def expand(self, pcoll):
        partitions = dask_partitions(pcoll.pipeline)
        if partitions is None:
            return pcoll | "Reshuffle" >> beam.Reshuffle()
        keyed = pcoll | "Key At Random" >> beam.Map(_random_key)
        widen = not _widened(pcoll)
        if widen:
            room = (pcoll.pipeline
                    | "Partitions" >> beam.Create(range(partitions))
                    | "No Elements" >> beam.FlatMap(lambda _: ()))
            keyed = (keyed, room) | "With Partitions" >> beam.Flatten()
        spread = keyed | "Group" >> beam.GroupByKey() | "Ungroup" >> beam.FlatMap(lambda group: group[1])
        setattr(spread, _WIDENED, True)
        return spread
