"""AnonymizeRecordings in a TestPipeline: each landed recording is a run of its own, taken through every stage of the
chain in-process, its tables written and then validated and reported; what cannot be processed is quarantined, and
a recording whose validation breaks is kept unapproved while the stream goes on."""

import datetime as dt
import os
import shutil

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines import anonymize, stream
from schemas.codes import QuarantineReason
from transforms import recording
from transforms.detection import DetectFaces
from transforms.logic.landing import Listed, recording_run_id
from transforms.recording import AnonymizeRecordings
from transforms.services import layout
from transforms.services.table_files import read_table


def _rows(output: str, table: str, stream_id: str | None = None) -> list[dict]:
    found = read_table(output, table)
    rows = found.to_pylist() if found is not None else []
    return [r for r in rows if stream_id is None or r["run_id"].startswith(stream_id + "-")]


def _published(output: str, run_id: str) -> bool:
    """Stands in for validation and the report: notes the run it was handed, and passes it."""
    with open(os.path.join(output, f"published-{run_id}"), "w"):
        return True


def _landed(path) -> Listed:
    return Listed(str(path), path.stat().st_size, path.stat().st_mtime)


def test_each_landed_recording_is_anonymized_published_and_timestamped_as_a_run_of_its_own(
    tmp_path, clip, beam_options, scripted_handler, monkeypatch
):
    """The scripted detector's face is redacted in every frame of the clip; a still frame landed alone is refused."""
    land, out = tmp_path / "land", str(tmp_path / "out")
    video = land / "cam-1" / "2026-11-20" / "080000.mp4"
    video.parent.mkdir(parents=True)
    shutil.copy(clip, video)
    still = land / "cam-1" / "frame.jpg"
    still.write_bytes(b"jpeg")
    landed = [_landed(video), _landed(still)]
    chain = recording.anonymize_stages

    def scripted(settings, streaming=False):
        return tuple(
            DetectFaces(settings.detector, handler=scripted_handler) if isinstance(stage, DetectFaces) else stage
            for stage in chain(settings, streaming)
        )

    monkeypatch.setattr(recording, "anonymize_stages", scripted)
    template = "{camera_id}/{date}/{time}.mp4"
    opts, _, _, _ = stream.parse(["--streaming", str(land), out, "--path-template", template, "--detect-every", "1"])
    started = dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    still_landed = dt.datetime.fromtimestamp(landed[1].modified, dt.UTC)
    video_run, still_run = (recording_run_id("s-unit", item) for item in landed)
    with TestPipeline(options=beam_options) as p:
        done = p | beam.Create(landed) | AnonymizeRecordings(anonymize.stage_settings(opts, "s-unit"), _published)
        assert_that(
            done
            | "Counts"
            >> beam.Map(
                lambda d: (
                    d.run_id,
                    os.path.basename(d.input_uri),
                    d.anonymized,
                    d.quarantined,
                    d.skipped,
                    d.frames,
                    d.faces_redacted,
                    d.tracks_kept,
                    d.passed,
                )
            ),
            equal_to(
                [
                    (video_run, "080000.mp4", 1, 0, 0, 40, 40, 0, True),
                    (still_run, "frame.jpg", 0, 1, 0, 0, 0, 0, True),
                ]
            ),
            label="Done",
        )
        # Event time, also the element's timestamp: the recording's start (from its path), else its landing time.
        assert_that(
            done
            | "Times"
            >> beam.Map(lambda d, t=beam.DoFn.TimestampParam: (d.run_id, d.event_time, t.to_utc_datetime(has_tz=True))),
            equal_to([(video_run, started, started), (still_run, still_landed, still_landed)]),
            label="Times",
        )
    (media,) = _rows(out, "media", "s-unit")
    assert (media["run_id"], media["camera_id"], media["frames_out"]) == (video_run, "cam-1", 40)
    assert os.path.exists(media["output_uri"])
    (refused,) = _rows(out, "quarantine", "s-unit")
    assert (refused["run_id"], refused["reason_code"]) == (still_run, QuarantineReason.UNSUPPORTED_FILE.value)
    runs = {r["run_id"]: (r["inputs"], r["anonymized"], r["quarantined"]) for r in _rows(out, "runs", "s-unit")}
    assert runs == {video_run: (1, 1, 0), still_run: (1, 0, 1)}
    assert {r["uri"] for r in _rows(out, "catalog", "s-unit") if r["kind"] == "raw_input"} == {str(video), str(still)}
    assert all(os.path.exists(os.path.join(out, f"published-{run}")) for run in (video_run, still_run))
    assert not os.path.exists(os.path.join(layout.parts_folder(out, "s-unit"), media["media_id"])), "scratch left"


def _failing_publish(output: str, run_id: str) -> bool:
    raise RuntimeError("validation machinery broke")


def test_a_recording_whose_validation_breaks_is_kept_unapproved_and_the_stream_goes_on(sample_archive, tmp_path):
    bad = tmp_path / "land" / "cam-1" / "broken.mp4"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(os.urandom(3000))
    out = str(tmp_path / "out")
    opts, _, _, _ = stream.parse(["--streaming", str(tmp_path / "land"), out])
    landed = Listed(str(bad), bad.stat().st_size, bad.stat().st_mtime)
    with TestPipeline() as p:
        done = (
            p | beam.Create([landed]) | AnonymizeRecordings(anonymize.stage_settings(opts, "s-unit"), _failing_publish)
        )
        assert_that(
            done | beam.Map(lambda d: (d.quarantined, d.passed, d.run_id)),
            equal_to([(1, False, recording_run_id("s-unit", landed))]),
        )
    (row,) = _rows(out, "quarantine", "s-unit")
    assert row["reason_code"] == QuarantineReason.CORRUPT_MEDIA.value
