"""RedactFrames in a TestPipeline: each segment of a plan is redacted and encoded, the public copy with every face
destroyed and a sealed restricted copy per account with its own face kept; drop-frame drops exactly the frames with
a face; a segment that cannot be decoded carries its failure; a failed plan has no segments to redact."""

import dataclasses
import os
from fractions import Fraction

import apache_beam as beam
import av
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import Action, IdentitySource, QuarantineReason, ReasonCode, RedactionMode
from schemas.elements import Decision, Detection, Failure, MediaInfo, MediaPlan, MediaSource, MediaTracks, Track
from transforms.logic.audit import AuditConfig
from transforms.logic.sealing import open_sealed
from transforms.redaction import RedactFrames
from transforms.services.keystore import LocalKeyStore
from transforms.services.media import EncoderConfig, split

ACCOUNT = "acct-1"
BOX = (12.0, 12.0, 24.0, 24.0)
CENTRE = (24, 24)
"""The box's centre, row and column."""


def _plan(source: str, regions: dict, restricted: dict | None = None, failure: Failure | None = None) -> MediaPlan:
    """A plan for ``source`` as the 40-frame clip, cut into two segments of 20 frames."""
    media = MediaInfo(
        MediaSource("/in/cam-7/a.mp4", source, "video"), "m-1", "sha", "cam-7", None, IdentitySource.MANIFEST
    )
    segments = tuple(split(media, Fraction(10), 20))
    tracks = (Track(0, (Detection(0, BOX, 0.9),)),)
    decisions = (Decision(0, Action.KEEP, ReasonCode.CONSENTED_SERVICE_SUBJECT, 1.0, "s-1", "c-1", ACCOUNT),)
    return MediaPlan(
        MediaTracks(media, segments[0].stream, segments, tracks, failure), decisions, regions, restricted or {}
    )


def _frames(path: str) -> list:
    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _summary(part) -> tuple:
    """A part's segment, copy (account), frames, and whether it succeeded and was written."""
    return part.segment.index, part.account_id, part.frames_written, part.failure is None, part.uri is not None


EXPECTED = {
    RedactionMode.MASK: [
        (0, None, 20, True, True),
        (1, None, 20, True, True),
        (0, ACCOUNT, 20, True, True),
        (1, ACCOUNT, 20, True, True),
    ],
    RedactionMode.DROP_FRAME: [(0, None, 19, True, True), (1, None, 18, True, True)],
}
"""The parts of the two segments, by mode: (segment, account, frames, succeeded, written)."""

AUDITED = {RedactionMode.MASK: [(f, 1, 0) for f in range(40)], RedactionMode.DROP_FRAME: []}
"""The leak audit rows, by mode: (frame, regions, detections over them); a dropped frame is not audited."""


def _redact(tmp_path, beam_options, plans, mode, keystore) -> None:
    """Run RedactFrames on ``plans``: its parts and leak audit rows are those EXPECTED and AUDITED for ``mode``."""
    with TestPipeline(options=beam_options) as p:
        out = {"plans": p | beam.Create(plans)} | RedactFrames(
            mode, EncoderConfig(), str(tmp_path / "parts"), AuditConfig(rate=1.0), keystore
        )
        assert sorted(out) == ["jobs", "leak_audit", "parts"]
        assert_that(out["parts"] | "Parts" >> beam.Map(_summary), equal_to(EXPECTED[mode]), label="Parts")
        assert_that(
            out["leak_audit"]
            | "Audit" >> beam.Map(lambda r: (r["frame"], r["regions"], r["detections_over_redacted"])),
            equal_to(AUDITED[mode]),
            label="Audit",
        )


def test_the_public_copy_destroys_every_face_and_the_sealed_restricted_copy_keeps_the_accounts(
    clip, tmp_path, beam_options
):
    keystore = str(tmp_path / "keys.json")
    store = LocalKeyStore(keystore)
    plan = _plan(clip, {f: (BOX,) for f in range(40)}, {ACCOUNT: {}})
    _redact(tmp_path, beam_options, [plan], RedactionMode.MASK, keystore)
    key_id = store.key_for(ACCOUNT)[0]
    folder = tmp_path / "parts" / "m-1"
    assert sorted(os.listdir(folder)) == ["000000.mp4", "000001.mp4", key_id]
    assert sorted(os.listdir(folder / key_id)) == ["000000.sealed", "000001.sealed"], "no restricted part in the clear"
    for index in (0, 1):
        public = _frames(str(folder / f"{index:06d}.mp4"))
        open_sealed(str(folder / key_id / f"{index:06d}.sealed"), str(tmp_path / f"opened-{index}.mp4"), store.lookup)
        restricted = _frames(str(tmp_path / f"opened-{index}.mp4"))
        assert len(public) == len(restricted) == 20
        for n, (masked, kept) in enumerate(zip(public, restricted)):
            grey = 6 * (20 * index + n)
            assert masked[CENTRE].max() <= 8, f"frame {20 * index + n}: the face is left in the public copy"
            assert abs(int(kept[CENTRE][0]) - grey) <= 6, f"frame {20 * index + n}: the account's face is not kept"


def test_drop_frame_drops_exactly_the_frames_that_show_a_face(clip, tmp_path, beam_options):
    plan = _plan(clip, {3: (BOX,), 25: (BOX,), 26: (BOX,)})
    _redact(tmp_path, beam_options, [plan], RedactionMode.DROP_FRAME, str(tmp_path / "keys.json"))
    kept = _frames(str(tmp_path / "parts" / "m-1" / "000000.mp4")) + _frames(
        str(tmp_path / "parts" / "m-1" / "000001.mp4")
    )
    shown = [f for f in range(40) if f not in (3, 25, 26)]
    assert [round(int(rgb[CENTRE][0]) / 6) for rgb in kept] == shown


def test_an_undecodable_segment_carries_its_failure_and_a_failed_plan_has_no_segments(clip, tmp_path, beam_options):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    broken = _plan(clip, {0: (BOX,)})
    broken = dataclasses.replace(
        broken,
        tracks=dataclasses.replace(
            broken.tracks,
            segments=tuple(
                dataclasses.replace(
                    s, media=dataclasses.replace(s.media, source=MediaSource("/in/cam-7/a.mp4", str(junk), "video"))
                )
                for s in broken.tracks.segments
            ),
        ),
    )
    failed = _plan(clip, {0: (BOX,)}, failure=Failure(QuarantineReason.TRUNCATED_MEDIA, "cut"))
    with TestPipeline(options=beam_options) as p:
        out = {"plans": p | beam.Create([broken, failed])} | RedactFrames(
            RedactionMode.BLUR,
            EncoderConfig(),
            str(tmp_path / "parts"),
            AuditConfig(rate=1.0),
            str(tmp_path / "k.json"),
        )
        assert_that(
            out["parts"]
            | beam.Map(lambda part: (part.segment.index, part.uri, part.frames_written, part.failure.reason)),
            equal_to([(0, None, 0, QuarantineReason.CORRUPT_MEDIA), (1, None, 0, QuarantineReason.CORRUPT_MEDIA)]),
        )
    assert not (tmp_path / "parts").exists()
