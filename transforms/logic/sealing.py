"""Streaming AES-256-GCM encryption of large files ("sealing"), chunk by chunk, with tamper detection.

Layout: MAGIC, key id length (2 bytes BE), key id (UTF-8), nonce prefix (8 random bytes); then chunks, each
[ciphertext length (4 bytes BE)][ciphertext + 16-byte tag].

This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015). One GCM message per chunk keeps
memory bounded, but chunks authenticated alone could be dropped, reordered or cut off; so each chunk's nonce is
prefix + counter, and its associated data is header + counter + final flag: the header binds every chunk to
this file and key id, the counter fixes their order, and the flag on the last chunk makes a file cut at a
chunk boundary fail (an empty file is one empty final chunk). The random prefix keeps nonces distinct across
the files sealed with one account's key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
import tempfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"VEIL-SEAL1"
PREFIX_BYTES = 8
TAG_BYTES = 16
MAX_CHUNK = 64 << 20
"""Largest chunk accepted, so a forged length field cannot make the reader allocate without bound."""
MAX_CHUNKS = 1 << 32


class SealError(Exception):
    """A sealed file cannot be opened: its key is gone or wrong, or the file is damaged or tampered with."""


def seal_file(src_path: str, dst_path: str, key: bytes, key_id: str, chunk_size: int = 1 << 20) -> None:
    """Encrypt ``src_path`` to ``dst_path`` (written atomically) under a 32-byte key named ``key_id``."""
    if len(key) != 32:
        raise ValueError("a sealing key is 32 bytes (AES-256)")
    if not 0 < chunk_size <= MAX_CHUNK:
        raise ValueError(f"chunk_size must be in 1..{MAX_CHUNK}")
    name = key_id.encode()
    if not 0 < len(name) < 1 << 16:
        raise ValueError("key_id must be 1 to 65535 bytes of UTF-8")
    prefix = secrets.token_bytes(PREFIX_BYTES)
    header = MAGIC + struct.pack(">H", len(name)) + name + prefix
    aead = AESGCM(key)
    with open(src_path, "rb") as src, _atomic_output(dst_path) as dst:
        dst.write(header)
        chunk = src.read(chunk_size)
        counter = 0
        while True:
            if counter >= MAX_CHUNKS:
                raise ValueError("file too large for its chunk size: raise chunk_size")
            # Reading one chunk ahead is how the last chunk is known before it is sealed.
            following = src.read(chunk_size)
            sealed = aead.encrypt(prefix + struct.pack(">I", counter), chunk, _aad(header, counter, not following))
            dst.write(struct.pack(">I", len(sealed)) + sealed)
            if not following:
                return
            chunk, counter = following, counter + 1


def open_sealed(src_path: str, dst_path: str, key_lookup: Callable[[str], bytes]) -> None:
    """Decrypt ``src_path`` to ``dst_path``; ``dst_path`` appears only once the whole file has authenticated."""
    with open(src_path, "rb") as src:
        header, key_id, prefix = _read_header(src)
        try:
            key = key_lookup(key_id)
        except KeyError:
            raise SealError(f"key {key_id} is not in the key store (destroyed?)") from None
        if len(key) != 32:
            raise SealError(f"key {key_id} is not a 32-byte AES-256 key")
        aead = AESGCM(key)
        with _atomic_output(dst_path) as dst:
            for counter, (sealed, last) in enumerate(_chunks(src)):
                if counter >= MAX_CHUNKS:
                    raise SealError("sealed file has more chunks than a nonce counter allows")
                try:
                    dst.write(aead.decrypt(prefix + struct.pack(">I", counter), sealed, _aad(header, counter, last)))
                except InvalidTag:
                    raise SealError(
                        f"chunk {counter} does not authenticate: wrong key, or the file was altered, "
                        "reordered or truncated"
                    ) from None


def sealed_key_id(path: str) -> str:
    """The id of the key a sealed file needs, read from its header."""
    with open(path, "rb") as src:
        return _read_header(src)[1]


def _aad(header: bytes, counter: int, last: bool) -> bytes:
    return header + struct.pack(">IB", counter, 1 if last else 0)


def _read_header(src: BinaryIO) -> tuple[bytes, str, bytes]:
    """The header's bytes, key id and nonce prefix."""
    start = _read_exactly(src, len(MAGIC) + 2, "header")
    if start[: len(MAGIC)] != MAGIC:
        raise SealError("not a sealed file (bad magic)")
    (length,) = struct.unpack(">H", start[len(MAGIC) :])
    rest = _read_exactly(src, length + PREFIX_BYTES, "header")
    try:
        key_id = rest[:length].decode()
    except UnicodeDecodeError:
        raise SealError("sealed file header has a key id that is not UTF-8") from None
    return start + rest, key_id, rest[length:]


def _chunks(src: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Each chunk's ciphertext and whether it is the last in the file."""
    current = _read_chunk(src)
    if current is None:
        raise SealError("sealed file has no chunks (truncated)")
    while current is not None:
        following = _read_chunk(src)
        yield current, following is None
        current = following


def _read_chunk(src: BinaryIO) -> bytes | None:
    head = src.read(4)
    if not head:
        return None
    if len(head) < 4:
        raise SealError("sealed file is truncated inside a chunk length")
    (length,) = struct.unpack(">I", head)
    if not TAG_BYTES <= length <= MAX_CHUNK + TAG_BYTES:
        raise SealError(f"sealed file has an impossible chunk length {length}")
    return _read_exactly(src, length, "chunk")


def _read_exactly(src: BinaryIO, size: int, what: str) -> bytes:
    data = src.read(size)
    if len(data) < size:
        raise SealError(f"sealed file is truncated inside a {what}")
    return data


@contextlib.contextmanager
def _atomic_output(path: str) -> Iterator[BinaryIO]:
    """A file that replaces ``path`` on success and vanishes on error, so no partial output is ever visible."""
    fd, temp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".seal-")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
