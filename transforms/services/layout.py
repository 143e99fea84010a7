"""Every path Veil writes under an output root (DESIGN.md's output layout), spelled here and nowhere else."""

from __future__ import annotations

from transforms.services import storage

ANONYMIZED = "anonymized"
"""OUTPUT/anonymized/<camera>/<day>/: the public copies."""
RESTRICTED = "restricted"
"""OUTPUT/restricted/<camera>/<day>/: each account's sealed copy of the faces it may keep."""
VALIDATION_FILE = "validation.json"
"""A run's validation summary, in its report folder."""
DATA_DOCS = "data_docs"
"""OUTPUT/data_docs/: one Data Docs site for the output root, with the validations of its latest runs."""
DATA_DOCS_FROM_REPORT = f"../../{DATA_DOCS}/index.html"
"""The Data Docs' front page as a link from a run's report folder (OUTPUT/reports/<run_id>/)."""
REPORT_PAGE = "report.html"
"""A run's report page, in its report folder."""


def media_folder(output: str, kind: str = ANONYMIZED) -> str:
    """Where the videos of one kind (ANONYMIZED or RESTRICTED) go."""
    return storage.join(output, kind)


def tables_folder(output: str) -> str:
    return storage.join(output, "tables")


def table_uri(output: str, table: str, run_id: str) -> str:
    """One run's partition of a table (run_id "*": every run's)."""
    return storage.join(tables_folder(output), table, f"{run_id}.parquet")


def quarantine_folder(output: str, run_id: str) -> str:
    """A run's quarantined inputs, each with its reason.json."""
    return storage.join(output, "quarantine", run_id)


def report_folder(output: str, run_id: str) -> str:
    """A run's report, validation summary and Data Docs."""
    return storage.join(output, "reports", run_id)


def validation_uri(output: str, run_id: str) -> str:
    """A run's validation summary (run_id "*": every run's)."""
    return storage.join(report_folder(output, run_id), VALIDATION_FILE)


def data_docs_folder(output: str) -> str:
    return storage.join(output, DATA_DOCS)


def data_docs_index(output: str) -> str:
    return storage.join(data_docs_folder(output), "index.html")


def report_page(output: str, run_id: str) -> str:
    return storage.join(report_folder(output, run_id), REPORT_PAGE)


def gx_folder(output: str, run_id: str) -> str:
    """Great Expectations' own project files of a run's validation (its results feed the Data Docs' history)."""
    return storage.join(report_folder(output, run_id), "gx")


def gx_results(output: str) -> str:
    """The stored validation results of every run's GX project: <suite>/<table>/<run_id>/<time>/<file>.json."""
    return storage.join(report_folder(output, "*"), "gx", "uncommitted", "validations", "*", "*", "*", "*", "*.json")


def ledger_folder(output: str) -> str:
    return storage.join(output, "ledger")


def default_keystore(output: str) -> str:
    """The key store of an output root when none is given: OUTPUT/keys/keystore.json (keep it apart in production)."""
    return storage.join(output, "keys", "keystore.json")


def work_root(output: str) -> str:
    """The folder of the runs' work folders."""
    return storage.join(output, ".work")


def work_folder(output: str, run_id: str) -> str:
    """Where a run keeps its staged archive members and encoded parts until it has published its outputs."""
    return storage.join(work_root(output), run_id)


def staging_folder(output: str, run_id: str) -> str:
    """Where a run stages the members of the archives it expands (raw footage: removed with its work folder)."""
    return storage.join(work_folder(output, run_id), "staging")


def parts_folder(output: str, run_id: str) -> str:
    """Where a run's encoded segments wait to be joined."""
    return storage.join(work_folder(output, run_id), "parts")


def progress_folder(output: str, run_id: str) -> str:
    """Where a run's stages note what they finished, for the launcher's progress line."""
    return storage.join(work_folder(output, run_id), "progress")


def log_uri(output: str, run_id: str) -> str:
    """The run's log: everything the workers and libraries printed, which the terminal does not show."""
    return storage.join(report_folder(output, run_id), "run.log")


def keystore_of(output: str, keystore: str | None) -> str:
    """The key store a run uses: the one given, or the default beside the data."""
    return keystore or default_keystore(output)
