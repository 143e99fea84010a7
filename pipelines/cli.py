"""The ``veil`` command: dispatches to the jobs and prints what a run did."""
from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

EXIT_QUARANTINED = 3
"""Exit status of a run that finished but quarantined at least one input."""
EXIT_INVALID = 4
"""Exit status of a run whose tables failed a critical expectation."""

USAGE = """usage: veil anonymize INPUT OUTPUT [--cameras FILE --sessions FILE --consents FILE] [--manifest FILE]
                      [--redact blur|pixelate|mask|drop-frame] [--path-template T] [--zone-share F]
                      [--keystore URI] [--min-confidence F] [--crf N] [--preset P] [--keep-audio]
                      [--force] [--runner ...any Beam pipeline option]
       veil anonymize --streaming LANDING OUTPUT [--events PREFIX] [--window 60s] [--stop-after 10m]
                      [--settle 5s] [--allowed-lateness 1h] [--pubsub-subscription S] [...anonymize options]
       veil validate OUTPUT [--run RUN_ID]
       veil retention OUTPUT [--as-of T] [--events FILE] [--holds FILE] [--calendar FILE] [--dry-run | --plan]
       veil ledger verify OUTPUT
       veil decrypt SEALED_URI DEST_PATH --keystore URI   (open a restricted copy)
       veil sample DIR        (write a sample archive with known face boxes and registries)"""


def summarize(output: str, run_id: str) -> tuple[str, int]:
    """A short report of one run, read back from its tables, and the number of quarantined inputs."""
    from transforms import storage
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
        f"  videos: {storage.join(output, 'anonymized')}",
        f"  tables: {storage.join(output, 'tables')}",
    ]
    for r in refused:
        lines.append(f"  quarantined {r['input_uri']}: {r['reason_code']}: {r['message']}")
    if row["tracks_kept"]:
        lines.append(f"  restricted copies (sealed per account): {storage.join(output, 'restricted')}")
    if refused:
        lines.append(f"  quarantine folder: {storage.join(output, 'quarantine', run_id)}")
    return "\n".join(lines), row["quarantined"]


def _retention(argv: list[str]) -> int:
    """Run the retention job; exit 4 when anything is overdue after it (a deadline was or will be missed)."""
    logging.basicConfig(level=logging.ERROR)
    from pipelines import retention, validate

    try:
        output, run_id, rows = retention.run(argv)
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    overdue = [r for r in rows if r["overdue"]]
    held = [r for r in rows if r["status"] == "held"]
    planning = any(flag in argv for flag in ("--dry-run", "--dry_run", "--plan"))
    print(f"{'plan only, nothing changed' if planning else f'retention run {run_id}'}: "
          f"{sum(r['status'] == 'done' for r in rows)} done, {len(held)} held, {len(overdue)} overdue")
    for row in overdue:
        print(f"  OVERDUE {row['action']} {row['kind']} {row['artifact_id']} (due {row['due_at']:%Y-%m-%d}, "
              f"{row['status']}{': ' + row['note'] if row['note'] else ''})")
    if planning:
        return EXIT_INVALID if overdue else 0
    outcomes = validate.validate(output, run_id)
    print(validate.describe(outcomes, output, run_id))
    return EXIT_INVALID if overdue or validate.critical_failures(outcomes) else 0


def _stream(argv: list[str]) -> int:
    """Run the streaming job until it is stopped; exit 4 when a window failed validation, 3 when anything was
    quarantined."""
    from pipelines import anonymize, report, stream

    try:
        opts, _, _, _ = stream.parse(argv)
        registry, _ = anonymize.load_registries(opts)
        for issue in registry.issues:
            print(f"veil: registry row refused (keeps nothing more): {issue}", file=sys.stderr)
        print(f"veil: watching {opts.input}; stop with Ctrl-C (the recording in hand is finished first)",
              file=sys.stderr)
        opts, stream_id, seconds = stream.run(argv)
    except ValueError as err:
        print(f"veil: {err}", file=sys.stderr)
        return 2
    print(stream.summarize(opts.output, stream_id, seconds))
    found = report.stream_report(opts.output, stream_id)
    if any(not (w["validation"] or {}).get("passed") for w in found["windows"]):
        return EXIT_INVALID
    return EXIT_QUARANTINED if found["totals"]["quarantined"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sample"] and len(args) == 2:
        from pipelines import sample

        for name, path in sample.generate(args[1]).items():
            print(f"{name}: {path}")
        return 0
    if args[:1] == ["retention"]:
        return _retention(args[1:])
    if args[:2] == ["ledger", "verify"] and len(args) == 3:
        from transforms.ledger_store import verify_ledger

        problems = verify_ledger(args[2])
        for problem in problems:
            print(f"veil ledger: {problem}", file=sys.stderr)
        print("ledger intact" if not problems else f"ledger BROKEN: {len(problems)} problem(s)")
        return EXIT_INVALID if problems else 0
    if args[:1] == ["decrypt"]:
        from pipelines import decrypt

        return decrypt.run(args[1:])
    if args[:1] == ["validate"]:
        logging.basicConfig(level=logging.ERROR)
        from pipelines import validate

        try:
            output, run_id, outcomes = validate.run(args[1:])
        except ValueError as err:
            print(f"veil: {err}", file=sys.stderr)
            return 2
        print(validate.describe(outcomes, output, run_id))
        return EXIT_INVALID if validate.critical_failures(outcomes) else 0
    if not args or args[0] != "anonymize":
        print(USAGE)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    # Before Beam is imported: its optional-dependency warnings are not for the person at the terminal.
    logging.basicConfig(level=logging.ERROR)
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
    outcomes = validate.validate(opts.output, run_id)
    print(validate.describe(outcomes, opts.output, run_id))
    _, page = report.write_report(opts.output, run_id, report.build_report(opts.output, run_id, registry,
                                                                          anonymize.measures(opts)))
    print(f"  run report: {page}")
    if validate.critical_failures(outcomes):
        return EXIT_INVALID
    return EXIT_QUARANTINED if quarantined else 0


if __name__ == "__main__":
    sys.exit(main())
