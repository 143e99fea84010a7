"""Every option is defined once, reaches the stage it configures and is listed with its default; bad values are
refused up front."""

import argparse
import dataclasses
import os

import av
import pytest

from pipelines import anonymize, cli, options, reference
from schemas.options import BY_NAME, OPTIONS, config_fields
from transforms.logic.archive import ArchiveLimits
from transforms.logic.audit import AuditConfig
from transforms.logic.policy import PolicyConfig
from transforms.logic.scanning import DetectorConfig
from transforms.services import layout
from transforms.services.media import EncoderConfig


def test_options_reach_the_detector_encoder_and_settings_hash():
    opts, _ = anonymize.parse(
        [
            "in",
            "out",
            "--detect-every",
            "3",
            "--face-threshold",
            "0.4",
            "--head-threshold",
            "0.5",
            "--head-every",
            "3",
            "--candidate-threshold",
            "0.25",
            "--centerface-threshold",
            "0",
            "--crf",
            "30",
            "--preset",
            "ultrafast",
        ]
    )
    detector = anonymize.detector_config(opts)
    assert (detector.every, detector.face_threshold, detector.head_threshold) == (3, 0.4, 0.5)
    assert (detector.head_every, detector.candidate_threshold, detector.centerface_threshold) == (3, 0.25, 0)
    # The tracker covers the eight frames between two looks for heads, before a head's first and after its last.
    tracker = anonymize.tracker_config(opts)
    assert tracker.lead >= 8 and tracker.hold >= 8 and tracker.max_gap >= 9
    defaults, _ = anonymize.parse(["in", "out"])
    assert anonymize.settings_hash(opts, "r") != anonymize.settings_hash(defaults, "r")
    assert anonymize.settings_hash(defaults, "r") != anonymize.settings_hash(defaults, "other registries")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--crf", "60"], "crf must be in 0..51"),
        (["--preset", "warp"], "--preset: invalid choice: .warp."),
        (["--detect-every", "0"], "every must be >= 1"),
        (["--head-every", "0"], "head_every must be >= 1"),
        (["--face-threshold", "1.5"], "face_threshold must be in"),
        (["--centerface-threshold", "1"], "centerface_threshold must be in"),
        (["--candidate-threshold", "0.7"], "candidate_threshold must be in"),
        (["--zone-share", "0"], "zone share must be in"),
    ],
)
def test_bad_option_values_are_refused_before_anything_runs(args, message):
    with pytest.raises(ValueError, match=message):
        anonymize.parse(["in", "out", *args])


@pytest.mark.slow
def test_image_fps_quality_and_run_id_shape_the_output(sample_archive, sample_run, tmp_path, run_job):
    rows = run_job(
        sample_archive["archive"],
        str(tmp_path / "out"),
        "--image-fps",
        "5",
        "--crf",
        "35",
        "--preset",
        "ultrafast",
        "--run-id",
        "night-42",
        "--centerface-threshold",
        "0",
    )
    frames_row = next(r for r in rows["media"] if r["input_uri"].endswith("/frames/"))
    assert frames_row["run_id"] == "night-42" and rows["runs"][0]["run_id"] == "night-42"
    assert frames_row["fps"] == 5.0
    with av.open(frames_row["output_uri"]) as container:
        assert container.streams.video[0].average_rate == 5
    lobby = next(r for r in rows["media"] if "lobby" in r["input_uri"])
    default_lobby = next(r for r in sample_run["rows"]["media"] if "lobby" in r["input_uri"])
    assert os.path.getsize(lobby["output_uri"]) < os.path.getsize(default_lobby["output_uri"]), "crf 35 is coarser"


def test_private_categories_and_keystore_reach_the_policy_and_the_report():
    opts, _ = anonymize.parse(
        ["in", "out", "--private-categories", "clinic_room, nursery", "--keystore", "/vault/keys.json"]
    )
    categories = anonymize.policy_config(opts).private_categories
    assert {"clinic_room", "nursery", "bathroom"} <= categories and "" not in categories
    assert layout.keystore_of(opts.output, opts.keystore) == "/vault/keys.json"
    assert anonymize.measures(opts)["keystore_beside_data"] is False
    defaults, _ = anonymize.parse(["in", "out"])
    assert layout.keystore_of(defaults.output, defaults.keystore) == os.path.join(
        os.getcwd(), "out", "keys", "keystore.json"
    )
    assert anonymize.measures(defaults)["keystore_beside_data"] is True
    assert anonymize.settings_hash(opts, "r") != anonymize.settings_hash(defaults, "r"), "policy changes outputs"


def test_the_files_derived_from_the_option_definitions_are_up_to_date():
    for path, text in reference.rendered().items():
        with open(os.path.join(reference.ROOT, path), encoding="utf-8") as handle:
            assert handle.read() == text, f"{path} is out of date: run make docs"


def test_each_option_is_defined_once_and_sets_a_config_field_with_its_own_default():
    names = [o.name for o in OPTIONS]
    assert len(names) == len(set(names))
    parser = argparse.ArgumentParser()
    for cls in options.VEIL_CLASSES:
        cls._add_argparse_args(parser)
    assert {a.dest for a in parser._actions if a.dest != "help"} == set(names)
    configs = {
        "detector": DetectorConfig,
        "encoder": EncoderConfig,
        "audit": AuditConfig,
        "policy": PolicyConfig,
        "limits": ArchiveLimits,
    }
    set_by_options = {o.config.split(".")[0] for o in OPTIONS if o.config}
    assert set_by_options == set(configs)
    for name, config in configs.items():
        defaults = {f.name: f.default for f in dataclasses.fields(config)}
        for field, option in config_fields(name).items():
            assert defaults[field] == BY_NAME[option].default, (name, field)


@pytest.mark.parametrize("command", list(options.COMMANDS))
def test_help_lists_every_option_of_the_command_with_its_default(command):
    text = " ".join(cli.command_help(command).split())
    for option in OPTIONS:
        if option.name in options.COMMANDS[command]:
            assert option.flags[0] in text, option.name
            if option.default_text:
                assert f"(default: {option.default_text})" in text, option.name
        else:
            assert f"{option.flags[0]} " not in text, option.name
