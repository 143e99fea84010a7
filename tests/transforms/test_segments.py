"""SplitSegments in a TestPipeline: inputs are cut into segments, and what cannot be probed is quarantined."""

from fractions import Fraction

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.codes import IdentitySource, QuarantineReason
from schemas.elements import MediaInfo, MediaSource
from transforms.segments import SplitSegments


def test_split_segments_quarantines_what_cannot_be_probed(clip, tmp_path, beam_options):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    good = MediaInfo(MediaSource(clip, clip, "video"), "good", "s", None, None, IdentitySource.UNKNOWN)
    bad = MediaInfo(MediaSource(str(junk), str(junk), "video"), "bad", "s", None, None, IdentitySource.UNKNOWN)
    with TestPipeline(options=beam_options) as p:
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
