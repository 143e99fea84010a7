"""Restricted copies: streaming sealing and tamper detection (the key store: tests/services/test_keystore.py)."""

from __future__ import annotations

import os
import struct

import pytest

from transforms.logic.sealing import MAGIC, SealError, open_sealed, seal_file, sealed_key_id

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
