"""ApplyPolicy in a TestPipeline: every track gets a decision with its reason, and held frames are covered."""

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import Action, ReasonCode
from schemas.elements import Detection, SegmentDetections
from schemas.registries import Registry
from transforms.logic.policy import PolicyConfig
from transforms.logic.tracking import TrackerConfig
from transforms.policy import ApplyPolicy
from transforms.tracking import TrackFaces


@pytest.mark.parametrize(
    "camera, reason", [("cam1", ReasonCode.UNREGISTERED_CAMERA), (None, ReasonCode.UNKNOWN_CAMERA)]
)
def test_apply_policy_redacts_every_track_with_its_reason_and_covers_held_frames(
    camera, reason, beam_options, media_info, segment_of
):
    media = media_info(camera)
    part = SegmentDetections(segment_of(0, 0, 40, media, count=1), (Detection(10, (10, 10, 20, 20), 0.9),))
    config = TrackerConfig(hold=3, lead=2)
    with TestPipeline(options=beam_options) as p:
        tracks = ({"detections": p | beam.Create([part])} | TrackFaces(config))["tracks"]
        plans = ({"tracks": tracks} | ApplyPolicy(Registry(), PolicyConfig(), config))["plans"]
        out = plans | beam.Map(lambda plan: ([(d.action, d.reason) for d in plan.decisions], sorted(plan.regions)))
        assert_that(out, equal_to([([(Action.REDACT, reason)], list(range(8, 14)))]))
