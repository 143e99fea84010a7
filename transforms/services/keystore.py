"""Per-account data keys for restricted copies; destroying an account's keys crypto-shreds its copies."""

from __future__ import annotations

import base64
import datetime
import json
import os
import uuid
from typing import Protocol

from apache_beam.io.filesystems import FileSystems
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from transforms.services import storage


class KeyStore(Protocol):
    """Where the data keys of restricted copies live, by key id, each owned by one account."""

    def key_for(self, account_id: str) -> tuple[str, bytes]:
        """The account's current key id and key, created when it has none."""

    def lookup(self, key_id: str) -> bytes:
        """The key with this id; KeyError when it does not exist or was destroyed."""

    def destroy(self, account_id: str) -> list[str]:
        """Remove every key of the account; returns the ids destroyed."""

    def accounts(self) -> set[str]:
        """The accounts that hold at least one key."""


class LocalKeyStore:
    """Keys in one JSON file at a URI: {key_id: {"account", "key" (base64), "created_at"}}.

    The file holds every key in the clear: in production keep it off the storage that holds the sealed data
    (else whoever can read the data can read the keys), in a directory only Veil can read. A KMS-backed store
    implements the same KeyStore protocol and is chosen in open_keystore.

    Writers on a local path serialise on an fcntl lock on ``<path>.lock``. A remote URI has no lock: keys must
    be created by one process, which the pipeline does up front in the launching process.
    """

    def __init__(self, uri: str):
        self.uri = uri

    def key_for(self, account_id: str) -> tuple[str, bytes]:
        if not account_id:
            raise ValueError("account_id must not be empty")
        found = self._current(self._read(), account_id)
        if found:
            return found
        with self._locked():
            # Re-read under the lock: another process may have created the key since the first read.
            entries = self._read()
            found = self._current(entries, account_id)
            if found:
                return found
            key_id, key = uuid.uuid4().hex, AESGCM.generate_key(bit_length=256)
            entries[key_id] = {
                "account": account_id,
                "key": base64.b64encode(key).decode(),
                "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
            }
            self._write(entries)
            return key_id, key

    def lookup(self, key_id: str) -> bytes:
        return base64.b64decode(self._read()[key_id]["key"])

    def destroy(self, account_id: str) -> list[str]:
        with self._locked():
            entries = self._read()
            doomed = sorted(k for k, e in entries.items() if e["account"] == account_id)
            if doomed:
                self._write({k: e for k, e in entries.items() if k not in doomed})
            return doomed

    def accounts(self) -> set[str]:
        return {e["account"] for e in self._read().values()}

    @staticmethod
    def _current(entries: dict, account_id: str) -> tuple[str, bytes] | None:
        """The account's newest key: one account has one key today, but destroy already allows for rotation."""
        mine = [(e["created_at"], k) for k, e in entries.items() if e["account"] == account_id]
        if not mine:
            return None
        key_id = max(mine)[1]
        return key_id, base64.b64decode(entries[key_id]["key"])

    def _read(self) -> dict:
        path = storage.local_path(self.uri)  # Beam's FileSystems does not serve file:// URIs.
        if not FileSystems.exists(path):
            return {}
        with FileSystems.open(path) as handle:
            return json.loads(handle.read())

    def _write(self, entries: dict) -> None:
        storage.publish_bytes(json.dumps(entries, indent=1, sort_keys=True).encode(), self.uri)
        if storage.is_local(self.uri):
            # publish_bytes leaves the file with the umask's mode; the keys are for Veil's user only.
            os.chmod(storage.local_path(self.uri), 0o600)

    def _locked(self):
        return storage.locked(self.uri)


SUBJECT_SECRET = "veil:subject-token-secret"
"""The key store entry whose key is the HMAC secret of subject tokens: no account, never destroyed."""


def subject_secret(store: KeyStore) -> bytes:
    """The secret that turns account ids into non-reversible tokens (created with the store's first keys)."""
    return store.key_for(SUBJECT_SECRET)[1]


def open_keystore(uri: str) -> KeyStore:
    """The key store at ``uri``: a key file on a local path or Beam filesystem; KMS stores plug in here later."""
    if not storage.is_local(uri):
        try:
            FileSystems.get_filesystem(uri)
        except (ValueError, OSError):
            scheme = uri.split("://", 1)[0]
            raise ValueError(
                f"no key store for {scheme}:// URIs: a key store is a key file on a local path or a "
                "Beam filesystem (gs://, s3://, with its extra installed); KMS-backed key stores "
                "are not implemented yet"
            ) from None
    return LocalKeyStore(uri)
