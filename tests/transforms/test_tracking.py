"""TrackFaces in a TestPipeline: an input's detections from all its segments become tracks, or its failure."""

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import QuarantineReason
from schemas.elements import Detection, Failure, SegmentDetections
from transforms.logic.tracking import TrackerConfig
from transforms.tracking import TrackFaces


def test_track_faces_links_a_face_across_segment_boundaries_into_one_track(beam_options, segment_of):
    parts = [
        SegmentDetections(segment_of(0, 0, 20), tuple(Detection(f, (10 + f, 10, 20, 20), 0.9) for f in range(20))),
        SegmentDetections(segment_of(1, 20, 40), tuple(Detection(f, (10 + f, 10, 20, 20), 0.9) for f in range(20, 40))),
    ]
    with TestPipeline(options=beam_options) as p:
        tracks = ({"detections": p | beam.Create(parts)} | TrackFaces(TrackerConfig()))["tracks"]
        summary = tracks | beam.Map(
            lambda t: (t.failure, [(tr.track_id, tr.first_frame, tr.last_frame) for tr in t.tracks])
        )
        assert_that(summary, equal_to([(None, [(0, 0, 39)])]))


def test_track_faces_fails_an_input_with_a_failed_or_missing_segment(beam_options, media_info, segment_of):
    broken = media_info(uri="/in/broken.mp4")
    lonely = media_info(uri="/in/lonely.mp4")
    parts = [
        SegmentDetections(segment_of(0, 0, 20, broken), ()),
        SegmentDetections(segment_of(1, 20, 40, broken), (), Failure(QuarantineReason.TRUNCATED_MEDIA, "cut")),
        SegmentDetections(segment_of(1, 20, 40, lonely), ()),
    ]
    with TestPipeline(options=beam_options) as p:
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
