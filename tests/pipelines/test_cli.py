"""The veil command: usage errors are clear and exit 2; the Beam module entry point runs the same job."""

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pipelines import anonymize, cli, retention
from transforms.logic.identity import parse_moment
from transforms.services.table_files import read_table


@pytest.mark.parametrize(
    "argv, message",
    [
        (["anonymize", "/no/such/input.mp4", "/tmp/out"], "matches no file"),
        (["anonymize", "/no/such/input.mp4"], "INPUT and OUTPUT are required"),
        (["anonymize", "/in", "/out", "--workers", "2"], "need --runner dask"),
        (["anonymize", "/in", "/out", "--runner", "dask", "--workers", "2", "--dask-address", "h:8786"], "give one"),
        (["anonymize", "/in", "/out", "--runner", "dask", "--direct-workers", "2"], "is for the local runner"),
        (["retention", "/out", "--runner", "dask"], "retention job is refused on Dask"),
    ],
)
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


def test_unknown_command_prints_usage_on_stderr_and_exits_2(capsys):
    assert cli.main(["frobnicate"]) == 2
    shown = capsys.readouterr()
    assert "veil anonymize INPUT OUTPUT" in shown.err and "unknown command 'frobnicate'" in shown.err and not shown.out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["anonymize", "IN", "OUT", "--redcat", "mask"], "unknown option --redcat (did you mean --redact?)"),
        (["anonymize", "IN", "OUT", "--no-such-flag"], "unknown option --no-such-flag"),
        (["anonymize", "IN", "OUT", "stray"], "unexpected argument 'stray'"),
        (["anonymize", "IN", "OUT", "--as-of", "2026-12-01"], "--as-of is not an option of veil anonymize"),
        (["anonymize", "IN", "OUT", "--crf", "high"], "argument --crf: invalid int value: 'high'"),
        (["anonymize", "--streaming", "IN", "OUT", "--windw", "5m"], "unknown option --windw (did you mean --window?)"),
        (["anonymize", "--streaming", "IN", "OUT", "--plan"], "--plan is not an option of veil anonymize --streaming"),
        (["retention", "OUT", "--as-off", "2026-12-01"], "unknown option --as-off (did you mean --as-of?)"),
        (["retention", "OUT", "--redact", "mask"], "--redact is not an option of veil retention"),
        (["validate", "OUT", "--rn", "r1"], "unknown option --rn (did you mean --run?)"),
        (["decrypt", "A", "B", "--keystore", "K", "--forse"], "unknown option --forse"),
        (["sample", "DIR", "--seed", "3"], "unknown option --seed"),
    ],
)
def test_a_mistyped_option_is_refused_by_name_before_anything_runs(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "IN").mkdir()
    assert cli.main(argv) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["IN"], "nothing was written"


@pytest.mark.parametrize(
    "argv",
    [
        [
            "--runner",
            "DataflowRunner",
            "--project",
            "p",
            "--region",
            "r",
            "--temp_location",
            "gs://b/tmp",
            "--sdk_container_image",
            "img",
            "--experiments",
            "use_runner_v2",
            "--max_num_workers",
            "8",
        ],
        [
            "--runner",
            "FlinkRunner",
            "--flink_master",
            "jm:8081",
            "--environment_type",
            "DOCKER",
            "--environment_config",
            "img",
        ],
        ["--runner", "PortableRunner", "--job_endpoint", "localhost:8099"],
        ["--runner", "dask", "--dask_npartitions", "6", "--workers", "3"],
        ["--direct_running_mode", "multi_threading", "--direct_num_workers", "2"],
    ],
)
def test_beam_runner_options_still_pass_through(argv):
    opts, options = anonymize.parse(["IN", "OUT", *argv])
    assert options.get_all_options()["runner"] and opts.output == os.path.abspath("OUT")


@pytest.mark.parametrize(
    "argv, shown",
    [
        (["anonymize", "--help"], ["usage: veil anonymize INPUT OUTPUT", "--redact", "--face-threshold", "--workers"]),
        (
            ["anonymize", "--streaming", "-h"],
            ["usage: veil anonymize --streaming LANDING OUTPUT", "--stop-after", "--events", "--redact"],
        ),
        (["retention", "--help"], ["usage: veil retention OUTPUT", "--as-of", "--dry-run", "a date (the start"]),
        (["validate", "--help"], ["usage: veil validate", "--run RUN_ID"]),
        (["sample", "--help"], ["usage: veil sample", "DIR"]),
        (["decrypt", "--help"], ["usage: veil decrypt", "--keystore"]),
    ],
)
def test_every_command_answers_help_and_takes_it_for_no_argument(argv, shown, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert all(text in out for text in shown), out
    assert os.listdir(tmp_path) == [], "no folder named --help (or anything else) was made"
    if argv[0] == "anonymize":
        assert "--as-of" not in out, "only the command's own options are listed"


def test_an_output_that_cannot_be_written_is_named_with_the_reason_before_any_work(sample_archive, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert cli.main(["anonymize", sample_archive["archive"], str(tmp_path / "a-file" / "out")]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err == f"veil: OUTPUT {tmp_path / 'a-file' / 'out'} cannot be written: Not a directory\n"
    assert cli.main(["anonymize", sample_archive["archive"], str(tmp_path / "a-file")]) == cli.EXIT_USAGE
    assert "it is a file, not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_validating_a_run_that_does_not_exist_is_an_error_and_writes_nothing(validated_run, capsys):
    output = validated_run["output"]
    before = sorted(os.listdir(os.path.join(output, "reports")))
    assert cli.main(["validate", output, "--run", "2026bogus"]) == cli.EXIT_USAGE
    assert f"no run 2026bogus under {output}" in capsys.readouterr().err
    assert sorted(os.listdir(os.path.join(output, "reports"))) == before
    assert not os.path.exists(os.path.join(output, "tables", "validation_failures", "2026bogus.parquet"))


def test_retention_takes_a_date_as_the_start_of_that_day_in_utc(tmp_path):
    opts, shared, _, _ = retention.parse([str(tmp_path / "out"), "--as-of", "2026-12-01"])
    assert parse_moment(opts.as_of) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert shared.output == str(tmp_path / "out")
    with pytest.raises(ValueError, match="not a date or timestamp: 'next week'"):
        retention.parse([str(tmp_path / "out"), "--as-of", "next week"])


@pytest.mark.slow
def test_python_dash_m_runs_the_job_like_the_veil_command(tmp_path):
    (tmp_path / "notes.txt").write_text("not footage")
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.anonymize", str(tmp_path / "notes.txt"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == cli.EXIT_QUARANTINED, done.stderr[-2000:]
    assert "1 input(s) in" in done.stdout and "anonymized: 0  quarantined: 1" in done.stdout
    assert f"quarantined {tmp_path / 'notes.txt'}: not a video, frame folder or archive Veil reads" in done.stdout
    assert "videos:" not in done.stdout, "no folder is named that was not written"
    # A quiet console: Beam's, the workers' and the libraries' lines went to the run's log, not the terminal (one
    # warning Beam logs while `python -m pipelines.anonymize` imports it, before Veil's code runs, is left).
    shown = [line for line in done.stderr.splitlines() if "apitools not found" not in line]
    assert all(line.startswith("veil: ") for line in shown), done.stderr[-2000:]
    (log,) = (tmp_path / "out" / "reports").glob("*/run.log")
    assert "apache_beam" in log.read_text()


def test_version_and_a_pointer_to_the_runner_options(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"veil {cli.__version__}\n"
    assert cli.main(["anonymize", "--help"]) == 0
    assert "'veil anonymize --help-runner' lists them" in capsys.readouterr().out
    assert cli.main(["anonymize", "--help-runner"]) == 0
    shown = capsys.readouterr().out
    assert "--runner RUNNER" in shown and "GoogleCloudOptions" in shown and "--detect-every" not in shown


def test_the_summary_names_each_input_with_its_output_time_rate_and_warnings(validated_run):
    output, run_id = validated_run["output"], validated_run["run_id"]
    text, quarantined = cli.summarize(output, run_id, 8.1, ["Article 7: camera x has no warning signage."])
    media = validated_run["rows"]["media"]
    frames = sum(r["frames"] for r in media)
    assert text.startswith(f"run {run_id}: {len(media)} input(s) in 8 s ({frames} frames, {frames / 8.1:.1f} frames/s)")
    assert all(f"{r['input_uri']}\n    -> {r['output_uri']}" in text for r in media)
    tracks = validated_run["rows"]["face_tracks"]
    face_frames = sum(r["faces_redacted"] for r in media)
    redacted = sum(t["action"] == "redact" for t in tracks)
    assert f"face tracks: {redacted} redacted ({face_frames} face-frames)" in text
    assert "  WARNING Article 7: camera x has no warning signage." in text
    assert quarantined == 0 and "quarantine folder" not in text


def test_retention_on_an_output_root_without_runs_says_so_and_writes_nothing(tmp_path, capsys):
    assert cli.main(["retention", str(tmp_path / "typo")]) == 2
    assert "no catalog under" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


@pytest.mark.slow
def test_validate_writes_the_run_report_so_scheduled_runs_get_one(validated_run, tmp_path, capsys):
    output = str(tmp_path / "out")
    shutil.copytree(validated_run["output"], output)
    page = os.path.join(output, "reports", validated_run["run_id"], "report.html")
    os.remove(page)
    assert cli.main(["validate", output]) == 0
    assert f"run report: {page}" in capsys.readouterr().out
    with open(page, encoding="utf-8") as handle:
        assert "Inputs and their outputs" in handle.read()
    assert cli.main(["retention", output]) == 0
    (retention_run,) = {r["run_id"] for r in read_table(output, "retention_plan").to_pylist()}
    capsys.readouterr()
    assert cli.main(["validate", output, "--run", retention_run]) == 0
    assert "no run report: not an anonymize run" in capsys.readouterr().out


@pytest.mark.slow
def test_ctrl_c_prints_one_line_and_leaves_no_work_folder(sample_archive, tmp_path):
    output = tmp_path / "out"
    job = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "anonymize", sample_archive["archive"], str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # A terminal's Ctrl-C reaches every process of the job's group, with SIGINT's default action.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list(output.glob(".work/*/staging")) and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGINT)
    out, err = job.communicate(timeout=120)
    assert job.returncode == cli.EXIT_INTERRUPTED, err[-2000:]
    (line,) = err.splitlines()
    assert line.startswith("veil: interrupted; nothing half-written was published (the workers' log: ")
    assert out == "" and not list(output.glob(".work/*")), "the work folder (staged raw footage) is removed"


@pytest.mark.slow
def test_verbose_leaves_the_workers_output_on_the_terminal_and_writes_no_log(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not footage")
    output = tmp_path / "out"
    assert cli.main(["anonymize", str(tmp_path / "notes.txt"), str(output), "--verbose"]) == cli.EXIT_QUARANTINED
    assert "anonymized: 0  quarantined: 1" in capsys.readouterr().out
    assert not list(output.glob("reports/*/run.log")), "with --verbose nothing is redirected, so there is no log"
