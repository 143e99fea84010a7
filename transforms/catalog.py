"""The catalog: one row per artifact a run leaves behind, with the accounts linked to it and its deadline."""

from __future__ import annotations

import datetime as dt

import apache_beam as beam

from schemas import tables
from schemas.codes import ArtifactKind, QuarantineReason, RetentionRule
from schemas.registries import Registry
from transforms.logic.identity import media_id as media_id_of
from transforms.logic.retention import RetentionPolicy, catalog_entry, raw_uri
from transforms.services import layout, storage


def media_entries(row: dict, registry: Registry, policy: RetentionPolicy, started: dt.datetime) -> list[dict]:
    """An anonymized input: its raw footage (purged once the output is validated) and its public copy."""
    camera = registry.cameras.get(row["camera_id"] or "")
    raw = catalog_entry(
        ArtifactKind.RAW_INPUT,
        raw_uri(row["input_uri"]),
        started,
        row["camera_id"],
        camera,
        policy,
        RetentionRule.RAW_PURGE,
        row["media_id"],
        requires_approval=True,
    )
    if not row["output_uri"]:
        return [raw]
    public = catalog_entry(
        ArtifactKind.PUBLIC_COPY,
        row["output_uri"],
        started,
        row["camera_id"],
        camera,
        policy,
        RetentionRule.RETENTION_WINDOW,
        row["media_id"],
    )
    return [raw, public]


def restricted_entry(row: dict, registry: Registry, policy: RetentionPolicy, started: dt.datetime) -> dict:
    """A sealed restricted copy, linked to its account (deleted when the account is cancelled)."""
    return catalog_entry(
        ArtifactKind.RESTRICTED_COPY,
        row["uri"],
        started,
        row["camera_id"],
        registry.cameras.get(row["camera_id"]),
        policy,
        RetentionRule.RETENTION_WINDOW,
        row["media_id"],
        account_id=row["account_id"],
    )


def quarantine_entries(row: dict, folder: str, policy: RetentionPolicy, started: dt.datetime) -> list[dict]:
    """A refused input and its quarantine folder: kept a short window for the operator, except footage from a
    private location (Article 6), which is due for purge at once."""
    prohibited = row["reason_code"] == QuarantineReason.PROHIBITED_LOCATION.value
    basis = RetentionRule.PROHIBITED_PURGE if prohibited else RetentionRule.QUARANTINE_WINDOW
    key = row["media_id"] or media_id_of(row["input_uri"])
    days = 0 if prohibited else policy.quarantine_days
    camera = row["camera_id"]
    return [
        catalog_entry(
            ArtifactKind.RAW_INPUT,
            raw_uri(row["input_uri"]),
            started,
            camera,
            None,
            policy,
            basis,
            row["media_id"],
            days=days,
        ),
        catalog_entry(
            ArtifactKind.QUARANTINED_INPUT,
            storage.join(folder, key),
            started,
            camera,
            None,
            policy,
            basis,
            row["media_id"],
            days=days,
        ),
    ]


def run_entries(
    output: str,
    run_id: str,
    policy: RetentionPolicy,
    started: dt.datetime,
    written: tuple[str, ...] = tables.ANONYMIZE_TABLES + tables.WRITTEN_BY_VALIDATION,
) -> list[dict]:
    """The run's own table partitions (of the ``written`` tables) and report folder: audit records, kept at least
    3 years (Article 15)."""
    entries = [
        catalog_entry(
            ArtifactKind.TABLE_PARTITION,
            layout.table_uri(output, table, run_id),
            started,
            None,
            None,
            policy,
            RetentionRule.RETENTION_WINDOW,
        )
        for table in written
    ]
    entries.append(
        catalog_entry(
            ArtifactKind.RUN_REPORT,
            layout.report_folder(output, run_id),
            started,
            None,
            None,
            policy,
            RetentionRule.RETENTION_WINDOW,
        )
    )
    return entries


class CatalogArtifacts(beam.PTransform):
    """Catalog every artifact of the run from its media, restricted and quarantine rows, plus its own tables."""

    def __init__(self, output: str, run_id: str, registry: Registry, policy: RetentionPolicy, started: dt.datetime):
        super().__init__()
        self._args = output, run_id, registry, policy, started

    def expand(self, rows):
        output, run_id, registry, policy, started = self._args
        media, restricted, quarantine = rows
        folder = layout.quarantine_folder(output, run_id)
        return (
            media | "Catalog Media" >> beam.FlatMap(media_entries, registry, policy, started),
            restricted | "Catalog Restricted" >> beam.Map(restricted_entry, registry, policy, started),
            quarantine | "Catalog Quarantined" >> beam.FlatMap(quarantine_entries, folder, policy, started),
            media.pipeline | "Run Artifacts" >> beam.Create(run_entries(output, run_id, policy, started)),
        ) | "All Artifacts" >> beam.Flatten()
