"""The veil command: usage errors are clear and exit 2; the Beam module entry point runs the same job."""
import subprocess
import sys

import pytest

from pipelines import cli


@pytest.mark.parametrize("argv, message", [
    (["anonymize", "/no/such/input.mp4", "/tmp/out"], "matches no file"),
    (["anonymize", "/no/such/input.mp4"], "INPUT and OUTPUT are required"),
    (["anonymize", "/in", "/out", "--workers", "2"], "need --runner dask"),
    (["anonymize", "/in", "/out", "--runner", "dask", "--workers", "2", "--dask-address", "h:8786"], "give one"),
    (["anonymize", "/in", "/out", "--runner", "dask", "--direct-workers", "2"], "is for the local runner"),
    (["retention", "/out", "--runner", "dask"], "retention job is refused on Dask"),
])
def test_usage_errors_say_what_is_wrong_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_output_inside_the_input_folder_is_refused(tmp_path, capsys):
    assert cli.main(["anonymize", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "lies inside INPUT" in capsys.readouterr().err


def test_a_malformed_manifest_is_named_with_file_and_line(tmp_path, capsys):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,camera_id,start_time\na.mp4,cam1,not-a-time\n")
    assert cli.main(["anonymize", str(clip), str(tmp_path / "out"), "--manifest", str(manifest)]) == 2
    assert f"{manifest}:2: field 'start_time'" in capsys.readouterr().err


def test_unknown_command_prints_usage_and_exits_2(capsys):
    assert cli.main(["frobnicate"]) == 2
    assert "usage: veil anonymize" in capsys.readouterr().out


def test_python_dash_m_runs_the_job_like_the_veil_command(tmp_path):
    (tmp_path / "notes.txt").write_text("not footage")
    done = subprocess.run([sys.executable, "-m", "pipelines.anonymize", str(tmp_path / "notes.txt"),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == cli.EXIT_QUARANTINED, done.stderr[-2000:]
    assert "inputs: 1  anonymized: 0  quarantined: 1" in done.stdout


def test_retention_on_an_output_root_without_runs_says_so_and_writes_nothing(tmp_path, capsys):
    assert cli.main(["retention", str(tmp_path / "typo")]) == 2
    assert "no catalog under" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()
