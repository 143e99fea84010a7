"""Parquet tables under OUT/tables/<table>/<run_id>.parquet, each written whole and atomically."""

from __future__ import annotations

import io

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas import tables
from transforms import layout, storage
from transforms.logic.parquet import table_from_bytes


def write_table(rows: list[dict], schema: pa.Schema, uri: str) -> int:
    """Check rows against the schema and publish them as one Parquet file; returns the row count.

    Raises ValueError for a row whose columns differ from the schema's or that leaves a required column empty.
    """
    for row in rows:
        if set(row) != set(schema.names):
            raise ValueError(
                f"row columns differ from the schema: missing {sorted(set(schema.names) - set(row))}, "
                f"unknown {sorted(set(row) - set(schema.names))}"
            )
        empty = [f.name for f in schema if not f.nullable and row[f.name] is None]
        if empty:
            raise ValueError(f"required column(s) {empty} are empty")
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    storage.publish_bytes(buffer.getvalue(), uri)
    return table.num_rows


def read_table(root: str, table: str, run_id: str | None = None) -> pa.Table | None:
    """A table's rows under an output root, of every run or of one, or None when there are none."""
    pattern = layout.table_uri(root, table, run_id or "*")
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not paths:
        return None
    parts = []
    for path in paths:
        with FileSystems.open(path) as handle:
            # Not pq.read_table(io.BytesIO(...)): that can abort the process at exit (transforms/logic/parquet.py).
            parts.append(table_from_bytes(handle.read()))
    return pa.concat_tables(parts, promote_options="default")


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
        self._uri = layout.table_uri(root, table, run_id)
        self._schema = tables.TABLES[table]
        self._run_id = run_id

    def expand(self, rows):
        uri, schema, run_id = self._uri, self._schema, self._run_id
        return (
            rows
            | "Stamp Run" >> beam.Map(lambda row: {**row, "run_id": run_id})
            | "Gather Rows" >> GatherAll()
            | "Write Parquet" >> beam.Map(lambda rows: write_table(rows, schema, uri))
        )
