"""Expand an input spec (file, folder, glob, tar/zip archive) into media inputs, and identify each one."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas.codes import IdentitySource, QuarantineReason
from schemas.elements import InputRefused, MediaInfo, MediaSource, QuarantineRecord
from transforms.logic import archive
from transforms.logic.identity import Identity, lookup_manifest, match_template, media_id, parse_time
from transforms.quarantine import QUARANTINE
from transforms.services import progress, storage
from transforms.services.media import container_start_time
from transforms.stage import Stage, Step

SKIPPED = "skipped"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".gif", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class InputNotFound(ValueError):
    """The input spec names nothing that exists."""


def list_input(spec: str) -> list[str]:
    """Every file an input spec names: a file, a folder (recursively), a prefix ending in '/', or a glob."""
    if re.search(r"[*?\[]", spec):
        pattern = spec
    elif storage.is_local(spec) and os.path.isdir(storage.local_path(spec)):
        pattern = storage.join(spec, "**")
    elif not storage.is_local(spec) and spec.endswith("/"):
        pattern = spec + "**"
    else:
        pattern = spec
    found = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    if not found:
        raise InputNotFound(f"input {spec!r} matches no file")
    return found


def group_sources(paths: Iterable[tuple[str, str]]) -> tuple[list[MediaSource], list[str], list[tuple[str, str]]]:
    """Sort (origin, uri) pairs into media sources, archives and unsupported files.

    Still frames are grouped by folder: one folder is one stream, ordered by file name.
    """
    sources: list[MediaSource] = []
    archives: list[str] = []
    unsupported: list[tuple[str, str]] = []
    frames: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for origin, uri in paths:
        lower = uri.lower()
        if lower.endswith(VIDEO_SUFFIXES):
            sources.append(MediaSource(origin_uri=origin, uri=uri, kind="video"))
        elif lower.endswith(IMAGE_SUFFIXES):
            frames[posixpath.dirname(origin)].append((origin, uri))
        elif archive.is_archive(lower):
            archives.append(uri)
        else:
            unsupported.append((origin, uri))
    for folder, members in sorted(frames.items()):
        members.sort()
        sources.append(
            MediaSource(
                origin_uri=folder + "/",
                uri=posixpath.dirname(members[0][1]),
                kind="frames",
                frame_uris=tuple(uri for _, uri in members),
            )
        )
    return sources, archives, unsupported


def _unsupported(
    origin: str, uri: str, what: str = "not a video (mp4, avi, mkv, mov, gif), a JPEG/PNG frame or a tar/zip archive"
) -> QuarantineRecord:
    return QuarantineRecord(origin, QuarantineReason.UNSUPPORTED_FILE, what, source_uri=uri)


class _ListFilesFn(beam.DoFn):
    """The files an input spec names: sources, archives to expand, and unsupported files."""

    def process(self, spec: str):
        sources, archives, unsupported = group_sources((p, p) for p in list_input(spec))
        yield from sources
        for uri in archives:
            yield beam.pvalue.TaggedOutput("archives", uri)
        for origin, uri in unsupported:
            yield beam.pvalue.TaggedOutput(QUARANTINE, _unsupported(origin, uri))


def staging_folder(staging_root: str, archive_uri: str) -> str:
    """Where an archive's members are staged for the workers."""
    return storage.join(staging_root, hashlib.sha256(archive_uri.encode()).hexdigest()[:16])


class _ExpandArchiveFn(beam.DoFn):
    """Expand one archive into staged sources, refusing unsafe or oversized members."""

    def __init__(self, staging_root: str, limits: archive.ArchiveLimits):
        self._staging_root = staging_root
        self._limits = limits
        self._archives = beam.metrics.Metrics.counter("veil", "archives_expanded")

    def process(self, uri: str):
        staging = staging_folder(self._staging_root, uri)
        with storage.local_copy(uri) as path, tempfile.TemporaryDirectory() as workdir:
            try:
                members = archive.expand(path, workdir, self._limits)
            except InputRefused as err:
                yield beam.pvalue.TaggedOutput(QUARANTINE, QuarantineRecord(uri, err.reason, str(err), source_uri=uri))
                return
            staged = []
            for member in members:
                origin = f"{uri}!{member.name}"
                if member.refused:
                    reason, message = member.refused
                    yield beam.pvalue.TaggedOutput(QUARANTINE, QuarantineRecord(origin, reason, message))
                    continue
                target = storage.join(staging, *member.name.split("/"))
                storage.publish_file(member.path, target)
                staged.append((origin, target))
        self._archives.inc()
        sources, nested, unsupported = group_sources(staged)
        yield from sources
        for origin, uri in unsupported:
            yield beam.pvalue.TaggedOutput(QUARANTINE, _unsupported(origin, uri))
        for origin, uri in staged:
            if uri in nested:
                yield beam.pvalue.TaggedOutput(
                    QUARANTINE,
                    _unsupported(
                        origin, uri, "an archive inside an archive: expand the outer one and pass the inner one itself"
                    ),
                )


class ExpandInputs(Stage):
    """List the files an input spec names and expand archives safely into media sources.

    Reads the ``spec`` stream; writes ``sources`` (MediaSource elements), and to QUARANTINE unsupported files,
    unsafe archive entries and archives that are corrupt or expand beyond the limits. Archive members are staged
    under ``staging_root`` so every worker can read them; archives are spread over workers to be expanded.
    """

    def __init__(self, staging_root: str, limits: archive.ArchiveLimits):
        super().__init__(
            Step("List Files", _ListFilesFn(), ("spec",), "sources", ("archives",)),
            Step("Expand Archives", _ExpandArchiveFn(staging_root, limits), ("archives",), "sources", spread=True),
        )


def content_hash(source: MediaSource) -> str:
    """SHA-256 of an input's bytes (for a frame folder: of its file names and bytes, in order)."""
    digest = hashlib.sha256()
    for uri in source.frame_uris or (source.uri,):
        if source.frame_uris:
            digest.update(posixpath.basename(uri).encode() + b"\0")
        with FileSystems.open(uri) as handle:
            while chunk := handle.read(storage.CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def identify(
    source: MediaSource, manifest: Mapping[str, Identity], template: re.Pattern[str] | None
) -> tuple[str | None, object | None, IdentitySource]:
    """Camera and start time of an input: manifest row, else path template, else container tags, else unknown."""
    row = lookup_manifest(manifest, source.origin_uri)
    if row is not None:
        return row[0], row[1], IdentitySource.MANIFEST
    if template is not None:
        found = match_template(template, source.origin_uri)
        if found is not None and found[0]:
            return found[0], found[1], IdentitySource.PATH_TEMPLATE
    if source.kind == "video":
        tag = container_start_time(source.uri)
        if tag:
            try:
                return None, parse_time(tag), IdentitySource.CONTAINER
            except ValueError:
                pass
    return None, None, IdentitySource.UNKNOWN


class _IdentifyFn(beam.DoFn):
    """Hash one source and find its camera and start time, or skip it as done before."""

    def __init__(self, manifest, template, done: frozenset, settings_hash: str, progress: str | None):
        self._manifest = manifest
        self._template = template
        self._done = done
        self._settings_hash = settings_hash
        self._progress = progress
        self._unknown = beam.metrics.Metrics.counter("veil", "inputs_unknown_camera")

    def process(self, source: MediaSource):
        progress.note(self._progress, progress.FOUND, media_id(source.origin_uri))
        try:
            sha = content_hash(source)
        except OSError as err:
            yield beam.pvalue.TaggedOutput(
                QUARANTINE,
                QuarantineRecord(
                    source.origin_uri,
                    QuarantineReason.UNREADABLE_FRAMES if source.frame_uris else QuarantineReason.CORRUPT_MEDIA,
                    f"cannot read input: {err}",
                    media_id(source.origin_uri),
                    source.single_file,
                ),
            )
            return
        if (source.origin_uri, sha, self._settings_hash) in self._done:
            progress.note(self._progress, progress.DONE, media_id(source.origin_uri))
            yield beam.pvalue.TaggedOutput(SKIPPED, source.origin_uri)
            return
        if not source.frame_uris and FileSystems.match([source.uri])[0].metadata_list[0].size_in_bytes == 0:
            yield beam.pvalue.TaggedOutput(
                QUARANTINE,
                QuarantineRecord(
                    source.origin_uri,
                    QuarantineReason.EMPTY_FILE,
                    "file is empty (0 bytes)",
                    media_id(source.origin_uri),
                    source.single_file,
                ),
            )
            return
        camera, start, how = identify(source, self._manifest, self._template)
        if camera is None:
            self._unknown.inc()
        yield MediaInfo(
            source=source,
            media_id=media_id(source.origin_uri),
            sha256=sha,
            camera_id=camera,
            start_time=start,
            identity_source=how,
        )


class IdentifyMedia(Stage):
    """Hash each input and find its camera and start time; inputs already done with the same settings are skipped.

    Reads ``sources`` (spread over workers: hashing many files is worth it); writes ``identified`` (MediaInfo), and
    SKIPPED the inputs in ``done``: (input_uri, sha256, settings_hash) of inputs earlier runs anonymized.
    """

    def __init__(
        self,
        manifest: Mapping[str, Identity],
        template: re.Pattern[str] | None,
        done: frozenset,
        settings_hash: str,
        progress: str | None = None,
    ):
        super().__init__(
            Step(
                "Hash And Identify",
                _IdentifyFn(dict(manifest), template, done, settings_hash, progress),
                ("sources",),
                "identified",
                (SKIPPED,),
                spread=True,
            )
        )
