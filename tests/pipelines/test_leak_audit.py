"""The leak audit in a run: a face left in the clear fails the run, and every redacted frame of the sample passes."""

import pytest

from pipelines import cli, sample
from transforms import redaction
from transforms.services.table_files import read_table

pytestmark = pytest.mark.slow  # each test runs veil anonymize


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
