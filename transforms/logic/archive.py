"""Safe expansion of tar and zip archives: no path escapes, no links, bounded size."""
from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator

from schemas.codes import QuarantineReason

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


@dataclasses.dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may expand to before it is refused as a bomb."""

    max_total_bytes: int = 20 << 30
    max_members: int = 100_000

    def __post_init__(self) -> None:
        if self.max_total_bytes <= 0 or self.max_members <= 0:
            raise ValueError("archive limits must be positive")


class ArchiveError(Exception):
    """The whole archive is refused: too large, or unreadable."""

    def __init__(self, reason: QuarantineReason, message: str):
        super().__init__(message)
        self.reason = reason


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

    Raises ArchiveError when the archive cannot be read or would expand beyond the limits (declared
    or actual sizes); nothing extracted is left behind then.
    """
    opener = _zip_entries if archive_path.lower().endswith(".zip") else _tar_entries
    members: list[Member] = []
    total = 0
    try:
        entries = list(opener(archive_path))
        if len(entries) > limits.max_members:
            raise ArchiveError(QuarantineReason.ARCHIVE_TOO_LARGE,
                               f"{len(entries)} entries exceed the limit of {limits.max_members}")
        declared = sum(size for _, size, _, _ in entries)
        if declared > limits.max_total_bytes:
            raise ArchiveError(QuarantineReason.ARCHIVE_TOO_LARGE,
                               f"declares {declared} bytes expanded, over the limit of {limits.max_total_bytes}")
        for name, _, kind, read in entries:
            if kind == "dir":
                continue
            safe = safe_name(name)
            if safe is None:
                members.append(Member(name, refused=(QuarantineReason.UNSAFE_ARCHIVE_PATH,
                                                     f"entry path {name!r} escapes the archive folder")))
                continue
            if kind != "file":
                members.append(Member(name, refused=(QuarantineReason.UNSAFE_ARCHIVE_PATH,
                                                     f"entry {name!r} is a {kind}, not a regular file")))
                continue
            dest = os.path.join(target_dir, *safe.split("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with read() as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    total += len(chunk)
                    if total > limits.max_total_bytes:
                        raise ArchiveError(QuarantineReason.ARCHIVE_TOO_LARGE,
                                           f"expands beyond the limit of {limits.max_total_bytes} bytes")
                    out.write(chunk)
            members.append(Member(safe, path=dest))
    except ArchiveError:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as err:
        shutil.rmtree(target_dir, ignore_errors=True)
        raise ArchiveError(QuarantineReason.CORRUPT_ARCHIVE, f"cannot read archive: {err}") from err
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
    for info in archive.getmembers():
        kind = ("dir" if info.isdir() else "file" if info.isfile() else "symlink" if info.issym()
                else "hard link" if info.islnk() else "special file")
        yield info.name, info.size if info.isfile() else 0, kind, (lambda info=info: archive.extractfile(info))
