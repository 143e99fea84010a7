"""Write a run's table partitions from a pipeline: all of a table's rows gathered, then written once."""

from __future__ import annotations

import apache_beam as beam

from transforms.services.table_files import write_run_table


class GatherAll(beam.PTransform):
    """All elements as one list, emitted exactly once, also when there are none (what ``ToList`` does).

    Built from a GroupByKey rather than ``ToList``: that one injects its default through a side input, and Beam
    2.77's DaskRunner computes a side input by re-running everything upstream of it, once per consumer.
    """

    def expand(self, pcoll):
        return (
            (
                pcoll | "Mark Elements" >> beam.Map(lambda v: (0, (True, v))),
                pcoll.pipeline | "Mark Start" >> beam.Create([(0, (False, None))]),
            )
            | "Together" >> beam.Flatten()
            | "Group" >> beam.GroupByKey()
            | "Unmark" >> beam.MapTuple(lambda _, marked: [v for real, v in marked if real])
        )


class WriteTable(beam.PTransform):
    """Write all rows of one table for this run as a single Parquet file; emits the row count.

    Each row gets the run id; the schema in ``schemas.tables`` is enforced on write.
    """

    def __init__(self, root: str, table: str, run_id: str):
        super().__init__()
        self._root, self._table, self._run_id = root, table, run_id

    def expand(self, rows):
        root, table, run_id = self._root, self._table, self._run_id
        return (
            rows
            | "Gather Rows" >> GatherAll()
            | "Write Parquet" >> beam.Map(lambda rows: write_run_table(root, table, run_id, rows))
        )
