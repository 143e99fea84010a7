"""The ``veil`` command: dispatches to the jobs and prints what a run did."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

EXIT_USAGE = 2
"""Exit status of a command line or set-up Veil refused before starting anything."""
EXIT_QUARANTINED = 3
"""Exit status of a run that finished but quarantined at least one input."""
EXIT_INVALID = 4
"""Exit status of a run whose tables failed a critical expectation."""

USAGE = """usage: veil anonymize INPUT OUTPUT [--cameras FILE --sessions FILE --consents FILE] [--manifest FILE]
                      [--redact blur|pixelate|mask|drop-frame] [--path-template T] [--zone-share F]
                      [--keystore URI] [--detect-every N] [--crf N] [--preset P] [--keep-audio]
                      [--force] [--runner ...any Beam pipeline option]
       veil anonymize --streaming LANDING OUTPUT [--events PREFIX] [--window 60s] [--stop-after 10m]
                      [--settle 5s] [--allowed-lateness 1h] [--pubsub-subscription S] [...anonymize options]
       veil validate OUTPUT [--run RUN_ID] [--keystore URI]
       veil retention OUTPUT [--as-of T] [--events FILE] [--holds FILE] [--calendar FILE] [--dry-run | --plan]
       veil ledger verify OUTPUT [--keystore URI]
       veil decrypt SEALED_URI DEST_PATH --keystore URI   (open a restricted copy)
       veil sample DIR        (write a sample archive with known face boxes and registries)"""


def summarize(output: str, run_id: str) -> tuple[str, int]:
    """A short report of one run, read back from its tables, and the number of quarantined inputs."""
    from transforms import layout
    from transforms.sinks import read_table

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


def _retention(argv: list[str]) -> int:
    """Run the retention job; exit 4 when anything is overdue after it (a deadline was or will be missed)."""
    from pipelines import retention, validate

    try:
        output, run_id, rows, keystore = retention.run(argv)
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    overdue = [r for r in rows if r["overdue"]]
    held = [r for r in rows if r["status"] == "held"]
    refused = [r for r in rows if r["status"] == "refused"]
    planning = any(flag in argv for flag in ("--dry-run", "--dry_run", "--plan"))
    print(
        f"{'plan only, nothing changed' if planning else f'retention run {run_id}'}: "
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
    if planning:
        return EXIT_INVALID if failed else 0
    outcomes = validate.validate(output, run_id, keystore)
    print(validate.describe(outcomes, output, run_id))
    return EXIT_INVALID if failed or validate.critical_failures(outcomes) else 0


def _stream(argv: list[str]) -> int:
    """Run the streaming job until it is stopped; exit 4 when a window failed validation, 3 when anything was
    quarantined."""
    from pipelines import anonymize, report, stream

    try:
        opts, _, _, _ = stream.parse(argv)
        registry, _ = anonymize.load_registries(opts)
        for issue in registry.issues:
            print(f"veil: registry row refused (keeps nothing more): {issue}", file=sys.stderr)
        print(
            f"veil: watching {opts.input}; stop with Ctrl-C (the recording in hand is finished first)", file=sys.stderr
        )
        opts, stream_id, seconds = stream.run(argv)
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    print(stream.summarize(opts.output, stream_id, seconds))
    found = report.stream_report(opts.output, stream_id)
    if any(not (w["validation"] or {}).get("passed") for w in found["windows"]):
        return EXIT_INVALID
    return EXIT_QUARANTINED if found["totals"]["quarantined"] else 0


HELP = ("-h", "--help")


def _help(args: list[str]) -> str | None:
    """The --help text of ``veil anonymize`` (batch or streaming) or ``veil retention``, when asked for."""
    if not any(a in HELP for a in args[1:]):
        return None
    from pipelines import options

    if args[0] == "retention":
        from pipelines import retention

        return options.command_help(
            "retention",
            "veil retention OUTPUT [options] [--dry-run | --plan]",
            retention.__doc__.split("\n\n")[0],
            "--dry-run: print the plan and change nothing (like --plan).\n",
        )
    from pipelines import anonymize, stream

    if stream.is_streaming(args):
        return options.command_help(
            "anonymize --streaming",
            "veil anonymize --streaming LANDING OUTPUT [options]",
            stream.__doc__.split("\n\n")[0],
        )
    return options.command_help(
        "anonymize", "veil anonymize INPUT OUTPUT [options]", anonymize.__doc__.split("\n\n")[0]
    )


def _sample(argv: list[str]) -> int:
    from pipelines import sample
    from pipelines.options import CommandParser

    parser = CommandParser(prog="veil sample", description=sample.__doc__.split("\n\n")[0])
    parser.add_argument(
        "dir",
        metavar="DIR",
        help="folder to write the archive, manifest, registries and ground truth into (created if missing)",
    )
    for name, path in sample.generate(parser.parse_args(argv).dir).items():
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
    if args[:1] in (["anonymize"], ["retention"]) and (text := _help(args)):
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

        try:
            output, run_id, outcomes = validate.run(args[1:])
        except ValueError as err:
            print(f"veil: {err}", file=sys.stderr)
            return 2
        print(validate.describe(outcomes, output, run_id))
        return EXIT_INVALID if validate.critical_failures(outcomes) else 0
    if not args or args[0] != "anonymize":
        if args[:1] in (["-h"], ["--help"]):
            print(USAGE)
            return 0
        print(f"{USAGE}\n\nveil: {f'unknown command {args[0]!r}' if args else 'no command given'}", file=sys.stderr)
        return EXIT_USAGE
    from pipelines import anonymize, report, stream, validate

    if stream.is_streaming(args[1:]):
        return _stream(args[1:])
    try:
        opts, _ = anonymize.parse(args[1:])
        registry, _ = anonymize.load_registries(opts)
        for issue in registry.issues:
            print(f"veil: registry row refused (keeps nothing more): {issue}", file=sys.stderr)
        run_id = anonymize.run(args[1:])
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    summary, quarantined = summarize(opts.output, run_id)
    print(summary)
    outcomes = validate.validate(opts.output, run_id, anonymize.keystore_uri(opts))
    print(validate.describe(outcomes, opts.output, run_id))
    _, page = report.write_report(
        opts.output, run_id, report.build_report(opts.output, run_id, registry, anonymize.measures(opts))
    )
    print(f"  run report: {page}")
    if validate.critical_failures(outcomes):
        return EXIT_INVALID
    return EXIT_QUARANTINED if quarantined else 0


if __name__ == "__main__":
    sys.exit(main())
