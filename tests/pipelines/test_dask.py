"""The anonymize job on a 2-worker local Dask cluster gives what the default runner gives: tables, videos, quarantine;
and it spreads the segments of one video and the files of one folder over both workers.

Beam 2.77's DaskRunner computes only the graph's last leaf, hands every tagged output all elements and re-runs a side
input's upstream per consumer (shared/notes/beam-runtime-facts.md); the graph tests pin the shape that avoids all
three, and the runs check the result.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import time
from fractions import Fraction

import apache_beam as beam
import av
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import anonymize, launch
from pipelines.sample import write_clip
from schemas.codes import IdentitySource, QuarantineReason
from schemas.elements import MediaInfo, MediaSource
from transforms.ingest import ExpandInputs
from transforms.logic.archive import ArchiveLimits
from transforms.logic.identity import media_id
from transforms.quarantine import guarded_pardo
from transforms.redistribute import Redistribute
from transforms.segments import SplitSegments
from transforms.services import validation
from transforms.services.table_files import read_table
from transforms.sinks import GatherAll
from transforms.stage import Stage, Step

DASK = ["--runner", "dask", "--workers", "2"]
TABLES = ("media", "face_tracks", "restricted", "quarantine", "catalog", "leak_audit")
RUN_DEPENDENT = {"run_id", "created_at", "retention_until", "artifact_id", "key_id"}
"""Columns that differ between any two runs: the run's id and clock, ids derived from them, random key ids."""


def anonymize_graph(sample_archive, output, registry_args) -> beam.Pipeline:
    opts, options = anonymize.parse([sample_archive["archive"], output, *registry_args(sample_archive), *DASK])
    pipeline = beam.Pipeline(options=options)
    anonymize.build(pipeline, anonymize.stage_settings(opts, "graph"))
    return pipeline


class _Primitives(beam.pipeline.PipelineVisitor):
    """The graph's primitive transforms, in the order a runner's visitor meets them."""

    def __init__(self):
        self.seen = []

    def visit_transform(self, node) -> None:
        self.seen.append(node)


def test_the_anonymize_graph_has_one_leaf_the_last_transform(sample_archive, tmp_path, registry_args):
    pipeline = anonymize_graph(sample_archive, str(tmp_path / "out"), registry_args)
    proto = pipeline.to_runner_api()
    transforms = proto.components.transforms.values()
    consumed = {pc for t in transforms if not t.subtransforms for pc in t.inputs.values()}
    leaves = [
        t.unique_name for t in transforms if not t.subtransforms for pc in t.outputs.values() if pc not in consumed
    ]
    assert leaves == ["Remove Work Files"]
    visitor = _Primitives()
    pipeline.visit(visitor)
    # DaskRunner computes only the bag of the last transform it visits: that one must need everything else.
    assert visitor.seen[-1].full_label == "Remove Work Files"


def test_the_anonymize_graph_has_no_side_inputs_and_no_multi_output_pardo(sample_archive, tmp_path, registry_args):
    visitor = _Primitives()
    anonymize_graph(sample_archive, str(tmp_path / "out"), registry_args).visit(visitor)
    assert [n.full_label for n in visitor.seen if n.side_inputs] == []
    assert [n.full_label for n in visitor.seen if len(n.outputs) > 1] == []


def normalized(output: str, run_id: str, table: str) -> list[str]:
    """A run's rows of a table without run-dependent columns, the output root, run id and key ids masked."""
    found = read_table(output, table, run_id)
    rows = []
    for row in found.to_pylist() if found is not None else []:
        kept = {k: v for k, v in row.items() if k not in RUN_DEPENDENT}
        text = json.dumps(kept, sort_keys=True, default=str).replace(output, "OUT").replace(run_id, "RUN")
        rows.append(re.sub(r"\.[0-9a-f]{32}\.mp4\.sealed", ".KEY.mp4.sealed", text))
    return sorted(rows)


def frame_digests(uri: str) -> list[str]:
    with av.open(uri) as container:
        return [hashlib.md5(f.to_ndarray(format="rgb24").tobytes()).hexdigest() for f in container.decode(video=0)]


def assert_same_outputs(dask_out: str, dask_run: str, default_out: str, default_run: str) -> None:
    for table in TABLES:
        assert normalized(dask_out, dask_run, table) == normalized(default_out, default_run, table), table
    videos = {r["media_id"]: r["output_uri"] for r in read_table(default_out, "media", default_run).to_pylist()}
    for row in read_table(dask_out, "media", dask_run).to_pylist():
        assert frame_digests(row["output_uri"]) == frame_digests(videos[row["media_id"]]), row["input_uri"]
    assert not validation.critical_failures(validation.validate(dask_out, dask_run))


def only_run(rows: dict) -> str:
    (run,) = rows["runs"]
    return run["run_id"]


@pytest.mark.slow
def test_the_sample_archive_on_dask_equals_the_default_runner(
    sample_archive, sample_run, tmp_path, run_job, registry_args
):
    output = str(tmp_path / "dask")
    rows = run_job(sample_archive["archive"], output, *registry_args(sample_archive), *DASK)
    assert rows["media"] and rows["restricted"]
    assert_same_outputs(output, only_run(rows), sample_run["output"], only_run(sample_run["rows"]))
    (dask_row,), (default_row,) = rows["runs"], sample_run["rows"]["runs"]
    counts = ("inputs", "anonymized", "quarantined", "skipped", "frames", "faces_redacted", "tracks_kept")
    assert [dask_row[c] for c in counts] == [default_row[c] for c in counts]


@pytest.fixture(scope="module")
def broken_folder(tmp_path_factory) -> str:
    """One good clip beside an empty video, a text file posing as one and a file of no supported kind."""
    folder = tmp_path_factory.mktemp("broken") / "cam-09"
    folder.mkdir()
    rng = np.random.default_rng(3)
    write_clip([rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(12)], str(folder / "good.mp4"))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("not a video at all\n" * 20)
    (folder / "readme.txt").write_text("hello")
    return str(folder)


@pytest.mark.slow
def test_broken_inputs_are_quarantined_on_dask_as_on_the_default_runner(broken_folder, tmp_path, run_job):
    runs = {
        name: (str(tmp_path / name), run_job(broken_folder, str(tmp_path / name), *args))
        for name, args in (("dask", DASK), ("default", []))
    }
    refused = {
        name: sorted((r["input_uri"], r["reason_code"]) for r in rows["quarantine"]) for name, (_, rows) in runs.items()
    }
    assert refused["dask"] == refused["default"]
    assert [reason for _, reason in refused["dask"]] == [
        QuarantineReason.EMPTY_FILE.value,
        QuarantineReason.CORRUPT_MEDIA.value,
        QuarantineReason.UNSUPPORTED_FILE.value,
    ]
    (dask_out, dask_rows), (default_out, default_rows) = runs["dask"], runs["default"]
    assert_same_outputs(dask_out, only_run(dask_rows), default_out, only_run(default_rows))


class _FragileFn(beam.DoFn):
    """Fails on one input, as a stage meeting something nobody expected would."""

    def process(self, media):
        if media.source.origin_uri.endswith("bad.mp4"):
            raise RuntimeError("decoder exploded")
        yield media.media_id


@pytest.mark.slow
def test_an_unexpected_exception_is_quarantined_on_dask_and_each_tag_gets_only_its_own(tmp_path, record):
    good, bad = [
        MediaInfo(MediaSource(u, u, "video"), media_id(u), "sha", "c", None, IdentitySource.MANIFEST)
        for u in ("/in/good.mp4", "/in/bad.mp4")
    ]
    options = PipelineOptions(DASK)
    launch.configure(options, DASK)
    pipeline = beam.Pipeline(options=options)
    out = guarded_pardo(pipeline | beam.Create([good, bad]), "Fragile", _FragileFn(), "ids")
    result = str(tmp_path / "result.json")
    _ = (
        (
            out["ids"] | "Ids" >> beam.Map(lambda i: ["ids", i]),
            out["quarantine"] | "Refused" >> beam.Map(lambda q: ["quarantine", q.input_uri, q.reason.value, q.message]),
        )
        | beam.Flatten()
        | GatherAll()
        | beam.Map(record, result)
    )
    launch.run(pipeline)
    with open(result) as handle:
        assert json.load(handle) == [
            ["ids", good.media_id],
            [
                "quarantine",
                "/in/bad.mp4",
                QuarantineReason.PROCESSING_ERROR.value,
                "Fragile failed unexpectedly: RuntimeError('decoder exploded')",
            ],
        ]


@pytest.mark.slow
def test_a_dask_run_uses_the_cluster_it_starts_with_the_workers_asked_for(tmp_path):
    from apache_beam.runners.dask.dask_runner import DaskOptions
    from distributed import Client

    options = PipelineOptions(DASK)
    launch.configure(options, DASK)
    with launch.dask_cluster(options):
        address = options.view_as(DaskOptions).address
        assert address and address.startswith("tcp://")
        with Client(address) as client:
            environ = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    # Two workers, and glibc's own trim threshold in them, not the nanny's 65536.
    assert list(environ.values()) == [None, None]


def _where(element) -> list:
    """The element and the worker process that handled it, after a stand-in for its real work (which gives Dask's
    scheduler a reason to use both workers)."""
    time.sleep(0.2)
    return [element, os.getpid()]


def placed_on_dask(tmp_path, build, record) -> list[list]:
    """Run ``build(pipeline)`` on a 2-worker local Dask cluster; returns [element, pid] for each element it yields."""
    options = PipelineOptions(DASK)
    launch.configure(options, DASK)
    pipeline = beam.Pipeline(options=options)
    result = str(tmp_path / "placed.json")
    _ = build(pipeline) | "Where" >> beam.Map(_where) | GatherAll() | beam.Map(record, result)
    launch.run(pipeline)
    with open(result) as handle:
        return json.load(handle)


class _Pass(beam.DoFn):
    def process(self, element):
        yield element


def spread_on_dask(pcoll):
    """A step that reads ``pcoll`` spread over workers, as the chain's detection and redaction steps read theirs."""
    return ({"in": pcoll} | Stage(Step("Spread", _Pass(), ("in",), "out", guarded=False, spread=True)))["out"]


@pytest.mark.slow
def test_redistribute_spreads_a_one_element_start_over_both_dask_workers(tmp_path, record):
    placed = placed_on_dask(
        tmp_path, lambda p: p | beam.Create(["spec"]) | beam.FlatMap(lambda _: range(16)) | Redistribute(), record
    )
    assert sorted(element for element, _ in placed) == list(range(16))
    assert len({pid for _, pid in placed}) == 2


class _InBundle(beam.DoFn):
    """Tags each element with its bundle: on Dask a bundle is a partition, the unit a worker takes whole."""

    def start_bundle(self):
        self._bundle = os.urandom(8).hex()

    def process(self, element):
        yield [element, self._bundle]


@pytest.mark.slow
def test_redistribute_fills_the_dask_partitions_evenly(tmp_path, record):
    # 2 workers make 4 partitions; random keys left some with twice the elements of others, and the slowest decides.
    # The widening shuffle here hashes into 5 partitions: the Create's 1 and 4 empty ones.
    options = PipelineOptions(DASK)
    launch.configure(options, DASK)
    pipeline = beam.Pipeline(options=options)
    result = str(tmp_path / "bundles.json")
    _ = (
        pipeline
        | beam.Create(["spec"])
        | beam.FlatMap(lambda _: range(12))
        | Redistribute()
        | beam.ParDo(_InBundle())
        | GatherAll()
        | beam.Map(record, result)
    )
    launch.run(pipeline)
    with open(result) as handle:
        placed = json.load(handle)
    assert sorted(element for element, _ in placed) == list(range(12))
    sizes = sorted(collections.Counter(bundle for _, bundle in placed).values())
    assert sizes == [3, 3, 3, 3]


@pytest.mark.slow
def test_the_segments_of_one_video_are_processed_by_both_dask_workers(tmp_path, record):
    path = str(tmp_path / "long.mp4")
    write_clip([np.full((48, 64, 3), i, np.uint8) for i in range(120)], path, gop=10)
    media = MediaInfo(MediaSource(path, path, "video"), media_id(path), "sha", "cam", None, IdentitySource.MANIFEST)
    placed = placed_on_dask(
        tmp_path,
        lambda p: (
            spread_on_dask(({"screened": p | beam.Create([media])} | SplitSegments(Fraction(10), 10))["segments"])
            | beam.Map(lambda segment: segment.index)
        ),
        record,
    )
    assert sorted(index for index, _ in placed) == list(range(12))
    assert len({pid for _, pid in placed}) == 2


@pytest.mark.slow
def test_the_files_of_one_folder_are_processed_by_both_dask_workers(tmp_path, record):
    folder = tmp_path / "cam"
    folder.mkdir()
    for n in range(10):
        write_clip([np.full((48, 64, 3), n, np.uint8)] * 3, str(folder / f"{n}.mp4"))
    placed = placed_on_dask(
        tmp_path,
        lambda p: (
            spread_on_dask(
                ({"spec": p | beam.Create([str(folder)])} | ExpandInputs(str(tmp_path / "staging"), ArchiveLimits()))[
                    "sources"
                ]
            )
            | beam.Map(lambda source: os.path.basename(source.uri))
        ),
        record,
    )
    assert sorted(name for name, _ in placed) == sorted(f"{n}.mp4" for n in range(10))
    assert len({pid for _, pid in placed}) == 2
