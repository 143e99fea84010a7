"""Validate a run's tables against the Great Expectations suites in schemas/expectations, naming every failing row."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING

import pandas as pd
from apache_beam.io.filesystems import FileSystems

from schemas import tables
from transforms.logic.retention import default_policy
from transforms.services import data_docs, layout, storage
from transforms.services.ledger_store import verify_ledger
from transforms.services.table_files import read_table, write_run_table

if TYPE_CHECKING:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context import FileDataContext

# No run-time network: Great Expectations must not try to send usage analytics.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One expectation's verdict on one table of a run, with the keys of every row that failed it."""

    table: str
    expectation: str
    column: str | None
    critical: bool
    article: str
    why: str
    success: bool
    failing_rows: tuple[str, ...]


def load_suite(table: str) -> dict:
    """The expectation suite of a table, as stored in schemas/expectations/<table>.json."""
    return json.loads(resources.files("schemas").joinpath("expectations", f"{table}.json").read_text())


def run_frames(output: str, run_id: str) -> dict[str, pd.DataFrame]:
    """This run's rows of every validated table (empty frames with the schema's columns where none), plus
    the derived columns the suites compare across tables."""
    frames = {}
    for name in tables.VALIDATED:
        found = read_table(output, name, run_id)
        table = found if found is not None else tables.TABLES[name].empty_table()
        frame = table.to_pandas()
        frames[name] = frame[frame["run_id"] == run_id].reset_index(drop=True)
    media, quarantine = len(frames["media"]), len(frames["quarantine"])
    frames["runs"] = frames["runs"].assign(accounted=media + quarantine, media_rows=media)
    catalog = frames["catalog"]
    maximum = default_policy().maximum_days
    frames["catalog"] = catalog.assign(
        retention_days=(catalog["retention_until"] - catalog["created_at"]).dt.days.astype("int64"),
        max_days=catalog["kind"].map(lambda kind: maximum.get(kind, -1)).astype("int64"),
    )
    return frames


@contextlib.contextmanager
def file_context() -> Iterator[FileDataContext]:
    """A file-mode Great Expectations project in a private temporary folder, analytics off; removed on exit."""
    import great_expectations as gx  # 2 s to import: only runs that validate pay for it

    # GX sets some of its loggers to INFO on import; its context set-up chatter is not a verdict.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)
    # A local temporary folder rather than one under the output root: roots may be remote (gs://) while GX's
    # stores write to a local disk; the project is scratch (GX's copies of the suites, raw results) whose record is
    # validation.json, validation_failures and the published Data Docs; and a folder per validation keeps two
    # validations of one root from listing each other's results in their Data Docs.
    with tempfile.TemporaryDirectory(prefix="veil-gx-") as root:
        context = gx.get_context(mode="file", project_root_dir=root)
        context.enable_analytics(False)
        context.variables.progress_bars = {"globally": False}
        context.variables.save()
        yield context


def validate_run(context: FileDataContext, output: str, run_id: str) -> list[Outcome]:
    """Every expectation of every validated table, evaluated on this run's rows; GX keeps the results for its
    Data Docs under the run's id."""
    import great_expectations as gx

    source = context.data_sources.add_or_update_pandas("veil")
    outcomes = []
    for name, frame in run_frames(output, run_id).items():
        suite = context.suites.add_or_update(gx.ExpectationSuite(**load_suite(name)))
        batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("run")
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"veil.{name}", data=batch, suite=suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"}, run_id=gx_run(run_id)
        )
        for check in result.results:
            config = check.expectation_config
            indices = check.result.get("unexpected_index_list") or []
            keys = tuple(_row_key(frame, name, i) for i in indices)
            if not check.success and not keys and len(frame):
                keys = ("<table>",)
            outcomes.append(
                Outcome(
                    name,
                    config.type,
                    config.kwargs.get("column") or config.kwargs.get("column_A"),
                    bool(config.meta.get("critical")),
                    str(config.meta.get("article", "")),
                    str(config.meta.get("why", "")),
                    bool(check.success),
                    keys,
                )
            )
    return outcomes


def gx_run(run_id: str) -> RunIdentifier:
    """GX's name for this validation of the run: the run's id, validated now."""
    from great_expectations.core import run_identifier

    # Without a time GX parses the name with dateutil, which reads some run ids' random suffixes as a UTC offset or an
    # era (20261207T185811Z-7903ad: about 1 in 1,500), and then fails to store the results.
    return run_identifier.RunIdentifier(run_name=run_id, run_time=dt.datetime.now(dt.UTC))


def _row_key(frame: pd.DataFrame, table: str, index: int) -> str:
    row = frame.loc[index]
    return ":".join(str(row[column]) for column in tables.ROW_KEYS[table])


def failure_rows(outcomes: list[Outcome]) -> list[dict]:
    """validation_failures rows: one per failing row of every failed expectation (all of them, not a sample)."""
    return [tables.validation_failure_row(o, key) for o in outcomes if not o.success for key in o.failing_rows]


def validate(output: str, run_id: str, keystore: str | None = None) -> list[Outcome]:
    """Validate a run, record the verdict and publish its Data Docs; returns every expectation's outcome. The
    retention ledger is checked against its head anchored beside ``keystore`` (default OUTPUT/keys/keystore.json)."""
    with file_context() as context:
        outcomes = validate_run(context, output, run_id) + [
            ledger_outcome(output, keystore or layout.default_keystore(output))
        ]
        write_run_table(output, "validation_failures", run_id, failure_rows(outcomes))
        not_written = [t for t in tables.VALIDATED if not FileSystems.exists(layout.table_uri(output, t, run_id))]
        summary = {
            "run_id": run_id,
            "not_written": not_written,
            "passed": not critical_failures(outcomes),
            "expectations": [dataclasses.asdict(o) for o in outcomes],
        }
        storage.publish_bytes(json.dumps(summary, indent=1).encode(), layout.validation_uri(output, run_id))
        data_docs.drop_results(context, not_written)
        # Before anything of the project leaves this machine: its results must not carry personal values.
        data_docs.prepare_results(context)
        # The GX project itself goes under the output root too, so an analyst can reopen it (and its results) with
        # gx.get_context(mode="file", project_root_dir=OUTPUT/reports/<run_id>/gx); later validations read its
        # results back for the output root's Data Docs, built below with the other runs' results.
        data_docs.publish(context.root_directory, layout.gx_folder(output, run_id), skip=("data_docs",))
        data_docs.add_history(context, output, run_id)
        data_docs.publish(data_docs.build(context), layout.data_docs_folder(output))
    return outcomes


def ledger_outcome(output: str, keystore: str) -> Outcome:
    """The retention ledger's hash chain and anchored head, checked like an expectation: a broken chain or a cut-off
    end fails every run."""
    problems = verify_ledger(output, keystore)
    return Outcome(
        "ledger",
        "ledger_chain_intact",
        None,
        True,
        "17",
        "every deletion stays on record: no ledger entry edited, removed or reordered",
        not problems,
        tuple(problems),
    )


def critical_failures(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.critical and not o.success]
