"""Verify an output root's retention ledger: its hash chain, and its head against the one anchored beside the key store.

The chain shows any entry edited, removed, reordered or inserted; the anchor (ledger-anchor.json beside the key
store, kept apart from OUTPUT in production) shows entries cut off its end, a whole newest file included. An output
root without a ledger proves nothing, so it is refused rather than called intact.

Run:  veil ledger verify OUTPUT [--keystore URI]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines.cli import EXIT_INVALID, EXIT_USAGE
from pipelines.options import CommandParser
from transforms.logic.ledger import from_lines, head
from transforms.services import layout, storage
from transforms.services.ledger_store import check_ledger


def parser() -> CommandParser:
    """The command line of ``veil ledger verify``."""
    parser = CommandParser(prog="veil ledger verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("output", metavar="OUTPUT", help="the output root whose ledger to verify")
    parser.add_argument(
        "--keystore",
        metavar="URI",
        help="the key store its retention runs use, beside which the "
        "ledger's head is anchored (default: OUTPUT/keys/keystore.json)",
    )
    return parser


def run(argv: Sequence[str]) -> int:
    """Parse OUTPUT [--keystore URI], verify, and print the verdict; returns the exit status."""
    args = parser().parse_args(argv)
    output = storage.absolute(args.output)
    if not storage.exists(output):
        print(f"veil ledger: OUTPUT {output} does not exist", file=sys.stderr)
        return EXIT_USAGE
    found = check_ledger(output, args.keystore or layout.default_keystore(output))
    if not found.files and not found.problems:
        # No anchor for the root either (or only the empty chain's): there is nothing to call intact.
        print(f"veil ledger: no ledger under OUTPUT {output}: no retention run has written one", file=sys.stderr)
        return EXIT_USAGE
    for problem in found.problems:
        print(f"veil ledger: {problem}", file=sys.stderr)
    if found.problems:
        print(f"ledger BROKEN: {len(found.problems)} problem(s)")
        return EXIT_INVALID
    entries = sum(len(from_lines(data, name)) for name, data in found.files)
    newest = head(found.files)
    behind = (
        ""
        if newest == found.anchored
        else (
            f" (the anchor still names seq {found.anchored.seq}: a run stopped "
            "before moving it; the next retention run does)"
        )
    )
    print(
        f"ledger intact: {entries} entries in {len(found.files)} files, head seq {newest.seq} anchored in "
        f"{found.anchor}{behind}"
    )
    return 0
