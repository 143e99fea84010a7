"""The ``veil`` command: dispatches to the jobs and prints what a run did."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import logging
import sys
import textwrap
from collections.abc import Sequence

__version__ = importlib.metadata.version("veil")

EXIT_USAGE = 2
"""Exit status of a command line or set-up Veil refused before starting anything."""
EXIT_QUARANTINED = 3
"""Exit status of a run that finished but quarantined at least one input."""
EXIT_INVALID = 4
"""Exit status of a run whose tables failed a critical expectation."""

COMMANDS = {
    "anonymize": ("pipelines.anonymize", "INPUT OUTPUT [options]"),
    "anonymize --streaming": ("pipelines.stream", "LANDING OUTPUT [options]"),
    "validate": ("pipelines.validate", "OUTPUT [--run RUN_ID] [--keystore URI]"),
    "retention": ("pipelines.retention", "OUTPUT [options] [--dry-run | --plan]"),
    "ledger verify": ("pipelines.ledger", "OUTPUT [--keystore URI]"),
    "decrypt": ("pipelines.decrypt", "SEALED_URI DEST_PATH --keystore URI"),
    "sample": ("pipelines.sample", "DIR"),
}
"""Each command: the module that runs it (its docstring's first line describes it) and its arguments."""


def _summary_line(module: str) -> str:
    """The first sentence of a module's docstring, read without importing it (Beam's import costs seconds)."""
    spec = importlib.util.find_spec(module)
    first = ast.get_docstring(ast.parse(spec.loader.get_source(module))).split("\n\n")[0]
    return " ".join(first.split())


def usage() -> str:
    """``veil --help``: every command with what it does."""
    lines = ["usage: veil COMMAND ARGUMENTS [options]", "", "commands:"]
    for command, (module, arguments) in COMMANDS.items():
        lines += [
            f"  veil {command} {arguments}",
            *textwrap.wrap(_summary_line(module), 100, initial_indent=" " * 6, subsequent_indent=" " * 6),
        ]
    lines += ["", "'veil COMMAND --help' lists a command's options with their defaults; 'veil --version'."]
    return "\n".join(lines)


def command_help(command: str) -> str:
    """``veil COMMAND --help``, from the parser the command uses."""
    from pipelines import options

    module, arguments = COMMANDS[command]
    if command in options.COMMANDS:
        extra = "--dry-run: print the plan and change nothing (like --plan).\n" if command == "retention" else ""
        return options.command_help(command, f"veil {command} {arguments}", _summary_line(module), extra)
    return importlib.import_module(module).parser().format_help()


def summarize(output: str, run_id: str) -> tuple[str, int]:
    """A short report of one run, read back from its tables, and the number of quarantined inputs."""
    from transforms.services import layout
    from transforms.services.table_files import read_table

    (row,) = read_table(output, "runs", run_id).to_pylist()
    quarantine = read_table(output, "quarantine", run_id)
    refused = quarantine.to_pylist() if quarantine is not None else []
    lines = [
        f"run {run_id}",
        f"  inputs: {row['inputs']}  anonymized: {row['anonymized']}  quarantined: {row['quarantined']}"
        f"  skipped (done before): {row['skipped']}",
        f"  frames: {row['frames']}  faces redacted: {row['faces_redacted']} (in {row['tracks_redacted']} tracks)"
        f"  tracks kept for consented service subjects: {row['tracks_kept']}",
        f"  videos: {layout.media_folder(output)}",
        f"  tables: {layout.tables_folder(output)}",
    ]
    for r in refused:
        lines.append(f"  quarantined {r['input_uri']}: {r['reason_code']}: {r['message']}")
    if row["tracks_kept"]:
        lines.append(f"  restricted copies (sealed per account): {layout.media_folder(output, layout.RESTRICTED)}")
    if refused:
        lines.append(f"  quarantine folder: {layout.quarantine_folder(output, run_id)}")
    return "\n".join(lines), row["quarantined"]


def _say(line: str) -> None:
    print(f"veil: {line}", file=sys.stderr)


def _retention(argv: list[str]) -> int:
    """Run the retention job; exit 4 when anything is overdue after it (a deadline was or will be missed)."""
    from pipelines import retention, validate
    from transforms.services import validation

    try:
        result = retention.run(argv)
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    s, rows = result.settings, result.rows
    overdue = [r for r in rows if r["overdue"]]
    held = [r for r in rows if r["status"] == "held"]
    refused = [r for r in rows if r["status"] == "refused"]
    print(
        f"{'plan only, nothing changed' if s.plan_only else f'retention run {s.run_id}'}: "
        f"{sum(r['status'] == 'done' for r in rows)} done, {len(held)} held, {len(overdue)} overdue, "
        f"{len(refused)} refused"
    )
    for row in overdue:
        print(
            f"  OVERDUE {row['action']} {row['kind']} {row['artifact_id']} (due {row['due_at']:%Y-%m-%d}, "
            f"{row['status']}{': ' + row['note'] if row['note'] else ''})"
        )
    for row in refused:
        if not row["overdue"]:
            print(f"  REFUSED {row['action']} {row['kind']} {row['artifact_id']}: {row['note']}")
    # A refused action is never done by a later run on its own: it needs the operator as much as an overdue one.
    failed = overdue or refused
    if result.outcomes is None:
        return EXIT_INVALID if failed else 0
    print(validate.describe(result.outcomes, s.output, s.run_id))
    return EXIT_INVALID if failed or validation.critical_failures(result.outcomes) else 0


def _stream(argv: list[str]) -> int:
    """Run the streaming job until it is stopped; exit 4 when a window failed validation, 3 when anything was
    quarantined."""
    from pipelines import stream
    from transforms.services import report

    try:
        result = stream.run(argv, notify=_say)
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    job = result.settings.job
    print(stream.summarize(job.output, job.run_id, result.seconds))
    found = report.stream_report(job.output, job.run_id)
    if any(not (w["validation"] or {}).get("passed") for w in found["windows"]):
        return EXIT_INVALID
    return EXIT_QUARANTINED if found["totals"]["quarantined"] else 0


def _anonymize(argv: list[str]) -> int:
    """Run the anonymize job, print what it did and its verdict; exit 4 when a critical expectation failed, 3 when
    anything was quarantined."""
    from pipelines import anonymize, validate
    from transforms.services import validation

    try:
        result = anonymize.run(argv, notify=_say)
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    s = result.settings
    summary, quarantined = summarize(s.output, s.run_id)
    print(summary)
    print(validate.describe(result.outcomes, s.output, s.run_id))
    print(f"  run report: {result.report}")
    if validation.critical_failures(result.outcomes):
        return EXIT_INVALID
    return EXIT_QUARANTINED if quarantined else 0


HELP = ("-h", "--help")


def _help(args: list[str]) -> str | None:
    """The --help text of the command ``args`` name, when asked for; None when not asked or not a command."""
    if not any(a in HELP for a in args):
        return None
    if args[:1] == ["anonymize"] and "--streaming" in args:
        return command_help("anonymize --streaming")
    command = next((c for c in (" ".join(args[:2]), " ".join(args[:1])) if c in COMMANDS), None)
    return command_help(command) if command else None


def _sample(argv: list[str]) -> int:
    from pipelines import sample

    for name, path in sample.generate(sample.parser().parse_args(argv).dir).items():
        print(f"{name}: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Before Beam is imported: its optional-dependency warnings are not for the person at the terminal.
    logging.basicConfig(level=logging.ERROR)
    from pipelines.options import UsageError

    try:
        return _dispatch(args)
    except UsageError as err:
        print(f"veil: {err}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as done:
        # argparse's --help (0) and refusals of a command's own parser end here, as a status like any other.
        return done.code if isinstance(done.code, int) else EXIT_USAGE


def _dispatch(args: list[str]) -> int:
    if args[:1] in (["--version"], ["-V"]):
        print(f"veil {__version__}")
        return 0
    if (text := _help(args)) is not None:
        print(text)
        return 0
    if args[:1] == ["sample"]:
        return _sample(args[1:])
    if args[:1] == ["retention"]:
        return _retention(args[1:])
    if args[:2] == ["ledger", "verify"]:
        from pipelines import ledger

        return ledger.run(args[2:])
    if args[:1] == ["decrypt"]:
        from pipelines import decrypt

        return decrypt.run(args[1:])
    if args[:1] == ["validate"]:
        from pipelines import validate
        from transforms.services import validation

        try:
            output, run_id, outcomes = validate.run(args[1:])
        except ValueError as err:
            print(f"veil: {err}", file=sys.stderr)
            return 2
        print(validate.describe(outcomes, output, run_id))
        return EXIT_INVALID if validation.critical_failures(outcomes) else 0
    if not args or args[0] != "anonymize":
        if args[:1] in (["-h"], ["--help"]):
            print(usage())
            return 0
        print(f"{usage()}\n\nveil: {f'unknown command {args[0]!r}' if args else 'no command given'}", file=sys.stderr)
        return EXIT_USAGE
    from pipelines import stream

    if stream.is_streaming(args[1:]):
        return _stream(args[1:])
    return _anonymize(args[1:])


if __name__ == "__main__":
    sys.exit(main())
