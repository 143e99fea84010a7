"""Table files under OUT/tables/<table>/<run_id>.parquet: each checked against its schema, written whole and
atomically, and read back."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas import tables
from transforms.logic.parquet import table_from_bytes
from transforms.services import layout, storage


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


def write_run_table(output: str, table: str, run_id: str, rows: list[dict]) -> int:
    """Write a run's partition of ``table``: every row stamped with the run id, in the table's schema, at its place
    in the layout; returns the row count."""
    return write_table(
        [{**row, "run_id": run_id} for row in rows], tables.TABLES[table], layout.table_uri(output, table, run_id)
    )


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
