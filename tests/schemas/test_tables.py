"""Every table has its schema in one place, with a run id, and a row that does not fit it is refused."""

import pytest

from schemas import tables
from transforms.services.table_files import write_table


def test_every_table_has_a_schema_with_a_run_id():
    assert set(tables.TABLES) == {
        "media",
        "face_tracks",
        "restricted",
        "catalog",
        "quarantine",
        "runs",
        "leak_audit",
        "retention_plan",
        "validation_failures",
        "stream_windows",
    }
    assert set(tables.VALIDATED) <= set(tables.TABLES)
    for name, schema in tables.TABLES.items():
        assert "run_id" in schema.names, name


def test_a_row_that_does_not_fit_its_schema_is_refused_before_anything_is_written(tmp_path):
    row = {
        "run_id": "r",
        "input_uri": "/x",
        "media_id": None,
        "camera_id": None,
        "reason_code": "empty_file",
        "message": "m",
    }
    target = str(tmp_path / "q.parquet")
    assert write_table([row], tables.QUARANTINE, target) == 1
    with pytest.raises(ValueError, match="missing \\['message'\\], unknown \\['msg'\\]"):
        write_table([{**{k: v for k, v in row.items() if k != "message"}, "msg": "m"}], tables.QUARANTINE, target)
    with pytest.raises(ValueError, match="required column"):
        write_table([{**row, "reason_code": None}], tables.QUARANTINE, target)
