"""H.264 encoding of redacted segments, and joining them into one output video per input."""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import tempfile

import apache_beam as beam

from schemas import tables
from schemas.codes import Action, MediaStatus, QuarantineReason
from schemas.elements import EncodedSegment, Failure, MediaPlan, QuarantineRecord
from transforms.logic.sealing import open_sealed, seal_file
from transforms.quarantine import QUARANTINE
from transforms.services import layout, progress, storage
from transforms.services.keystore import KeyStore, open_keystore
from transforms.services.media import join_segments
from transforms.stage import Stage, Step

TRACKS = "face_tracks"
RESTRICTED = "restricted"


class _JoinFn(beam.DoFn):
    """Join one input's encoded parts into its video and sealed copies, and emit its rows."""

    def __init__(
        self, output_root: str, mode: str, settings_hash: str, keep_audio: bool, keystore: str, progress: str | None
    ):
        self._progress = progress
        self._output_root = output_root
        self._mode = mode
        self._settings_hash = settings_hash
        self._keep_audio = keep_audio
        self._keystore_uri = keystore
        self._keystore: KeyStore | None = None
        self._written = beam.metrics.Metrics.counter("veil", "media_anonymized")
        self._sealed = beam.metrics.Metrics.counter("veil", "restricted_copies")

    def setup(self) -> None:
        self._keystore = open_keystore(self._keystore_uri)

    def process(self, keyed):
        _, grouped = keyed
        (plan,) = grouped["plan"]
        media = plan.media
        copies: dict[str | None, list[EncodedSegment]] = {None: [], **{a: [] for a in plan.restricted}}
        failure = plan.tracks.failure
        for part in sorted(grouped["parts"], key=lambda p: p.segment.index):
            failure = failure or part.failure
            copies.setdefault(part.account_id, []).append(part)
        expected = len(plan.tracks.segments)
        if failure is None and any(len(parts) != expected for parts in copies.values()):
            counts = ", ".join(f"{len(parts)} of {expected}" for parts in copies.values())
            failure = Failure(QuarantineReason.PROCESSING_ERROR, f"segments encoded per copy: {counts}")
        if failure is not None:
            yield beam.pvalue.TaggedOutput(
                QUARANTINE,
                QuarantineRecord(
                    media.source.origin_uri,
                    failure.reason,
                    failure.message,
                    media.media_id,
                    media.source.single_file,
                    media.camera_id,
                ),
            )
            return
        kept = [(t, d) for t, d in zip(plan.tracks.tracks, plan.decisions) if d.action is Action.KEEP]
        # Restricted copies first: an input only counts as done once its public copy exists.
        for account in plan.restricted:
            uri, key_id, frames = self._publish_restricted(plan, account, copies[account])
            self._sealed.inc()
            yield beam.pvalue.TaggedOutput(
                RESTRICTED,
                tables.restricted_row(
                    media.media_id,
                    media.camera_id,
                    account,
                    key_id,
                    uri,
                    frames,
                    sum(d.account_id == account for _, d in kept),
                ),
            )
        uri, frames_out = self._publish_public(plan, [p.uri for p in copies[None] if p.uri])
        self._written.inc()
        progress.note(self._progress, progress.DONE, media.media_id)
        yield tables.media_row(
            plan,
            uri,
            frames_out,
            MediaStatus.ANONYMIZED.value,
            self._mode,
            self._settings_hash,
            sum(len(b) for b in plan.regions.values()),
            sum(d.action is Action.REDACT for d in plan.decisions),
            len(kept),
        )
        for track, decision in zip(plan.tracks.tracks, plan.decisions):
            yield beam.pvalue.TaggedOutput(TRACKS, tables.face_track_row(media.media_id, track, decision))

    def _publish_public(self, plan: MediaPlan, parts: list[str]) -> tuple[str, int]:
        if not parts:
            return "", 0
        uri = output_uri(self._output_root, plan)
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
            local_parts = [stack.enter_context(storage.local_copy(p)) for p in parts]
            joined = os.path.join(workdir, "joined.mp4")
            audio = plan.media.source.uri if self._keep_audio and plan.tracks.stream.has_audio else None
            frames = join_segments(local_parts, joined, plan.tracks.stream.fps, audio)
            storage.publish_file(joined, uri)
        return uri, frames

    def _publish_restricted(self, plan: MediaPlan, account: str, parts: list[EncodedSegment]) -> tuple[str, str, int]:
        """Open an account's sealed parts on local disk only, join them, and seal the result with the same key."""
        key_id, key = self._keystore.key_for(account)
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as workdir:
            local_parts = []
            for n, part in enumerate(p for p in parts if p.uri):
                opened = os.path.join(workdir, f"{n:06d}.mp4")
                open_sealed(stack.enter_context(storage.local_copy(part.uri)), opened, self._keystore.lookup)
                local_parts.append(opened)
            if not local_parts:
                raise ValueError(f"the restricted copy of {plan.media.media_id} has no frames")
            joined, sealed = os.path.join(workdir, "joined.mp4"), os.path.join(workdir, "joined.sealed")
            frames = join_segments(local_parts, joined, plan.tracks.stream.fps, None)
            seal_file(joined, sealed, key, key_id)
            uri = output_uri(self._output_root, plan, layout.RESTRICTED, f".{key_id}.mp4.sealed")
            storage.publish_file(sealed, uri)
        return uri, key_id, frames


def output_uri(root: str, plan: MediaPlan, folder: str = layout.ANONYMIZED, suffix: str = ".mp4") -> str:
    """OUT/<folder>/<camera_id>/<yyyy-mm-dd>/<name>-<id><suffix> for an input."""
    media = plan.media
    camera = media.camera_id or "unknown-camera"
    day = media.start_time.strftime("%Y-%m-%d") if media.start_time else "undated"
    stem = posixpath.splitext(posixpath.basename(media.source.origin_uri.rstrip("/").split("!")[-1]))[0]
    safe_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "input"
    return storage.join(
        layout.media_folder(root, folder),
        re.sub(r"[^A-Za-z0-9._-]+", "_", camera),
        day,
        f"{safe_stem}-{media.media_id[:8]}{suffix}",
    )


def _input_of(element: MediaPlan | EncodedSegment) -> str:
    return element.media.media_id if isinstance(element, MediaPlan) else element.segment.media.media_id


class JoinSegments(Stage):
    """Join each input's encoded segments into one output video, written atomically; emit its table rows.

    Reads ``plans`` and ``parts``; writes ``media`` rows, ``face_tracks`` rows, ``restricted`` rows (one per
    account's sealed copy under OUT/restricted/), and quarantine records for inputs any of whose segments failed
    (nothing of them is written out).
    """

    def __init__(
        self,
        output_root: str,
        mode: str,
        settings_hash: str,
        keep_audio: bool,
        keystore: str,
        progress: str | None = None,
    ):
        super().__init__(
            Step(
                "Join And Publish",
                _JoinFn(output_root, mode, settings_hash, keep_audio, keystore, progress),
                ("plan", "parts"),
                "media",
                (TRACKS, RESTRICTED),
                key=_input_of,
                sources={"plan": "plans"},
            )
        )
