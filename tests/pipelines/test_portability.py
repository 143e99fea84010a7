"""The jobs leave this machine intact: their graphs round-trip through the runner API, their options parse for
Dataflow, Flink and Spark, and the Flex Template (deploy/dataflow) and the schedules (deploy/schedules) agree with
the parsers. Nothing here runs a job or reaches a cloud."""

import argparse
import datetime as dt
import importlib.util
import json
import os
import pathlib
import re
import zoneinfo

import apache_beam as beam
import av
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PortableOptions, StandardOptions, WorkerOptions
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.runner import create_runner
from apache_beam.transforms import environments

from pipelines import anonymize, cli, retention, stream, validate
from pipelines.options import AnonymizeOptions
from schemas.codes import LedgerAction, RetentionRule
from transforms.logic.identity import compile_template
from transforms.logic.retention import Action
from transforms.retention import ApplyRetention
from transforms.services import layout
from transforms.services.media import EncoderConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {"PROJECT": "veil-test", "REGION": "asia-east2", "BUCKET": "veil-footage", "KEY_BUCKET": "veil-keys"}
IMAGE = "asia-east2-docker.pkg.dev/veil-test/veil/veil-worker:20260101-000000"
RUNNERS = {
    "DataflowRunner": [
        "--runner=DataflowRunner",
        "--project=veil-test",
        "--region=asia-east2",
        "--temp_location=gs://veil-footage/tmp",
        f"--sdk_container_image={IMAGE}",
        "--experiments=use_runner_v2",
    ],
    "FlinkRunner": [
        "--runner=FlinkRunner",
        "--flink_master=flink-jobmanager:8081",
        "--environment_type=DOCKER",
        f"--environment_config={IMAGE}",
    ],
    "SparkRunner": [
        "--runner=SparkRunner",
        "--spark_master_url=spark://spark-master:7077",
        "--environment_type=DOCKER",
        f"--environment_config={IMAGE}",
    ],
    "PortableRunner": [
        "--runner=PortableRunner",
        "--job_endpoint=localhost:8099",
        "--environment_type=DOCKER",
        f"--environment_config={IMAGE}",
    ],
}
PRIMITIVES = {
    common_urns.primitives.PAR_DO.urn,
    common_urns.primitives.GROUP_BY_KEY.urn,
    common_urns.primitives.IMPULSE.urn,
    common_urns.primitives.FLATTEN.urn,
    common_urns.primitives.ASSIGN_WINDOWS.urn,
    # Pub/Sub reads are a runner's own primitive (Dataflow's), used only with --pubsub-subscription.
    common_urns.composites.PUBSUB_READ.urn,
}
STAGES = (
    "Anonymize Inputs/Expand Inputs",
    "Anonymize Inputs/Identify Media",
    "Anonymize Inputs/Screen Cameras",
    "Anonymize Inputs/Split Segments",
    "Anonymize Inputs/Detect Faces",
    "Anonymize Inputs/Track Faces",
    "Anonymize Inputs/Apply Policy",
    "Anonymize Inputs/Redact Frames",
    "Anonymize Inputs/Join Segments",
    "Write Media",
    "Write Runs",
)
"""The chain README's "How it works" names, and the tables' sinks."""
LAUNCH_ENVIRONMENT = {"tempLocation": "temp_location", "maxWorkers": "max_num_workers", "machineType": "machine_type"}
"""Dataflow's FlexTemplateRuntimeEnvironment fields the schedule sets, and the Beam options they become."""


def load_module(relative: str):
    """A deploy/ script, which is no package, loaded from its path."""
    spec = importlib.util.spec_from_file_location(
        os.path.basename(os.path.dirname(relative)) + "_" + os.path.basename(relative)[:-3],
        os.path.join(ROOT, relative),
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flex = load_module("deploy/dataflow/main.py")
gcloud_command = load_module("deploy/schedules/gcloud_command.py")


@pytest.fixture
def footage(tmp_path) -> dict[str, str]:
    """A four-frame H.264 clip and an output root beside it, both in tmp_path."""
    clip = tmp_path / "in" / "cam-01" / "clip.mp4"
    clip.parent.mkdir(parents=True)
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return {"input": str(clip), "output": str(tmp_path / "out")}


def options_of() -> dict[str, argparse.Action]:
    """The options AnonymizeOptions defines, by name, as its own parser sees them."""
    parser = argparse.ArgumentParser(add_help=False)
    AnonymizeOptions._add_argparse_args(parser)
    return {a.dest: a for a in parser._actions}


def metadata() -> dict:
    with open(os.path.join(ROOT, "deploy", "dataflow", "metadata.json"), encoding="utf-8") as handle:
        return json.load(handle)


def schedule(name: str) -> dict:
    return gcloud_command.load(os.path.join(ROOT, "deploy", "schedules", name), ENV)


def chain(proto: beam_runner_api_pb2.Pipeline) -> set[str]:
    """The top-level transforms' names and those of the stages of the anonymize chain."""
    transforms = proto.components.transforms
    top = stages(proto)
    return top | {
        transforms[child].unique_name
        for t in transforms.values()
        if t.unique_name == "Anonymize Inputs"
        for child in t.subtransforms
    }


def stages(proto: beam_runner_api_pb2.Pipeline) -> set[str]:
    """Names of the pipeline's top-level transforms (the children of the root the runner API adds)."""
    transforms = proto.components.transforms
    return {
        transforms[child].unique_name for root in proto.root_transform_ids for child in transforms[root].subtransforms
    }


def round_trip(pipeline: beam.Pipeline, options, environment=None) -> beam_runner_api_pb2.Pipeline:
    """The pipeline's proto after a trip through the runner API and back; asserts nothing was lost on the way and
    that every leaf is a primitive any runner executes."""
    proto = pipeline.to_runner_api(default_environment=environment)
    restored = beam.Pipeline.from_runner_api(proto, pipeline.runner, options).to_runner_api(
        default_environment=environment
    )
    named = sorted((t.unique_name, t.spec.urn) for t in proto.components.transforms.values())
    assert named == sorted((t.unique_name, t.spec.urn) for t in restored.components.transforms.values())
    assert len(proto.components.pcollections) == len(restored.components.pcollections)
    for transform in proto.components.transforms.values():
        if not transform.subtransforms:
            # A runner in another language executes only Beam's primitives; Create's MaybeReshuffle is a no-op.
            passes_through = dict(transform.inputs) == dict(transform.outputs)
            assert transform.spec.urn in PRIMITIVES or passes_through, transform.unique_name
    return restored


@pytest.mark.parametrize("runner", [None, *RUNNERS])
def test_the_anonymize_graph_round_trips_through_the_runner_api(runner, footage):
    opts, options = anonymize.parse([footage["input"], footage["output"], *RUNNERS.get(runner, [])])
    settings = anonymize.stage_settings(opts, "portability")
    before = sorted(p for p in pathlib.Path(footage["output"]).parent.rglob("*"))
    pipeline = beam.Pipeline(options=options)
    anonymize.build(pipeline, settings)
    portable = runner in ("FlinkRunner", "SparkRunner", "PortableRunner")
    # What the portable runners submit: the graph in the environment their options name.
    environment = environments.Environment.from_options(options.view_as(PortableOptions)) if portable else None
    restored = round_trip(pipeline, options, environment)
    assert set(STAGES) <= chain(restored)
    if portable:
        (used,) = restored.components.environments.values()
        assert beam_runner_api_pb2.DockerPayload.FromString(used.payload).container_image == IMAGE
    assert sorted(pathlib.Path(footage["output"]).parent.rglob("*")) == before, "building the graph wrote something"


@pytest.mark.parametrize("runner", [None, *RUNNERS])
def test_the_retention_graph_round_trips_through_the_runner_api(runner, tmp_path):
    raw = tmp_path / "raw" / "clip.mp4"
    raw.parent.mkdir()
    raw.write_bytes(b"raw footage")
    _, shared, options, _ = retention.parse([str(tmp_path / "out"), *RUNNERS.get(runner, [])])
    due = Action(
        "raw-1",
        "raw",
        str(raw),
        LedgerAction.DELETE_FILE,
        RetentionRule.RAW_PURGE,
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | "Apply Retention" >> ApplyRetention(
        [due], shared.output, "portability", layout.keystore_of(shared.output, shared.keystore)
    )
    restored = round_trip(pipeline, options)
    assert stages(restored) == {"Apply Retention"}
    assert raw.exists(), "building the graph must not delete anything"


@pytest.mark.parametrize("runner", RUNNERS)
def test_the_options_of_each_runner_parse_without_running_anything(runner, footage):
    opts, options = anonymize.parse([footage["input"], footage["output"], *RUNNERS[runner]])
    assert (opts.input, opts.output) == (footage["input"], footage["output"])
    given = dict(arg[2:].split("=", 1) for arg in RUNNERS[runner])
    parsed = options.get_all_options()
    for name, value in given.items():
        assert parsed[name] == ([value] if name == "experiments" else value), name
    assert type(create_runner(runner)).__name__ == runner
    _, shared, retention_options, _ = retention.parse([footage["output"], *RUNNERS[runner]])
    assert retention_options.view_as(StandardOptions).runner == runner and shared.output == footage["output"]


def test_the_template_metadata_lists_exactly_the_options_of_veil_anonymize():
    parameters = metadata()["parameters"]
    names = [p["name"] for p in parameters]
    assert len(names) == len(set(names))
    assert set(names) == set(options_of())
    assert all(p["label"] and p["helpText"] for p in parameters)
    assert {p["name"] for p in parameters if not p["isOptional"]} == {"input", "output"}
    for missing in ("--input=gs://veil-footage/in", "--output=gs://veil-footage/out"):
        with pytest.raises(ValueError, match="required"):
            anonymize.parse([missing])


def test_the_template_regexes_accept_what_the_parser_accepts():
    actions = options_of()
    for parameter in metadata()["parameters"]:
        action, regexes = actions[parameter["name"]], parameter.get("regexes", [])

        def accepted(value, regexes=regexes):
            return all(re.search(r, value) for r in regexes)

        if action.choices:
            assert all(accepted(c) for c in action.choices) and not accepted("other"), parameter["name"]
        elif action.type in (int, float):
            assert regexes and accepted(str(action.default)) and not accepted("many"), parameter["name"]
        elif action.nargs == 0:
            assert accepted("true") and accepted("false") and not accepted("yes"), parameter["name"]
    (preset,) = next(p["regexes"] for p in metadata()["parameters"] if p["name"] == "preset")
    for name in re.fullmatch(r"\^\((.*)\)\$", preset).group(1).split("|"):
        EncoderConfig(preset=name)


def sample_value(parameter: dict, action: argparse.Action) -> str:
    """A value for a template parameter as a person launching it would type it."""
    if action.choices:
        return action.choices[-1]
    if action.nargs == 0:
        return "true"
    if action.default not in (None, ""):
        return str(action.default)
    if "gs://" in "".join(parameter.get("regexes", [])):
        return f"gs://veil-footage/{parameter['name']}"
    return {
        "path_template": "{camera_id}/{date}/{time}.mp4",
        "private_categories": "server_room",
        "run_id": "nightly-1",
    }[parameter["name"]]


def test_every_template_parameter_reaches_the_job_as_given(monkeypatch):
    monkeypatch.delenv(flex.WORKER_IMAGE, raising=False)
    actions = options_of()
    given = {p["name"]: sample_value(p, actions[p["name"]]) for p in metadata()["parameters"]}
    for parameter in metadata()["parameters"]:
        assert all(re.search(r, given[parameter["name"]]) for r in parameter.get("regexes", [])), parameter["name"]
    opts, options = anonymize.parse(flex.flex_args([f"--{name}={value}" for name, value in given.items()]))
    for name, value in given.items():
        action = actions[name]
        expected = True if action.nargs == 0 else action.type(value) if action.type else value
        assert getattr(opts, name) == expected, name
    assert options.view_as(StandardOptions).runner == "DataflowRunner", "never the local runner on the launcher"


def test_template_switches_take_true_or_false(monkeypatch):
    monkeypatch.setenv(flex.WORKER_IMAGE, IMAGE)
    args = flex.flex_args(["--input=gs://b/in", "--keep_audio=false", "--force=True"])
    assert "--force" in args and not any(a.startswith("--keep_audio") for a in args)
    assert f"--sdk_container_image={IMAGE}" in args
    assert f"--sdk_container_image={IMAGE}" not in flex.flex_args(["--sdk_container_image=other"])
    with pytest.raises(ValueError, match="true or false"):
        flex.flex_args(["--force=yes"])


def test_the_template_entry_point_submits_the_job_and_does_not_wait(footage, monkeypatch):
    submitted = []
    monkeypatch.setattr(beam.Pipeline, "run", lambda self, *args, **kwargs: submitted.append(self))
    launch = [
        f"--input={footage['input']}",
        f"--output={footage['output']}",
        "--project=veil-test",
        "--region=asia-east2",
        "--temp_location=gs://veil-footage/tmp",
        "--run_id=nightly-1",
    ]
    monkeypatch.delenv(flex.WORKER_IMAGE, raising=False)
    with pytest.raises(ValueError, match="sdk_container_image"):
        flex.main(launch)
    monkeypatch.setenv(flex.WORKER_IMAGE, IMAGE)
    assert flex.main(launch) == "nightly-1"
    (pipeline,) = submitted
    assert type(pipeline.runner).__name__ == "DataflowRunner"
    assert pipeline.options.view_as(WorkerOptions).sdk_container_image == IMAGE
    assert set(STAGES) <= chain(pipeline.to_runner_api())


def test_the_nightly_schedule_launches_the_template_with_parameters_the_job_accepts():
    job = schedule("anonymize-nightly.yaml")
    assert job["httpTarget"]["uri"] == (
        "https://dataflow.googleapis.com/v1b3/projects/veil-test/locations/asia-east2/flexTemplates:launch"
    )
    launch = job["httpTarget"]["body"]["launchParameter"]
    assert re.fullmatch(r"[a-z]([-a-z0-9]{0,1022}[a-z0-9])?", launch["jobName"]), "Dataflow's job name rule"
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as handle:
        template = re.search(r"^TEMPLATE_PATH\s*=\s*(\S+)", handle.read(), re.M).group(1)
    assert launch["containerSpecGcsPath"] == template.replace("$(BUCKET)", ENV["BUCKET"]), "the template built"
    declared = {p["name"]: p.get("regexes", []) for p in metadata()["parameters"]}
    for name, value in launch["parameters"].items():
        assert all(re.search(r, value) for r in declared[name]), name
    argv = (
        [f"--{name}={value}" for name, value in launch["parameters"].items()]
        + [f"--{LAUNCH_ENVIRONMENT[name]}={value}" for name, value in launch["environment"].items()]
        + [f"--sdk_container_image={IMAGE}"]
    )
    opts, options = anonymize.parse(flex.flex_args(argv))
    assert (opts.input, opts.output) == ("gs://veil-footage/incoming/", "gs://veil-footage/veil")
    assert opts.keystore == "gs://veil-keys/keystore.json" and opts.cameras.startswith("gs://veil-footage/")
    assert options.get_all_options()["max_num_workers"] == launch["environment"]["maxWorkers"]
    compile_template(opts.path_template)


def test_the_daily_validation_and_retention_run_veil_commands_that_parse(monkeypatch):
    nightly = schedule("anonymize-nightly.yaml")["httpTarget"]["body"]["launchParameter"]["parameters"]
    checked = []
    monkeypatch.setattr(validate, "latest_run", lambda output: "latest")
    monkeypatch.setattr(
        validate, "validate", lambda output, run_id, keystore: checked.append((output, run_id, keystore)) or []
    )
    monkeypatch.setattr(validate, "report_run", lambda output, run_id: (None, "not checked here"))
    commands = {}
    for name in ("validate-daily.yaml", "retention-daily.yaml"):
        job = schedule(name)
        assert (
            job["httpTarget"]["uri"]
            == "https://run.googleapis.com/v2/projects/veil-test/locations/asia-east2/jobs/veil:run"
        )
        (override,) = job["httpTarget"]["body"]["overrides"]["containerOverrides"]
        command, *args = override["args"]
        assert f"veil {command} " in cli.usage()
        commands[command] = args
    validate.run(commands["validate"])
    assert checked == [(nightly["output"], "latest", nightly["keystore"])], (
        "validates the latest run of the nightly output, its ledger against the anchor beside the nightly key store"
    )
    opts, shared, _, dry_run = retention.parse(commands["retention"])
    assert (shared.output, shared.keystore) == (nightly["output"], nightly["keystore"]), "the same root and keys"
    assert opts.events.startswith("gs://") and opts.holds.startswith("gs://") and not dry_run


def test_the_schedules_run_in_order_and_render_to_gcloud_commands():
    hours = []
    for name in ("anonymize-nightly.yaml", "validate-daily.yaml", "retention-daily.yaml"):
        job = schedule(name)
        minute, hour, *rest = job["schedule"].split()
        assert len(rest) == 3 and zoneinfo.ZoneInfo(job["timeZone"])
        hours.append(int(hour))
        command = gcloud_command.command(job)
        assert command[:6] == ["gcloud", "scheduler", "jobs", "create", "http", job["name"].rsplit("/", 1)[1]]
        assert "${" not in " ".join(command)
        body = next(a for a in command if a.startswith("--message-body="))
        assert json.loads(body.split("=", 1)[1]) == job["httpTarget"]["body"]
        with pytest.raises(KeyError):
            gcloud_command.load(os.path.join(ROOT, "deploy", "schedules", name), {})
    assert hours == sorted(hours), "anonymize, then validate its run, then retention"


@pytest.mark.parametrize("source", ["watch", "pubsub"])
def test_the_streaming_graph_round_trips_through_the_runner_api_for_dataflow(source, tmp_path):
    land, events = tmp_path / "land", tmp_path / "events"
    land.mkdir()
    events.mkdir()
    extra = ["--pubsub-subscription", "projects/veil-test/subscriptions/landing"] if source == "pubsub" else []
    opts, stream_opts, event_opts, options = stream.parse(
        ["--streaming", str(land), str(tmp_path / "out"), "--events", str(events), *extra, *RUNNERS["DataflowRunner"]]
    )
    assert options.view_as(StandardOptions).streaming
    pipeline = beam.Pipeline(options=options)
    stream.build(pipeline, stream.prepare(opts, stream_opts, event_opts))
    restored = round_trip(pipeline, options)
    expected = {
        "Watch Landing",
        "Recordings",
        "Spread Recordings",
        "Anonymize Each",
        "Windows",
        "Event Files",
        "Apply Events",
    }
    assert expected | ({"Notifications"} if source == "pubsub" else set()) <= stages(restored)
    assert not os.path.exists(tmp_path / "out" / "tables"), "building the graph must not write anything"
