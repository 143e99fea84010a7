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


def partition_keys(partitions: int) -> list[int]:
    """A key for each of ``partitions`` partitions, which a dask bag's GroupByKey sends to partitions of their own:
    ``keys[p]`` to partition ``p`` of a bag of ``partitions``, and to distinct ones of a bag of one more.

    Dask's task shuffle puts a key in partition ``int(tokenize(key), 16) % n`` for a bag of n partitions, n <= 32
    (dask.bag.core.groupby_tasks). The widening GroupByKey has the upstream's partitions as well as the empty
    ones, and the upstream is usually one element of a Create: one partition. For other counts the keys may
    share a partition.
    """
    from dask.base import tokenize  # only on Dask runs

    keys: dict[int, int] = {}
    wider: set[int] = set()
    candidate = 0
    while len(keys) < partitions:
        digest = int(tokenize(candidate), 16)
        if digest % partitions not in keys and digest % (partitions + 1) not in wider:
            keys[digest % partitions] = candidate
            wider.add(digest % (partitions + 1))
        candidate += 1
    return [keys[p] for p in range(partitions)]


class _KeyInTurn(beam.DoFn):
    """Key elements so that they go to the partitions in turn, each bundle starting at a random one.

    A bundle is a whole partition on Dask: the segments of one video, split by one task, come out evenly over the
    partitions, where random keys leave some with twice the work of others (and the job waits for the slowest).
    """

    def __init__(self, partitions: int):
        self._partitions = partitions
        self._keys: list[int] = []
        self._next = 0

    def setup(self) -> None:
        self._keys = partition_keys(self._partitions)

    def start_bundle(self) -> None:
        self._next = random.randrange(self._partitions)

    def process(self, element):
        yield self._keys[self._next], element
        self._next = (self._next + 1) % self._partitions


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
    stay in one partition, on one worker, all the way. So on Dask elements are keyed in turn with one key per
    partition, and the first Redistribute on a path groups them together with an empty PCollection of
    ``--dask_npartitions`` partitions (what Create makes of that many elements), which gives the shuffle
    that many more partitions to hash into. Later ones only regroup: partitions are never merged again on
    Dask (a Flatten adds its inputs' up), and every stage runs once per partition, so widening at each would
    multiply the tasks of every later stage.
    """

    def expand(self, pcoll):
        partitions = dask_partitions(pcoll.pipeline)
        if partitions is None:
            return pcoll | "Reshuffle" >> beam.Reshuffle()
        keyed = pcoll | "Key In Turn" >> beam.ParDo(_KeyInTurn(partitions))
        widen = not _widened(pcoll)
        if widen:
            room = (
                pcoll.pipeline
                | "Partitions" >> beam.Create(range(partitions))
                | "No Elements" >> beam.FlatMap(lambda _: ())
            )
            keyed = (keyed, room) | "With Partitions" >> beam.Flatten()
        spread = keyed | "Group" >> beam.GroupByKey() | "Ungroup" >> beam.FlatMap(lambda group: group[1])
        setattr(spread, _WIDENED, True)
        return spread
