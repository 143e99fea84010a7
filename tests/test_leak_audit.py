"""The leak audit: Haar cascades look again where faces were redacted, and a face left in the clear fails the run."""

import av
import numpy as np
import pytest
from skimage import data

from pipelines import cli, sample
from schemas.codes import RedactionMode
from transforms import redaction
from transforms.logic.audit import AuditConfig, HaarAuditor, over_regions, sampled
from transforms.logic.geometry import pad_box
from transforms.logic.masks import redact
from transforms.services.table_files import read_table

FACE = (174, 68, 104, 104)


@pytest.fixture(scope="module")
def astronaut_yuv():
    rgb = np.ascontiguousarray(data.astronaut()[:, :, :3])
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()


def test_the_auditor_finds_a_face_left_in_the_clear_on_its_region(astronaut_yuv):
    region = (pad_box(FACE, 0.3, 0.4),)
    assert over_regions(HaarAuditor(AuditConfig()).find_around(astronaut_yuv[:512], region), region)


@pytest.mark.parametrize("mode", [RedactionMode.BLUR, RedactionMode.PIXELATE, RedactionMode.MASK])
def test_the_auditor_finds_nothing_on_a_redacted_face(astronaut_yuv, mode):
    region = (pad_box(FACE, 0.3, 0.4),)
    out = redact(astronaut_yuv, 512, 512, region, mode)
    assert over_regions(HaarAuditor(AuditConfig()).find_around(out[:512], region), region) == []


def test_a_detection_elsewhere_is_not_over_a_region():
    assert over_regions([(0.0, 0.0, 10.0, 10.0)], ((100.0, 100.0, 20.0, 20.0),)) == []


def test_sampling_is_stable_and_close_to_the_rate():
    picks = [sampled("m", f, 0.1) for f in range(5000)]
    assert picks == [sampled("m", f, 0.1) for f in range(5000)]
    assert 400 < sum(picks) < 600
    assert all(sampled("m", f, 1.0) for f in range(100)) and not any(sampled("m", f, 0.0) for f in range(100))


def test_a_face_planted_in_the_clear_is_caught_and_fails_the_run(sample_archive, tmp_path, monkeypatch, capsys):
    real = redaction.redact
    planted = []

    def leaky(frame, width, height, boxes, mode):
        if width == 640 and not planted:  # the lobby clip's first redacted frame keeps its faces
            planted.append(boxes)
            return frame.copy()
        return real(frame, width, height, boxes, mode)

    monkeypatch.setattr(redaction, "redact", leaky)
    output = str(tmp_path / "out")
    status = cli.main(
        [
            "anonymize",
            sample_archive["archive"],
            output,
            "--manifest",
            sample_archive["manifest"],
            "--audit-rate",
            "1",
            "--direct_running_mode=in_memory",
        ]
    )
    assert planted, "the plant did not happen: the test would prove nothing"
    assert status == cli.EXIT_INVALID
    assert "FAILED leak_audit.detections_over_redacted" in capsys.readouterr().out
    audit = read_table(output, "leak_audit").to_pylist()
    caught = [r for r in audit if r["detections_over_redacted"]]
    assert len(caught) == 1 and caught[0]["frame"] == 0
    failures = read_table(output, "validation_failures").to_pylist()
    assert [f["row_key"] for f in failures if f["table"] == "leak_audit"] == [f"{caught[0]['media_id']}:0"]


def test_every_redacted_frame_of_the_sample_passes_the_audit(sample_archive, tmp_path):
    output = str(tmp_path / "out")
    assert (
        cli.main(
            [
                "anonymize",
                sample_archive["archive"],
                output,
                "--manifest",
                sample_archive["manifest"],
                "--audit-rate",
                "1",
            ]
        )
        == 0
    )
    audit = read_table(output, "leak_audit").to_pylist()
    # Every frame of the sample shows a face, so at rate 1 every frame is audited.
    assert len(audit) == sum(scene.frames for scene in sample.SCENES)
    assert sum(r["detections_over_redacted"] for r in audit) == 0
