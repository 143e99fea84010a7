"""JoinSegments in a TestPipeline: each input's encoded parts become its public video and one sealed restricted copy
per account, with their table rows; an input with a failed or missing part is quarantined and nothing of it is
written."""

import datetime as dt
import glob
import os
from fractions import Fraction

import apache_beam as beam
import av
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import Action, IdentitySource, QuarantineReason, ReasonCode
from schemas.elements import (
    Decision,
    Detection,
    EncodedSegment,
    Failure,
    MediaInfo,
    MediaPlan,
    MediaSource,
    MediaTracks,
    Track,
)
from transforms.encoding import JoinSegments
from transforms.logic.identity import media_id
from transforms.logic.sealing import open_sealed, seal_file
from transforms.services.keystore import LocalKeyStore
from transforms.services.media import EncoderConfig, SegmentEncoder, decode, split

ACCOUNT = "acct-1"
BOX = (10.0, 10.0, 20.0, 20.0)


def _plan(clip: str, name: str) -> MediaPlan:
    """Two segments of 20 frames; a redacted track and one kept for ACCOUNT."""
    uri = f"/in/cam-7/{name}.mp4"
    media = MediaInfo(
        MediaSource(uri, clip, "video"),
        media_id(uri),
        "sha",
        "cam-7",
        dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC),
        IdentitySource.MANIFEST,
    )
    segments = tuple(split(media, Fraction(10), 20))
    tracks = (Track(0, (Detection(0, BOX, 0.9),)), Track(1, (Detection(30, BOX, 0.9),)))
    decisions = (
        Decision(0, Action.REDACT, ReasonCode.NO_SERVICE_LINK),
        Decision(1, Action.KEEP, ReasonCode.CONSENTED_SERVICE_SUBJECT, 1.0, "s-1", "c-1", ACCOUNT),
    )
    regions = {0: (BOX,), 30: (BOX,)}
    return MediaPlan(
        MediaTracks(media, segments[0].stream, segments, tracks), decisions, regions, {ACCOUNT: {0: (BOX,)}}
    )


def _part(segment, folder, store: LocalKeyStore | None = None, failure: Failure | None = None) -> EncodedSegment:
    """A segment's frames encoded as the redaction stage leaves them; sealed with ACCOUNT's key when ``store``."""
    path = os.path.join(folder, f"{segment.media.media_id}-{segment.index}-{'r' if store else 'p'}.mp4")
    encoder = SegmentEncoder(path, segment.stream.width, segment.stream.height, segment.stream.fps, EncoderConfig())
    for _, frame in decode(segment):
        encoder.write(frame)
    encoder.close()
    if store is None:
        return EncodedSegment(segment, path, encoder.frames, failure)
    key_id, key = store.key_for(ACCOUNT)
    seal_file(path, path + ".sealed", key, key_id)
    return EncodedSegment(segment, path + ".sealed", encoder.frames, failure, ACCOUNT)


def _frames(path: str) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def test_join_segments_publishes_the_video_and_a_sealed_copy_per_account_with_their_rows(clip, tmp_path, beam_options):
    keystore = str(tmp_path / "keys.json")
    store = LocalKeyStore(keystore)
    plan = _plan(clip, "080000")
    parts = [_part(s, str(tmp_path), store if copy else None) for s in plan.tracks.segments for copy in (0, 1)]
    output = str(tmp_path / "out")
    with TestPipeline(options=beam_options) as p:
        out = {"plans": p | "Plans" >> beam.Create([plan]), "parts": p | "Parts" >> beam.Create(parts)} | JoinSegments(
            output, "blur", "settings-1", False, keystore
        )
        assert_that(
            out["media"]
            | "Media"
            >> beam.Map(
                lambda r: (
                    r["input_uri"],
                    os.path.relpath(r["output_uri"], output),
                    r["frames_out"],
                    r["faces_redacted"],
                    r["tracks_redacted"],
                    r["tracks_kept"],
                    r["redaction_mode"],
                    r["settings_hash"],
                )
            ),
            equal_to(
                [
                    (
                        "/in/cam-7/080000.mp4",
                        f"anonymized/cam-7/2026-11-20/080000-{plan.media.media_id[:8]}.mp4",
                        40,
                        2,
                        1,
                        1,
                        "blur",
                        "settings-1",
                    )
                ]
            ),
            label="Media",
        )
        assert_that(
            out["face_tracks"] | "Tracks" >> beam.Map(lambda t: (t["track_id"], t["action"], t["account_id"])),
            equal_to([(0, "redact", None), (1, "keep", ACCOUNT)]),
            label="Tracks",
        )
        assert_that(
            out["restricted"] | "Restricted" >> beam.Map(lambda r: (r["account_id"], r["frames"], r["tracks_kept"])),
            equal_to([(ACCOUNT, 40, 1)]),
            label="Restricted",
        )
        assert_that(out["quarantine"], equal_to([]), label="Nothing refused")
    (video,) = glob.glob(os.path.join(output, "anonymized", "cam-7", "2026-11-20", "080000-*.mp4"))
    assert _frames(video) == 40
    key_id = store.key_for(ACCOUNT)[0]
    (sealed,) = glob.glob(os.path.join(output, "restricted", "cam-7", "2026-11-20", f"080000-*.{key_id}.mp4.sealed"))
    open_sealed(sealed, str(tmp_path / "opened.mp4"), store.lookup)
    assert _frames(str(tmp_path / "opened.mp4")) == 40


def test_an_input_with_a_failed_or_missing_part_is_quarantined_and_nothing_of_it_is_written(
    clip, tmp_path, beam_options
):
    keystore = str(tmp_path / "keys.json")
    store = LocalKeyStore(keystore)
    failed, missing = _plan(clip, "090000"), _plan(clip, "100000")
    cut = Failure(QuarantineReason.TRUNCATED_MEDIA, "cut short")
    parts = [
        _part(failed.tracks.segments[0], str(tmp_path)),
        _part(failed.tracks.segments[1], str(tmp_path), failure=cut),
        *[_part(s, str(tmp_path), store) for s in failed.tracks.segments],
        # The public copy of the second segment never arrived.
        *[_part(s, str(tmp_path), store) for s in missing.tracks.segments],
        _part(missing.tracks.segments[0], str(tmp_path)),
    ]
    output = str(tmp_path / "out")
    with TestPipeline(options=beam_options) as p:
        out = {
            "plans": p | "Plans" >> beam.Create([failed, missing]),
            "parts": p | "Parts" >> beam.Create(parts),
        } | JoinSegments(output, "blur", "settings-1", False, keystore)
        assert_that(
            out["quarantine"] | beam.Map(lambda q: (q.input_uri, q.reason, q.message, q.media_id, q.camera_id)),
            equal_to(
                [
                    (
                        "/in/cam-7/090000.mp4",
                        QuarantineReason.TRUNCATED_MEDIA,
                        "cut short",
                        failed.media.media_id,
                        "cam-7",
                    ),
                    (
                        "/in/cam-7/100000.mp4",
                        QuarantineReason.PROCESSING_ERROR,
                        "segments encoded per copy: 1 of 2, 2 of 2",
                        missing.media.media_id,
                        "cam-7",
                    ),
                ]
            ),
            label="Quarantined",
        )
        for stream in ("media", "face_tracks", "restricted"):
            assert_that(out[stream], equal_to([]), label=f"No {stream}")
    assert not os.path.exists(output) or not glob.glob(os.path.join(output, "**", "*.mp4*"), recursive=True)
