"""Parquet bytes read into a table through memory Arrow owns, so that no Arrow thread holds a Python object."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq


def table_from_bytes(data: bytes) -> pa.Table:
    """The table in a Parquet file's bytes.

    The bytes are copied into an Arrow buffer first. Handed a Python object instead (an ``io.BytesIO``, or the bytes
    themselves, which ``pa.BufferReader`` wraps without copying), Arrow can drop its last reference to it on one of
    its own threads after ``read_table`` has returned. If the interpreter is finalizing by then, that thread's
    ``PyGILState_Ensure`` ends it with ``pthread_exit``, whose unwind through Arrow's noexcept destructor calls
    ``std::terminate``: "terminate called without an active exception", exit 134, after a run that succeeded.

    Core dumps of ``veil anonymize --streaming`` restarts (and of scripts that read an output root's tables and exit)
    showed, on an ``arrow::internal::ThreadPool`` worker: ``~FileReaderImpl`` or ``~ParquetFileFragment`` ->
    ``~PyBuffer`` or ``~PyReadableFile`` -> ``PyGILState_Ensure -> take_gil -> PyThread_exit_thread -> pthread_exit
    -> _Unwind_ForcedUnwind -> __gxx_personality_v0 -> std::terminate``, with the main thread in ``Py_FinalizeEx``.
    On a loaded machine 9 of 100 processes that read an output root's tables with ``io.BytesIO`` and exited aborted
    so, and 0 of 100 with this copy (tests/pipelines/test_exit_status.py runs the veil command back to back).
    """
    sink = pa.BufferOutputStream()
    sink.write(data)
    return pq.read_table(pa.BufferReader(sink.getvalue()))
