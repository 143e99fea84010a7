"""The key store of restricted copies: one key per account, kept across processes, and crypto-shredding."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from transforms.logic.sealing import SealError, open_sealed, seal_file
from transforms.services.keystore import LocalKeyStore, open_keystore


def test_key_for_is_idempotent_and_distinct_per_account(tmp_path):
    store = LocalKeyStore(str(tmp_path / "keys.json"))
    key_id, key = store.key_for("alice")
    assert store.key_for("alice") == (key_id, key)
    other_id, other = store.key_for("bob")
    assert other_id != key_id and other != key and len(key) == 32
    assert "alice" not in key_id
    assert store.lookup(key_id) == key
    assert store.accounts() == {"alice", "bob"}


def test_keys_persist_across_instances(tmp_path):
    path = str(tmp_path / "keys.json")
    key_id, key = LocalKeyStore(path).key_for("alice")
    assert LocalKeyStore(path).key_for("alice") == (key_id, key)
    assert open_keystore(path).lookup(key_id) == key
    assert os.stat(path).st_mode & 0o077 == 0


def test_destroy_shreds_the_accounts_copies(tmp_path):
    store = LocalKeyStore(str(tmp_path / "keys.json"))
    key_id, key = store.key_for("alice")
    store.key_for("bob")
    plain, sealed = tmp_path / "plain.bin", str(tmp_path / "sealed.bin")
    plain.write_bytes(b"alice's face")
    seal_file(str(plain), sealed, key, key_id)
    assert store.destroy("alice") == [key_id]
    assert LocalKeyStore(store.uri).accounts() == {"bob"}
    with pytest.raises(KeyError):
        store.lookup(key_id)
    with pytest.raises(SealError, match=f"key {key_id} is not in the key store"):
        open_sealed(sealed, str(tmp_path / "out.bin"), store.lookup)
    assert not (tmp_path / "out.bin").exists()
    assert store.key_for("alice")[0] != key_id


def test_open_keystore_refuses_kms_uris():
    with pytest.raises(ValueError, match="KMS"):
        open_keystore("kms://projects/p/keyRings/veil")


def create_keys(path: str, prefix: str, start) -> None:
    store = LocalKeyStore(path)
    start.wait()  # Without it, the processes' start-up times differ so much that their writes never overlap.
    for i in range(25):
        store.key_for(f"{prefix}{i}")


def test_concurrent_processes_keep_every_key(tmp_path):
    path = str(tmp_path / "keys.json")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=create_keys, args=(path, prefix, start)) for prefix in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    assert LocalKeyStore(path).accounts() == {f"{p}{i}" for p in "ab" for i in range(25)}
