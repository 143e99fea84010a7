"""Restricted copies: streaming sealing, tamper detection, the key store and crypto-shredding."""

from __future__ import annotations

import multiprocessing
import os
import struct

import pytest

from pipelines import decrypt
from transforms.logic.sealing import MAGIC, SealError, open_sealed, seal_file, sealed_key_id
from transforms.services.keystore import LocalKeyStore, open_keystore

CHUNK = 64
KEY = bytes(range(32))
KEY_ID = "k1"
HEADER = len(MAGIC) + 2 + len(KEY_ID) + 8
FRAME = 4 + CHUNK + 16


def seal(tmp_path, data: bytes) -> str:
    plain, sealed = tmp_path / "plain.bin", tmp_path / "sealed.bin"
    plain.write_bytes(data)
    seal_file(str(plain), str(sealed), KEY, KEY_ID, chunk_size=CHUNK)
    return str(sealed)


def lookup(key_id: str) -> bytes:
    return {KEY_ID: KEY}[key_id]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, CHUNK * 7 // 2])
def test_round_trip(tmp_path, size):
    data = os.urandom(size)
    sealed = seal(tmp_path, data)
    assert sealed_key_id(sealed) == KEY_ID
    open_sealed(sealed, str(tmp_path / "out.bin"), lookup)
    assert (tmp_path / "out.bin").read_bytes() == data


def test_sealing_twice_gives_different_ciphertexts(tmp_path):
    first = open(seal(tmp_path, b"same"), "rb").read()
    assert first != open(seal(tmp_path, b"same"), "rb").read()


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]


def frames(data: bytes) -> list[bytes]:
    """A sealed file's chunk frames (length + ciphertext), for the reorder and removal attacks."""
    out, at = [], HEADER
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        out.append(data[at : at + 4 + length])
        at += 4 + length
    return out


TAMPERINGS = {
    "ciphertext byte": lambda d: flip(d, HEADER + 4 + 5),
    "tag byte": lambda d: flip(d, HEADER + FRAME - 1),
    "key id": lambda d: flip(d, len(MAGIC) + 2),
    "nonce prefix": lambda d: flip(d, HEADER - 1),
    "magic": lambda d: flip(d, 0),
    "chunk length": lambda d: flip(d, HEADER + 3),
    "truncated mid-chunk": lambda d: d[:-7],
    "truncated at chunk boundary": lambda d: d[: HEADER + 2 * FRAME],
    "truncated to header": lambda d: d[:HEADER],
    "chunks reordered": lambda d: d[:HEADER] + b"".join([frames(d)[1], frames(d)[0], *frames(d)[2:]]),
    "chunk removed": lambda d: d[:HEADER] + b"".join([frames(d)[0], *frames(d)[2:]]),
    "chunk appended": lambda d: d + frames(d)[1],
    "final chunk duplicated": lambda d: d + frames(d)[-1],
}


@pytest.mark.parametrize("kind", TAMPERINGS)
def test_tampering_is_detected_and_leaves_no_plaintext(tmp_path, kind):
    sealed = seal(tmp_path, os.urandom(CHUNK * 7 // 2))
    with open(sealed, "rb") as f:
        data = f.read()
    with open(sealed, "wb") as f:
        f.write(TAMPERINGS[kind](data))
    with pytest.raises(SealError):
        open_sealed(sealed, str(tmp_path / "out.bin"), lookup)
    assert sorted(os.listdir(tmp_path)) == ["plain.bin", "sealed.bin"]


def test_wrong_key_fails(tmp_path):
    sealed = seal(tmp_path, b"secret face")
    with pytest.raises(SealError, match="does not authenticate"):
        open_sealed(sealed, str(tmp_path / "out.bin"), lambda key_id: bytes(32))
    assert not (tmp_path / "out.bin").exists()


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


def test_decrypt_command(tmp_path, capsys):
    keystore = str(tmp_path / "keys.json")
    store = LocalKeyStore(keystore)
    key_id, key = store.key_for("alice")
    plain, sealed, out = tmp_path / "plain.bin", str(tmp_path / "sealed.bin"), tmp_path / "out.bin"
    plain.write_bytes(b"alice's face")
    seal_file(str(plain), sealed, key, key_id)
    assert decrypt.run([sealed, str(out), "--keystore", keystore]) == 0
    assert out.read_bytes() == b"alice's face"
    out.unlink()
    store.destroy("alice")
    capsys.readouterr()
    assert decrypt.run([sealed, str(out), "--keystore", keystore]) == 2
    err = capsys.readouterr().err
    assert f"key {key_id} is not in the key store (destroyed?)" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
