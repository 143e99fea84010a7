"""Safe expansion of tar and zip archives: no path escapes, no links, bounded size."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator

from schemas.codes import QuarantineReason
from schemas.elements import InputRefused
from schemas.options import config_default

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


@dataclasses.dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may expand to before it is refused as a bomb."""

    max_total_bytes: int = config_default("limits", "max_total_bytes")
    max_members: int = 100_000

    def __post_init__(self) -> None:
        if self.max_total_bytes <= 0 or self.max_members <= 0:
            raise ValueError("archive limits must be positive")


@dataclasses.dataclass(frozen=True)
class Member:
    """One archive entry: its safe relative name, or why it was refused."""

    name: str
    path: str | None = None
    refused: tuple[QuarantineReason, str] | None = None


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_name(name: str) -> str | None:
    """The entry name normalised to a relative POSIX path, or None if it would escape the target folder."""
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        return None
    parts = cleaned.split("/")
    if ".." in parts:
        return None
    normal = posixpath.normpath(cleaned)
    return None if normal in (".", "") or normal.startswith("..") else normal


def expand(archive_path: str, target_dir: str, limits: ArchiveLimits) -> list[Member]:
    """Extract every safe regular file of an archive below ``target_dir``; refuse unsafe entries one by one.

    Raises InputRefused when the archive cannot be read or would expand beyond the limits (declared
    or actual sizes); nothing extracted is left behind then.
    """
    opener = _zip_entries if archive_path.lower().endswith(".zip") else _tar_entries
    members: list[Member] = []
    total = 0
    try:
        entries = list(opener(archive_path))
        if len(entries) > limits.max_members:
            raise InputRefused(
                QuarantineReason.ARCHIVE_TOO_LARGE, f"{len(entries)} entries exceed the limit of {limits.max_members}"
            )
        declared = sum(size for _, size, _, _ in entries)
        if declared > limits.max_total_bytes:
            raise InputRefused(
                QuarantineReason.ARCHIVE_TOO_LARGE,
                f"declares {declared} bytes expanded, over the limit of {limits.max_total_bytes}",
            )
        for name, _, kind, read in entries:
            if kind == "dir":
                continue
            safe = safe_name(name)
            if safe is None:
                members.append(
                    Member(
                        name,
                        refused=(
                            QuarantineReason.UNSAFE_ARCHIVE_PATH,
                            f"entry path {name!r} escapes the archive folder",
                        ),
                    )
                )
                continue
            if kind != "file":
                members.append(
                    Member(
                        name,
                        refused=(
                            QuarantineReason.UNSAFE_ARCHIVE_PATH,
                            f"entry {name!r} is a {kind}, not a regular file",
                        ),
                    )
                )
                continue
            dest = os.path.join(target_dir, *safe.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with read() as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    total += len(chunk)
                    if total > limits.max_total_bytes:
                        raise InputRefused(
                            QuarantineReason.ARCHIVE_TOO_LARGE,
                            f"expands beyond the limit of {limits.max_total_bytes} bytes",
                        )
                    out.write(chunk)
            members.append(Member(safe, path=dest))
    except InputRefused:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as err:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise InputRefused(QuarantineReason.CORRUPT_ARCHIVE, f"cannot read archive: {err}") from err
    return members


Entry = tuple[str, int, str, Callable]


def _zip_entries(path: str) -> Iterator[Entry]:
    archive = zipfile.ZipFile(path)
    for info in archive.infolist():
        mode = (info.external_attr >> 16) & 0o170000
        kind = "dir" if info.is_dir() else "symlink" if mode == 0o120000 else "file"
        yield info.filename, info.file_size, kind, (lambda info=info: archive.open(info))


def _tar_entries(path: str) -> Iterator[Entry]:
    archive = tarfile.open(path)
    members = archive.getmembers()
    _check_tail(archive)
    for info in members:
        kind = (
            "dir"
            if info.isdir()
            else "file"
            if info.isfile()
            else "symlink"
            if info.issym()
            else "hard link"
            if info.islnk()
            else "special file"
        )
        yield info.name, info.size if info.isfile() else 0, kind, (lambda info=info: archive.extractfile(info))


def _check_tail(archive: tarfile.TarFile) -> None:
    """Refuse a tar whose member list ended early: tarfile stops silently at a damaged header past the first.

    What follows the last member must be zero padding; reading it to the end also makes gzip, bz2 and
    xz verify their checksums.
    """
    archive.fileobj.seek(archive.offset)
    while chunk := archive.fileobj.read(1 << 20):
        if chunk.strip(b"\0"):
            raise tarfile.ReadError(f"damaged member header at offset {archive.offset}: members after it are lost")
