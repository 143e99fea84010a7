"""The anonymize chain in a TestPipeline, every stage in order with a scripted detector: an input spec becomes each
input's redacted video and table rows, and what cannot be processed is quarantined."""

import glob
import os
import shutil

import apache_beam as beam
import av
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import anonymize
from schemas.codes import QuarantineReason
from transforms.chain import AnonymizeInputs, anonymize_stages
from transforms.detection import DetectFaces
from transforms.services import progress


def test_the_chain_takes_an_input_spec_to_a_redacted_video_and_its_rows(tmp_path, clip, beam_options, scripted_handler):
    """The scripted detector finds a face at (5, 6, 7, 8) in every third frame; the track covers all 40 frames, which
    the mask blacks out there and nowhere else. A text file beside the clip is quarantined."""
    folder = tmp_path / "in" / "cam-01"
    folder.mkdir(parents=True)
    shutil.copy(clip, folder / "a.mp4")
    (folder / "notes.txt").write_text("not footage")
    output = str(tmp_path / "out")
    args = ["--detect-every", "1", "--segment-frames", "20", "--audit-rate", "1", "--redact", "mask"]
    opts, _ = anonymize.parse([str(tmp_path / "in"), output, *args])
    settings = anonymize.stage_settings(opts, "chain")
    stages = tuple(
        DetectFaces(settings.detector, scripted_handler, settings.progress) if isinstance(stage, DetectFaces) else stage
        for stage in anonymize_stages(settings)
    )
    with TestPipeline(options=beam_options) as p:
        out = p | beam.Create([str(tmp_path / "in")]) | AnonymizeInputs(stages)
        assert {"media", "face_tracks", "restricted", "leak_audit", "skipped", "quarantine"} <= set(out)
        assert_that(
            out["media"]
            | "Media"
            >> beam.Map(
                lambda r: (
                    os.path.basename(r["input_uri"]),
                    r["status"],
                    r["frames"],
                    r["frames_out"],
                    r["faces_redacted"],
                    r["tracks_redacted"],
                    r["tracks_kept"],
                )
            ),
            equal_to([("a.mp4", "anonymized", 40, 40, 40, 1, 0)]),
            label="Media rows",
        )
        assert_that(
            out["face_tracks"]
            | "Tracks"
            >> beam.Map(lambda t: (t["first_frame"], t["last_frame"], t["frame_count"], t["action"], t["reason_code"])),
            equal_to([(0, 39, 14, "redact", "unknown_camera")]),
            label="Track rows",
        )
        assert_that(
            out["leak_audit"]
            | "Audit" >> beam.Map(lambda r: (r["frame"], r["regions"], r["detections_over_redacted"])),
            equal_to([(f, 1, 0) for f in range(40)]),
            label="Audit rows",
        )
        assert_that(out["restricted"], equal_to([]), label="No restricted copy")
        assert_that(
            out["quarantine"] | "Refused" >> beam.Map(lambda q: (os.path.basename(q.input_uri), q.reason)),
            equal_to([("notes.txt", QuarantineReason.UNSUPPORTED_FILE)]),
            label="Quarantined",
        )
    (video,) = glob.glob(os.path.join(output, "anonymized", "unknown-camera", "undated", "a-*.mp4"))
    with av.open(video) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 40
    for i, rgb in enumerate(frames):
        assert rgb[10, 8].max() <= 8, f"frame {i}: the face is not masked"
        assert abs(int(rgb[60, 80, 0]) - 6 * i) <= 6, f"frame {i}: the background changed"
    # Each stage noted what it finished, for the launcher's progress line: one input found and done, its 40 frames
    # probed, detected and encoded (the text file never reached identification).
    totals = progress.Tally(settings.progress).totals()
    assert totals == {"found": 1, "done": 1, "frames": 40, "detected": 40, "encoded": 40}


def test_the_chain_spreads_the_inputs_of_its_costly_steps(tmp_path):
    opts, _ = anonymize.parse([str(tmp_path / "in"), str(tmp_path / "out")])
    stages = anonymize_stages(anonymize.stage_settings(opts, "spread"))
    spread = {step.label for stage in stages for step in stage.steps if step.spread}
    assert spread == {"Expand Archives", "Hash And Identify", "Detect In Segment", "Redact And Encode"}
