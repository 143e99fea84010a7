"""Each Beam stage on its own, with TestPipeline and assert_that."""

import os
import zipfile
from fractions import Fraction

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.sample import write_clip
from schemas.codes import Action, IdentitySource, QuarantineReason, ReasonCode
from schemas.elements import (
    Detection,
    Failure,
    MediaInfo,
    MediaSource,
    QuarantineRecord,
    Segment,
    SegmentDetections,
    StreamInfo,
)
from schemas.registries import Registry
from transforms.detection import DetectFaces
from transforms.ingest import ExpandInputs, IdentifyMedia
from transforms.logic.archive import ArchiveLimits
from transforms.logic.identity import compile_template, media_id
from transforms.logic.policy import PolicyConfig
from transforms.logic.scanning import DetectorConfig
from transforms.logic.tracking import TrackerConfig
from transforms.policy import ApplyPolicy
from transforms.quarantine import guarded_pardo
from transforms.segments import SplitSegments
from transforms.tracking import TrackFaces

STREAM = StreamInfo(frames=40, fps=Fraction(10), width=96, height=72, has_audio=False)


def _media(camera="cam1", uri="/in/a.mp4"):
    return MediaInfo(MediaSource(uri, uri, "video"), media_id(uri), "sha", camera, None, IdentitySource.MANIFEST)


def _segment(index, start, end, media=None, count=2):
    return Segment(media or _media(), STREAM, index, count, start, end, None, None)


def _options():
    return PipelineOptions(["--runner=FnApiRunner"])


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    path = str(folder / "a.mp4")
    write_clip([np.full((72, 96, 3), i * 6, np.uint8) for i in range(40)], path, gop=10)
    return path


def test_track_faces_links_a_face_across_segment_boundaries_into_one_track():
    parts = [
        SegmentDetections(_segment(0, 0, 20), tuple(Detection(f, (10 + f, 10, 20, 20), 0.9) for f in range(20))),
        SegmentDetections(_segment(1, 20, 40), tuple(Detection(f, (10 + f, 10, 20, 20), 0.9) for f in range(20, 40))),
    ]
    with TestPipeline(options=_options()) as p:
        tracks = ({"detections": p | beam.Create(parts)} | TrackFaces(TrackerConfig()))["tracks"]
        summary = tracks | beam.Map(
            lambda t: (t.failure, [(tr.track_id, tr.first_frame, tr.last_frame) for tr in t.tracks])
        )
        assert_that(summary, equal_to([(None, [(0, 0, 39)])]))


def test_track_faces_fails_an_input_with_a_failed_or_missing_segment():
    broken = _media(uri="/in/broken.mp4")
    lonely = _media(uri="/in/lonely.mp4")
    parts = [
        SegmentDetections(_segment(0, 0, 20, broken), ()),
        SegmentDetections(_segment(1, 20, 40, broken), (), Failure(QuarantineReason.TRUNCATED_MEDIA, "cut")),
        SegmentDetections(_segment(1, 20, 40, lonely), ()),
    ]
    with TestPipeline(options=_options()) as p:
        tracks = ({"detections": p | beam.Create(parts)} | TrackFaces(TrackerConfig()))["tracks"]
        reasons = tracks | beam.Map(lambda t: (t.media.source.uri, t.failure.reason))
        assert_that(
            reasons,
            equal_to(
                [
                    ("/in/broken.mp4", QuarantineReason.TRUNCATED_MEDIA),
                    ("/in/lonely.mp4", QuarantineReason.PROCESSING_ERROR),
                ]
            ),
        )


@pytest.mark.parametrize(
    "camera, reason", [("cam1", ReasonCode.UNREGISTERED_CAMERA), (None, ReasonCode.UNKNOWN_CAMERA)]
)
def test_apply_policy_redacts_every_track_with_its_reason_and_covers_held_frames(camera, reason):
    media = _media(camera)
    part = SegmentDetections(_segment(0, 0, 40, media, count=1), (Detection(10, (10, 10, 20, 20), 0.9),))
    config = TrackerConfig(hold=3, lead=2)
    with TestPipeline(options=_options()) as p:
        tracks = ({"detections": p | beam.Create([part])} | TrackFaces(config))["tracks"]
        plans = ({"tracks": tracks} | ApplyPolicy(Registry(), PolicyConfig(), config))["plans"]
        out = plans | beam.Map(lambda plan: ([(d.action, d.reason) for d in plan.decisions], sorted(plan.regions)))
        assert_that(out, equal_to([([(Action.REDACT, reason)], list(range(8, 14)))]))


class _ScriptedModel:
    """Stands in for the detector model (Shared needs a weak-referenceable object)."""


class _ScriptedHandler(ModelHandler):
    """A fake detector: one face at a fixed box in every third frame of the clip (frame i is grey level 6 i)."""

    def load_model(self):
        return _ScriptedModel()

    def run_inference(self, batch, model, inference_args=None):
        face = [((5.0, 6.0, 7.0, 8.0), 0.8)]
        return [
            PredictionResult(frame.shape, (face if round(frame.mean() / 6) % 3 == 0 else [], [], 0))
            for frame, *_ in batch
        ]


@pytest.mark.parametrize("every", [1, 2])
def test_detect_faces_reports_detections_with_frame_indices_of_the_input(clip, every):
    """The detector sees every multiple of 3; only the scanned ones (multiples of ``every``) are reported, by their
    index in the input although the segments start at 0 and 20."""
    media = MediaInfo(MediaSource(clip, clip, "video"), "m", "sha", "c", None, IdentitySource.MANIFEST)
    with TestPipeline(options=_options()) as p:
        segments = {"screened": p | beam.Create([media])} | SplitSegments(Fraction(10), 20)
        detect = DetectFaces(DetectorConfig(every=every), handler=_ScriptedHandler())
        found = ({"segments": segments["segments"]} | detect)["detections"]
        frames = found | beam.FlatMap(lambda s: [d.frame for d in s.detections])
        assert_that(frames, equal_to([f for f in range(0, 40, 3) if f % every == 0]))
    scanned = p.result.metrics().query(MetricsFilter().with_name("frames_scanned"))["counters"]
    assert sum(c.committed for c in scanned) == 40 // every


def test_split_segments_quarantines_what_cannot_be_probed(clip, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    good = MediaInfo(MediaSource(clip, clip, "video"), "good", "s", None, None, IdentitySource.UNKNOWN)
    bad = MediaInfo(MediaSource(str(junk), str(junk), "video"), "bad", "s", None, None, IdentitySource.UNKNOWN)
    with TestPipeline(options=_options()) as p:
        out = {"screened": p | beam.Create([good, bad])} | SplitSegments(Fraction(10), 20)
        assert_that(
            out["segments"] | beam.Map(lambda s: (s.media.media_id, s.start_frame, s.end_frame)),
            equal_to([("good", 0, 20), ("good", 20, 40)]),
            label="Segments",
        )
        assert_that(
            out["quarantine"] | beam.Map(lambda q: (q.input_uri, q.reason)),
            equal_to([(str(junk), QuarantineReason.CORRUPT_MEDIA)]),
            label="Quarantine",
        )


def test_expand_inputs_finds_videos_frame_folders_and_archive_members_and_refuses_the_rest(clip, tmp_path):
    root = tmp_path / "in"
    (root / "cam1").mkdir(parents=True)
    (root / "cam2" / "frames").mkdir(parents=True)
    (root / "cam1" / "a.mp4").write_bytes(open(clip, "rb").read())
    for name in ("002.jpg", "001.jpg"):
        (root / "cam2" / "frames" / name).write_bytes(b"jpeg")
    (root / "notes.txt").write_text("hello")
    with zipfile.ZipFile(root / "more.zip", "w") as archive:
        archive.writestr("cam3/b.mp4", b"video")
        archive.writestr("../escape.mp4", b"video")
    staging = str(tmp_path / "staging")
    with TestPipeline(options=_options()) as p:
        out = {"spec": p | beam.Create([str(root)])} | ExpandInputs(staging, ArchiveLimits())
        assert_that(
            out["sources"]
            | beam.Map(
                lambda s: (
                    os.path.relpath(s.origin_uri.replace("!", "/"), root),
                    s.kind,
                    [os.path.basename(f) for f in s.frame_uris],
                )
            ),
            equal_to(
                [
                    ("cam1/a.mp4", "video", []),
                    ("cam2/frames", "frames", ["001.jpg", "002.jpg"]),
                    ("more.zip/cam3/b.mp4", "video", []),
                ]
            ),
            label="Sources",
        )
        assert_that(
            out["quarantine"] | beam.Map(lambda q: (os.path.relpath(q.input_uri, root), q.reason)),
            equal_to(
                [
                    ("notes.txt", QuarantineReason.UNSUPPORTED_FILE),
                    ("more.zip!../escape.mp4", QuarantineReason.UNSAFE_ARCHIVE_PATH),
                ]
            ),
            label="Refused",
        )


def test_identify_media_prefers_manifest_then_template_and_skips_done_inputs(clip, tmp_path):
    sources = [
        MediaSource(u, clip, "video")
        for u in ("/in/m.mp4", "/in/camX/2026-11-20/080000.mp4", "/in/done.mp4", "/in/other.mp4")
    ]
    import hashlib

    sha = hashlib.sha256(open(clip, "rb").read()).hexdigest()
    done = frozenset({("/in/done.mp4", sha, "h1")})
    template = compile_template("{camera_id}/{date}/{time}.mp4")
    with TestPipeline(options=_options()) as p:
        out = {"sources": p | beam.Create(sources)} | IdentifyMedia({"m.mp4": ("camM", None)}, template, done, "h1")
        assert_that(
            out["identified"] | beam.Map(lambda m: (m.source.origin_uri, m.camera_id, m.identity_source)),
            equal_to(
                [
                    ("/in/m.mp4", "camM", IdentitySource.MANIFEST),
                    ("/in/camX/2026-11-20/080000.mp4", "camX", IdentitySource.PATH_TEMPLATE),
                    ("/in/other.mp4", None, IdentitySource.UNKNOWN),
                ]
            ),
            label="Media",
        )
        assert_that(out["skipped"], equal_to(["/in/done.mp4"]), label="Skipped")


def test_quarantine_record_keeps_the_reason():
    record = QuarantineRecord("/x", QuarantineReason.EMPTY_FILE, "file is empty")
    assert record.reason.value == "empty_file"


class _FragileFn(beam.DoFn):
    """Stands in for a stage that meets something nobody expected on one input."""

    def process(self, media):
        if media.source.origin_uri.endswith("bad.mp4"):
            raise RuntimeError("decoder exploded")
        yield media.media_id


def test_an_unexpected_exception_quarantines_its_input_and_the_run_goes_on():
    good, bad = _media(uri="/in/good.mp4"), _media(uri="/in/bad.mp4")
    with TestPipeline(options=_options()) as p:
        out = guarded_pardo(p | beam.Create([good, bad]), "Fragile", _FragileFn(), "ids")
        assert_that(out["ids"], equal_to([good.media_id]), label="Good")
        refused = out["quarantine"] | beam.Map(lambda q: (q.input_uri, q.reason, q.media_id, "exploded" in q.message))
        expected = [("/in/bad.mp4", QuarantineReason.PROCESSING_ERROR, bad.media_id, True)]
        assert_that(refused, equal_to(expected), label="Bad")
