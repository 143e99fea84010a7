"""Paths on any Beam filesystem: atomic publication, local working copies, existence checks."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

from apache_beam.io.filesystems import FileSystems

CHUNK = 1 << 20


def is_local(uri: str) -> bool:
    """True for paths the local filesystem serves (no scheme, or file://)."""
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> str:
    return uri[len("file://") :] if uri.startswith("file://") else uri


def absolute(uri: str) -> str:
    """A local path made absolute against the working directory (file:// dropped: Beam's FileSystems does not
    serve it); an object-store URI as given."""
    return os.path.abspath(local_path(uri)) if is_local(uri) else uri


def check_writable(folder: str) -> None:
    """Create a local output folder and prove it takes a file, before any work; raises ValueError naming the path
    and the OS's reason. An object store is left to its first write: probing it would need a write of its own."""
    if not is_local(folder):
        return
    path = local_path(folder)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"OUTPUT {path} cannot be written: it is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".veil-write-check-"):
            pass
    except OSError as err:
        raise ValueError(f"OUTPUT {path} cannot be written: {err.strerror or err}") from None


def contains(folder: str, path: str) -> bool:
    """True when ``path`` is ``folder`` or lies below it (compared as normalised paths or URIs)."""
    if is_local(folder) != is_local(path):
        return False
    if is_local(folder):
        outer, inner = os.path.abspath(local_path(folder)), os.path.abspath(local_path(path))
        return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)
    outer, inner = folder.rstrip("/"), path.rstrip("/")
    return inner == outer or inner.startswith(outer + "/")


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def publish_file(local_source: str, uri: str) -> None:
    """Copy a local file to ``uri`` atomically: readers see the whole file or none of it."""
    if is_local(uri):
        os.makedirs(os.path.dirname(local_path(uri)) or ".", exist_ok=True)
    temp = f"{uri}.tmp-{uuid.uuid4().hex}"
    if is_local(uri):
        shutil.copyfile(local_source, local_path(temp))
    else:
        with open(local_source, "rb") as src, FileSystems.create(temp) as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    _replace(temp, uri)


def publish_bytes(data: bytes, uri: str) -> None:
    """Write bytes to ``uri`` atomically."""
    with tempfile.NamedTemporaryFile(delete=False) as tmp:
        tmp.write(data)
    try:
        publish_file(tmp.name, uri)
    finally:
        os.unlink(tmp.name)


def _replace(temp: str, uri: str) -> None:
    if is_local(uri):
        os.replace(local_path(temp), local_path(uri))
        return
    if FileSystems.exists(uri):
        FileSystems.delete([uri])
    FileSystems.rename([temp], [uri])


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[str]:
    """A local path holding the content of ``uri``: the path itself when local, else a temporary download."""
    if is_local(uri):
        yield local_path(uri)
        return
    suffix = os.path.splitext(uri)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as tmp, FileSystems.open(uri) as src:
        shutil.copyfileobj(src, tmp, CHUNK)
    try:
        yield tmp.name
    finally:
        os.unlink(tmp.name)


def delete_path(uri: str) -> bool:
    """Delete a file, or a folder (prefix) with everything below it; False when nothing was there."""
    if is_local(uri):
        path = local_path(uri)
        if os.path.isdir(path):
            shutil.rmtree(path)
            return True
        if os.path.lexists(path):
            os.remove(path)
            return True
        return False
    if FileSystems.exists(uri):
        FileSystems.delete([uri])
        return True
    below = [m.path for m in FileSystems.match([uri.rstrip("/") + "/**"])[0].metadata_list]
    if below:
        FileSystems.delete(below)
    return bool(below)


def exists(uri: str) -> bool:
    """Whether anything is at ``uri``: a file, a folder or a broken link locally, an object or a prefix with objects."""
    if is_local(uri):
        return os.path.lexists(local_path(uri))
    return FileSystems.exists(uri) or bool(FileSystems.match([uri.rstrip("/") + "/**"])[0].metadata_list)


def delete_work(work: str) -> None:
    """Remove a run's work folder, and the folder of work folders once no other run uses it."""
    delete_path(work)
    if is_local(work):
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(local_path(work).rstrip("/")))


@contextlib.contextmanager
def locked(uri: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<uri>.lock`` while inside (processes on one machine serialise on it). Object
    stores have no lock: there, the callers' own rule (one writer) must hold."""
    if not is_local(uri):
        yield
        return
    path = local_path(uri)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
