"""Decrypt one restricted copy (a sealed video) to a local file with its account's key from the key store.

Exits 2 with a one-line message when the key was destroyed or is wrong, or the sealed file was tampered with;
no partial plaintext is left behind.

Run:  veil decrypt SEALED_URI DEST_PATH --keystore URI
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines.options import CommandParser
from transforms.logic.sealing import SealError, open_sealed
from transforms.services import storage
from transforms.services.keystore import open_keystore


def parser() -> CommandParser:
    """The command line of ``veil decrypt``."""
    parser = CommandParser(prog="veil decrypt", description=__doc__.split("\n\n")[0])
    parser.add_argument("sealed", metavar="SEALED_URI", help="the restricted copy, on any Beam filesystem")
    parser.add_argument("dest", metavar="DEST_PATH", help="local file to write the plaintext to")
    parser.add_argument("--keystore", required=True, metavar="URI", help="the key store holding the account keys")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse SEALED_URI DEST_PATH --keystore URI and decrypt; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        store = open_keystore(args.keystore)
        with storage.local_copy(args.sealed) as sealed:
            open_sealed(sealed, storage.local_path(args.dest), store.lookup)
    except (SealError, ValueError, OSError) as err:
        print(f"veil decrypt: {args.sealed}: {err}", file=sys.stderr)
        return 2
    print(f"decrypted {args.sealed} to {args.dest}")
    return 0
