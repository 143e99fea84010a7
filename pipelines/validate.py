"""Validate one run's tables against Veil's expectation suites; gate the run on its critical expectations.

Reads OUTPUT/tables/*/<run_id>.parquet, evaluates schemas/expectations/<table>.json with Great
Expectations (a file-mode project, analytics off, nothing on the network, built locally and published to
OUTPUT/reports/<run_id>/gx/ so it works for gs:// roots too), and writes every failing row of every
failed expectation to OUTPUT/tables/validation_failures/<run_id>.parquet, a summary to
OUTPUT/reports/<run_id>/validation.json and Data Docs that render offline to
OUTPUT/reports/<run_id>/data_docs/. A failed critical expectation fails the run.

Run:  veil validate OUTPUT [--run RUN_ID] [--keystore URI]      (the latest run when --run is left out)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import settings
from pipelines.options import AnonymizeOptions, CommandParser, UsageError
from transforms.services import layout, report, storage
from transforms.services.table_files import read_table
from transforms.services.validation import Outcome, critical_failures, validate


def latest_run(output: str) -> str:
    runs = read_table(output, "runs")
    if runs is None or not runs.num_rows:
        raise ValueError(f"no run has finished under {output}")
    return max(runs.to_pylist(), key=lambda r: r["finished_at"])["run_id"]


def describe(outcomes: list[Outcome], output: str, run_id: str) -> str:
    """A short verdict for the terminal: counts, then each failed expectation and where the details are."""
    failed = [o for o in outcomes if not o.success]
    critical = critical_failures(outcomes)
    lines = [f"validation: {len(outcomes)} expectations, {len(failed)} failed ({len(critical)} critical)"]
    for o in failed:
        lines.append(
            f"  {'FAILED' if o.critical else 'warning'} {o.table}.{o.column or '*'}: {o.expectation} "
            f"(Article {o.article}: {o.why}) on {len(o.failing_rows)} row(s)"
        )
    if failed:
        lines.append(f"  failing rows: {layout.table_uri(output, 'validation_failures', run_id)}")
    lines.append(f"  data docs: {layout.data_docs_index(output)}")
    return "\n".join(lines)


def parser() -> CommandParser:
    """The command line of ``veil validate``."""
    parser = CommandParser(prog="veil validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", metavar="OUTPUT", help="the output root the run wrote to")
    parser.add_argument(
        "--run",
        dest="run_id",
        metavar="RUN_ID",
        help="the run to validate (default: the latest finished anonymize run)",
    )
    parser.add_argument(
        "--keystore",
        metavar="URI",
        help="the key store the runs use, beside which the retention "
        "ledger's head is anchored (default: OUTPUT/keys/keystore.json)",
    )
    return parser


class Result(NamedTuple):
    """What ``veil validate`` did: the run it validated, every expectation's outcome, and the run report it wrote
    (None for a run that is not an anonymize run, or whose registries could not be read: ``why`` says which)."""

    output: str
    run_id: str
    outcomes: list[Outcome]
    report: str | None
    why: str


def run(argv: Sequence[str] | None = None) -> Result:
    """Parse OUTPUT [--run RUN_ID], validate the run and write its run report."""
    args = parser().parse_args(argv)
    output = storage.absolute(args.output)
    run_id = args.run_id or latest_run(output)
    if args.run_id and not wrote_tables(output, run_id):
        # Validating nothing would pass every expectation and record a verdict for a run that never happened.
        raise UsageError(f"no run {run_id} under {output}: it wrote no table there")
    outcomes = validate(output, run_id, args.keystore)
    page, why = report_run(output, run_id)
    return Result(output, run_id, outcomes, page, why)


def report_run(output: str, run_id: str) -> tuple[str | None, str]:
    """Publish the run report of an anonymize run (a scheduled template run gets its report here), from the options
    its runs row recorded and the registries as they read now; returns the page, or None and why there is none."""
    runs = read_table(output, "runs", run_id)
    if runs is None:
        return None, "not an anonymize run (it wrote no runs row): its own report stands"
    (row,) = runs.to_pylist()
    recorded = PipelineOptions.from_dictionary(json.loads(row["options"])).view_as(AnonymizeOptions)
    try:
        registry, _ = settings.load_registries(recorded)
    except (OSError, ValueError) as err:
        return None, f"the registries the run used cannot be read now ({err}): no run report written"
    found = report.build_report(output, run_id, registry, settings.measures(recorded))
    _, page = report.write_report(output, run_id, found)
    return page, ""


def wrote_tables(output: str, run_id: str) -> bool:
    """Whether a run wrote any table partition under ``output``."""
    return bool(FileSystems.match([layout.table_uri(output, "*", run_id)])[0].metadata_list)
