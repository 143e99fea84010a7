"""The ``veil`` command: dispatches to the jobs and prints what a run did."""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import textwrap
import time
from collections.abc import Sequence

__version__ = importlib.metadata.version("veil")

EXIT_USAGE = 2
"""Exit status of a command line or set-up Veil refused before starting anything."""
EXIT_QUARANTINED = 3
"""Exit status of a run that finished but quarantined at least one input."""
EXIT_INVALID = 4
"""Exit status of a run whose tables failed a critical expectation."""
EXIT_INTERRUPTED = 130
"""Exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it)."""

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


SHOWN_INPUTS = 10
"""Inputs the summary names with their outputs; the media table lists them all."""


def summarize(output: str, run_id: str, seconds: float, warnings: Sequence[str] = ()) -> tuple[str, int]:
    """What one run did, read back from its tables: counts, time and rate, each input with its output (the first
    few), what was quarantined and why, where things are, and the run report's warnings; and the number of
    quarantined inputs."""
    from schemas.codes import IN_WORDS
    from transforms.services import layout
    from transforms.services.table_files import read_table

    (row,) = read_table(output, "runs", run_id).to_pylist()
    media = read_table(output, "media", run_id)
    quarantine = read_table(output, "quarantine", run_id)
    written = sorted(media.to_pylist(), key=lambda r: r["input_uri"]) if media is not None else []
    refused = quarantine.to_pylist() if quarantine is not None else []
    rate = f", {row['frames'] / seconds:.1f} frames/s" if seconds > 0 else ""
    lines = [
        f"run {run_id}: {row['inputs']} input(s) in {seconds:.0f} s ({row['frames']} frames{rate})",
        f"  anonymized: {row['anonymized']}  quarantined: {row['quarantined']}"
        f"  skipped (done before): {row['skipped']}",
        f"  face tracks: {row['tracks_redacted']} redacted ({row['faces_redacted']} face-frames), "
        f"{row['tracks_kept']} kept for consented service subjects",
    ]
    for r in written[:SHOWN_INPUTS]:
        lines.append(f"  {r['input_uri']}\n    -> {r['output_uri']}")
    if len(written) > SHOWN_INPUTS:
        lines.append(f"  ... and {len(written) - SHOWN_INPUTS} more (table media: {layout.tables_folder(output)})")
    for r in refused:
        lines.append(f"  quarantined {r['input_uri']}: {IN_WORDS.get(r['reason_code'], r['reason_code'])}")
        lines.append(f"    {r['message']}")
    if written:
        lines.append(f"  videos: {layout.media_folder(output)}")
    if row["tracks_kept"]:
        lines.append(f"  restricted copies (sealed per account): {layout.media_folder(output, layout.RESTRICTED)}")
    if refused:
        lines.append(f"  quarantine folder: {layout.quarantine_folder(output, run_id)}")
    lines.append(f"  tables: {layout.tables_folder(output)}")
    lines += [f"  WARNING {w}" for w in warnings]
    return "\n".join(lines), row["quarantined"]


def _say(line: str) -> None:
    print(f"veil: {line}", file=sys.stderr)


@contextlib.contextmanager
def _logged(argv: Sequence[str]):
    """Keep the workers' and libraries' output off the terminal (unless --verbose) and in a log file; yields
    ``keep(output, run_id)``, which names the run whose report folder the log is published to. A run that stops
    before it has an id leaves the log where it is, and says where."""
    from pipelines import console
    from transforms.services import layout, storage

    where: list[tuple[str, str]] = []
    with console.quiet("--verbose" in argv) as log:
        try:
            yield lambda output, run_id: where.append((output, run_id))
        finally:
            if log is not None and where:
                output, run_id = where[-1]
                storage.publish_file(log, layout.log_uri(output, run_id))
                os.remove(log)
            elif log is not None and os.path.getsize(log) and not isinstance(sys.exc_info()[1], KeyboardInterrupt):
                print(f"veil: the workers' and libraries' log: {log}", file=sys.stderr)
            elif log is not None and not os.path.getsize(log):
                os.remove(log)


def _retention(argv: list[str]) -> int:
    """Run the retention job; exit 4 when anything is overdue after it (a deadline was or will be missed)."""
    from pipelines import retention, validate
    from transforms.services import validation

    with _logged(argv) as keep_log:
        try:
            result = retention.run(argv)
        except ValueError as err:
            print(f"veil: {err}", file=sys.stderr)
            return 2
        if not result.settings.plan_only:
            keep_log(result.settings.output, result.settings.run_id)
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

    with _logged(argv) as keep_log:
        try:
            result = stream.run(argv, notify=_say)
        except ValueError as err:
            print(f"veil: {err}", file=sys.stderr)
            return 2
        keep_log(result.settings.job.output, result.settings.job.run_id)
    job = result.settings.job
    print(stream.summarize(job.output, job.run_id, result.seconds))
    found = report.stream_report(job.output, job.run_id)
    if any(not (w["validation"] or {}).get("passed") for w in found["windows"]):
        return EXIT_INVALID
    return EXIT_QUARANTINED if found["totals"]["quarantined"] else 0


def _anonymize(argv: list[str]) -> int:
    """Run the anonymize job, print what it did and its verdict; exit 4 when a critical expectation failed, 3 when
    anything was quarantined."""
    from pipelines import anonymize, console, validate
    from transforms.services import validation

    started = time.monotonic()
    with _logged(argv) as keep_log:
        try:
            result = anonymize.run(argv, notify=_say, watch=console.ProgressLine().watching)
        except ValueError as err:
            print(f"veil: {err}", file=sys.stderr)
            return 2
        s = result.settings
        keep_log(s.output, s.run_id)
    summary, quarantined = summarize(s.output, s.run_id, time.monotonic() - started, result.warnings)
    print(summary)
    print(validate.describe(result.outcomes, s.output, s.run_id))
    print(f"  run report: {result.report}")
    if validation.critical_failures(result.outcomes):
        return EXIT_INVALID
    return EXIT_QUARANTINED if quarantined else 0


HELP = ("-h", "--help")
HELP_RUNNER = "--help-runner"


def _help(args: list[str]) -> str | None:
    """The --help text of the command ``args`` name, when asked for; None when not asked or not a command."""
    if HELP_RUNNER in args and args[:1] in (["anonymize"], ["retention"]):
        from pipelines import options

        return options.runner_help(args[0])
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
    except BrokenPipeError:
        # The reader (head, less) went away: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as stop:
        # The job's work folder is already removed (pipelines/launch.py); a quiet console handed over the terminal
        # (standard error stays on the log while the workers die).
        log = getattr(stop, "log", None)
        where = f" (the workers' log: {log})" if log and os.path.exists(log) else ""
        with os.fdopen(os.dup(getattr(stop, "terminal", 2)), "w") as terminal:
            print(f"veil: interrupted; nothing half-written was published{where}", file=terminal)
        return EXIT_INTERRUPTED


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
            result = validate.run(args[1:])
        except ValueError as err:
            print(f"veil: {err}", file=sys.stderr)
            return 2
        print(validate.describe(result.outcomes, result.output, result.run_id))
        print(f"  run report: {result.report}" if result.report else f"  no run report: {result.why}")
        return EXIT_INVALID if validation.critical_failures(result.outcomes) else 0
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
