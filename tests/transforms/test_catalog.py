"""CatalogArtifacts in a TestPipeline: every artifact of a run gets a catalog row with its rule and deadline, from
the run's media, restricted and quarantine rows, plus the run's own table partitions and report."""

import datetime as dt

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas import tables
from schemas.codes import ArtifactKind, Purpose, QuarantineReason, RetentionRule
from schemas.registries import Camera, Registry
from transforms.catalog import CatalogArtifacts
from transforms.logic.identity import media_id
from transforms.logic.retention import default_policy
from transforms.services import layout

STARTED = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
SQUARE = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
REGISTRY = Registry(
    cameras={
        "cam-1": Camera("cam-1", "site", "entrance", Purpose.PUBLIC_SAFETY, True, SQUARE, {}, raw_retention_days=14)
    }
)
MEDIA = [
    {"camera_id": "cam-1", "input_uri": "/in/day.tar!cam-1/a.mp4", "media_id": "m-a", "output_uri": "/out/a.mp4"},
    {"camera_id": None, "input_uri": "/in/b.mp4", "media_id": "m-b", "output_uri": ""},
]
RESTRICTED = [{"camera_id": "cam-1", "uri": "/out/a.k1.mp4.sealed", "media_id": "m-a", "account_id": "acct-9"}]
QUARANTINE = [
    {
        "camera_id": "cam-x",
        "input_uri": "/in/bathroom.mp4",
        "media_id": "m-p",
        "reason_code": QuarantineReason.PROHIBITED_LOCATION.value,
    },
    {"camera_id": None, "input_uri": "/in/notes.txt", "media_id": None, "reason_code": "unsupported_file"},
]


def _entry(row: dict) -> tuple:
    days = (row["retention_until"] - row["created_at"]) / dt.timedelta(days=1)
    return row["kind"], row["uri"], row["basis"], days, row["media_id"], row["account_id"], row["requires_approval"]


def test_every_artifact_of_a_run_is_cataloged_with_its_rule_and_deadline(tmp_path, beam_options):
    output, policy = str(tmp_path / "out"), default_policy()
    quarantined = layout.quarantine_folder(output, "run-1")
    raw, public, restricted, kept = (
        ArtifactKind.RAW_INPUT.value,
        ArtifactKind.PUBLIC_COPY.value,
        ArtifactKind.RESTRICTED_COPY.value,
        ArtifactKind.QUARANTINED_INPUT.value,
    )
    audit = [
        (ArtifactKind.TABLE_PARTITION.value, layout.table_uri(output, table, "run-1"))
        for table in (*tables.ANONYMIZE_TABLES, *tables.WRITTEN_BY_VALIDATION)
    ] + [(ArtifactKind.RUN_REPORT.value, layout.report_folder(output, "run-1"))]
    expected = [
        # The camera's own raw window (14 days), purged once validated; the public copy on its purpose's window.
        (raw, "/in/day.tar", RetentionRule.RAW_PURGE, 14, "m-a", None, True),
        (public, "/out/a.mp4", RetentionRule.RETENTION_WINDOW, 90, "m-a", None, False),
        # No camera: a service camera's raw window, 0 days; nothing was written out.
        (raw, "/in/b.mp4", RetentionRule.RAW_PURGE, 0, "m-b", None, True),
        (restricted, "/out/a.k1.mp4.sealed", RetentionRule.RETENTION_WINDOW, 180, "m-a", "acct-9", False),
        # Footage of a private location is due at once; other refused inputs are kept the quarantine window.
        (raw, "/in/bathroom.mp4", RetentionRule.PROHIBITED_PURGE, 0, "m-p", None, False),
        (kept, f"{quarantined}/m-p", RetentionRule.PROHIBITED_PURGE, 0, "m-p", None, False),
        (raw, "/in/notes.txt", RetentionRule.QUARANTINE_WINDOW, 7, None, None, False),
        (kept, f"{quarantined}/{media_id('/in/notes.txt')}", RetentionRule.QUARANTINE_WINDOW, 7, None, None, False),
        *[(kind, uri, RetentionRule.RETENTION_WINDOW, 1096, None, None, False) for kind, uri in audit],
    ]
    with TestPipeline(options=beam_options) as p:
        rows = tuple(
            p | f"{name} rows" >> beam.Create(found)
            for name, found in (("Media", MEDIA), ("Restricted", RESTRICTED), ("Quarantine", QUARANTINE))
        )
        catalog = rows | CatalogArtifacts(output, "run-1", REGISTRY, policy, STARTED)
        assert_that(catalog | beam.Map(_entry), equal_to([(*e[:2], e[2].value, *e[3:]) for e in expected]))
